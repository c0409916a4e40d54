#!/usr/bin/env bash
# The unified LM's long run (ASR + TTS with voice cloning) on the 2-core CPU, over the tokens of the
# 25 Hz CPU codec that ../codec1 trains, on that recipe's 10-hour corpus. The LM reads a frozen
# snapshot of that codec, packed as speech-25hz-v1 (step 15,500, 2.1 CPU hours), so the codec's own
# long run can go on without changing the tokens the LM learned:
#   (cd ../codec1 && audiotok pack --exp-dir EXP_ROOT/mini_synth_codec1/codec_dualcodec_25hz_cpu_causal \
#      --out EXP_ROOT/mini_synth_codec1/packed/speech-25hz-v1 --name speech-25hz-v1 --version 1 --dtype float16) Exp dirs go outside the work tree and every stage
# resumes: run it again (in a later session too) to continue where it stopped.
#   ./run_cpu.sh                                   all stages, g = 5 until trainer.max_cpu_hours (10)
#   ./run_cpu.sh --stage 5 --stop-stage 5          continue the training
#   ./run_cpu.sh --stage 6                         decode, synthesize, score (RESULTS.md) and pack
# g = 5 against g = 1 at one short, equal budget (same data, 1 CPU hour each), in one table:
#   ./run_cpu.sh --tag lm_g5_1h --lm-args "trainer.max_cpu_hours=1" \
#     --compare-configs conf/ulm_g1_cpu.yaml --compare-args "trainer.max_cpu_hours=1"
# The auxiliary CTC on the ASR rows (conf/ulm_g5_ctc_cpu.yaml), started from the long run's weights:
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_ctc_cpu.yaml \
#     --lm-args "--init-from EXP_ROOT/mini_synth_lm1/init_g5_step6000"
set -euo pipefail

root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
./lm.sh \
  --codec-exp-dir "${root}/mini_synth_codec1/packed/speech-25hz-v1" \
  --data-root ../codec1/dump/raw \
  --exp-root "${root}/mini_synth_lm1" \
  --train-set train --valid-set dev --test-sets "test_9perspk test_unseen_engines" \
  --bpe-size 2000 \
  --lm-config conf/ulm_g5_cpu.yaml \
  --compare-configs "" \
  --train-threads 2 \
  "$@"
