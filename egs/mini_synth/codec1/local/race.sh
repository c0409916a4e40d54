#!/usr/bin/env bash
# The design race of the CPU codec: candidates on equal CPU budgets (trainer.max_cpu_hours), two at
# a time (one torch thread each), scored by their validation curves on the dev voices (unseen in
# training). The winner's exp dir is the one the long run resumes.
#   local/race.sh [--budget-hours 0.2] [--pairs "A,B,C,D,E"]
# Candidates:
#   A  spectral, non-causal, CTC content head        (conf/dualcodec_12hz_cpu.yaml as it is)
#   B  A without the CTC head: content from BEST-RQ self-supervision alone
#   C  A, causal: causal BEST-RQ, encoder, semantic and decoder nets (the streaming candidate)
#   D  A with MPD + multi-resolution STFT discriminators from half the budget's steps
#      (conf/dualcodec_12hz_cpu_disc.yaml)
#   E  A with the DAC-style time-domain encoder/decoder (paper architecture, CPU width)
set -euo pipefail

budget_hours=0.2
pairs="A,B,C,D,E"     # a comma group runs at once: all five share the two cores, each on its own CPU budget
help_message="Usage: $0 [--budget-hours H] [--pairs \"A,B C,D,E\"]"

. ./path.sh
. utils/common.sh
. utils/parse_options.sh
exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_synth_codec1"  # as run_cpu.sh
mkdir -p "${exp_root}"

phones="model_conf.content_ctc.phones_file=data/phones.txt"
budget="trainer.max_cpu_hours=${budget_hours}"
causal="model_conf.semantic.causal=true model_conf.spectral_encoder.causal=true model_conf.spectral_decoder.causal=true"

candidate() {  # letter -> "tag|ssl tag|train args[|codec config]"
  case $1 in
    A) echo "codec_dualcodec_12hz_cpu|ssl_bestrq_speech_cpu|${phones} ${budget}" ;;
    B) echo "race_B_no_ctc|ssl_bestrq_speech_cpu|model_conf.content_ctc=null ${budget}" ;;
    C) echo "codec_dualcodec_12hz_cpu_causal|ssl_bestrq_speech_cpu_causal|${phones} ${budget} ${causal}" ;;
    D) echo "race_D_disc|ssl_bestrq_speech_cpu|${phones} ${budget}|conf/dualcodec_12hz_cpu_disc.yaml" ;;
    E) echo "race_E_wave|ssl_bestrq_speech_cpu|${phones} ${budget} model_conf.backbone=wave model_conf.spectral_encoder=null model_conf.spectral_decoder=null model_conf.wave.encoder_dim=16 model_conf.wave.encoder_strides=[4,4,5,4,4] model_conf.wave.decoder_dim=256 model_conf.wave.residual_dilations=[1,3]" ;;
    *) echo "unknown candidate $1" >&2; exit 1 ;;
  esac
}

for pair in ${pairs}; do
  pids=()
  for c in ${pair//,/ }; do
    IFS='|' read -r tag ssl_tag args config <<< "$(candidate "$c")"
    log "race ${c}: ${tag} (${args})"
    ./run_cpu.sh --stage 4 --stop-stage 4 --tag "${tag}" --ssl-tag "${ssl_tag}" --train-args "${args}" \
      ${config:+--codec-config "${config}"} \
      > "${exp_root}/race_${c}.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
done
