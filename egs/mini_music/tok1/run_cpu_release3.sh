#!/usr/bin/env bash
# music-v1 release 3: release 2's tokenizer (the shipped music-v1's encoder and codebooks, so its token
# files stay valid) with decoders trained to keep a silent stem silent (conf/duotok_v3_decoder_cpu.yaml:
# the mel loss clamped at 1e-7 and a per-frame gain in each iSTFT head), next to the single-track control
# retrained on the same frozen encoder with the same decoder change. run_cpu.sh is the whole recipe
# from scratch (release 2); this continues from its shipped result:
#   stages 1-2   the corpus (as run_cpu.sh)
#   stage 5      the control's quantizer on release 2's encoder (model_conf.encoder_init_dir)
#   stages 6-9   both decoders, decode, score (RESULTS.md), pack; Duo-Tok as music-v1 version 3 with
#                --tokens-of release 2 (pack checks the tokenizer weights are release 2's)
# Every stage resumes: run it again to continue. Measured (README.md, "Silent stems"): these decoders were
# not better than release 2's own (vocals mel 0.601 against 0.577), so release 3 was not shipped; had it
# been, shipping is copying EXP/packed/duotok_v2_cpu to audiotok/pretrained/music-v1.
set -euo pipefail

. local/from_release2.sh  # exp_root, release2, common
control=(--tok-configs conf/mixrvq_cpu.yaml --dec-configs conf/mixrvq_v3_decoder_cpu.yaml)
./tok.sh "${common[@]}" "${control[@]}" --stage 1 --stop-stage 2
./tok.sh "${common[@]}" "${control[@]}" --stage 5 --stop-stage 5 --tok-train-args "model_conf.encoder_init_dir=${release2}"
./tok.sh "${common[@]}" --stage 6 \
  --tok-configs "conf/duotok_v2_cpu.yaml conf/mixrvq_cpu.yaml" \
  --dec-configs "conf/duotok_v3_decoder_cpu.yaml conf/mixrvq_v3_decoder_cpu.yaml" \
  --main-pack-opts "--name music-v1 --version 3 --dtype float16 --card --tokens-of ${release2}" \
  "$@"
