#!/usr/bin/env bash
# Where does TTS lose intelligibility? On one utterance per speaker of a test set, Whisper's WER of:
#   the originals; the codec's resynthesis from all its codebooks, from the semantic one plus the first
#   acoustic one, and from the semantic one alone; for each LM given, its acoustic (MaskGIT) stage on the
#   true semantic tokens (`audiotok tts --semantic-from`: the ceiling of that LM's TTS), and its full TTS,
#   each with the acoustic codes MaskGIT chose and with their expected latents (--acoustic-decode expected),
#   and its full TTS's semantic tokens decoded alone (--acoustic-decode none: the LM's content ceiling).
# One RESULTS.md section. Every output is kept and reused when the script runs again.
#   local/tts_ceiling.sh [--set test_9perspk] [--codec speech-25hz-v2] [--section TITLE] NAME=LM_EXP_DIR ...
set -euo pipefail
set_name=test_9perspk
codec=speech-25hz-v2  # the shipped codec whose tokens (dump/CODEC, stage 2 of run_cpu.sh) the LMs read
section=
root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
. ./path.sh
. utils/parse_options.sh
[ $# -ge 1 ] || { echo "usage: $0 [--set SET] [--codec NAME] [--section TITLE] NAME=LM_EXP_DIR ..." >&2; exit 1; }
section=${section:-"Where TTS loses intelligibility (${set_name}, one utterance per speaker)"}

tok=dump/${codec}/${set_name}
out=${root}/mini_synth_lm1/tts_ceiling/${codec}/${set_name}  # outputs of one codec only are reused
mkdir -p ${out}
[ -f ${out}/data/text ] || audiotok subset-data-dir --per-spk 1 dump/raw/${set_name} ${out}/data
mkdir -p ${out}/tokens
awk 'NR == FNR { keep[$1]; next } ($1 in keep)' ${out}/data/text ${tok}/tokens.scp > ${out}/tokens/tokens.scp
[ "$(wc -l < ${out}/tokens/tokens.scp)" -eq "$(wc -l < ${out}/data/text)" ] \
  || { echo "$0: ${tok}/tokens.scp lacks utterances of ${out}/data" >&2; exit 1; }

hyps=()
for way in "codec|" "codec_nq2|--n-q 2" "codec_semantic_only|--semantic-only"; do
  name=${way%%|*}
  # shellcheck disable=SC2086
  n=0
  [ ! -d ${out}/${name} ] || n=$(find ${out}/${name} -name '*.wav' | wc -l)
  [ "${n}" -eq "$(wc -l < ${out}/tokens/tokens.scp)" ] || audiotok decode --scp ${out}/tokens/tokens.scp -o ${out}/${name} ${way#*|} --nj 1
  hyps+=(--hyp "${name}=${out}/${name}")
done
for spec in "$@"; do
  name=${spec%%=*} exp=${spec#*=}
  for decode in codes expected none; do
    tag=${name}_${decode}
    if [ ${decode} != none ]; then  # on the true semantic tokens, none is the codec's semantic-only row
      [ -f ${out}/acoustic_${tag}/wav.scp ] || audiotok tts --data-dir ${out}/data --semantic-from ${out}/tokens \
        -o ${out}/acoustic_${tag} --model ${exp} --seed 1 --acoustic-decode ${decode}
      hyps+=(--hyp "acoustic_stage_${tag}=${out}/acoustic_${tag}")
    fi
    [ -f ${out}/tts_${tag}/wav.scp ] || audiotok tts --data-dir ${out}/data -o ${out}/tts_${tag} --model ${exp} \
      --seed 1 --acoustic-decode ${decode}
    hyps+=(--hyp "tts_${tag}=${out}/tts_${tag}")
  done
done
audiotok score --ref-data ${out}/data --include-original "${hyps[@]}" --metrics wer --asr whisper --nj 1 \
  --out ${out}/score --results-md RESULTS.md --section "${section}"
