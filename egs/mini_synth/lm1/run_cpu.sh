#!/usr/bin/env bash
# The unified LM's long run (ASR + TTS with voice cloning) on the 2-core CPU. It reads the tokens of the
# shipped 25 Hz codec speech-25hz-v2 (audiotok/pretrained; its encoder distilled from Whisper tiny.en;
# ../codec1/run_cpu_whisper.sh trains it), so a fresh machine needs no codec run, on 30 hours of the
# embedded corpus made here (stage 1: local/data.sh --minutes 1800). Past about 500 minutes a longer corpus of the same seed starts with the shorter one
# (audiotok synth-corpus --help), so these 30 hours hold ../codec1's 10, with the same held-out voices
# and the same test_9perspk. The runs in RESULTS.md read release 1 of speech-25hz-v1 (never shipped) on
# ../codec1's 10 hours; their exp dirs are gone with the machine they ran on.
# Exp dirs go outside the work tree and every stage resumes: run it again (in a later session too) to
# continue where it stopped.
# The shipped speech-lm-v1 (RESULTS.md, "speech-25hz-v2 run") came from two phases, then stages 6-9:
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_codecfront_bidir_asr_charctc_cpu.yaml \
#     --tag lm_v2_asr --lm-args "trainer.max_cpu_hours=1.6 trainer.valid_interval=500"      (stopped at 0.97 h)
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_joint_cpu.yaml --tag lm_v2_joint \
#     --lm-args "trainer.max_cpu_hours=1.4 trainer.valid_interval=500 --init-from EXP_ROOT/mini_synth_lm1/lm_v2_asr"
#   ./run_cpu.sh --stage 6 --lm-config conf/ulm_g5_joint_cpu.yaml --tag lm_v2_joint \
#     --pack-opts "--name speech-lm-v1 --version 1 --dtype int8 --card"
# (--init-from goes last: the key=value overrides must come together). The joint phase resumes with its
# stage-5 command; it stopped at 0.89 CPU hours with TTS not yet intelligible. Resumed with the TTS items
# listed twice (dataset_conf.task_repeat.tts=2 --allow-config-change), it ran to step 3,742; its step-3,500
# weights start the paced joint phase, whose TTS rows feed the text alongside the speech (RESULTS.md):
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_joint_paced_cpu.yaml --tag lm_v3_paced \
#     --lm-args "trainer.max_cpu_hours=3 trainer.valid_interval=500 --init-from EXP_ROOT/mini_synth_lm1/lm_v2_joint"
# (the run resumed twice with --allow-config-change as the config gained tts_ctc, then best_metric).
# Release 3 continued that run with the rate annealed (cosine to step 7,000; stopped after step 6,000):
#   ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config conf/ulm_g5_joint_paced_anneal_cpu.yaml --tag lm_v3_paced \
#     --lm-args "trainer.max_cpu_hours=7 trainer.valid_interval=500 --allow-config-change --init-from EXP_ROOT/mini_synth_lm1/lm_v2_joint"
#   ./run_cpu.sh --stage 6 --lm-config conf/ulm_g5_joint_paced_anneal_cpu.yaml --tag lm_v3_paced \
#     --pack-opts "--name speech-lm-v1 --version 3 --dtype int8 --card"
# Release 4 resumed it to the cosine's floor (add trainer.max_steps=7000 to --lm-args above; the step-7,000
# weights were put into EXP/lm_v3_paced/model by hand, RESULTS.md says why), then stages 6-9 as above with
# --version 4.
# g = 5 against g = 1 on these tokens at 0.25 CPU hours each (RESULTS.md):
#   ./run_cpu.sh --stage 5 --stop-stage 8 --lm-config conf/ulm_g5_codecfront_bidir_asr_charctc_cpu.yaml \
#     --tag lm_v2_g5_025h --lm-args "trainer.max_cpu_hours=0.25 trainer.valid_interval=250" --train-threads 1 \
#     --compare-configs conf/ulm_g1_codecfront_bidir_asr_charctc_cpu.yaml \
#     --compare-args "trainer.max_cpu_hours=0.25 trainer.valid_interval=250"
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
# The text pointer (TTS rows told where in the text each group speaks; from speech-lm-v1, RESULTS.md):
#   ./run_cpu_pointer.sh --units chars
set -euo pipefail

root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
./lm.sh \
  --codec-exp-dir speech-25hz-v2 \
  --fs 16000 \
  --local-data-opts "--minutes 1800 --seed 1 --sample-rate 16000 --test-per-spk 9 --eval-voices-utts 120" \
  --exp-root "${root}/mini_synth_lm1" \
  --train-set train --valid-set dev --test-sets "test_9perspk test_unseen_engines" \
  --bpe-size 2000 \
  --lm-config conf/ulm_g5_codecfront_cpu.yaml \
  --compare-configs "" \
  --train-threads 2 \
  --asr-args "--beam-size 4" \
  "$@"
