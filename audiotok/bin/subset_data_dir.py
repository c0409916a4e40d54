"""Copy part of a Kaldi data dir into a new one (Kaldi's subset_data_dir.sh)."""

import sys

from audiotok.bin import entry
from audiotok.data.kaldi_dir import load_data_dir, subset_data_dir

DESCRIPTION = "Write the first/last N utterances, or those of an utterance or speaker list, of SRC into DEST."


def add_arguments(parser):
    parser.add_argument("src_dir")
    parser.add_argument("dest_dir")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--first", type=int, metavar="N", help="the first N utterances (C sort order)")
    how.add_argument("--last", type=int, metavar="N", help="the last N utterances")
    how.add_argument("--utt-list", metavar="FILE", help="utterance ids, one per line (first field)")
    how.add_argument("--spk-list", metavar="FILE", help="speaker ids, one per line (first field)")
    how.add_argument("--per-spk", type=int, metavar="N",
                     help="the first N utterances of every speaker (a test set that keeps every voice)")


def per_speaker(src_dir, n):
    """Utterance ids: the first n (C order) of every speaker of `src_dir`."""
    from audiotok.data.kaldi_table import c_order
    from audiotok.errors import UserError

    if n < 1:
        raise UserError(f"--per-spk must be positive, got {n}")
    d = load_data_dir(src_dir)
    return [u for utts in d.spk2utt.values() for u in sorted(utts, key=c_order)[:n]]


def run(args):
    utt_list = per_speaker(args.src_dir, args.per_spk) if args.per_spk is not None else args.utt_list
    out = subset_data_dir(args.src_dir, args.dest_dir, first=args.first, last=args.last,
                          utt_list=utt_list, spk_list=args.spk_list)
    d = load_data_dir(out)
    print(f"subset_data_dir: {out}: {len(d)} utterances, {len(d.spk2utt)} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
