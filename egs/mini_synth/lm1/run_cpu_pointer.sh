#!/usr/bin/env bash
# The unified LM with the text pointer (audiotok/models/ulm_pointer.py): TTS rows whose groups are told which
# letters (--units chars, conf/ulm_g5_joint_pointer_chars_cpu.yaml) or text pieces (--units pieces,
# conf/ulm_g5_joint_pointer_cpu.yaml) they speak, learned from forced alignments. Starts from the shipped
# speech-lm-v1, so a fresh install needs no earlier LM run:
#   stage 1  the corpus, its speech-25hz-v2 tokens, the BPE model and the vocabulary (run_cpu.sh stages 1-4)
#   stage 2  `audiotok align-text`: a character CTC reader of the tokens (EXP/aligner, 1,500 steps) writes
#            dump/speech-25hz-v2/{train,dev}/char_starts (or text_starts for pieces)
#   stage 3  the joint phase from speech-lm-v1 with the pointer (run_cpu.sh stage 5, EXP/${tag}) until
#            --train-hours CPU hours; run again to continue
#   stage 4  ASR, TTS and their scores on test_9perspk and test_unseen_engines (run_cpu.sh stages 6-8)
# speech-lm-v1 release 5 is the --units chars run: stage 3 stopped at step 2,038 (the config's cosine over
# 2,800 steps), was resumed with the cosine stretched to 6,000 steps (its stage-5 command from EXP/run.sh with
# trainer.max_cpu_hours=4.5 scheduler_conf.total_steps=6000 --allow-config-change) and stopped after step
# 5,000 (3.04 CPU hours), then stage 4 and `./run_cpu.sh --stage 9 --stop-stage 9 --lm-config
# conf/ulm_g5_joint_pointer_chars_cpu.yaml --tag lm_v4_pointer_chars --pack-opts "--name speech-lm-v1
# --version 5 --dtype int8 --card"`. Release 6 resumed it from step 5,065 with the cosine stretched to 7,600 steps
# (the same command with trainer.max_cpu_hours=7.0 scheduler_conf.total_steps=7600 trainer.max_steps=7600
# --allow-config-change) to its end (4.38 CPU hours), then stage 4 and the same packing with --version 6: its step 7,500.
# Release 7 resumed it from step 7,600 with the cosine stretched to 11,600 steps (trainer.max_cpu_hours=7.2
# scheduler_conf.total_steps=11600 trainer.max_steps=11600 trainer.keep_nbest=4 --allow-config-change) to its end
# (6.44 CPU hours), then stage 4 and the same packing with --version 7: its step 11,600.
# Release 8 resumed it from step 11,600 with the cosine stretched to 15,000 steps (trainer.max_cpu_hours=8.1
# scheduler_conf.total_steps=15000 trainer.max_steps=15000 --allow-config-change) to its end (8.04 CPU hours), then
# stage 4 and the same packing with --version 8: its step 14,500, the best validation.
# Usage: ./run_cpu_pointer.sh [--stage N] [--stop-stage N] [--units chars] [--tag lm_v4_pointer_chars]
#        [--train-hours 2.4] [--align-steps 1500]
set -euo pipefail

stage=1
stop_stage=4
units=chars
tag=
train_hours=2.4
align_steps=1500
. ./path.sh
. utils/parse_options.sh

exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_lm1"
tok=dump/speech-25hz-v2
lang=data/lang_speech-25hz-v2_bpe2000
tag=${tag:-lm_v4_pointer_${units}}
case ${units} in
  chars) config=conf/ulm_g5_joint_pointer_chars_cpu.yaml starts=char_starts ;;
  pieces) config=conf/ulm_g5_joint_pointer_cpu.yaml starts=text_starts ;;
  *) log "--units must be chars or pieces, got ${units}"; exit 1 ;;
esac

if run_stage 1 "data, tokens, BPE, vocabulary" "local/data.sh" "${tok}/* ${lang}"; then
  ./run_cpu.sh --stage 1 --stop-stage 4
  # the LM starts from speech-lm-v1: its text pieces must be these
  shipped=$("${AUDIOTOK_PYTHON}" -c "from audiotok.pretrained import resolve_model; print(resolve_model('speech-lm-v1'))")
  cmp -s data/lang_bpe2000/bpe.model "${shipped}/text.model" \
    || { log "data/lang_bpe2000/bpe.model differs from speech-lm-v1's text model"; exit 1; }
fi
if run_stage 2 "align the text ${units} to the tokens" "${tok}/{train,dev} + ${lang}" "${tok}/{train,dev}/${starts}"; then
  OMP_NUM_THREADS=2 audiotok align-text ${tok}/train ${tok}/dev --train-dir ${tok}/train --valid-dir ${tok}/dev \
    --vocab ${lang}/vocab.json --codec speech-25hz-v2 --exp-dir "${exp_root}/aligner" --steps "${align_steps}" \
    --units "${units}"
fi
if run_stage 3 "the joint phase with the pointer, from speech-lm-v1" "${tok} + speech-lm-v1" "${exp_root}/${tag}"; then
  ./run_cpu.sh --stage 5 --stop-stage 5 --lm-config ${config} --tag "${tag}" \
    --lm-args "trainer.max_cpu_hours=${train_hours} --init-from speech-lm-v1 --init-skip pointer."
fi
if run_stage 4 "ASR, TTS and scores" "${exp_root}/${tag}" "${exp_root}/${tag}/RESULTS.md, RESULTS.md"; then
  ./run_cpu.sh --stage 6 --stop-stage 8 --lm-config ${config} --tag "${tag}"
fi
