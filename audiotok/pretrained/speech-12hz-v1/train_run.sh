#!/usr/bin/env bash
# Written by codec.sh on 2026-12-05T14:50:09: reruns stage 4 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_synth/codec1 || exit 1
bash ./codec.sh --ssl-config conf/bestrq_speech_cpu_causal.yaml --codec-config conf/dualcodec_12hz_cpu_causal.yaml --fs 16000 --exp-root /root/.cache/audiotok/exp/mini_synth_codec1 --train-set train --valid-set dev --test-sets test_9perspk --decode-nq 1\ 6\ 7 --local-data-opts --minutes\ 600\ --seed\ 1\ --sample-rate\ 16000\ --test-per-spk\ 9 --train-args model_conf.content_ctc.phones_file=data/phones.txt --max-train-seconds 8 --pack-opts --name\ speech-12hz-v1\ --version\ 2\ --dtype\ float16\ --card --train-args model_conf.content_ctc.phones_file=data/phones.txt\ trainer.max_cpu_hours=10 --stage 4 --stop-stage 4 "$@"; exit $?
