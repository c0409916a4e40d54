#!/usr/bin/env bash
# Unified speech LM (ASR + TTS with voice cloning) on the embedded mini_synth corpus, over the tokens
# of the codec that ../codec1 trained. Debug configs by default: CPU, minutes after the codec recipe.
#   ./run.sh      all stages: the 25 Hz codec, a g=5 LM (5 Hz) and, for the rate comparison, its g=1 twin
#                 (same data, steps and size; add --compare-args "trainer.max_steps=300" to save time)
#   ./run.sh --codec-exp-dir ../codec1/exp/codec_dualcodec_12hz_debug --lm-config conf/ulm_g2_debug.yaml \
#            --compare-configs "" --tag lm_ulm_g2_debug_12hz          (12.5 Hz codec, g=2: 6.25 Hz)
#   ./run.sh --lm-config conf/ulm_g5.yaml --compare-configs conf/ulm_g1.yaml --ngpu 1   (full size)
set -euo pipefail

./lm.sh \
  --codec-exp-dir ../codec1/exp/codec_dualcodec_25hz_debug \
  --data-root ../codec1/dump/raw \
  --local-data-opts "--minutes 6 --seed 1" \
  --train-set train --valid-set dev --test-sets test \
  --bpe-size 100 \
  --lm-config conf/ulm_g5_debug.yaml \
  --compare-configs conf/ulm_g1_debug.yaml \
  "$@"
