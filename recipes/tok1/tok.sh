#!/usr/bin/env bash
# Generic dual-track music tokenizer recipe (Duo-Tok), next to a single-track control tokenizer.
# Called from egs/<corpus>/tok1/run.sh, which sets the corpus and configs.
#   1 data  2 format  3 SSL pretrain (BEST-RQ on mixes)  4 multi-task fine-tune (duotok_encoder)
#   5 quantizer training (per tokenizer)  6 decoder training (per tokenizer)
#   7 encode train+test, decode test as mix/vocals/accompaniment  8 score -> RESULTS.md  9 pack
# --tok-configs and --dec-configs are paired by position: tokenizer i is trained with the i-th of
# each; its quantizer exp is exp/<name>_q and its final model exp/<name> (name = the tok config's
# file name without .yaml).
set -euo pipefail

# ---- options (each can be given as --name value) ------------------------------------
stage=1
stop_stage=10000
ngpu=0                 # 0: CPU
nj=2                   # parallel jobs for formatting, encoding, decoding and scoring
fs=24000
train_set=train
valid_set=dev
test_sets=test
ssl_config=            # BEST-RQ music config (stage 3)
enc_config=            # multi-task fine-tuning config (stage 4)
tok_configs=           # quantizer configs, one per tokenizer (stage 5)
dec_configs=           # decoder configs, paired with tok_configs (stage 6)
ssl_tag=
enc_tag=
tracks="mix vocals accompaniment"   # decoded and scored tracks
baselines=opus6        # classical codecs run on the mix by the scorer
oracles=magnitude_oracle_gl  # scored on every track: the true magnitude, phase by Griffin-Lim (SI-SDR without phase)
local_data_opts=       # passed to local/data.sh
ssl_train_args=        # extra key=value overrides per training stage
enc_train_args=
tok_train_args=
dec_train_args=
lm_opts="--steps 200 --context 64 --dim 64 --layers 2"   # audiotok token-ppl settings (the same for every tokenizer)
max_train_seconds=600
min_train_seconds=1
train_threads=2        # torch threads for the training stages (path.sh sets 1 for parallel jobs)
update_results=false   # true: copy exp/RESULTS.md over the committed RESULTS.md (a deliberate step)
exp_root=exp           # where exp dirs go; long runs: a folder outside the work tree (e.g. ~/.cache/audiotok/exp/...)
main_pack_opts=        # stage 9: extra `audiotok pack` options for the first tokenizer (the one a recipe ships)

help_message="Usage: $0 [options]
  --stage N / --stop-stage N   1 data, 2 format, 3 SSL, 4 fine-tune, 5 quantizers, 6 decoders, 7 decode, 8 score, 9 pack
  --ngpu N --nj N
  --ssl-config FILE --enc-config FILE
  --tok-configs \"A.yaml B.yaml\" --dec-configs \"A_decoder.yaml B_decoder.yaml\"   (paired by position)
  --local-data-opts \"...\"      options for local/data.sh"

. ./path.sh
. ./cmd.sh
save_run_args "$0" "$@"
. utils/parse_options.sh

for opt in ssl_config enc_config tok_configs dec_configs; do
  [ -n "${!opt}" ] || { echo "$0: --${opt//_/-} is required" >&2; exit 1; }
done
read -r -a toks <<< "${tok_configs}"
read -r -a decs <<< "${dec_configs}"
if [ ${#toks[@]} -ne ${#decs[@]} ]; then
  echo "$0: ${#toks[@]} --tok-configs but ${#decs[@]} --dec-configs (they are paired by position)" >&2
  exit 1
fi
names=()
for c in "${toks[@]}"; do names+=("$(basename "${c%.*}")"); done
[ -n "$ssl_tag" ] || ssl_tag="ssl_$(basename "${ssl_config%.*}")"
[ -n "$enc_tag" ] || enc_tag="enc_$(basename "${enc_config%.*}")"
ssl_exp=${exp_root}/${ssl_tag}
enc_exp=${exp_root}/${enc_tag}
dump=dump/raw

train_run() {  # train_run EXP STAGE CONFIG TRAIN_DATA OVERRIDES...
  local exp=$1 n=$2 config=$3 data=$4
  shift 4
  write_run_sh "${exp}" "${n}"
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=${train_threads} ${cuda_cmd} "${exp}/log/train.log" \
    audiotok train --config "${config}" --train-data "${data}" --valid-data "${dump}/${valid_set}" \
      --exp-dir "${exp}" --ngpu "${ngpu}" --resume "$@"
}

if run_stage 1 "data preparation" "local/data.sh ${local_data_opts}" "data/{${train_set},${valid_set},${test_sets}}"; then
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
fi

if run_stage 2 "format mix and stems to ${fs} Hz mono" "data/*" "${dump}/*"; then
  format_sets ${dump} ${fs} ${nj} ${min_train_seconds} ${max_train_seconds} "${train_set} ${valid_set}" "${test_sets}" \
    --no-text
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    for stem in vocals accompaniment; do
      [ -s ${dump}/${dset}/${stem}.scp ] || { echo "$0: ${dump}/${dset}/${stem}.scp is missing: a music recipe needs stems" >&2; exit 1; }
    done
  done
fi

if run_stage 3 "pre-train the BEST-RQ music encoder on mixes" "${dump}/${train_set}" "${ssl_exp}"; then
  # shellcheck disable=SC2086
  train_run ${ssl_exp} 3 ${ssl_config} ${dump}/${train_set} ${ssl_train_args}
fi

if run_stage 4 "multi-task fine-tuning (noise, mel, chroma, separation mask)" "${ssl_exp}/model" "${enc_exp}"; then
  # shellcheck disable=SC2086
  train_run ${enc_exp} 4 ${enc_config} ${dump}/${train_set} model_conf.ssl_init_dir=${ssl_exp}/model ${enc_train_args}
fi

if run_stage 5 "train the quantizers (encoder frozen): ${names[*]}" "${enc_exp}/model" "${exp_root}/{$(IFS=,; echo "${names[*]}")}_q"; then
  for i in "${!toks[@]}"; do
    # shellcheck disable=SC2086
    train_run ${exp_root}/${names[$i]}_q 5 ${toks[$i]} ${dump}/${train_set} model_conf.encoder_init_dir=${enc_exp}/model ${tok_train_args}
  done
fi

if run_stage 6 "train the decoders (flow matching + vocoder): ${names[*]}" "${exp_root}/*_q/model" "${exp_root}/{$(IFS=,; echo "${names[*]}")}"; then
  for i in "${!toks[@]}"; do
    # shellcheck disable=SC2086
    train_run ${exp_root}/${names[$i]} 6 ${decs[$i]} ${dump}/${train_set} model_conf.init_dir=${exp_root}/${names[$i]}_q/model ${dec_train_args}
  done
fi

if run_stage 7 "encode ${train_set} + {${test_sets}}, decode {${test_sets}} as {${tracks}}" "${exp_root}/<name>/model" "${exp_root}/<name>/decode/*"; then
  for name in "${names[@]}"; do
    for dset in ${train_set} ${test_sets}; do
      ddir=${exp_root}/${name}/decode/${dset}
      write_run_sh ${ddir} 7
      log "${name}: ${dump}/${dset} -> ${ddir}/codes"
      audiotok encode --data-dir ${dump}/${dset} -o ${ddir}/codes --model ${exp_root}/${name} --nj ${nj}
    done
    for dset in ${test_sets}; do
      ddir=${exp_root}/${name}/decode/${dset}
      for track in ${tracks}; do
        log "${name}: ${ddir}/codes -> ${ddir}/wav_${track}"
        audiotok decode --scp ${ddir}/codes/tokens.scp -o ${ddir}/wav_${track} --track ${track} --nj ${nj}
      done
    done
  done
fi

if run_stage 8 "score mix and stems, codebook use, token-LM perplexity" "${exp_root}/*/decode" "${exp_root}/score, RESULTS.md"; then
  results=${exp_root}/RESULTS.md
  rm -f ${results}
  for dset in ${test_sets}; do
    for stem in vocals accompaniment; do  # views of the test set whose wav.scp is one stem
      mkdir -p ${dump}/${dset}_${stem}
      cp ${dump}/${dset}/utt2spk ${dump}/${dset}/spk2utt ${dump}/${dset}_${stem}/
      cp ${dump}/${dset}/${stem}.scp ${dump}/${dset}_${stem}/wav.scp
    done
    for track in ${tracks}; do
      ref=${dump}/${dset}
      [ "${track}" != mix ] && ref=${dump}/${dset}_${track}
      hyps=()
      for name in "${names[@]}"; do
        hyps+=(--hyp "${name}=${exp_root}/${name}/decode/${dset}/wav_${track}")
        [ "${track}" = mix ] && hyps+=(--hyp-tokens "${name}=${exp_root}/${name}/decode/${dset}/codes")
      done
      extra=()
      metrics=mel,sisdr
      title="${track} of ${dset}: mel distance, SI-SDR"
      run_baselines=${oracles}
      [ "${track}" = mix ] && run_baselines=${baselines:+${baselines},}${oracles}  # score drops empty entries
      [ -n "${run_baselines}" ] && extra+=(--baselines "${run_baselines}")
      if [ "${track}" != mix ]; then
        # leakage: decoded energy where the other stem dominates; the true stem (original) is its floor,
        # the unseparated mix (input_mix) what no separation at all gives
        other=vocals
        [ "${track}" = vocals ] && other=accompaniment
        extra+=(--hyp "input_mix=${dump}/${dset}" --include-original --other-stem ${dump}/${dset}_${other})
        metrics=mel,sisdr,leak
        title="${track} of ${dset}: mel distance, SI-SDR, leakage of the ${other}"
        if [ "${track}" = vocals ]; then  # and the sung pitch (its error puts harmonics where the band is)
          metrics=mel,sisdr,f0,leak
          title="${track} of ${dset}: mel distance, SI-SDR, pitch error, leakage of the ${other}"
        fi
      fi
      write_run_sh ${exp_root}/score/${dset}/${track} 8
      audiotok score --ref-data ${ref} "${hyps[@]}" ${extra[@]+"${extra[@]}"} --metrics ${metrics} --nj ${nj} \
        --out ${exp_root}/score/${dset}/${track} --results-md ${results} --section "${title}"
    done
    systems=()
    for name in "${names[@]}"; do
      systems+=(--system "${name}=${exp_root}/${name}/decode/${train_set}/codes,${exp_root}/${name}/decode/${dset}/codes")
    done
    # shellcheck disable=SC2086
    audiotok token-ppl "${systems[@]}" ${lm_opts} --out ${exp_root}/score/${dset}/token_ppl \
      --results-md ${results} --section "token LM perplexity on ${dset} (trained on ${train_set} tokens)"
  done
  if [ "${update_results}" = true ]; then
    cp ${results} RESULTS.md  # the committed results change only when asked to
  fi
fi

if run_stage 9 "pack the tokenizers" "${exp_root}/{$(IFS=,; echo "${names[*]}")}/model" "${exp_root}/packed/*"; then
  opts=${main_pack_opts}
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    audiotok pack --exp-dir ${exp_root}/${name} --out ${exp_root}/packed/${name} ${opts} \
      $( [ -s ${exp_root}/RESULTS.md ] && echo "--results ${exp_root}/RESULTS.md" )
    opts=
  done
fi

log "Finished stages ${stage}..${stop_stage}: ${names[*]}"
