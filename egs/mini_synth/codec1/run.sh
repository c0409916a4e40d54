#!/usr/bin/env bash
# DualCodec on the embedded mini_synth corpus. Debug configs by default: CPU, minutes.
#   ./run.sh                         all stages with the *_debug configs
#   ./run.sh --codec-config conf/dualcodec_12hz.yaml --ssl-config conf/bestrq_speech.yaml --ngpu 1
set -euo pipefail

./codec.sh \
  --ssl-config conf/bestrq_speech_debug.yaml \
  --codec-config conf/dualcodec_12hz_debug.yaml \
  --train-set train --valid-set dev --test-sets test \
  --decode-nq "1 2 4" \
  --local-data-opts "--minutes 6 --seed 1" \
  "$@"
