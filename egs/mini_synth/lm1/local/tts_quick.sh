#!/usr/bin/env bash
# A quick TTS intelligibility check between full scoring runs: one utterance per speaker of a test set
# (36 for test_9perspk), spoken by an LM from the test texts (`audiotok tts --data-dir`, the voice prompt
# conditioning the acoustic stage, as stage 7 does), judged by Whisper tiny.en. Prints the WER and CER
# and adds a row to EXP_ROOT/mini_synth_lm1/tts_quick/SET/results.tsv; outputs of a NAME are reused.
#   local/tts_quick.sh [--set test_9perspk] NAME MODEL [audiotok tts options, e.g. --sample]
set -euo pipefail
set_name=test_9perspk
root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
. ./path.sh
. utils/parse_options.sh
[ $# -ge 2 ] || { echo "usage: $0 [--set SET] NAME MODEL [tts options]" >&2; exit 1; }
name=$1 model=$2
shift 2
out=${root}/mini_synth_lm1/tts_quick/${set_name}
[ -f ${out}/data/text ] || audiotok subset-data-dir --per-spk 1 dump/raw/${set_name} ${out}/data
[ -f ${out}/tts_${name}/wav.scp ] || audiotok tts --data-dir ${out}/data -o ${out}/tts_${name} --model "${model}" \
  --seed 0 "$@"
audiotok score --ref-data ${out}/data --hyp "${name}=${out}/tts_${name}" --metrics wer --asr whisper --nj 1 \
  --out ${out}/score_${name} > /dev/null
wer_cer=$("${AUDIOTOK_PYTHON}" -c "import json, sys; d = json.load(open(sys.argv[1])); print(f\"{d['wer']:.1f}\t{d['cer']:.1f}\")" \
  ${out}/score_${name}/${name}/avg_result.json)
printf '%s\t%s\t%s\t%s\t%s\n' "${name}" "${model}" "$*" "${wer_cer}" "$(git rev-parse --short HEAD)" | tee -a ${out}/results.tsv
