#!/usr/bin/env bash
# Kaldi's subset_data_dir.sh in Python:
#   subset_data_dir.sh --first|--last <src-dir> <N> <dest-dir>
#   subset_data_dir.sh --utt-list <file> <src-dir> <dest-dir>
#   subset_data_dir.sh --spk-list <file> <src-dir> <dest-dir>
#   subset_data_dir.sh --per-spk <src-dir> <N> <dest-dir>
set -euo pipefail
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
usage="usage: $0 --first|--last|--per-spk <src-dir> <N> <dest-dir> | --utt-list|--spk-list <file> <src-dir> <dest-dir>"
case ${1:-} in
  --first | --last | --per-spk | --per_spk)
    [ $# -eq 4 ] || { echo "$usage" >&2; exit 1; }
    audiotok_bin subset_data_dir "$1" "$3" "$2" "$4" ;;
  --utt-list | --utt_list | --spk-list | --spk_list)
    [ $# -eq 4 ] || { echo "$usage" >&2; exit 1; }
    audiotok_bin subset_data_dir "$1" "$2" "$3" "$4" ;;
  *)
    echo "$usage" >&2
    exit 1 ;;
esac
