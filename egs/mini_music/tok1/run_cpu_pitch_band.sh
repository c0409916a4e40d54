#!/usr/bin/env bash
# Duo-Tok and the single-track control, each with a pitch band (conf/duotok_v6_cpu.yaml, conf/mixrvq_v6_cpu.yaml:
# the branches also read their track's linear spectrum below 2 kHz), trained side by side from release 2's
# frozen encoder, then decoded and scored on the test songs. Duo-Tok keeps release 4's separation refiner
# (model_conf.separator_init_dir), so its routing is release 4's.
#   stage 1  both quantizers (one thread each)      stage 2  both decoders (one thread each)
#   stage 3  tok.sh stages 7-9: encode, decode, score both (EXP/RESULTS.md), pack Duo-Tok as music-v1 version 5
# Exp dirs EXP/{duotok,mixrvq}_v6_cpu{_q,}; every stage resumes: run it again to continue.
set -euo pipefail
. ./path.sh

. local/from_release2.sh  # exp_root, release2, common
release4=${exp_root}/duotok_v4_cpu/model  # run_cpu_release4.sh's, as shipped (audiotok/pretrained/music-v1)
stage=${1:-1}
names=(duotok_v6_cpu mixrvq_v6_cpu)
declare -A q_args=([duotok_v6_cpu]="model_conf.separator_init_dir=${release4}" [mixrvq_v6_cpu]="")

side_by_side() {  # side_by_side SUFFIX CONFIG_SUFFIX INIT_KEY INIT_SUFFIX: one training per name, one thread each
  local pids=() name
  for name in "${names[@]}"; do
    local init=${exp_root}/${name}${4}
    [ "$3" = encoder_init_dir ] && init=${release2}
    OMP_NUM_THREADS=1 audiotok train --config "conf/${name%_cpu}${2}_cpu.yaml" --train-data dump/raw/train \
      --valid-data dump/raw/dev --exp-dir "${exp_root}/${name}${1}" --resume "model_conf.$3=${init}" \
      ${1:+${q_args[$name]}} > "${exp_root}/${name}${1}.train.log" 2>&1 &
    pids+=($!)
  done
  local pid
  for pid in "${pids[@]}"; do wait "${pid}"; done
}

if [ "${stage}" -le 1 ]; then side_by_side _q "" encoder_init_dir ""; fi
if [ "${stage}" -le 2 ]; then side_by_side "" _decoder init_dir _q/model; fi
if [ "${stage}" -le 3 ]; then
  ./tok.sh "${common[@]}" --stage 7 --stop-stage 9 \
    --tok-configs "conf/duotok_v6_cpu.yaml conf/mixrvq_v6_cpu.yaml" \
    --dec-configs "conf/duotok_v6_decoder_cpu.yaml conf/mixrvq_v6_decoder_cpu.yaml" \
    --main-pack-opts "--name music-v1 --version 5 --dtype float16 --card" "${@:2}"
fi
