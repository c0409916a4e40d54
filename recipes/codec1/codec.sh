#!/usr/bin/env bash
# Generic dual-stream codec recipe (DualCodec with a BEST-RQ SSL encoder).
# Called from egs/<corpus>/codec1/run.sh, which sets the corpus and configs.
#   1 data  2 format  3 train SSL  4 train codec  5 decode test  6 score  7 pack
set -euo pipefail

# ---- options (each can be given as --name value) ------------------------------------
stage=1
stop_stage=10000
ngpu=0                 # 0: CPU (DDP over gloo when >1 process is asked for with --nproc)
nj=2                   # parallel jobs for data formatting, encoding and scoring
fs=24000
train_set=train
valid_set=dev
test_sets=test
ssl_config=            # BEST-RQ config
codec_config=          # DualCodec config
tag=                   # exp dir name (default: derived from the codec config)
exp_root=exp           # where exp dirs go; long runs: a folder outside the work tree (e.g. ~/.cache/audiotok/exp/...)
ssl_tag=
decode_nq="1 2 4"      # codebook counts to decode the test set at (1 = semantic only)
baselines="opus6,codec2_3200,codec2_1300"
score_opts=            # extra options for audiotok score (e.g. "--metrics pesq,stoi,mel,sisdr")
local_data_opts=       # passed to local/data.sh
train_args=            # extra key=value overrides for the codec training
train_init=            # start a new codec run from these weights (packed/exp dir or shipped name, e.g. speech)
train_init_partial=false  # true: take only the --train-init tensors whose name and shape fit (e.g. 25 Hz from 12.5 Hz)
train_init_skip=       # names starting with these prefixes keep their new values (e.g. "ssl": a new SSL encoder)
ssl_from=              # stage 3 takes the SSL encoder out of this codec (packed/exp dir or shipped name) instead of training one
ssl_train_args=        # extra key=value overrides for the SSL training
max_train_seconds=30
min_train_seconds=0.3
pack_opts=             # extra options for audiotok pack (e.g. "--name speech-12hz-v1 --version 1 --dtype float16 --card")
update_results=false   # true: also add the score sections to the recipe's committed RESULTS.md (by section)
train_threads=1        # torch threads for training; 2 threads crawl (0.2-0.35 vs 3-6 steps/s) once other jobs share the cores

help_message="Usage: $0 [options]
  --stage N / --stop-stage N   run stages N..M (1 data, 2 format, 3 train SSL, 4 train codec, 5 decode, 6 score, 7 pack)
  --ngpu N                     GPUs (0 = CPU)
  --nj N                       parallel jobs
  --ssl-config FILE --codec-config FILE
  --tag NAME                   codec exp dir name under the exp root
  --update-results true        stage 6 also adds its sections to ./RESULTS.md (the committed one; a deliberate step)
  --exp-root DIR               exp root (default exp; put long runs outside the work tree and --resume them)
  --decode-nq \"1 2 4\"          codebook counts for the test-set decode
  --ssl-from MODEL             stage 3 takes the SSL encoder out of this codec (e.g. speech) instead of training one
  --train-init MODEL           stage 4 starts from these weights (--train-init-partial true: those that fit;
                               --train-init-skip \"ssl\": tensors named so keep their new values)
  --local-data-opts \"...\"      options for local/data.sh"

. ./path.sh
. ./cmd.sh
save_run_args "$0" "$@"
. utils/parse_options.sh

[ -n "$ssl_config" ] || { echo "$0: --ssl-config is required" >&2; exit 1; }
[ -n "$codec_config" ] || { echo "$0: --codec-config is required" >&2; exit 1; }
[ -n "$ssl_tag" ] || ssl_tag="ssl_$(basename "${ssl_config%.*}")${ssl_from:+_from_$(basename "${ssl_from}")}"
[ -n "$tag" ] || tag="codec_$(basename "${codec_config%.*}")"
ssl_exp=${exp_root}/${ssl_tag}
codec_exp=${exp_root}/${tag}
dump=dump/raw

if run_stage 1 "data preparation" "local/data.sh ${local_data_opts}" "data/{${train_set},${valid_set},${test_sets}}"; then
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
fi

if run_stage 2 "format audio to ${fs} Hz mono" "data/*" "${dump}/*"; then
  format_sets ${dump} ${fs} ${nj} ${min_train_seconds} ${max_train_seconds} "${train_set} ${valid_set}" "${test_sets}"
fi

if [ -n "${ssl_from}" ] && run_stage 3 "take the SSL encoder of ${ssl_from}" "${ssl_from}" "${ssl_exp}/model"; then
  mkdir -p ${ssl_exp}
  audiotok pack --exp-dir ${ssl_from} --inner ssl --out ${ssl_exp}/model
elif run_stage 3 "train the BEST-RQ SSL encoder" "${dump}/${train_set}" "${ssl_exp}"; then
  write_run_sh ${ssl_exp} 3
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=${train_threads} ${cuda_cmd} ${ssl_exp}/log/train.log \
    audiotok train --config ${ssl_config} --train-data ${dump}/${train_set} --valid-data ${dump}/${valid_set} \
      --exp-dir ${ssl_exp} --ngpu ${ngpu} --resume ${ssl_train_args}
fi

if run_stage 4 "train the dual-stream codec" "${dump}/${train_set} + ${ssl_exp}/model" "${codec_exp}"; then
  write_run_sh ${codec_exp} 4
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=${train_threads} ${cuda_cmd} ${codec_exp}/log/train.log \
    audiotok train --config ${codec_config} --train-data ${dump}/${train_set} --valid-data ${dump}/${valid_set} \
      --exp-dir ${codec_exp} --ngpu ${ngpu} --resume ${train_init:+--init-from ${train_init}} \
      $([ "${train_init_partial}" = true ] && echo --init-partial) \
      $(for p in ${train_init_skip}; do echo --init-skip "$p"; done) \
      model_conf.ssl_init_dir=${ssl_exp}/model ${train_args}
fi

if run_stage 5 "encode + decode the test sets at n_q in {${decode_nq}}" "${dump}/{${test_sets}}" "${codec_exp}/decode_nq*"; then
  for dset in ${test_sets}; do
    for nq in ${decode_nq}; do
      ddir=${codec_exp}/decode_nq${nq}/${dset}
      log "n_q=${nq}: ${dump}/${dset} -> ${ddir}/{codes,wav}"
      write_run_sh ${ddir} 5
      audiotok encode --data-dir ${dump}/${dset} -o ${ddir}/codes --model ${codec_exp} --n-q ${nq} --nj ${nj}
      audiotok decode --scp ${ddir}/codes/tokens.scp -o ${ddir}/wav --nj ${nj}
    done
  done
fi

if run_stage 6 "score against the originals, Opus and Codec2" "${codec_exp}/decode_nq*" "${codec_exp}/score, ${codec_exp}/RESULTS.md"; then
  for dset in ${test_sets}; do
    hyps=()
    for nq in ${decode_nq}; do
      ddir=${codec_exp}/decode_nq${nq}/${dset}
      hyps+=(--hyp "${tag}_nq${nq}=${ddir}/wav" --hyp-tokens "${tag}_nq${nq}=${ddir}/codes")
    done
    write_run_sh ${codec_exp}/score/${dset} 6
    # shellcheck disable=SC2086
    audiotok score --ref-data ${dump}/${dset} "${hyps[@]}" --baselines ${baselines} --include-original \
      --nj ${nj} --out ${codec_exp}/score/${dset} ${score_opts} \
      --results-md ${codec_exp}/RESULTS.md $([ "${update_results}" = true ] && echo "--results-md RESULTS.md") \
      --section "${tag} on ${dset}"
  done
fi

if run_stage 7 "pack the model" "${codec_exp}/model" "${exp_root}/packed/${tag}"; then
  # shellcheck disable=SC2086
  audiotok pack --exp-dir ${codec_exp} --out ${exp_root}/packed/${tag} ${pack_opts}
fi

log "Finished stages ${stage}..${stop_stage}: ${codec_exp}"
