#!/usr/bin/env bash
# Train a shipped config on a lent GPU (the `device` tool) and bring the weights and curves back.
#
# The device machine is offline and bare: its Python has torch, sentencepiece, safetensors and
# PyYAML but not our audio stack, and only 64 MiB of files travel there. The unified LM trains on
# token files, which are small, so it is the model trained there: the codec tokens of its recipe
# travel in .gpu/ (git-ignored), and the weights come back in parts under 16 MiB.
#
#   [TRAIN_ARGS=...] scripts/gpu_train.sh prepare [LM_RECIPE_DIR] [CONFIG] [CODEC_DIR]
#                                                              here: .gpu/{tok.tar,lang,config.yaml} and, for
#                                                              an LM that reads through the codec's semantic
#                                                              decoder (grouping.frontend: codec), .gpu/codec;
#                                                              the token dirs' forced alignments (text_starts,
#                                                              char_starts) travel when the recipe made them;
#                                                              TRAIN_ARGS are more `audiotok train` options for
#                                                              the device (e.g. "--init-from speech-lm-v1
#                                                              --init-skip pointer.", a shipped LM)
#   scripts/gpu_train.sh train MINUTES [OUT]                   on the device (run: carry [".gpu"]):
#                                                              trains MINUTES of GPU time, writes OUT
#                                                              (default $OUT): the model packed as
#                                                              float16 in 15 MiB parts + run.tar
#                                                              (config, meta, curves, log)
#   scripts/gpu_train.sh fetch FILES_DIR EXP_DIR               here: rebuilds EXP_DIR/model + curves
#
# Defaults: egs/mini_synth/lm1 and its conf/ulm_g5_codecfront_cpu.yaml (the long run run_cpu.sh trains) over the
# speech-25hz-v2 tokens. A CPU dry run: `scripts/gpu_train.sh train 0.5 /tmp/gpu_out cpu`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:?usage: $0 prepare|train|fetch ...}
shift
gpu=${repo}/.gpu
py=${PYTHON:-python3}
[ -x "${repo}/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && py=${repo}/.venv/bin/python

case "${stage}" in
prepare)
  recipe=$(cd "${1:-${repo}/egs/mini_synth/lm1}" && pwd)
  config=${2:-conf/ulm_g5_codecfront_cpu.yaml}
  codec=${3:-speech-25hz-v2}  # a codec dir or a shipped name
  tokname=$(basename "${codec}")  # lm.sh keeps a codec's tokens under dump/NAME and its vocabulary in data/lang_NAME_*
  [ -d "${codec}" ] || codec=$("${py}" -c 'import sys; from audiotok.pretrained import shipped_dir; print(shipped_dir(sys.argv[1]) or sys.argv[1])' "${codec}")
  tokdir=${recipe}/dump/${tokname}
  lang=$(ls -d "${recipe}"/data/lang_"${tokname}"_* | head -1)
  for f in "${tokdir}/train/tokens.scp" "${tokdir}/dev/tokens.scp" "${lang}/vocab.json"; do
    [ -f "$f" ] || { echo "$0: $f missing (run the recipe's stages 1-4 first)" >&2; exit 1; }
  done
  rm -rf "${gpu}"
  mkdir -p "${gpu}/tok"
  exclude=$(cd "${repo}" && realpath -m "$(git rev-parse --git-path info/exclude)")  # a worktree's .git is a file
  mkdir -p "$(dirname "${exclude}")"
  grep -qx '/.gpu/' "${exclude}" 2>/dev/null || echo '/.gpu/' >> "${exclude}"
  for d in train dev; do
    mkdir -p "${gpu}/tok/${d}"
    # token paths relative to the repo root, which is where the device runs
    awk '{n = split($2, p, "/"); print $1, ".gpu/tok/" d "/" p[n]}' d="${d}" "${tokdir}/${d}/tokens.scp" \
      > "${gpu}/tok/${d}/tokens.scp"
    for f in text utt2spk; do cp "${tokdir}/${d}/${f}" "${gpu}/tok/${d}/"; done
    for f in text_starts char_starts; do  # written by `audiotok align-text`, read by pointer configs
      [ ! -f "${tokdir}/${d}/${f}" ] || cp "${tokdir}/${d}/${f}" "${gpu}/tok/${d}/"
    done
  done
  (cd "${tokdir}" && tar -cf "${gpu}/tok.tar" --transform 's#^#.gpu/tok/#' train/*.atok dev/*.atok)
  cp -r "${lang}" "${gpu}/lang"
  (cd "${recipe}" && "${py}" -m audiotok.cli train --config "${config}" --train-data "${tokdir}/train" \
     --valid-data "${tokdir}/dev" --exp-dir /tmp/unused --print-config \
     model_conf.vocab=.gpu/lang/vocab.json dataset_conf.vocab=.gpu/lang/vocab.json \
     model_conf.frame_rate="$(cat "${lang}/frame_rate")" model_conf.codec_dir=.gpu/codec) > "${gpu}/config.yaml"
  if grep -q "frontend: codec" "${gpu}/config.yaml"; then  # the LM copies the codec's semantic decoder at step 0
    [ -f "${codec}/model.safetensors" ] || { echo "$0: codec ${codec} not found (give CODEC_DIR)" >&2; exit 1; }
    mkdir -p "${gpu}/codec"
    cp "${codec}/config.yaml" "${codec}/model.safetensors" "${gpu}/codec/"
  fi
  printf '%s\n' "${TRAIN_ARGS:-}" > "${gpu}/train_args"
  echo "${config}${TRAIN_ARGS:+ ${TRAIN_ARGS}} @ $(git -C "${repo}" rev-parse --short HEAD)" > "${gpu}/SOURCE"
  du -sh "${gpu}"
  ;;
train)
  minutes=${1:?minutes of training}
  out=${2:-${OUT:?no OUT: give the output dir}}
  ngpu=1
  [ "${3:-}" = cpu ] && ngpu=0
  cd "${repo}"
  tar -xf .gpu/tok.tar
  exp=${GPU_EXP:-/tmp/gpu_exp}  # the run's scratch exp dir, replaced by each run
  rm -rf "${exp}"
  hours=$(awk -v m="${minutes}" 'BEGIN { printf "%.4f", m / 60 }')
  train_args=()
  [ ! -s .gpu/train_args ] || read -r -a train_args < .gpu/train_args
  # the trainer stops on process CPU time; a GPU run keeps one core busy, so that is about wall time
  PYTHONUNBUFFERED=1 "${py}" -m audiotok.cli train --config .gpu/config.yaml --train-data .gpu/tok/train \
    --valid-data .gpu/tok/dev --exp-dir "${exp}" --ngpu "${ngpu}" trainer.max_cpu_hours="${hours}" \
    trainer.max_steps=10000000 ${train_args[@]+"${train_args[@]}"} 2>&1 | tee "${exp}.log" | grep -E "valid step|spent|packed|Error" || true
  mkdir -p "${out}"
  [ -f "${exp}/model/model.safetensors" ] || { echo "$0: training wrote no model (see the log)" >&2; tail -20 "${exp}.log" >&2; exit 1; }
  # at most 8 files and 64 MiB come back: float16 weights in parts + one tar of the rest
  "${py}" -m audiotok.cli pack --exp-dir "${exp}" --out "${exp}/packed" --dtype float16
  split -b 15M -d "${exp}/packed/model.safetensors" "${out}/model.safetensors.part"
  cp "${exp}.log" "${exp}/packed/gpu_train.log"
  cp .gpu/SOURCE "${exp}/valid_history.jsonl" "${exp}/packed/"
  tar -cf "${out}/run.tar" -C "${exp}/packed" --exclude model.safetensors .
  ls -la "${out}"
  ;;
fetch)
  files=${1:?the folder that holds the files the device sent back}
  exp=${2:?exp dir to write}
  mkdir -p "${exp}/model"
  cat "${files}"/model.safetensors.part* > "${exp}/model/model.safetensors.tmp"
  mv "${exp}/model/model.safetensors.tmp" "${exp}/model/model.safetensors"
  tar -xf "${files}/run.tar" -C "${exp}/model"
  for f in valid_history.jsonl gpu_train.log SOURCE; do mv "${exp}/model/${f}" "${exp}/"; done
  echo "${exp}/model: $(du -h "${exp}/model/model.safetensors" | cut -f1) (float16), trained from $(cat "${exp}/SOURCE")"
  ;;
*)
  echo "usage: $0 prepare|train|fetch ..." >&2
  exit 1
  ;;
esac
