#!/usr/bin/env bash
# Written by lm.sh on 2026-12-06T23:39:33: reruns stage 5 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_synth/lm1 || exit 1
bash ./lm.sh --codec-exp-dir speech-25hz-v2 --fs 16000 --local-data-opts --minutes\ 1800\ --seed\ 1\ --sample-rate\ 16000\ --test-per-spk\ 9\ --eval-voices-utts\ 120 --exp-root /root/.cache/audiotok/exp/mini_synth_lm1 --train-set train --valid-set dev --test-sets test_9perspk\ test_unseen_engines --bpe-size 2000 --lm-config conf/ulm_g5_codecfront_cpu.yaml --compare-configs '' --train-threads 2 --asr-args --beam-size\ 4 --lm-config conf/ulm_g5_joint_paced_anneal_cpu.yaml --tag lm_v3_paced --lm-args trainer.max_cpu_hours=7\ trainer.max_steps=7000\ trainer.valid_interval=500\ --allow-config-change\ --init-from\ /root/.cache/audiotok/exp/mini_synth_lm1/lm_v2_joint --stage 5 --stop-stage 5 "$@"; exit $?
