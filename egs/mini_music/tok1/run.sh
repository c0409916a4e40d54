#!/usr/bin/env bash
# Duo-Tok (dual-track music tokens) next to a single-track residual-VQ control at the same bitrate,
# on the embedded mini_music corpus. Debug configs by default: the whole recipe runs on a 2-core CPU.
#   ./run.sh                                   all stages with the *_debug configs
#   ./run.sh --ngpu 1 --ssl-config conf/bestrq_music.yaml --enc-config conf/encoder_music.yaml \
#     --tok-configs "conf/duotok.yaml conf/mixrvq.yaml" --dec-configs "conf/duotok_decoder.yaml conf/mixrvq_decoder.yaml"
set -euo pipefail

./tok.sh \
  --ssl-config conf/bestrq_music_debug.yaml \
  --enc-config conf/encoder_music_debug.yaml \
  --tok-configs "conf/duotok_debug.yaml conf/mixrvq_debug.yaml" \
  --dec-configs "conf/duotok_decoder_debug.yaml conf/mixrvq_decoder_debug.yaml" \
  --train-set train --valid-set dev --test-sets test \
  --local-data-opts "--songs 20 --seed 1" \
  "$@"
