"""Repair a Kaldi data dir in place: keep the utterances present in every table (Kaldi's fix_data_dir.sh)."""

import sys

from audiotok.bin import entry
from audiotok.data.kaldi_dir import fix_data_dir

DESCRIPTION = ("Keep only utterances present and well formed in every table with readable audio, re-sort, "
               "regenerate spk2utt; originals are backed up to DIR/.backup/.")


def add_arguments(parser):
    parser.add_argument("data_dir")
    parser.add_argument("--no-audio-check", action="store_true", help="keep entries without opening their audio")
    parser.add_argument("--utt-extra-files", default="", help="space-separated extra per-utterance tables to filter")
    parser.add_argument("--spk-extra-files", default="", help="space-separated extra per-speaker tables to filter")


def run(args):
    counts = fix_data_dir(args.data_dir, check_audio=not args.no_audio_check,
                          utt_extra_files=args.utt_extra_files.split(), spk_extra_files=args.spk_extra_files.split())
    total = counts.pop("utterances")
    duplicates = counts.pop("duplicates")
    for line in duplicates:
        print(line, file=sys.stderr)
    if duplicates:
        print(f"fix_data_dir: {args.data_dir}: dropped {len(duplicates)} duplicate id line(s)", file=sys.stderr)
    for name, c in sorted(counts.items()):
        print(f"{name}: kept {c['kept']}, removed {c['removed']}")
    print(f"fix_data_dir: {args.data_dir}: kept {total['kept']} of {total['kept'] + total['removed']} utterances "
          f"(originals in {args.data_dir.rstrip('/')}/.backup)")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
