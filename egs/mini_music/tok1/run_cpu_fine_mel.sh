#!/usr/bin/env bash
# Release 4's tokenizer and the control's, each with new decoders trained on the multi-scale mel loss at the
# speech codec's four scales (conf/duotok_v5_decoder_cpu.yaml, conf/mixrvq_v5_decoder_cpu.yaml: the finest
# 320 mels on 2048-sample windows), side by side, then both decoded and scored on the test songs.
# Needs run_cpu_release4.sh (release 4's tokenizer) and run_cpu_release3.sh (the control's quantizer) first.
# Exp dirs EXP/duotok_v5_cpu and EXP/mixrvq_v5_cpu; every step resumes: run it again to continue.
set -euo pipefail
. ./path.sh

exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_music_tok1"
nj=1
declare -A init=([duotok_v5_cpu]=${exp_root}/duotok_v4_cpu_q/model [mixrvq_v5_cpu]=${exp_root}/mixrvq_cpu_q/model)
declare -A conf=([duotok_v5_cpu]=conf/duotok_v5_decoder_cpu.yaml [mixrvq_v5_cpu]=conf/mixrvq_v5_decoder_cpu.yaml)
pids=()
for name in duotok_v5_cpu mixrvq_v5_cpu; do  # the two trainings side by side, one thread each
  OMP_NUM_THREADS=1 audiotok train --config "${conf[$name]}" --train-data dump/raw/train --valid-data dump/raw/dev \
    --exp-dir "${exp_root}/${name}" --resume "model_conf.init_dir=${init[$name]}" > "${exp_root}/${name}.train.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "${pid}"; done
for name in duotok_v5_cpu mixrvq_v5_cpu; do
  ddir=${exp_root}/${name}/decode/test
  [ -s ${ddir}/codes/tokens.scp ] || audiotok encode --data-dir dump/raw/test -o ${ddir}/codes --model ${exp_root}/${name} --nj ${nj}
  for track in vocals accompaniment mix; do
    [ -d ${ddir}/wav_${track} ] || audiotok decode --scp ${ddir}/codes/tokens.scp -o ${ddir}/wav_${track} --track ${track} --nj ${nj}
  done
done
echo "$0: done; score them as RESULTS.md's sections '... decoders with the finer mel scales ...' record"
