#!/usr/bin/env bash
# The shipped 12.5 Hz speech codec (speech-12hz-v1): CPU-efficient, causal DualCodec trained on 10 hours of
# the embedded corpus (16 kHz, hundreds of voices, train augmented), with a CTC phone head.
# A long run: exp dirs go outside the work tree and every stage resumes, so run it again (in a
# later session too) to continue where it stopped:
#   ./run_cpu.sh                                   all stages (trainer.max_cpu_hours ends training)
#   ./run_cpu.sh --stage 4 --stop-stage 4          continue the codec training
#   ./run_cpu.sh --stage 5                         decode, score and pack the best checkpoint
# When the exp dir is gone (a fresh machine), continue from the shipped weights instead of step 0 (its
# SSL encoder taken out of it, not trained again):
#   ./run_cpu.sh --stage 1 --stop-stage 4 --ssl-from speech --train-init speech
# The 25 Hz codec the unified LM reads (../lm1), shipped as speech-25hz-v1, has its own script:
# run_cpu_25hz.sh (this recipe at 25 Hz, started from the shipped 12.5 Hz codec). Release 1 of it was a
# frozen snapshot whose decoder alone was tuned further (local/score_lm_codec.sh compared the two).
# The test set is 9 utterances of each of the 36 held-out voices (324; the full test split has 1,803);
# data/test_unseen_engines reads 120 test sentences with flite kal, kal16 and slt, voices no split uses.
# Stage 7 packs EXP/packed/codec_dualcodec_12hz_cpu_causal as speech-12hz-v1, weights release 3 (version 1: the
# first 0.8 CPU hours, 2: 2.4; token files record the version they need), float16 with MODEL_CARD.md;
# shipping it is copying that dir to audiotok/pretrained/speech-12hz-v1.
set -euo pipefail

./codec.sh \
  --ssl-config conf/bestrq_speech_cpu_causal.yaml \
  --codec-config conf/dualcodec_12hz_cpu_causal.yaml \
  --fs 16000 \
  --exp-root "${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_codec1" \
  --train-set train --valid-set dev --test-sets test_9perspk \
  --decode-nq "1 6 7" \
  --local-data-opts "--minutes 600 --seed 1 --sample-rate 16000 --test-per-spk 9 --eval-voices-utts 120" \
  --train-args "model_conf.content_ctc.phones_file=data/phones.txt" \
  --max-train-seconds 8 \
  --pack-opts "--name speech-12hz-v1 --version 3 --dtype float16 --card" \
  "$@"
