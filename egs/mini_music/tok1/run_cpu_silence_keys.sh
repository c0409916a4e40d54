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
# Extra arguments go to tok.sh stage 8 (e.g. --update-results true). Every stage resumes: run it again.
set -euo pipefail
. ./path.sh

. local/cpu_common.sh  # exp_root, common
. local/side_by_side.sh
release4=${exp_root}/duotok_v4_cpu/model
stage=${1:-1}
[ $# -gt 0 ] && shift
names=(duotok_v8_cpu mixrvq_v6_cpu)  # the first is packed, the second is the control
declare -A q_args=([duotok_v8_cpu]="model_conf.separator_init_dir=${release4}" [mixrvq_v6_cpu]="")

if [ "${stage}" -le 1 ]; then
  tok_stages 1 2 "${names[*]}"
  local/shipped_release.sh 4 "${release4}"
fi
if [ "${stage}" -le 2 ]; then
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    train_in_background "$(configs "" ${name})" "${exp_root}/${name}_q" "model_conf.encoder_init_dir=${release4}" \
      ${q_args[$name]}
  done
  wait_all
fi
if [ "${stage}" -le 3 ]; then
  for name in "${names[@]}"; do
    train_in_background "$(configs _decoder ${name})" "${exp_root}/${name}" \
      "model_conf.init_dir=${exp_root}/${name}_q/model"
  done
  wait_all
fi
if [ "${stage}" -le 4 ]; then
  scored=(duotok_v4_cpu "${names[@]}")  # release 4 as shipped, decoded and scored in the same run
  decode_missing "${scored[@]}"
  tok_stages 8 8 "${scored[*]}" "$@"
  compare_with_control "${names[1]}" "${names[0]},${scored[0]}"
  tok_stages 9 9 "${names[0]}" --main-pack-opts "--name music-v1 --version 5 --dtype float16 --card"
fi
