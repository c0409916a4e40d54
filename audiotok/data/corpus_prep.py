"""What every read-speech corpus script under egs/<corpus>/*/local/ does the same way: subset folders
-> one Kaldi data dir. The corpus-specific part (its folder layout, utterance ids and transcripts)
stays in the recipe's local/ script and comes in as `scan`; this module knows no corpus.

    scan(subset: Path, tables: (wav, utt2spk, text), seen_in: {utt: file}) -> (n_added, skipped)

adds one subset's utterances to the three tables (raising a UserError on an id seen before) and
returns how many it added and `skipped`: [(what, [paths])] of files it passed over, each reported
as one warning line "PROG: warning: SUBSET: N WHAT, skipped (first: PATH)".
"""

import argparse
import sys
from pathlib import Path

from audiotok.data.kaldi_dir import write_data_dir
from audiotok.errors import UserError


def read_speaker_genders(path):
    """A speakers table (';'-comments, then 'ID | SEX | ...' rows) -> {spk: 'm'|'f'}."""
    genders = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[1].upper() in ("M", "F"):
            genders[fields[0]] = fields[1].lower()
    return genders


def prepare_data_dir(subsets, out, scan, prog, speakers_name, layout):
    """Scan every subset folder into one data dir `out`; spk2gender comes from the speakers table
    `speakers_name` next to the first subset when it knows every speaker. `layout` says, in the
    error for a subset without utterances, what was expected there."""
    tables, seen_in = ({}, {}, {}), {}
    for subset in subsets:
        subset = Path(subset).resolve()
        if not subset.is_dir():
            raise UserError(f"{subset}: not a directory")
        n, skipped = scan(subset, tables, seen_in)
        for what, paths in skipped:  # a partly unpacked corpus: say so, keep what is complete
            if paths:
                print(f"{prog}: warning: {subset}: {len(paths)} {what}, skipped (first: {paths[0]})",
                      file=sys.stderr)
        if n == 0:
            raise UserError(f"{subset}: no utterances (expected {layout})")
    wav, utt2spk, text = tables
    info = {}
    speakers_txt = Path(subsets[0]).resolve().parent / speakers_name
    if speakers_txt.is_file():
        genders = read_speaker_genders(speakers_txt)
        spks = set(utt2spk.values())
        if spks <= set(genders):
            info["spk2gender"] = {s: genders[s] for s in spks}
        else:
            print(f"{prog}: warning: {speakers_txt}: {len(spks - set(genders))} speaker(s) missing; "
                  "no spk2gender written", file=sys.stderr)
    write_data_dir(out, wav=wav, utt2spk=utt2spk, text=text, info=info)
    print(f"{out}: {len(wav)} utterances, {len(set(utt2spk.values()))} speakers from {' '.join(map(str, subsets))}")
    return 0


def main(scan, prog, description, example, speakers_name, layout):
    """The command line of a local/ script, SUBSET... OUT: prepare_data_dir with the script's `scan`."""
    from audiotok.bin import run_command

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("subsets", nargs="+", help=f"subset folders (e.g. {example})")
    parser.add_argument("out", help="output data dir (e.g. data/train_clean_100)")

    def run(args):
        return prepare_data_dir(args.subsets, args.out, scan, prog, speakers_name, layout)

    return run_command(run, parser.parse_args(), prog=prog)
