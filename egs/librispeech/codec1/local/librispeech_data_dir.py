"""LibriSpeech subsets -> one Kaldi data dir (called by local/data.sh with the python of path.sh).

Layout read: <subset>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac, and next to them
<spk>-<chapter>.trans.txt with one '<spk>-<chapter>-<n> TRANSCRIPT' line per file. The corpus ids
already start with the speaker and a dash, so they stay the utterance ids (and sort by speaker:
'-' sorts before every digit). wav.scp names the flac files by absolute path (stage 2 of codec.sh
resamples them); text is the corpus transcript as it is (upper case, apostrophes kept).
spk2gender is written when <corpus>/SPEAKERS.TXT knows every speaker."""

import argparse
import sys
from pathlib import Path

from audiotok.bin import run_command
from audiotok.data.kaldi_dir import write_data_dir
from audiotok.errors import UserError

PROG = "local/librispeech_data_dir.py"


def read_speakers(path):
    """SPEAKERS.TXT: ';'-comments, then 'ID | SEX | SUBSET | MINUTES | NAME' -> {spk: 'm'|'f'}."""
    genders = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1].upper() in ("M", "F"):
            genders[fields[0]] = fields[1].lower()
    return genders


def scan_subset(subset, tables, seen_in):
    """Add the utterances of one subset folder to tables (wav, utt2spk, text); returns counts."""
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
    return len(wav) - n_before, no_audio, untranscribed


def add_arguments(p):
    p.add_argument("subsets", nargs="+", help="subset folders (e.g. /data/LibriSpeech/train-clean-100)")
    p.add_argument("out", help="output data dir (e.g. data/train_clean_100)")


def run(args):
    tables, seen_in = ({}, {}, {}), {}
    for subset in args.subsets:
        subset = Path(subset).resolve()
        if not subset.is_dir():
            raise UserError(f"{subset}: not a directory")
        n, no_audio, untranscribed = scan_subset(subset, tables, seen_in)
        if no_audio:  # a partly unpacked corpus: say so, keep what is complete
            print(f"{PROG}: warning: {subset}: {len(no_audio)} transcribed utterance(s) without audio, "
                  f"skipped (first: {no_audio[0]})", file=sys.stderr)
        if untranscribed:
            print(f"{PROG}: warning: {subset}: {len(untranscribed)} flac file(s) without a transcript line, "
                  f"skipped (first: {sorted(untranscribed)[0]})", file=sys.stderr)
        if n == 0:
            raise UserError(f"{subset}: no utterances (expected <spk>/<chapter>/<spk>-<chapter>.trans.txt "
                            "next to <spk>-<chapter>-<n>.flac)")
    wav, utt2spk, text = tables
    info = {}
    speakers_txt = Path(args.subsets[0]).resolve().parent / "SPEAKERS.TXT"
    if speakers_txt.is_file():
        genders = read_speakers(speakers_txt)
        spks = set(utt2spk.values())
        if spks <= set(genders):
            info["spk2gender"] = {s: genders[s] for s in spks}
        else:
            print(f"{PROG}: warning: {speakers_txt}: {len(spks - set(genders))} speaker(s) missing; "
                  "no spk2gender written", file=sys.stderr)
    write_data_dir(args.out, wav=wav, utt2spk=utt2spk, text=text, info=info)
    print(f"{args.out}: {len(wav)} utterances, {len(set(utt2spk.values()))} speakers "
          f"from {' '.join(args.subsets)}")
    return 0


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_command(run, parser.parse_args(), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
