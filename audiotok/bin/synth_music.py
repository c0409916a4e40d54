"""audiotok synth-music: generate the embedded mini_music corpus (songs with vocal and accompaniment stems)."""

import sys
import time

from audiotok.bin import entry

DESCRIPTION = ("Generate mini_music: seeded songs (fluidsynth band from generated MIDI + an espeak-ng singer) "
               "with vocal and accompaniment stems, as train/dev/test Kaldi data dirs "
               "(wav.scp = mix, vocals.scp, accompaniment.scp, text = lyrics).")


def add_arguments(p):
    p.add_argument("--out", required=True, help="output directory (songs/, train/, dev/, test/, corpus.json)")
    p.add_argument("--songs", type=int, default=20, help="number of songs, at least 3 (default 20)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed; the same seed gives the same corpus")
    p.add_argument("--nj", type=int, default=1, help="worker processes (the result does not depend on it)")
    p.add_argument("--min-seconds", type=float, default=10.0, help="shortest song (default 10)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="longest song (default 30)")
    p.add_argument("--sample-rate", type=int, default=24000, help="output sample rate in Hz (default 24000)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier corpus in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    from audiotok.data.corpora.mini_music import build_corpus

    t0 = time.time()
    summary = build_corpus(args.out, songs=args.songs, seed=args.seed, nj=args.nj,
                           min_seconds=args.min_seconds, max_seconds=args.max_seconds,
                           sample_rate=args.sample_rate, overwrite=args.overwrite, progress=not args.quiet)
    for split, s in summary.items():
        print(f"{split}: {s['songs']} songs, {s['seconds'] / 60:.1f} min")
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
