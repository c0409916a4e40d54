#!/usr/bin/env bash
# The 25 Hz codec the unified LM reads (lm1), resynthesised and scored in one table: the frozen
# snapshot speech-25hz-v1 and the same codec after decoder-only training
# (conf/dualcodec_25hz_cpu_causal_decoder.yaml; its tokens are the snapshot's), next to the original
# recordings and Opus. Its Whisper WER is the ceiling of the LM's TTS.
#   local/score_lm_codec.sh [--sets "test_unseen_engines"] [--nj 2] [--update-results true]
set -euo pipefail

sets="test_unseen_engines"
nj=2
update_results=false   # true: also write the section into the recipe's RESULTS.md
help_message="Usage: $0 [--sets \"test_unseen_engines test_9perspk\"] [--nj N] [--update-results true]"

. ./path.sh
. utils/common.sh
. utils/parse_options.sh
exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_codec1"  # as run_cpu.sh
snapshot=${exp_root}/packed/speech-25hz-v1
tuned=${exp_root}/codec_dualcodec_25hz_cpu_causal_decoder
out=${tuned}/score_vs_snapshot
[ -f "${snapshot}/model.safetensors" ] || { echo "${snapshot}: the LM's codec snapshot is missing" >&2; exit 1; }
[ -f "${tuned}/model/model.safetensors" ] || { echo "${tuned}/model: train it first (conf/dualcodec_25hz_cpu_causal_decoder.yaml)" >&2; exit 1; }

# Packed under the snapshot's name and version: its tokens are the snapshot's, bit for bit (only the
# decoder trained), so token files of the one decode with the other.
tuned_pack=${tuned}/packed_as_snapshot
read -r name version < <(python -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['name'], m['version'])" \
  ${snapshot}/meta.json)
audiotok pack --exp-dir ${tuned} --out ${tuned_pack} --name "${name}" --version "${version}" --dtype float16

for dset in ${sets}; do
  # the tokens come from the snapshot; both decoders read the same token files
  codes=${out}/${dset}/codes
  log "${dset}: tokens of ${snapshot} -> ${codes}; decoded by the snapshot and by the tuned decoder"
  audiotok encode --data-dir dump/raw/${dset} -o ${codes} --model ${snapshot} --nj ${nj}
  audiotok decode --scp ${codes}/tokens.scp -o ${out}/${dset}/wav_snapshot --model ${snapshot} --nj ${nj}
  audiotok decode --scp ${codes}/tokens.scp -o ${out}/${dset}/wav_tuned --model ${tuned_pack} --nj ${nj}
  # shellcheck disable=SC2046
  audiotok score --ref-data dump/raw/${dset} --include-original --baselines opus6 \
    --hyp "speech-25hz-v1=${out}/${dset}/wav_snapshot" --hyp-tokens "speech-25hz-v1=${codes}" \
    --hyp "speech-25hz-v1_decoder_tuned=${out}/${dset}/wav_tuned" \
    --metrics pesq,stoi,mel,sisdr,wer --asr whisper,pocketsphinx --nj ${nj} --out ${out}/${dset}/score \
    --results-md ${tuned}/RESULTS.md $([ "${update_results}" = true ] && echo "--results-md RESULTS.md") \
    --section "The LM's 25 Hz codec on ${dset}: the snapshot and its tuned decoder"
done
