"""LibriTTS subsets -> one Kaldi data dir (called by local/data.sh with the python of path.sh).

Layout read: <subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav (24 kHz), each with
<id>.normalized.txt and <id>.original.txt next to it. LibriTTS-R has the same layout.

Utterance ids: the corpus id with its first '_' written '-', <spk>-<chapter>_<para>_<sent>
(103_1241_000000_000001 -> 103-1241_000000_000001). Kaldi sorts utterances and speakers alike only
when a speaker id is followed by a byte that sorts before every digit: with '_' the speakers 103 and
1034 would interleave, with '-' they do not.

text: the normalized transcript (numbers and abbreviations already spelled out by the corpus)
made comparable with ASR output for WER, as LibriSpeech's are: upper case, accents removed,
every character other than a letter, digit or in-word apostrophe becomes a space
("Mr. Smith's 'café', twenty-one!" -> "MR SMITH'S CAFE TWENTY ONE"). The cased, punctuated text
stays in the corpus files. spk2gender is written when <corpus>/SPEAKERS.txt knows every speaker."""

import re
import sys
import unicodedata

from audiotok.data.corpus_prep import main
from audiotok.errors import UserError

PROG = "local/libritts_data_dir.py"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def wer_text(s):
    """Normalized LibriTTS text -> LibriSpeech-style scoring text (see the module doc)."""
    s = unicodedata.normalize("NFKD", s.translate(_QUOTES))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn").upper()
    words = (w.strip("'") for w in re.split(r"[^0-9A-Z']+", s))  # non-Latin letters count as punctuation
    return " ".join(w for w in words if w)


def scan_subset(subset, tables, seen_in):
    """Add the utterances of one subset folder to tables (wav, utt2spk, text) (see audiotok.data.corpus_prep)."""
    wav, utt2spk, text = tables
    n_before, no_text, empty = len(wav), [], []
    for audio in sorted(subset.glob("*/*/*.wav")):
        spk, chapter, stem = audio.parent.parent.name, audio.parent.name, audio.name[: -len(".wav")]
        if not stem.startswith(f"{spk}_{chapter}_"):
            raise UserError(f"{audio}: name does not start with '{spk}_{chapter}_' (its speaker and chapter folders)")
        utt = f"{spk}-{stem[len(spk) + 1:]}"
        if utt in seen_in:
            raise UserError(f"{audio}: utterance '{stem}' is also in {seen_in[utt]}")
        norm = audio.parent / f"{stem}.normalized.txt"
        if not norm.is_file():
            no_text.append(norm)
            continue
        words = wer_text(norm.read_text(encoding="utf-8"))
        if not words:
            empty.append(norm)
            continue
        seen_in[utt] = audio
        wav[utt] = str(audio)
        utt2spk[utt] = spk
        text[utt] = words
    return len(wav) - n_before, [("wav file(s) without a .normalized.txt", no_text),
                                 ("transcript(s) with no word left after normalization", empty)]


if __name__ == "__main__":
    sys.exit(main(scan_subset, PROG, __doc__.splitlines()[0], "/data/LibriTTS/train-clean-100", "SPEAKERS.txt",
                  "<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav with a .normalized.txt next to each"))
