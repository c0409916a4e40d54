#!/usr/bin/env bash
# Written by tok.sh on 2026-12-05T21:57:02: reruns stage 6 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_music/tok1 || exit 1
bash ./tok.sh --ssl-config conf/bestrq_music_cpu.yaml --enc-config conf/encoder_music_cpu.yaml --tok-configs conf/duotok_v2_cpu.yaml\ conf/mixrvq_cpu.yaml --dec-configs conf/duotok_v2_decoder_cpu.yaml\ conf/mixrvq_decoder_cpu.yaml --exp-root /root/.cache/audiotok/exp/mini_music_tok1 --train-set train --valid-set dev --test-sets test --local-data-opts --songs\ 320\ --seed\ 1\ --min-seconds\ 15\ --max-seconds\ 30 --main-pack-opts --name\ music-v1\ --version\ 2\ --dtype\ float16\ --card --train-threads 1 --stage 6 --stop-stage 6 "$@"; exit $?
