#!/usr/bin/env bash
# A corpus of subset folders under one root (LibriSpeech, LibriTTS: train-clean-100/, dev-clean/, ...)
# -> data/<subset with '-' written '_'>/, each made by the corpus's converter script; several train
# subsets are also merged into data/<train-name>; every dir validated. Every subset is checked
# before any dir is written. Shared by the real corpora's local/data.sh:
#   utils/subset_data_dirs.sh NAME DB_VAR ROOT CONVERTER "TRAIN_SETS" DEV_SET "TEST_SETS" TRAIN_NAME
# (NAME and DB_VAR, the db.sh variable holding ROOT, only appear in errors, which name the script
# the user ran: CALLER, else this one.)
set -euo pipefail
prog=${CALLER:-$0}

if [ $# -ne 8 ]; then
  echo "Usage: $0 NAME DB_VAR ROOT CONVERTER \"TRAIN_SETS\" DEV_SET \"TEST_SETS\" TRAIN_NAME" >&2
  exit 1
fi
name=$1; db_var=$2; root=$3; converter=$4; train_sets=${5//,/ }; dev_set=$6; test_sets=${7//,/ }; train_name=$8

if [ -z "${root}" ]; then
  echo "${prog}: ${db_var} is empty: set it in db.sh (or the environment) to the folder holding train-clean-100/, dev-clean/, ..." >&2
  exit 1
fi
if [ ! -d "${root}" ]; then
  echo "${prog}: ${name} not found: ${root} is not a directory (${db_var} in db.sh)" >&2
  exit 1
fi
for subset in ${train_sets} ${dev_set} ${test_sets}; do
  if [ ! -d "${root}/${subset}" ]; then
    echo "${prog}: ${name} subset ${subset} not found: ${root}/${subset} is not a directory (${db_var} in db.sh)" >&2
    exit 1
  fi
done

dsets=()
for subset in ${train_sets} ${dev_set} ${test_sets}; do
  dset=${subset//-/_}
  "${AUDIOTOK_PYTHON}" "${converter}" "${root}/${subset}" "data/${dset}"
  dsets+=("${dset}")
done
read -r -a train_list <<< "${train_sets}"
if [ "${#train_list[@]}" -gt 1 ]; then
  "${AUDIOTOK_PYTHON}" "${converter}" "${train_list[@]/#/${root}/}" "data/${train_name}"
  dsets+=("${train_name}")
fi
for dset in "${dsets[@]}"; do
  utils/validate_data_dir.sh "data/${dset}"
done
