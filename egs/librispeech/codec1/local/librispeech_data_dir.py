"""LibriSpeech subsets -> one Kaldi data dir (called by local/data.sh with the python of path.sh).

Layout read: <subset>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac, and next to them
<spk>-<chapter>.trans.txt with one '<spk>-<chapter>-<n> TRANSCRIPT' line per file. The corpus ids
already start with the speaker and a dash, so they stay the utterance ids (and sort by speaker:
'-' sorts before every digit). wav.scp names the flac files by absolute path (stage 2 of codec.sh
resamples them); text is the corpus transcript as it is (upper case, apostrophes kept).
spk2gender is written when <corpus>/SPEAKERS.TXT knows every speaker."""

import sys

from audiotok.data.corpus_prep import main
from audiotok.errors import UserError

PROG = "local/librispeech_data_dir.py"


def scan_subset(subset, tables, seen_in):
    """Add the utterances of one subset folder to tables (wav, utt2spk, text) (see audiotok.data.corpus_prep)."""
    wav, utt2spk, text = tables
    n_before, no_audio = len(wav), []
    transcribed = set()
    for trans in sorted(subset.glob("*/*/*.trans.txt")):
        spk, chapter = trans.parent.parent.name, trans.parent.name
        if trans.name != f"{spk}-{chapter}.trans.txt":
            raise UserError(f"{trans}: expected the name {spk}-{chapter}.trans.txt inside {spk}/{chapter}/")
        for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            utt, _, words = line.strip().partition(" ")
            if not utt:
                continue
            if not utt.startswith(f"{spk}-{chapter}-"):
                raise UserError(f"{trans}: line {lineno}: id '{utt}' does not start with '{spk}-{chapter}-'")
            if utt in seen_in:
                raise UserError(f"{trans}: line {lineno}: '{utt}' is also in {seen_in[utt]}")
            flac = trans.parent / f"{utt}.flac"
            transcribed.add(flac)
            if not flac.is_file():
                no_audio.append(flac)
                continue
            seen_in[utt] = trans
            wav[utt] = str(flac)
            utt2spk[utt] = spk
            text[utt] = " ".join(words.split())
    untranscribed = [f for f in subset.glob("*/*/*.flac") if f not in transcribed]
    return len(wav) - n_before, [("transcribed utterance(s) without audio", no_audio),
                                 ("flac file(s) without a transcript line", sorted(untranscribed))]


if __name__ == "__main__":
    sys.exit(main(scan_subset, PROG, __doc__.splitlines()[0], "/data/LibriSpeech/train-clean-100", "SPEAKERS.TXT",
                  "<spk>/<chapter>/<spk>-<chapter>.trans.txt next to <spk>-<chapter>-<n>.flac"))
