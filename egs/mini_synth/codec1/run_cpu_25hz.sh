#!/usr/bin/env bash
# The 25 Hz codec the unified LM reads (../lm1), weights release 2 of speech-25hz-v1: the shipped
# 12.5 Hz codec's recipe at 25 Hz (conf/dualcodec_25hz_cpu_causal_v2.yaml), on the same 10-hour
# corpus (run_cpu.sh's stages 1-2 make it). It needs no SSL training and no start from scratch:
# stage 3 takes the shipped codec's BEST-RQ encoder, and stage 4 starts from every tensor of the
# shipped codec whose name and shape fit (the semantic path, the quantizers, most of both nets).
# A long run like run_cpu.sh's: the exp dir sits outside the work tree and every call resumes it:
#   ./run_cpu.sh --stop-stage 2                    the corpus, if data/ and dump/ are not there yet
#   ./run_cpu_25hz.sh                              stages 3-4: SSL from the shipped codec, train
#   ./run_cpu_25hz.sh --stage 5                    decode, score (at 1, 2 and 4 codebooks) and pack
# Shipping it is copying EXP_ROOT/mini_synth_codec1/packed/codec_dualcodec_25hz_cpu_causal_v2 to
# audiotok/pretrained/speech-25hz-v1.
set -euo pipefail

./codec.sh \
  --ssl-config conf/bestrq_speech_cpu_causal.yaml \
  --ssl-from speech \
  --codec-config conf/dualcodec_25hz_cpu_causal_v2.yaml \
  --train-init speech --train-init-partial true \
  --fs 16000 \
  --exp-root "${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_codec1" \
  --train-set train --valid-set dev --test-sets "test_9perspk test_unseen_engines" \
  --decode-nq "1 2 4" \
  --local-data-opts "--minutes 600 --seed 1 --sample-rate 16000 --test-per-spk 9 --eval-voices-utts 120" \
  --train-args "model_conf.content_ctc.phones_file=data/phones.txt" \
  --max-train-seconds 8 \
  --baselines opus6 \
  --score-opts "--metrics pesq,stoi,mel,wer --asr whisper" \
  --pack-opts "--name speech-25hz-v1 --version 2 --dtype float16 --card" \
  --stage 3 \
  "$@"
