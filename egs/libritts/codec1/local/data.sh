#!/usr/bin/env bash
# LibriTTS from a local copy (db.sh: LIBRITTS; nothing is downloaded) -> data/<subset>/
# with '-' written '_' (train-clean-100 -> data/train_clean_100), validated. Utterance ids are
# <spk>-<chapter>_<para>_<sent>; text is the .normalized.txt upper-cased with punctuation stripped
# (LibriSpeech style, for WER scoring; see local/libritts_data_dir.py).
#   local/data.sh --train-sets train-clean-100 --dev-set dev-clean --test-sets "test-clean test-other"
# Lists take spaces or commas (commas survive codec.sh --local-data-opts). Several train subsets
# are also merged into one dir: --train-sets train-clean-100,train-clean-360,train-other-500 --train-name train_all
set -euo pipefail

train_sets=train-clean-100   # subsets: train-clean-100 train-clean-360 train-other-500
dev_set=dev-clean            # dev-clean dev-other
test_sets=test-clean         # test-clean test-other
train_name=train             # merged dir of several train subsets (unused with one)
help_message="Usage: $0 [--train-sets \"S ...\"] [--dev-set S] [--test-sets \"S ...\"] [--train-name NAME]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

CALLER="$0" utils/subset_data_dirs.sh LibriTTS LIBRITTS "${LIBRITTS}" local/libritts_data_dir.py "${train_sets}" "${dev_set}" "${test_sets}" \
  "${train_name}"
