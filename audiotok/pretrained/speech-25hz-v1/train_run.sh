#!/usr/bin/env bash
# Written by codec.sh on 2026-12-06T09:39:17: reruns stage 4 of this experiment;
# extra options (e.g. --stop-stage 9) are appended.
cd /work/main/egs/mini_synth/codec1 || exit 1
bash ./codec.sh --ssl-config conf/bestrq_speech_cpu_causal.yaml --ssl-from speech --codec-config conf/dualcodec_25hz_cpu_causal_v2.yaml --train-init speech --train-init-partial true --fs 16000 --exp-root /root/.cache/audiotok/exp/mini_synth_codec1 --train-set train --valid-set dev --test-sets test_9perspk\ test_unseen_engines --decode-nq 1\ 2\ 4 --local-data-opts --minutes\ 600\ --seed\ 1\ --sample-rate\ 16000\ --test-per-spk\ 9\ --eval-voices-utts\ 120 --train-args model_conf.content_ctc.phones_file=data/phones.txt --max-train-seconds 8 --score-opts --metrics\ pesq\,stoi\,mel\,wer\ --asr\ whisper --pack-opts --name\ speech-25hz-v1\ --version\ 2\ --dtype\ float16\ --card --stage 4 --stop-stage 4 "$@"; exit $?
