#!/usr/bin/env bash
# Duo-Tok (dual-track music tokens) next to a single-track residual-VQ control at 750 bps, on
# MUSDB18 / MUSDB18-HQ read from a local copy: set MUSDB18 in db.sh (see README.md).
# Full-size configs on one GPU by default (conf/ links to egs/mini_music/tok1/conf, one set of configs);
# the *_debug configs run the same stages on a CPU in minutes.
#   ./run.sh                                  all stages: data, format, SSL, fine-tune, quantizers, decoders,
#                                             decode, score, pack
#   ./run.sh --stage 3 --stop-stage 3         one stage; any tok.sh option can be added
set -euo pipefail

./tok.sh \
  --ssl-config conf/bestrq_music.yaml \
  --enc-config conf/encoder_music.yaml \
  --tok-configs "conf/duotok.yaml conf/mixrvq.yaml" \
  --dec-configs "conf/duotok_decoder.yaml conf/mixrvq_decoder.yaml" \
  --ngpu 1 --nj 8 \
  --train-set train --valid-set dev --test-sets test \
  --local-data-opts "--nj 8" \
  "$@"
