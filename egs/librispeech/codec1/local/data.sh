#!/usr/bin/env bash
# LibriSpeech from a local copy (db.sh: LIBRISPEECH; nothing is downloaded) -> data/<subset>/
# with '-' written '_' (train-clean-100 -> data/train_clean_100), validated.
#   local/data.sh --train-sets train-clean-100 --dev-set dev-clean --test-sets "test-clean test-other"
# Lists take spaces or commas (commas survive codec.sh --local-data-opts). Several train subsets
# are also merged into one dir: --train-sets train-clean-100,train-clean-360,train-other-500 --train-name train_960
set -euo pipefail

train_sets=train-clean-100   # subsets: train-clean-100 train-clean-360 train-other-500
dev_set=dev-clean            # dev-clean dev-other
test_sets=test-clean         # test-clean test-other
train_name=train             # merged dir of several train subsets (unused with one)
help_message="Usage: $0 [--train-sets \"S ...\"] [--dev-set S] [--test-sets \"S ...\"] [--train-name NAME]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

train_sets=${train_sets//,/ }
test_sets=${test_sets//,/ }
if [ -z "${LIBRISPEECH}" ]; then
  echo "$0: LIBRISPEECH is empty: set it in db.sh (or the environment) to the folder holding train-clean-100/, dev-clean/, ..." >&2
  exit 1
fi
if [ ! -d "${LIBRISPEECH}" ]; then
  echo "$0: LibriSpeech not found: ${LIBRISPEECH} is not a directory (LIBRISPEECH in db.sh)" >&2
  exit 1
fi
for subset in ${train_sets} ${dev_set} ${test_sets}; do  # all checked before any is written
  if [ ! -d "${LIBRISPEECH}/${subset}" ]; then
    echo "$0: LibriSpeech subset ${subset} not found: ${LIBRISPEECH}/${subset} is not a directory (LIBRISPEECH in db.sh)" >&2
    exit 1
  fi
done

dsets=()
for subset in ${train_sets} ${dev_set} ${test_sets}; do
  dset=${subset//-/_}
  "${AUDIOTOK_PYTHON}" local/librispeech_data_dir.py "${LIBRISPEECH}/${subset}" "data/${dset}"
  dsets+=("${dset}")
done
read -r -a train_list <<< "${train_sets}"
if [ "${#train_list[@]}" -gt 1 ]; then
  "${AUDIOTOK_PYTHON}" local/librispeech_data_dir.py "${train_list[@]/#/${LIBRISPEECH}/}" "data/${train_name}"
  dsets+=("${train_name}")
fi
for dset in "${dsets[@]}"; do
  utils/validate_data_dir.sh "data/${dset}"
done
