#!/usr/bin/env bash
# Embedded corpus: speech synthesised by espeak-ng and flite voices from a seeded sentence
# generator -> data/{train,dev,test} (split by speaker; audio under data/wav/).
set -euo pipefail

minutes=6      # total audio to generate
seed=1
nj=2
help_message="Usage: $0 [--minutes M] [--seed S] [--nj N]"

. ./path.sh
. utils/parse_options.sh

stamp="data/.mini_synth_minutes${minutes}_seed${seed}.done"
if [ -f "${stamp}" ]; then
  echo "$0: data/ already holds the corpus for minutes=${minutes} seed=${seed} (remove ${stamp} to redo)"
else
  rm -rf data/train data/dev data/test data/wav data/.mini_synth_*.done
  audiotok synth-corpus --out data --minutes "${minutes}" --seed "${seed}" --nj "${nj}" --overwrite
  touch "${stamp}"
fi
for dset in train dev test; do
  utils/validate_data_dir.sh data/${dset}
done
