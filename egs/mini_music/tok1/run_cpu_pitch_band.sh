#!/usr/bin/env bash
# Duo-Tok and the single-track control, each with a pitch band (conf/duotok_v6_cpu.yaml, conf/mixrvq_v6_cpu.yaml:
# the branches also read their track's linear spectrum below 2 kHz), and Duo-Tok's quantizers again on the
# encode-time route (conf/duotok_v7_cpu.yaml), trained side by side from release 2's frozen encoder, then
# decoded and scored on the test songs. Duo-Tok keeps release 4's separation refiner
# (model_conf.separator_init_dir), so its routing is release 4's.
#   stage 1  the quantizers (one thread each)      stage 2  the decoders (one thread each)
#   stage 3  tok.sh stage 7 (encode, decode) for each, then stages 8-9: score them (EXP/RESULTS.md) and pack
#            duotok_v7_cpu (float16, under its own id: music-v1 version 5 is duotok_v8, run_cpu_silence_keys.sh)
# Exp dirs EXP/{duotok_v6,mixrvq_v6,duotok_v7}_cpu{_q,}; every stage resumes: run it again to continue.
# As run (2026-12-07): v6 side by side through stage 3 with two names, then v7 alone (2 threads), then
# stage 3 for v7 with the three names.
set -euo pipefail
. ./path.sh

. local/from_release2.sh  # exp_root, release2, common
release4=${exp_root}/duotok_v4_cpu/model  # run_cpu_release4.sh's, as shipped (audiotok/pretrained/music-v1)
stage=${1:-1}
names=(duotok_v7_cpu mixrvq_v6_cpu duotok_v6_cpu)  # the first is packed
declare -A q_args=([duotok_v6_cpu]="model_conf.separator_init_dir=${release4}" [mixrvq_v6_cpu]=""
                   [duotok_v7_cpu]="model_conf.separator_init_dir=${release4}")

. local/side_by_side.sh

side_by_side() {  # side_by_side SUFFIX CONFIG_SUFFIX INIT_KEY INIT_SUFFIX: one training per name, one thread each
  local name init
  for name in "${names[@]}"; do
    init=${exp_root}/${name}${4}
    [ "$3" = encoder_init_dir ] && init=${release2}
    # shellcheck disable=SC2086
    train_in_background "$(configs "$2" ${name})" "${exp_root}/${name}${1}" "model_conf.$3=${init}" \
      ${1:+${q_args[$name]}}
  done
  wait_all
}

if [ "${stage}" -le 1 ]; then side_by_side _q "" encoder_init_dir ""; fi
if [ "${stage}" -le 2 ]; then side_by_side "" _decoder init_dir _q/model; fi
if [ "${stage}" -le 3 ]; then
  decode_missing "${names[@]}"
  tok_stages 8 9 "${names[*]}" --main-pack-opts "--dtype float16 --card" "${@:2}"
fi
