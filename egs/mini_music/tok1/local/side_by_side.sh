# Sourced by the run_cpu_*.sh scripts that train tokenizers side by side and score them together (after
# local/cpu_common.sh, which sets exp_root and common). A NAME is a tok.sh name: conf/NAME.yaml holds its
# quantizers, conf/<NAME without _cpu>_decoder_cpu.yaml its decoders, EXP/NAME_q and EXP/NAME its exps.

configs() {  # configs SUFFIX NAME...: the conf files of NAMEs ("" the quantizers, _decoder the decoders)
  local suffix=$1 name out=()
  shift
  for name in "$@"; do out+=("conf/${name%_cpu}${suffix}_cpu.yaml"); done
  echo "${out[*]}"
}

train_in_background() {  # train_in_background CONFIG EXP OVERRIDE...: one thread, resumable, log EXP.train.log
  local config=$1 exp=$2
  shift 2
  mkdir -p "$(dirname "${exp}")"
  OMP_NUM_THREADS=1 audiotok train --config "${config}" --train-data dump/raw/train --valid-data dump/raw/dev \
    --exp-dir "${exp}" --resume "$@" > "${exp}.train.log" 2>&1 &
}

wait_all() {  # wait for every background training; fail when one failed
  local pid
  for pid in $(jobs -p); do wait "${pid}"; done
}

decode_missing() {  # decode_missing NAME...: tok.sh stage 7 (encode train + test, decode test) for each NAME not decoded yet
  local name
  for name in "$@"; do
    [ -d "${exp_root}/${name}/decode/test/wav_accompaniment" ] && continue  # the last track decoded
    ./tok.sh "${common[@]}" --stage 7 --stop-stage 7 --tok-configs "$(configs "" "${name}")" \
      --dec-configs "$(configs _decoder "${name}")"
  done
}

tok_stages() {  # tok_stages FIRST LAST "NAME..." TOK_SH_ARG...: tok.sh stages FIRST..LAST for the NAMEs
  local first=$1 last=$2 _names
  read -r -a _names <<< "$3"
  shift 3
  ./tok.sh "${common[@]}" --stage "${first}" --stop-stage "${last}" --tok-configs "$(configs "" "${_names[@]}")" \
    --dec-configs "$(configs _decoder "${_names[@]}")" "$@"
}

compare_with() {  # compare_with AGAINST SYSTEMS WHAT: score-compare per track into EXP/RESULTS.md
  local track
  for track in mix vocals accompaniment; do  # is a gap to AGAINST more than the spread over songs?
    audiotok score-compare --score-dir "${exp_root}/score/test/${track}" --against "$1" --systems "$2" \
      --results-md "${exp_root}/RESULTS.md" --section "${track} of test: paired comparison with $3 ($1)"
  done
}

compare_with_control() {  # compare_with_control CONTROL SYSTEMS
  compare_with "$1" "$2" "the control"
}
