#!/usr/bin/env bash
# Generic unified speech LM recipe: one decoder-only LM over text BPE + dual-resolution codec tokens
# for ASR and TTS with voice cloning. Called from egs/<corpus>/lm1/run.sh.
#   1 data  2 tokenize  3 BPE  4 joint vocab  5 train LM(s)  6 ASR decode  7 TTS + codec resynthesis
#   8 score (RESULTS.md)  9 pack (LM + its codec in one release dir)
set -euo pipefail

# ---- options (each can be given as --name value) ------------------------------------
stage=1
stop_stage=10000
ngpu=0                 # 0: CPU
nj=2                   # parallel jobs for formatting, tokenizing, decoding audio and scoring
fs=24000               # audio rate of dump/raw when stage 1 formats local/data.sh output (the codec's rate)
train_set=train
valid_set=dev
test_sets=test
codec_exp_dir=         # the trained codec: a recipe exp dir holding model/, a packed codec dir or a shipped name
data_root=             # folder holding ${train_set}/ ${valid_set}/ ${test_sets} data dirs at the codec's rate
                       # (e.g. ../codec1/dump/raw); empty or incomplete: local/data.sh + format here
local_data_opts=       # passed to local/data.sh
bpe_size=500           # sentencepiece pieces (a soft limit on small corpora)
bpe_type=bpe
lm_config=             # LM training config (model: ulm, dataset: lm_tokens)
tag=                   # LM exp dir name (default: lm_<config name>)
lm_args=               # extra key=value overrides for the LM training
compare_configs=       # more LM configs trained the same way for the rate comparison (e.g. a g=1 twin)
compare_args=          # extra overrides for those (e.g. trainer.max_steps=300)
train_threads=1        # torch threads for training and decoding (more threads thrash a busy shared CPU)
asr_args=              # options for `audiotok asr` (e.g. "--batch-size 16")
tts_args="--seed 0"    # options for `audiotok tts` (greedy by default; e.g. "--sample --temperature 0.7")
seen_utts=20           # also decode this many training utterances: did the LM learn what it saw? (0: no)
timing_steps=8         # optimizer steps timed per LM in the score stage
pack_opts=             # stage 9: options for packing the LM (e.g. "--name speech-lm-v1 --version 1 --dtype float16 --card")
codec_pack_opts=       # stage 9: options for packing its codec/ (e.g. "--dtype float16")
exp_root=exp           # where exp dirs go; long runs: a folder outside the work tree (e.g. ~/.cache/audiotok/exp/...)

help_message="Usage: $0 --codec-exp-dir DIR --lm-config FILE [options]
  --stage N / --stop-stage N   run stages N..M (1 data, 2 tokenize, 3 BPE, 4 vocab, 5 train, 6 ASR, 7 TTS,
                               8 score, 9 pack)
  --codec-exp-dir DIR          trained codec (exp dir with model/, or a packed codec)
  --data-root DIR              data dirs at the codec's rate (e.g. ../codec1/dump/raw); else local/data.sh
  --lm-config FILE --tag NAME  LM config and exp dir name
  --compare-configs \"F ...\"    extra LM configs for the g comparison; --compare-args their overrides
  --bpe-size N                 text tokenizer size
  --pack-opts \"...\"            stage 9's options for the LM (--name, --version, --dtype, --card); --codec-pack-opts
  --ngpu N --nj N"

. ./path.sh
. ./cmd.sh
save_run_args "$0" "$@"
. utils/parse_options.sh

[ -n "$codec_exp_dir" ] || { echo "$0: --codec-exp-dir is required" >&2; exit 1; }
[ -n "$lm_config" ] || { echo "$0: --lm-config is required" >&2; exit 1; }
for cfg in ${lm_config} ${compare_configs}; do
  [ -f "$cfg" ] || { echo "$0: config ${cfg} not found" >&2; exit 1; }
done
codec_tag=$(basename "${codec_exp_dir%/}")
[ "$codec_tag" != model ] || codec_tag=$(basename "$(dirname "${codec_exp_dir%/}")")
codec_dir=
shipped_codec=         # the codec's shipped name when it comes from the install (stage 9 refers to it)
if [ "$stop_stage" -ge 2 ]; then  # stage 1 (data) runs without a codec
  if [ -e "$codec_exp_dir" ]; then
    codec_dir=$(cd "$codec_exp_dir" && pwd)
  else  # a shipped codec's name (e.g. speech-25hz-v1)
    codec_dir=$(python -c 'import sys; from audiotok.pretrained import shipped_dir; print(shipped_dir(sys.argv[1]) or "")' \
      "$codec_exp_dir")
    [ -z "$codec_dir" ] || { codec_tag=$(basename "$codec_dir"); shipped_codec=${codec_tag}; }  # versioned name
  fi
  if [ -z "$codec_dir" ]; then
    echo "$0: codec ${codec_exp_dir} not found: not a dir, nor a shipped model (train it with the codec1 recipe)" >&2
    exit 1
  fi
fi
[ -n "$tag" ] || tag="lm_$(basename "${lm_config%.*}")"
tags=("$tag")
configs=("$lm_config")
for cfg in ${compare_configs}; do
  tags+=("lm_$(basename "${cfg%.*}")")
  configs+=("$cfg")
done
exp=${exp_root}/${tag}                          # the main LM: its ASR judges every audio set in the score stage
tokdir=dump/${codec_tag}                # codec tokens per set (+ text) for the LM
bpedir=data/lang_${bpe_type}${bpe_size}
lang=data/lang_${codec_tag}_${bpe_type}${bpe_size}
all_sets=$(printf '%s\n' ${train_set} ${valid_set} ${test_sets} | awk '!seen[$0]++' | tr '\n' ' ')
all_sets=${all_sets% }                # each set once (a test set may be the dev set)

have_data_root() {
  [ -n "$data_root" ] || return 1
  local d
  for d in ${all_sets}; do [ -f "${data_root}/${d}/wav.scp" ] || return 1; done
}

if run_stage 1 "data" "${data_root:-local/data.sh}" "dump/raw/{${all_sets// /,}}"; then
  if have_data_root; then
    log "copying the data dirs of ${data_root} (their audio stays where it is)"
    for dset in ${all_sets}; do
      rm -rf dump/raw/${dset}
      mkdir -p dump/raw/${dset}
      for f in wav.scp text utt2spk spk2utt utt2dur utt2num_samples; do
        if [ -f ${data_root}/${dset}/$f ]; then cp ${data_root}/${dset}/$f dump/raw/${dset}/; fi
      done
    done
  else
    [ -z "$data_root" ] || log "${data_root} lacks some of ${all_sets}: preparing the data here"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
    for dset in ${all_sets}; do
      audiotok format-data-dir data/${dset} dump/raw/${dset} --fs ${fs} --nj ${nj}
    done
  fi
  for dset in ${all_sets}; do
    utils/validate_data_dir.sh dump/raw/${dset}
  done
fi

if run_stage 2 "tokenize with the codec" "dump/raw/* + ${codec_dir}" "${tokdir}/*"; then
  for dset in ${all_sets}; do
    write_run_sh ${tokdir}/${dset} 2
    audiotok encode --data-dir dump/raw/${dset} -o ${tokdir}/${dset} --model ${codec_dir} --nj ${nj}
    cp dump/raw/${dset}/text dump/raw/${dset}/utt2spk ${tokdir}/${dset}/
  done
fi

if run_stage 3 "train the ${bpe_type} text tokenizer (${bpe_size} pieces)" "dump/raw/${train_set}/text" \
    "${bpedir}/bpe.model"; then
  audiotok lm-vocab bpe --text dump/raw/${train_set}/text --vocab-size ${bpe_size} --model-type ${bpe_type} \
    -o ${bpedir}/bpe.model
fi

if run_stage 4 "joint text + speech vocabulary" "${bpedir}/bpe.model + ${codec_dir}" "${lang}/vocab.json"; then
  audiotok lm-vocab vocab --bpe ${bpedir}/bpe.model --codec ${codec_dir} -o ${lang}
fi

if run_stage 5 "train the LM(s): ${tags[*]}" "${tokdir}/{${train_set},${valid_set}} + ${lang}" \
    "${exp_root}/{${tags[*]// /,}}"; then
  frame_rate=$(cat ${lang}/frame_rate)
  for i in "${!tags[@]}"; do
    t=${tags[$i]}
    args=${lm_args}
    [ "$i" -eq 0 ] || args=${compare_args}
    write_run_sh ${exp_root}/${t} 5
    # the LM finds the codec it was trained with; linked first, so a run stopped by a signal has it too
    ln -sfn "${codec_dir}" ${exp_root}/${t}/codec
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=${train_threads} ${cuda_cmd} ${exp_root}/${t}/log/train.log \
      audiotok train --config ${configs[$i]} --train-data ${tokdir}/${train_set} --valid-data ${tokdir}/${valid_set} \
        --exp-dir ${exp_root}/${t} --ngpu ${ngpu} --resume model_conf.vocab=${lang}/vocab.json \
        dataset_conf.vocab=${lang}/vocab.json model_conf.frame_rate=${frame_rate} model_conf.codec_dir=${codec_dir} ${args}
  done
fi

seen=${train_set}_first${seen_utts}
decode_sets=${test_sets}
[ "${seen_utts}" -eq 0 ] || decode_sets="${test_sets} ${seen}"
if run_stage 6 "ASR decode of {${decode_sets// /,}}" "dump/raw/* + ${exp_root}/{${tags[*]// /,}}" "${exp_root}/*/decode_asr_*"; then
  if [ "${seen_utts}" -gt 0 ]; then
    audiotok subset-data-dir dump/raw/${train_set} dump/raw/${seen} --first ${seen_utts}
  fi
  for t in "${tags[@]}"; do
    for dset in ${decode_sets}; do
      write_run_sh ${exp_root}/${t}/decode_asr_${dset} 6
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=${train_threads} audiotok asr --data-dir dump/raw/${dset} -o ${exp_root}/${t}/decode_asr_${dset} \
        --model ${exp_root}/${t} ${asr_args}
    done
  done
fi

if run_stage 7 "TTS of the {${test_sets}} texts in other speakers' voices + codec resynthesis" \
    "dump/raw/* + ${exp_root}/{${tags[*]// /,}}" "${exp_root}/*/tts_*, ${tokdir}/*_resynth"; then
  for dset in ${test_sets}; do
    audiotok decode --scp ${tokdir}/${dset}/tokens.scp -o ${tokdir}/${dset}_resynth --nj ${nj}
    for t in "${tags[@]}"; do
      write_run_sh ${exp_root}/${t}/tts_${dset} 7
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=${train_threads} audiotok tts --data-dir dump/raw/${dset} -o ${exp_root}/${t}/tts_${dset} \
        --model ${exp_root}/${t} ${tts_args}
    done
  done
fi

if run_stage 8 "score: ASR WER, TTS intelligibility, rates and throughput" "${exp_root}/*/{decode_asr,tts}_*" \
    "${exp}/score_*, {${exp}/,}RESULTS.md"; then
  for dset in ${test_sets}; do
    sdir=${exp}/score_${dset}
    write_run_sh ${sdir} 8
    # our ASR (the main LM) on the codec resynthesis and on every TTS output; on the originals it is stage 6
    OMP_NUM_THREADS=${train_threads} audiotok asr ${tokdir}/${dset}_resynth -o ${sdir}/asr_codec.txt --model ${exp}
    hyps=(--hyp "codec=${tokdir}/${dset}_resynth")
    report=(--judge "original=${exp}/decode_asr_${dset}/text" --judge "codec=${sdir}/asr_codec.txt")
    for t in "${tags[@]}"; do
      OMP_NUM_THREADS=${train_threads} audiotok asr --data-dir ${exp_root}/${t}/tts_${dset} -o ${sdir}/asr_tts_${t} \
        --model ${exp}
      hyps+=(--hyp "tts_${t}=${exp_root}/${t}/tts_${dset}")
      report+=(--judge "tts_${t}=${sdir}/asr_tts_${t}/text" --asr "${t}=${exp_root}/${t}/decode_asr_${dset}"
               --tts "${t}=${exp_root}/${t}/tts_${dset}" --train "${t}=${exp_root}/${t}")
      [ "${seen_utts}" -eq 0 ] || report+=(--seen "${t}=${exp_root}/${t}/decode_asr_${seen}" --seen-data dump/raw/${seen})
    done
    # TTS is judged by recognisers independent of our LM: Whisper tiny.en (when installed) and pocketsphinx
    audiotok score --ref-data dump/raw/${dset} "${hyps[@]}" --include-original --metrics wer --nj ${nj} \
      --out ${sdir}/recognisers
    OMP_NUM_THREADS=${train_threads} audiotok lm-report --ref-data dump/raw/${dset} "${report[@]}" \
      --judge-model "${tag}" --recognisers ${sdir}/recognisers --train-steps ${timing_steps} \
      --results-md ${exp}/RESULTS.md --results-md RESULTS.md --section "${tag} on ${dset} (codec ${codec_tag})" \
      --codec ${codec_dir} --command "cd ${PWD#"${AUDIOTOK_ROOT}"/} && ${run_args}" --json ${sdir}/results.json
    for t in "${tags[@]}"; do  # voice cloning: does the output sound like its prompt's speaker?
      audiotok spk-sim --data-dir ${exp_root}/${t}/tts_${dset} --prompt-data-dir dump/raw/${dset} --out ${sdir}/spk_sim_${t} \
        --results-md ${exp}/RESULTS.md --results-md RESULTS.md --section "${t} on ${dset}: speaker similarity to the voice prompt"
    done
  done
fi

if run_stage 9 "pack the LM with its codec (a shipped codec by name)" "${exp}/model + ${codec_dir}" "${exp_root}/packed/${tag}{,/codec}"; then
  # shellcheck disable=SC2086
  audiotok pack --exp-dir ${exp} --out ${exp_root}/packed/${tag} ${pack_opts} \
    $( [ -s ${exp}/RESULTS.md ] && echo "--results ${exp}/RESULTS.md" ) \
    $( [ -z "${shipped_codec}" ] || echo "--codec ${shipped_codec}" )
  if [ -z "${shipped_codec}" ]; then  # a shipped codec is found in the install: no copy
    # shellcheck disable=SC2086
    audiotok pack --exp-dir ${codec_dir} --out ${exp_root}/packed/${tag}/codec ${codec_pack_opts}
  fi
  first=$(head -n 1 dump/raw/${test_sets%% *}/wav.scp | cut -d' ' -f2-)
  log "check: the release transcribes ${first} on its own"
  audiotok asr "${first}" --model ${exp_root}/packed/${tag}
fi

log "Finished stages ${stage}..${stop_stage}: ${exp}"
