#!/usr/bin/env bash
# Decoders with a cross-stem leakage loss (model_conf.loss_weights.leak), on both sides: Duo-Tok
# (conf/duotok_v9_decoder_cpu.yaml, on v8's quantizers) and the single-track control
# (conf/mixrvq_v9_decoder_cpu.yaml, on mixrvq_v6's), both with release 3's silence keys; then all of them
# scored together with v8, the v6 control and the shipped release 4. Run run_cpu_silence_keys.sh first
# (it trains the quantizers, v8 and mixrvq_v6 and decodes release 4).
#   stage 1  the two decoders, side by side (one thread each)
#   stage 2  tok.sh stage 7 for the new ones, stage 8 (score the five: EXP/RESULTS.md), score-compare of
#            each Duo-Tok with the v9 control per track, stage 9 for duotok_v9_cpu (float16, under its own id: not shipped)
# Extra arguments go to tok.sh stage 8. Every stage resumes: run it again.
set -euo pipefail
. ./path.sh

. local/cpu_common.sh  # exp_root, common
stage=${1:-1}
[ $# -gt 0 ] && shift
declare -A quantizers=([duotok_v9_cpu]=duotok_v8_cpu_q [mixrvq_v9_cpu]=mixrvq_v6_cpu_q)
names=(duotok_v9_cpu mixrvq_v9_cpu)  # the first is packed, the second is the control compared with
configs() {  # configs SUFFIX NAME...: the conf files of NAMEs
  local suffix=$1 name out=()
  shift
  for name in "$@"; do out+=("conf/${name%_cpu}${suffix}_cpu.yaml"); done
  echo "${out[*]}"
}

if [ "${stage}" -le 1 ]; then
  pids=()
  for name in "${names[@]}"; do
    OMP_NUM_THREADS=1 audiotok train --config "$(configs _decoder ${name})" --train-data dump/raw/train \
      --valid-data dump/raw/dev --exp-dir "${exp_root}/${name}" --resume \
      "model_conf.init_dir=${exp_root}/${quantizers[$name]}/model" > "${exp_root}/${name}.train.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "${pid}"; done
fi
if [ "${stage}" -le 2 ]; then
  scored=("${names[@]}" duotok_v8_cpu mixrvq_v6_cpu duotok_v4_cpu)
  for name in "${scored[@]}"; do
    [ -d "${exp_root}/${name}/decode/test/wav_accompaniment" ] && continue  # decoded before
    ./tok.sh "${common[@]}" --stage 7 --stop-stage 7 --tok-configs "$(configs "" ${name})" \
      --dec-configs "$(configs _decoder ${name})"
  done
  ./tok.sh "${common[@]}" --stage 8 --stop-stage 8 --tok-configs "$(configs "" "${scored[@]}")" \
    --dec-configs "$(configs _decoder "${scored[@]}")" "$@"
  for track in mix vocals accompaniment; do  # is a gap to the control more than the spread over songs?
    audiotok score-compare --score-dir "${exp_root}/score/test/${track}" --against "${names[1]}" \
      --systems "${names[0]},duotok_v8_cpu,mixrvq_v6_cpu" --results-md "${exp_root}/RESULTS.md" \
      --section "${track} of test: paired comparison with the control (${names[1]})"
  done
  ./tok.sh "${common[@]}" --stage 9 --stop-stage 9 --tok-configs "$(configs "" ${names[0]})" \
    --dec-configs "$(configs _decoder ${names[0]})" \
    --main-pack-opts "--dtype float16 --card"
fi
