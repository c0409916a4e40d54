#!/usr/bin/env bash
# How music-v1 release 5 was made (2026-12-07, git 8af0c21 for the decoders, 62efdf8 for the scores and
# the pack): from a fresh install, the corpus, v8's quantizers and decoders next to the pitch-band
# control, then decoding, scoring and packing; extra options go to tok.sh stage 8.
cd "$(dirname "$0")/../../../egs/mini_music/tok1" || exit 1
./run_cpu_silence_keys.sh 1 "$@"
