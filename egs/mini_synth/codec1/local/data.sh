#!/usr/bin/env bash
# Embedded corpus: speech synthesised by hundreds of espeak-ng and flite speakers from a seeded
# sentence generator -> data/{train,dev,test} (split by voice; train augmented, see utt2aug;
# phoneme transcripts in phones, inventory data/phones.txt; audio under data/wav/).
set -euo pipefail

minutes=6      # total audio to generate
seed=1
nj=2
sample_rate=24000
test_utts=     # least number of test utterances (empty: 300 from 60 minutes up, else 4)
test_per_spk=  # also write data/test_<N>perspk: the first N test utterances of every test voice
eval_voices_utts=  # also write data/test_unseen_engines: N test sentences read by flite kal, kal16, slt
help_message="Usage: $0 [--minutes M] [--seed S] [--nj N] [--sample-rate HZ] [--test-utts N] [--test-per-spk N] [--eval-voices-utts N]"

. ./path.sh
. utils/parse_options.sh

stamp="data/.mini_synth_minutes${minutes}_seed${seed}_sr${sample_rate}_test${test_utts:-auto}.done"
if [ -f "${stamp}" ]; then
  echo "$0: data/ already holds the corpus for minutes=${minutes} seed=${seed} sample_rate=${sample_rate} (remove ${stamp} to redo)"
else
  rm -rf data/train data/dev data/test data/wav data/phones.txt data/.mini_synth_*.done
  audiotok synth-corpus --out data --minutes "${minutes}" --seed "${seed}" --nj "${nj}" \
    --sample-rate "${sample_rate}" ${test_utts:+--test-utts "${test_utts}"} --overwrite
  touch "${stamp}"
fi
dsets="train dev test"
if [ -n "${test_per_spk}" ]; then
  rm -rf data/test_${test_per_spk}perspk
  utils/subset_data_dir.sh --per-spk data/test ${test_per_spk} data/test_${test_per_spk}perspk
  dsets="${dsets} test_${test_per_spk}perspk"
fi
if [ -n "${eval_voices_utts}" ]; then
  # voices no training split uses (the unseen-engine condition of the scores)
  rm -rf data/test_unseen_engines
  audiotok synth-eval-voices --text data/test/text --out data/test_unseen_engines --utts "${eval_voices_utts}" \
    --sample-rate "${sample_rate}" --nj "${nj}"
  dsets="${dsets} test_unseen_engines"
fi
for dset in ${dsets}; do
  utils/validate_data_dir.sh data/${dset}
done
