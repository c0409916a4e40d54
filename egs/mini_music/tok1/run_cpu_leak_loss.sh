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
. local/side_by_side.sh
stage=${1:-1}
[ $# -gt 0 ] && shift
declare -A quantizers=([duotok_v9_cpu]=duotok_v8_cpu_q [mixrvq_v9_cpu]=mixrvq_v6_cpu_q)
names=(duotok_v9_cpu mixrvq_v9_cpu)  # the first is packed, the second is the control compared with

if [ "${stage}" -le 1 ]; then
  for name in "${names[@]}"; do
    train_in_background "$(configs _decoder ${name})" "${exp_root}/${name}" \
      "model_conf.init_dir=${exp_root}/${quantizers[$name]}/model"
  done
  wait_all
fi
if [ "${stage}" -le 2 ]; then
  scored=("${names[@]}" duotok_v8_cpu mixrvq_v6_cpu duotok_v4_cpu)
  decode_missing "${scored[@]}"
  tok_stages 8 8 "${scored[*]}" "$@"
  compare_with_control "${names[1]}" "${names[0]},duotok_v8_cpu,mixrvq_v6_cpu"
  tok_stages 9 9 "${names[0]}" --main-pack-opts "--dtype float16 --card"
fi
