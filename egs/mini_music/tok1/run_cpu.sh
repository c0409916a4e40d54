#!/usr/bin/env bash
# The shipped music tokenizer (music-v1): Duo-Tok with hard routing, SimVQ codebooks with restarts and
# per-stem spectral decoders, next to the single-track RVQ control at the same 500 bps, trained on
# the 2-core CPU from about 2 hours of embedded songs (320 songs of 15-30 s, seed 1; train crops
# remixed). A long run: exp dirs go outside the work tree and every stage resumes, so run it again
# (in a later session too) to continue where it stopped:
#   ./run_cpu.sh                                   all stages
#   ./run_cpu.sh --stage 6 --stop-stage 6          continue the decoders (raise trainer.max_steps
#                                                  with --dec-train-args "trainer.max_steps=N")
#   ./run_cpu.sh --stage 7                         decode, score (RESULTS.md) and pack
# Stage 9 packs EXP/packed/duotok_v2_cpu as music-v1, weights release 2 (8-dim codes + usage loss;
# release 1 was conf/duotok_cpu.yaml), float16 with MODEL_CARD.md; shipping it is copying that dir
# to audiotok/pretrained/music-v1.
set -euo pipefail

./tok.sh \
  --ssl-config conf/bestrq_music_cpu.yaml \
  --enc-config conf/encoder_music_cpu.yaml \
  --tok-configs "conf/duotok_v2_cpu.yaml conf/mixrvq_cpu.yaml" \
  --dec-configs "conf/duotok_v2_decoder_cpu.yaml conf/mixrvq_decoder_cpu.yaml" \
  --exp-root "${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_music_tok1" \
  --train-set train --valid-set dev --test-sets test \
  --local-data-opts "--songs 320 --seed 1 --min-seconds 15 --max-seconds 30" \
  --main-pack-opts "--name music-v1 --version 2 --dtype float16 --card" \
  "$@"
