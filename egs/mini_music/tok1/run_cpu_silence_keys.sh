#!/usr/bin/env bash
# music-v1 release 5's candidate: Duo-Tok with the pitch band and its quantizers on the encode-time route
# (conf/duotok_v8_cpu.yaml = duotok_v7_cpu.yaml), decoded with release 3's silence keys (a per-frame gain
# in each iSTFT head, the mel loss clamped at 1e-7: conf/duotok_v8_decoder_cpu.yaml), next to the
# single-track control with the same band (conf/mixrvq_v6_cpu.yaml) and the shipped release 4, all on
# release 4's frozen encoder (the shipped music-v1, which is release 2's encoder; its refiner comes along).
# Needs only a fresh install:
#   stage 1  the corpus (tok.sh stages 1-2) and the shipped release 4 as EXP/duotok_v4_cpu/model
#   stage 2  the quantizers, side by side (one thread each)
#   stage 3  the decoders, side by side (one thread each)
#   stage 4  tok.sh stage 7 (encode, decode) for each system not decoded yet, stage 8 (score all three:
#            EXP/RESULTS.md), `audiotok score-compare` of each Duo-Tok with the control per track (paired
#            over the test songs, into EXP/RESULTS.md), stage 9 for duotok_v8_cpu alone (music-v1 version 5)
# Extra arguments go to the last tok.sh (e.g. --update-results true). Every stage resumes: run it again.
set -euo pipefail
. ./path.sh

. local/cpu_common.sh  # exp_root, common
release4=${exp_root}/duotok_v4_cpu/model
stage=${1:-1}
[ $# -gt 0 ] && shift
names=(duotok_v8_cpu mixrvq_v6_cpu)  # the first is packed
declare -A q_args=([duotok_v8_cpu]="model_conf.separator_init_dir=${release4}" [mixrvq_v6_cpu]="")

side_by_side() {  # side_by_side SUFFIX CONFIG_SUFFIX INIT_KEY INIT_SUFFIX: one training per name, one thread each
  local pids=() name
  for name in "${names[@]}"; do
    local init=${exp_root}/${name}${4}
    [ "$3" = encoder_init_dir ] && init=${release4}
    OMP_NUM_THREADS=1 audiotok train --config "conf/${name%_cpu}${2}_cpu.yaml" --train-data dump/raw/train \
      --valid-data dump/raw/dev --exp-dir "${exp_root}/${name}${1}" --resume "model_conf.$3=${init}" \
      ${1:+${q_args[$name]}} > "${exp_root}/${name}${1}.train.log" 2>&1 &
    pids+=($!)
  done
  local pid
  for pid in "${pids[@]}"; do wait "${pid}"; done
}
configs() {  # configs SUFFIX NAME...: the conf files of NAMEs
  local suffix=$1 name out=()
  shift
  for name in "$@"; do out+=("conf/${name%_cpu}${suffix}_cpu.yaml"); done
  echo "${out[*]}"
}

if [ "${stage}" -le 1 ]; then
  ./tok.sh "${common[@]}" --tok-configs "$(configs "" "${names[@]}")" \
    --dec-configs "$(configs _decoder "${names[@]}")" --stage 1 --stop-stage 2
  local/shipped_release.sh 4 "${release4}"
fi
mkdir -p "${exp_root}"
if [ "${stage}" -le 2 ]; then side_by_side _q "" encoder_init_dir ""; fi
if [ "${stage}" -le 3 ]; then side_by_side "" _decoder init_dir _q/model; fi
if [ "${stage}" -le 4 ]; then
  scored=(duotok_v4_cpu "${names[@]}")  # release 4 as shipped, decoded and scored in the same run
  for name in "${scored[@]}"; do
    [ -d "${exp_root}/${name}/decode/test/wav_accompaniment" ] && continue  # decoded before
    ./tok.sh "${common[@]}" --stage 7 --stop-stage 7 --tok-configs "$(configs "" ${name})" \
      --dec-configs "$(configs _decoder ${name})"
  done
  ./tok.sh "${common[@]}" --stage 8 --stop-stage 8 --tok-configs "$(configs "" "${scored[@]}")" \
    --dec-configs "$(configs _decoder "${scored[@]}")" "$@"
  for track in mix vocals accompaniment; do  # is a gap to the control more than the spread over songs?
    audiotok score-compare --score-dir "${exp_root}/score/test/${track}" --against "${names[1]}" \
      --systems "${names[0]},${scored[0]}" --results-md "${exp_root}/RESULTS.md" \
      --section "${track} of test: paired comparison with the control (${names[1]})"
  done
  ./tok.sh "${common[@]}" --stage 9 --stop-stage 9 --tok-configs "$(configs "" ${names[0]})" \
    --dec-configs "$(configs _decoder ${names[0]})" \
    --main-pack-opts "--name music-v1 --version 5 --dtype float16 --card"
fi
