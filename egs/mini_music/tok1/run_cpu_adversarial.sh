#!/usr/bin/env bash
# Adversarial decoders on both sides: release 5's decoders fine-tuned with the speech codec's discriminators
# (conf/duotok_v11_decoder_cpu.yaml) next to the pitch-band control decoded as release 5 (mixrvq_v10's
# decoders) and fine-tuned the same way (conf/mixrvq_v11_decoder_cpu.yaml), all on release 5's frozen
# encoder and refiner. Needs only a fresh install:
#   stage 1  the corpus (tok.sh stages 1-2) and the shipped release 5 as EXP/duotok_v8_cpu/model
#   stage 2  side by side (one thread each): Duo-Tok's adversarial fine-tune from release 5 (EXP/duotok_v11_cpu);
#            the control's quantizers (EXP/mixrvq_v6_cpu_q) and then its mel-loss decoders (EXP/mixrvq_v10_cpu)
#   stage 3  the control's adversarial fine-tune from those decoders (EXP/mixrvq_v11_cpu)
#   stage 4  tok.sh stage 7 (encode, decode) for each system not decoded yet, stage 8 (score the four:
#            EXP/RESULTS.md), `audiotok score-compare` per track of each Duo-Tok with the control decoded the
#            same way and of v11 with release 5, stage 9 for duotok_v11_cpu (float16, under its own id)
# Extra arguments go to tok.sh stage 8. Every stage resumes: run it again.
set -euo pipefail
. ./path.sh

. local/cpu_common.sh  # exp_root, common
. local/side_by_side.sh
release5=${exp_root}/duotok_v8_cpu/model
control_q=${exp_root}/mixrvq_v6_cpu_q
stage=${1:-1}
[ $# -gt 0 ] && shift

if [ "${stage}" -le 1 ]; then
  tok_stages 1 2 "duotok_v11_cpu mixrvq_v11_cpu"
  local/shipped_release.sh 5 "${release5}"
fi
if [ "${stage}" -le 2 ]; then
  train_in_background conf/duotok_v11_decoder_cpu.yaml "${exp_root}/duotok_v11_cpu" \
    "model_conf.init_dir=${release5}" --init-from "${release5}" --init-partial
  (
    train_in_background conf/mixrvq_v6_cpu.yaml "${control_q}" "model_conf.encoder_init_dir=${release5}"
    wait_all
    train_in_background conf/mixrvq_v10_decoder_cpu.yaml "${exp_root}/mixrvq_v10_cpu" \
      "model_conf.init_dir=${control_q}/model"
    wait_all
  ) &
  wait_all
fi
if [ "${stage}" -le 3 ]; then
  train_in_background conf/mixrvq_v11_decoder_cpu.yaml "${exp_root}/mixrvq_v11_cpu" \
    "model_conf.init_dir=${control_q}/model" --init-from "${exp_root}/mixrvq_v10_cpu/model" --init-partial
  wait_all
fi
if [ "${stage}" -le 4 ]; then
  scored=(duotok_v8_cpu duotok_v11_cpu mixrvq_v10_cpu mixrvq_v11_cpu)  # release 5 as shipped, decoded and scored here
  decode_missing "${scored[@]}"
  tok_stages 8 8 "${scored[*]}" "$@"
  compare_with mixrvq_v11_cpu duotok_v11_cpu "the adversarial control"
  compare_with mixrvq_v10_cpu duotok_v8_cpu "the control"
  compare_with duotok_v8_cpu duotok_v11_cpu "release 5"  # what the discriminators changed on Duo-Tok
  tok_stages 9 9 duotok_v11_cpu --main-pack-opts "--dtype float16 --card"
fi
