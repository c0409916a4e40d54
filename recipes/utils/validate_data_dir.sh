#!/usr/bin/env bash
# Kaldi's validate_data_dir.sh in Python: prints each problem and exits 1 when the dir is invalid.
#   validate_data_dir.sh [--no-text] [--no-wav] [--no-spk-sort] [--non-print] [--no-feats] [--no-audio-check] <data-dir>
set -euo pipefail
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
audiotok_bin validate_data_dir "$@"
