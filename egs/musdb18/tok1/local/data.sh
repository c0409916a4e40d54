#!/usr/bin/env bash
# MUSDB18-HQ (wav folders) or MUSDB18 (.stem.mp4) from a local copy (db.sh: MUSDB18; nothing is
# downloaded) -> data/{train,dev,test} with wav.scp (the mix), vocals.scp and accompaniment.scp
# (accompaniment = mixture - vocals, written under data/musdb18_audio/), validated.
# dev = the musdb package's 14 validation tracks (local/dev_tracks.txt), carved from train.
#   local/data.sh [--nj 4] [--dev-list local/dev_tracks.txt] [--dev-seed 0]
set -euo pipefail

nj=4
dev_list=local/dev_tracks.txt   # train tracks that form dev ("Artist - Title" per line)
dev_seed=0                      # seeded pick of dev when none of the listed tracks is present
audio_dir=data/musdb18_audio    # per-track links to the corpus files + accompaniment.wav
help_message="Usage: $0 [--nj N] [--dev-list FILE] [--dev-seed S] [--audio-dir DIR]"

. ./path.sh
if [ -f ./db.sh ]; then
  . ./db.sh
fi
. utils/parse_options.sh

MUSDB18=${MUSDB18:-}
if [ -z "${MUSDB18}" ]; then
  echo "$0: MUSDB18 is empty: set it in db.sh (or the environment) to the folder holding train/ and test/" >&2
  exit 1
fi
if [ ! -d "${MUSDB18}" ]; then
  echo "$0: MUSDB18 not found: ${MUSDB18} is not a directory (MUSDB18 in db.sh)" >&2
  exit 1
fi

"${AUDIOTOK_PYTHON}" local/musdb18_data_dir.py "${MUSDB18}" data \
  --audio-dir "${audio_dir}" --dev-list "${dev_list}" --dev-seed "${dev_seed}" --nj "${nj}"
for dset in train dev test; do
  utils/validate_data_dir.sh --no-text "data/${dset}"
done
