#!/usr/bin/env bash
# The unified LM's long run (ASR + TTS with voice cloning) on the 2-core CPU, over the tokens of the
# 25 Hz CPU codec that ../codec1 trains (codec_dualcodec_25hz_cpu_causal, its exp dir in the same
# exp root), on that recipe's 10-hour corpus. Exp dirs go outside the work tree and every stage
# resumes: run it again (in a later session too) to continue where it stopped.
#   ./run_cpu.sh                                   all stages, g = 5 until trainer.max_cpu_hours (10)
#   ./run_cpu.sh --stage 5 --stop-stage 5          continue the training
#   ./run_cpu.sh --stage 6                         decode, synthesize, score (RESULTS.md) and pack
# g = 5 against g = 1 at one short, equal budget (same data, 1 CPU hour each), in one table:
#   ./run_cpu.sh --tag lm_g5_1h --lm-args "trainer.max_cpu_hours=1" \
#     --compare-configs conf/ulm_g1_cpu.yaml --compare-args "trainer.max_cpu_hours=1"
set -euo pipefail

root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
./lm.sh \
  --codec-exp-dir "${root}/mini_synth_codec1/codec_dualcodec_25hz_cpu_causal" \
  --data-root ../codec1/dump/raw \
  --exp-root "${root}/mini_synth_lm1" \
  --train-set train --valid-set dev --test-sets test_9perspk \
  --bpe-size 2000 \
  --lm-config conf/ulm_g5_cpu.yaml \
  --compare-configs "" \
  --train-threads 2 \
  "$@"
