#!/usr/bin/env bash
# DualCodec (12.5 Hz) + BEST-RQ on LibriTTS read from a local copy: set LIBRITTS in db.sh.
# Full-size configs on one GPU by default; see README.md for 960 h and the debug configs.
#   ./run.sh                          all stages: data, format, SSL, codec, decode, score, pack
#   ./run.sh --stage 2 --stop-stage 2 one stage; any codec.sh option can be added
set -euo pipefail

./codec.sh \
  --ssl-config conf/bestrq_speech.yaml \
  --codec-config conf/dualcodec_12hz.yaml \
  --ngpu 1 --nj 16 \
  --train-set train_clean_100 --valid-set dev_clean --test-sets test_clean \
  --decode-nq "1 2 4 8" \
  --local-data-opts "--train-sets train-clean-100 --dev-set dev-clean --test-sets test-clean" \
  "$@"
