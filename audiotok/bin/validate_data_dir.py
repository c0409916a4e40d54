"""Check a Kaldi data dir: sorted unique tables, consistent ids, readable audio (Kaldi's validate_data_dir.sh)."""

import sys

from audiotok.bin import entry
from audiotok.data.kaldi_dir import check_data_dir

DESCRIPTION = "Check a Kaldi data dir; print each problem, then a summary; exit 1 when it is invalid."


def add_arguments(parser):
    parser.add_argument("data_dir", help="data dir (wav.scp, utt2spk, spk2utt, text, ...)")
    parser.add_argument("--no-text", action="store_true", help="text is not required")
    parser.add_argument("--no-wav", action="store_true", help="wav.scp is not required")
    parser.add_argument("--no-spk-sort", action="store_true",
                        help="allow utt2spk to sort differently by speaker (utt ids not prefixed by speaker ids)")
    parser.add_argument("--no-audio-check", action="store_true", help="do not open the audio files")
    parser.add_argument("--non-print", action="store_true", help="allow non-printable characters in text")
    parser.add_argument("--no-feats", action="store_true", help="accepted for Kaldi compatibility (feats are never required)")


def run(args):
    rep = check_data_dir(args.data_dir, no_text=args.no_text, no_wav=args.no_wav, no_spk_sort=args.no_spk_sort,
                         check_audio=not args.no_audio_check, non_print=args.non_print)
    for w in rep.warnings:
        print(f"warning: {w}")
    for p in rep.problems:
        print(p)
    counts = f"{rep.num_utts} utterances, {rep.num_spks} speakers, {len(rep.warnings)} warning(s)"
    if rep.problems:
        print(f"validate_data_dir: {args.data_dir}: INVALID: {len(rep.problems)} problem(s) ({counts})")
        return 1
    print(f"validate_data_dir: {args.data_dir}: OK ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
