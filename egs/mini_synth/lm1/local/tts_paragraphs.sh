#!/usr/bin/env bash
# TTS of paragraphs: what `audiotok tts` does with more than one sentence. From a test set, per speaker its
# first PER_PARA utterances (sorted) become one paragraph: their texts written as sentences ("The cat sat.
# ...") and their recordings joined with 0.2 s of silence (the reference audio, for Whisper's own WER). An
# LM speaks each paragraph in the voice of another speaker's paragraph (`audiotok tts --data-dir`, the
# prompt conditioning the acoustic stage): sentence by sentence (tts's default) and in one go
# (--no-split). Whisper tiny.en judges both and the original paragraphs; the table lands in
# EXP_ROOT/mini_synth_lm1/tts_paragraphs/SET/NAME/score/RESULTS.md.
#   local/tts_paragraphs.sh [--set test_9perspk] [--per-para 3] NAME MODEL
set -euo pipefail
set_name=test_9perspk
per_para=3
root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}"
. ./path.sh
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "usage: $0 [--set SET] [--per-para N] NAME MODEL" >&2; exit 1; }
name=$1 model=$2
out=${root}/mini_synth_lm1/tts_paragraphs/${set_name}
data=${out}/data_${per_para}
if [ ! -f ${data}/text ]; then
  "${AUDIOTOK_PYTHON}" - dump/raw/${set_name} ${data} ${per_para} <<'EOF'
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audiotok.data.kaldi_dir import load_data_dir, write_data_dir

src, dst, n = load_data_dir(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
wavs, spk, text = {}, {}, {}
for s in sorted(src.spk2utt):
    utts = sorted(src.spk2utt[s])[:n]
    if len(utts) < n:
        continue
    para = f"{s}-para"
    parts, sr = [], None
    for u in utts:
        x, sr = sf.read(src.wav[u], dtype="float32")
        parts += [x, np.zeros(int(0.2 * sr), dtype="float32")]
    (dst / "wav").mkdir(parents=True, exist_ok=True)
    sf.write(dst / "wav" / f"{para}.wav", np.concatenate(parts[:-1]), sr)
    wavs[para], spk[para] = str((dst / "wav" / f"{para}.wav").resolve()), s
    text[para] = " ".join(src.text[u].capitalize() + "." for u in utts)
write_data_dir(dst, wavs, spk, text=text)
print(f"{len(wavs)} paragraphs of {n} sentences -> {dst}", file=sys.stderr)
EOF
fi
for mode in split whole; do
  opt=; [ ${mode} = whole ] && opt=--no-split
  [ -f ${out}/${name}/tts_${mode}/wav.scp ] || audiotok tts --data-dir ${data} -o ${out}/${name}/tts_${mode} \
    --model "${model}" --seed 0 ${opt}
done
audiotok score --ref-data ${data} --hyp "sentence_by_sentence=${out}/${name}/tts_split" \
  --hyp "one_go=${out}/${name}/tts_whole" --include-original --metrics wer --asr whisper --nj 1 \
  --out ${out}/${name}/score --results-md ${out}/${name}/score/RESULTS.md \
  --section "TTS of ${per_para}-sentence paragraphs of ${set_name} by ${name}" > /dev/null
grep '^|' ${out}/${name}/score/RESULTS.md
