"""Read the sentences of a held-out split with the voices mini_synth never uses (flite kal, kal16, slt)."""

import sys

from audiotok.bin import entry

DESCRIPTION = ("Write a Kaldi data dir of held-out sentences read by voices never used in mini_synth's training "
               "(flite kal, kal16 and slt, in turn): the unseen-engine evaluation set of the ASR and codec scores.")


def add_arguments(parser):
    parser.add_argument("--text", required=True,
                        help="Kaldi text file whose sentences are read (e.g. data/test/text)")
    parser.add_argument("--out", required=True, help="output data dir (audio in OUT/wav); must not exist yet")
    parser.add_argument("--utts", type=int, default=120,
                        help="number of sentences, the first distinct ones (default: 120)")
    parser.add_argument("--voices", default="kal,kal16,slt",
                        help="flite voices, comma-separated (default: kal,kal16,slt)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="sample rate of the wav files (default: 16000)")
    parser.add_argument("--nj", type=int, default=1, help="parallel synthesis jobs")


def run(args):
    from pathlib import Path

    from audiotok.data.corpora.eval_voices import build_eval_set
    from audiotok.errors import UserError

    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out}: already exists (remove it first: this command writes a new data dir)")
    voices = tuple(v.strip() for v in args.voices.split(",") if v.strip())
    n, seconds = build_eval_set(args.text, out, n_utts=args.utts, sample_rate=args.sample_rate, voices=voices,
                                nj=args.nj)
    print(f"synth-eval-voices: {out}: {n} utts, {len(voices)} voices ({', '.join(voices)}), {seconds / 60:.2f} min")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
