#!/usr/bin/env bash
# Written by lm.sh on 2026-12-07T13:01:08: reruns stage 5 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_synth/lm1 || exit 1
bash ./lm.sh --codec-exp-dir speech-25hz-v2 --fs 16000 --local-data-opts --minutes\ 1800\ --seed\ 1\ --sample-rate\ 16000\ --test-per-spk\ 9\ --eval-voices-utts\ 120 --exp-root /root/.cache/audiotok/exp/mini_synth_lm1 --train-set train --valid-set dev --test-sets test_9perspk\ test_unseen_engines --bpe-size 2000 --lm-config conf/ulm_g5_codecfront_cpu.yaml --compare-configs '' --train-threads 2 --asr-args --beam-size\ 4 --lm-config conf/ulm_g5_joint_pointer_chars_cpu.yaml --tag lm_v4_pointer_chars --lm-args trainer.max_cpu_hours=2.0\ --init-from\ speech-lm-v1\ --init-skip\ pointer. --stage 5 --stop-stage 5 "$@"; exit $?
