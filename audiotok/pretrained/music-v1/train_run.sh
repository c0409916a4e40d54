#!/usr/bin/env bash
# Written by tok.sh on 2026-12-07T00:13:54: reruns stage 6 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_music/tok1 || exit 1
bash ./tok.sh --ssl-config conf/bestrq_music_cpu.yaml --enc-config conf/encoder_music_cpu.yaml --exp-root /root/.cache/audiotok/exp/mini_music_tok1 --train-set train --valid-set dev --test-sets test --train-threads 1 --local-data-opts --songs\ 320\ --seed\ 1\ --min-seconds\ 15\ --max-seconds\ 30 --tok-configs conf/duotok_v4_cpu.yaml --dec-configs conf/duotok_v4_decoder_cpu.yaml --stage 6 --stop-stage 6 "$@"; exit $?
