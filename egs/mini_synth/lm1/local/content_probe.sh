#!/usr/bin/env bash
# How readable are the LM's tokens? `audiotok content-probe` trains the same small character-CTC reader
# on the 25 Hz semantic tokens of the train split and scores held-out speakers (dev) against CPU
# minutes, four ways: one frame per position or the LM's 5 Hz groups (g = 5, concat), from embeddings
# learned from scratch or through the codec's own frozen semantic decoder. One RESULTS.md section each.
#   local/content_probe.sh [--steps 1000] [--nj 2]
set -euo pipefail
steps=1000
nj=2
root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
. utils/parse_options.sh

codec=speech-25hz-v2  # the shipped codec the LM reads
tok=dump/${codec}
out=${root}/mini_synth_lm1/content_probe
ways=("flat_embed|one frame per position, learned embeddings|"
      "g5_embed|g = 5 groups (concat), learned embeddings|--group 5 --group-mode concat"
      "flat_codec|one frame per position, the codec's semantic decoder|--frontend codec --codec ${codec}"
      "g5_codec|g = 5 groups (concat), the codec's semantic decoder|--group 5 --group-mode concat --frontend codec --codec ${codec}")
mkdir -p ${out}
probe() {
  local name=${1%%|*} rest=${1#*|}
  local what=${rest%%|*} opts=${rest#*|}
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 audiotok content-probe --system ${name}=${tok}/train,${tok}/dev ${opts} --steps ${steps} \
    --eval-every $((steps / 4)) --eval-utts 200 --out ${out} --results-md RESULTS.md \
    --section "Content probe: ${what} (${codec} tokens, train -> dev)" > ${out}/${name}.md 2> ${out}/${name}.log
  echo "$0: ${name} done: $(tail -n 1 ${out}/${name}/curve.tsv)"
}
running=0
for way in "${ways[@]}"; do
  probe "${way}" &
  running=$((running + 1))
  if [ ${running} -ge ${nj} ]; then wait -n; running=$((running - 1)); fi
done
wait
