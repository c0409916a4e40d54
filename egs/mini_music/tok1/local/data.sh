#!/usr/bin/env bash
# Embedded corpus: seeded songs (fluidsynth band from generated MIDI + an espeak-ng singer) with
# vocal and accompaniment stems -> data/{train,dev,test} (wav.scp = mix, vocals.scp,
# accompaniment.scp, text = lyrics; audio under data/songs/).
set -euo pipefail

songs=20        # at least 3; about 10 % each go to dev and test
seed=1
min_seconds=10
max_seconds=15
nj=2
help_message="Usage: $0 [--songs N] [--seed S] [--min-seconds A] [--max-seconds B] [--nj N]"

. ./path.sh
. utils/parse_options.sh

stamp="data/.mini_music_songs${songs}_seed${seed}_${min_seconds}-${max_seconds}s.done"
if [ -f "${stamp}" ]; then
  echo "$0: data/ already holds the corpus for songs=${songs} seed=${seed} (remove ${stamp} to redo)"
else
  rm -f data/.mini_music_*.done
  audiotok synth-music --out data --songs "${songs}" --seed "${seed}" --nj "${nj}" \
    --min-seconds "${min_seconds}" --max-seconds "${max_seconds}" --overwrite --quiet
  touch "${stamp}"
fi
for dset in train dev test; do
  utils/validate_data_dir.sh data/${dset}
done
