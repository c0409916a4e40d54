#!/usr/bin/env bash
# Run JOB=1:N copies of a command, one log each (Kaldi run.pl / slurm.pl semantics); see --help.
#   launch.sh [--backend local|slurm] [--gpu N] [--mem X] [--time T] [--max-jobs-run N] JOB=1:N LOG CMD...
set -euo pipefail
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
exec "$AUDIOTOK_PYTHON" -m audiotok.launcher "$@"
