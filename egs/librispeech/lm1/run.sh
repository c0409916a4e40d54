#!/usr/bin/env bash
# Unified speech LM (ASR + TTS with voice cloning) on LibriSpeech, over the tokens of the codec that
# ../codec1 trained (its default: DualCodec 12.5 Hz -> g=2, 6.25 LM positions per second of speech).
# Data: ../codec1/dump/raw when codec1 ran its stage 2; otherwise local/data.sh reads LIBRISPEECH (db.sh).
#   ./run.sh                                      all stages, full-size config, 1 GPU
#   ./run.sh --codec-exp-dir ../codec1/exp/codec_dualcodec_25hz --lm-config conf/ulm_g5.yaml   (25 Hz, g=5)
#   ./run.sh --compare-configs conf/ulm_g1.yaml --compare-args "trainer.max_steps=20000"      (+ a g=1 twin)
#   ./run.sh --ngpu 0 --nj 2 --lm-config conf/ulm_g2_debug.yaml --bpe-size 300                (CPU look)
set -euo pipefail

./lm.sh \
  --codec-exp-dir ../codec1/exp/codec_dualcodec_12hz \
  --data-root ../codec1/dump/raw \
  --local-data-opts "--train-sets train-clean-100 --dev-set dev-clean --test-sets test-clean" \
  --train-set train_clean_100 --valid-set dev_clean --test-sets test_clean \
  --bpe-size 5000 \
  --lm-config conf/ulm_g2.yaml \
  --ngpu 1 --nj 16 \
  "$@"
