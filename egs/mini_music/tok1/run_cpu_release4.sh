#!/usr/bin/env bash
# music-v1 release 4: release 2's tokenizer and decoders with a separation refiner in front of the routing
# (conf/duotok_v4_cpu.yaml), trained alone from the shipped release 2, then scored next to the
# single-track control of run_cpu_release3.sh (the same frozen encoder; run that first). run_cpu.sh is
# the whole recipe from scratch (release 2); this continues from its shipped result:
#   stages 1-2   the corpus (as run_cpu.sh)
#   stage 5      the refiner (train_stage: separator; encoder, codebooks and decoders frozen)
#   stage 6      decoders on the refined split's tokens (conf/duotok_v4_decoder_cpu.yaml); with
#                --dec-stage false the refiner's model keeps release 2's decoders instead
#   stages 7-9   decode, score next to the control (RESULTS.md), pack as music-v1 version 4
# Every stage resumes: run it again to continue. Shipped (2026-12-07) as it stands: shipping is
# copying EXP/packed/duotok_v4_cpu to audiotok/pretrained/music-v1 (README.md, "The separation refiner").
set -euo pipefail

dec_stage=true
if [ "${1:-}" = --dec-stage ]; then dec_stage=$2; shift 2; fi

. local/from_release2.sh  # exp_root, release2, common
v4=(--tok-configs conf/duotok_v4_cpu.yaml --dec-configs conf/duotok_v4_decoder_cpu.yaml)
./tok.sh "${common[@]}" "${v4[@]}" --stage 1 --stop-stage 2
./tok.sh "${common[@]}" "${v4[@]}" --stage 5 --stop-stage 5 \
  --tok-train-args "model_conf.init_dir=${release2} model_conf.encoder_init_dir=${release2}"
model=${exp_root}/duotok_v4_cpu
if [ "${dec_stage}" = true ]; then
  ./tok.sh "${common[@]}" "${v4[@]}" --stage 6 --stop-stage 6
elif [ ! -f "${model}/model/model.safetensors" ]; then  # the refiner's model, release 2's decoders and all
  mkdir -p "${model}"
  cp -r "${model}_q/model" "${model}/model.tmp" && mv "${model}/model.tmp" "${model}/model"
fi
./tok.sh "${common[@]}" "${v4[@]}" --stage 7 --stop-stage 7
./tok.sh "${common[@]}" --stage 8 --stop-stage 9 \
  --tok-configs "conf/duotok_v4_cpu.yaml conf/mixrvq_cpu.yaml" \
  --dec-configs "conf/duotok_v4_decoder_cpu.yaml conf/mixrvq_v3_decoder_cpu.yaml" \
  --main-pack-opts "--name music-v1 --version 4 --dtype float16 --card" "$@"
