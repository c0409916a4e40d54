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


def run(args):
    out = subset_data_dir(args.src_dir, args.dest_dir, first=args.first, last=args.last,
                          utt_list=args.utt_list, spk_list=args.spk_list)
    d = load_data_dir(out)
    print(f"subset_data_dir: {out}: {len(d)} utterances, {len(d.spk2utt)} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
