#!/usr/bin/env bash
# Duo-Tok whose codes rebuild the true stems (conf/duotok_v10_cpu.yaml: release 5's quantizers with
# model_conf.train_targets: stems; its decoders are release 5's recipe), next to the pitch-band control
# decoded with that same recipe (conf/mixrvq_v10_decoder_cpu.yaml) and the shipped release 5, all on
# release 5's frozen encoder and refiner (= release 4's). Needs only a fresh install:
#   stage 1  the corpus (tok.sh stages 1-2) and the shipped release 5 as EXP/duotok_v8_cpu/model
#   stage 2  the quantizers, side by side (one thread each): EXP/duotok_v10_cpu_q and EXP/mixrvq_v6_cpu_q
#   stage 3  the decoders, side by side (one thread each)
#   stage 4  tok.sh stage 7 (encode, decode) for each system not decoded yet, stage 8 (score all three:
#            EXP/RESULTS.md), `audiotok score-compare` per track of both Duo-Toks with the control and of
#            v10 with release 5, stage 9 for duotok_v10_cpu (float16, under its own id)
# Extra arguments go to tok.sh stage 8. Every stage resumes: run it again.
set -euo pipefail
. ./path.sh

. local/cpu_common.sh  # exp_root, common
. local/side_by_side.sh
release5=${exp_root}/duotok_v8_cpu/model
stage=${1:-1}
[ $# -gt 0 ] && shift
names=(duotok_v10_cpu mixrvq_v10_cpu)  # the first is packed, the second is the control
declare -A quantizers=([duotok_v10_cpu]=duotok_v10_cpu_q [mixrvq_v10_cpu]=mixrvq_v6_cpu_q)
declare -A q_configs=([duotok_v10_cpu]=conf/duotok_v10_cpu.yaml [mixrvq_v10_cpu]=conf/mixrvq_v6_cpu.yaml)
declare -A q_args=([duotok_v10_cpu]="model_conf.separator_init_dir=${release5}" [mixrvq_v10_cpu]="")

if [ "${stage}" -le 1 ]; then
  tok_stages 1 2 "${names[*]}"
  local/shipped_release.sh 5 "${release5}"
fi
if [ "${stage}" -le 2 ]; then
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    train_in_background "${q_configs[$name]}" "${exp_root}/${quantizers[$name]}" \
      "model_conf.encoder_init_dir=${release5}" ${q_args[$name]}
  done
  wait_all
fi
if [ "${stage}" -le 3 ]; then
  for name in "${names[@]}"; do
    train_in_background "$(configs _decoder ${name})" "${exp_root}/${name}" \
      "model_conf.init_dir=${exp_root}/${quantizers[$name]}/model"
  done
  wait_all
fi
if [ "${stage}" -le 4 ]; then
  scored=(duotok_v8_cpu "${names[@]}")  # release 5 as shipped, decoded and scored in the same run
  decode_missing "${scored[@]}"
  tok_stages 8 8 "${scored[*]}" "$@"
  compare_with_control "${names[1]}" "${names[0]},${scored[0]}"
  compare_with "${scored[0]}" "${names[0]}" "release 5"  # what the new targets changed against the shipped one
  tok_stages 9 9 "${names[0]}" --main-pack-opts "--dtype float16 --card"
fi
