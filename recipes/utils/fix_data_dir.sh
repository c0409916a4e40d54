#!/usr/bin/env bash
# Kaldi's fix_data_dir.sh in Python: keeps utterances present in every table (and with readable audio),
# re-sorts, regenerates spk2utt, backs the originals up to <data-dir>/.backup/.
#   fix_data_dir.sh [--utt_extra_files "f1 f2"] [--spk_extra_files "f1"] [--no-audio-check] <data-dir>
set -euo pipefail
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
audiotok_bin fix_data_dir "$@"
