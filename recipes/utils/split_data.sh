#!/usr/bin/env bash
# Kaldi's split_data.sh in Python: <data-dir>/split<nj>/<1..nj> with nj = min(N, #utterances), speakers kept
# whole when there are enough (--per-utt: <data-dir>/split<nj>utt/). Prints the part dirs, one per line.
#   split_data.sh [--per-utt] <data-dir> <N>
set -euo pipefail
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
audiotok_bin split_data_dir "$@"
