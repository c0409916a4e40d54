"""Generate the embedded mini_synth speech corpus (espeak-ng and flite voices reading seeded sentences)."""

import sys

from audiotok.bin import entry
from audiotok.data.corpora.mini_synth import SPLITS, build_corpus, minutes_using_every_speaker

DESCRIPTION = ("Generate the mini_synth speech corpus: seeded sentences read by hundreds of espeak-ng and flite "
               "speakers, split by voice into Kaldi data dirs OUT/{train,dev,test} (train augmented, utt2aug; "
               "phoneme transcripts in phones, inventory OUT/phones.txt) with audio under OUT/wav.")


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output directory (must be empty unless --overwrite)")
    parser.add_argument("--minutes", type=float, default=6.0,
                        help="total audio to generate, in minutes, over all splits (default: 6). From about "
                             f"{minutes_using_every_speaker():.0f} minutes on, every split uses all its voices and "
                             "a longer corpus of the same seed holds the shorter one (the same utterances first)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentences and speaker order (default: 0)")
    parser.add_argument("--nj", type=int, default=1, help="parallel synthesis jobs; the output does not depend on it")
    parser.add_argument("--sample-rate", type=int, default=24000,
                        help="sample rate of the wav files, e.g. 16000 (default: 24000)")
    parser.add_argument("--test-utts", type=int, default=None,
                        help="least number of test utterances (default: 300 for corpora of 60 minutes or more, "
                             "else 4); the test split grows past its share of --minutes to reach it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the wav/, train/, dev/, test/ and corpus.json of an earlier run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    import os
    from pathlib import Path

    from audiotok.fileio import OutputError, make_dirs

    from audiotok.data.corpora.mini_synth import check_tools

    check_tools()  # before anything is created: a missing tool leaves no empty --out behind
    out = Path(args.out)
    if not out.exists():
        make_dirs(out)  # an unwritable place is one line now, not a traceback after minutes of synthesis
    elif out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(out, "folder is not writable (permission denied)")
    summary = build_corpus(args.out, minutes=args.minutes, seed=args.seed, nj=args.nj,
                           sample_rate=args.sample_rate, overwrite=args.overwrite, progress=not args.quiet,
                           test_utts=args.test_utts)
    parts = [f"{split} {s['utterances']} utts {s['speakers']} spk {s['seconds'] / 60:.2f} min"
             for split, s in ((split, summary[split]) for split in SPLITS)]
    total = sum(s["seconds"] for s in summary.values()) / 60
    print(f"synth-corpus: {args.out}: " + " | ".join(parts) + f" | total {total:.2f} min")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
