#!/usr/bin/env bash
# The unified LM's long run (ASR + TTS with voice cloning) on the 2-core CPU, over the tokens of the
# 25 Hz CPU codec that ../codec1 trains, on that recipe's 10-hour corpus. The LM reads a frozen
# snapshot of that codec, packed as speech-25hz-v1 (step 15,500, 2.1 CPU hours), so the codec's own
# long run can go on without changing the tokens the LM learned:
#   (cd ../codec1 && audiotok pack --exp-dir EXP_ROOT/mini_synth_codec1/codec_dualcodec_25hz_cpu_causal \
#      --out EXP_ROOT/mini_synth_codec1/packed/speech-25hz-v1 --name speech-25hz-v1 --version 1 --dtype float16) Exp dirs go outside the work tree and every stage
# resumes: run it again (in a later session too) to continue where it stopped.
# The LM reads the tokens through the codec's own frozen semantic decoder (conf/ulm_g5_codecfront_cpu.yaml,
# grouping.frontend: codec): at 0.4 CPU hours it was where learned embeddings were after about 1.7
# (RESULTS.md). Its long run, exp dir lm_ulm_g5_codecfront_cpu:
#   ./run_cpu.sh                                   all stages, g = 5 until trainer.max_cpu_hours (10)
#   ./run_cpu.sh --stage 5 --stop-stage 5          continue the training
#   ./run_cpu.sh --stage 6                         decode (beam search, 4 hypotheses), synthesize, score
#                                                  (RESULTS.md) and pack
# The earlier long run with learned embeddings (lm_ulm_g5_cpu, 2.4 CPU hours, step 7,389):
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_cpu.yaml
# g = 5 against g = 1 at one short, equal budget (same data, 0.4 CPU hours each), in one table:
#   ./run_cpu.sh --lm-config conf/ulm_g5_cpu.yaml --tag lm_g5_04h --lm-args "trainer.max_cpu_hours=0.4" \
#     --compare-configs conf/ulm_g1_cpu.yaml --compare-args "trainer.max_cpu_hours=0.4"
# Arms at 0.4 CPU hours from scratch (--tag lm_<arm>_04h --lm-args "trainer.max_cpu_hours=0.4"):
#   conf/ulm_g5_codecfront_ctc_cpu.yaml      + the auxiliary CTC on the ASR rows' speech (block 4)
#   conf/ulm_g5_codecfront_bidir_cpu.yaml    + the ASR rows' speech attended both ways (a prefix LM)
# and ASR items alone from the bidirectional arm's weights (a curriculum's first phase):
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_codecfront_bidir_asr_cpu.yaml \
#     --lm-args "--init-from EXP_ROOT/mini_synth_lm1/lm_g5cfbi_04h"
# The content probe of the tokens (how fast a small reader learns the words, four ways):
#   local/content_probe.sh
set -euo pipefail

root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
./lm.sh \
  --codec-exp-dir "${root}/mini_synth_codec1/packed/speech-25hz-v1" \
  --data-root ../codec1/dump/raw \
  --exp-root "${root}/mini_synth_lm1" \
  --train-set train --valid-set dev --test-sets "test_9perspk test_unseen_engines" \
  --bpe-size 2000 \
  --lm-config conf/ulm_g5_codecfront_cpu.yaml \
  --compare-configs "" \
  --train-threads 2 \
  --asr-args "--beam-size 4" \
  "$@"
