"""Split a Kaldi data dir for parallel jobs (Kaldi's split_data.sh)."""

import sys

from audiotok.bin import entry
from audiotok.data.kaldi_dir import split_data_dir

DESCRIPTION = ("Split DIR into nj=min(N, #utterances) parts DIR/split<nj>/<1..nj>, speakers kept whole when there "
               "are enough of them; prints one part dir per line (count the lines to get nj).")


def add_arguments(parser):
    parser.add_argument("data_dir")
    parser.add_argument("num_parts", type=int)
    parser.add_argument("--per-utt", action="store_true", help="split by utterance into DIR/split<nj>utt/")


def run(args):
    for part in split_data_dir(args.data_dir, args.num_parts, per_utt=args.per_utt):
        print(part)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
