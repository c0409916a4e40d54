# common.sh: helpers for recipe scripts (sourced; changes no shell options).
#   log "msg"                              timestamped message on stderr: 2025-01-31T12:00:00 (codec.sh:42:main) msg
#   if run_stage N "what" "inputs" "outputs"; then ...; fi
#                                          true when stage <= N <= stop_stage; logs "Stage N: what: inputs -> outputs"
#   save_run_args "$0" "$@"                (before parse_options.sh) remembers how the script was called
#   write_run_sh DIR N                     writes DIR/run.sh rerunning stage N exactly as this call did
#   audiotok_bin MODULE ARGS...            runs `python -m audiotok.bin.MODULE` (option names: '_' -> '-')
#   format_sets DUMP FS NJ MIN MAX "TRAIN_SETS" "TEST_SETS" [VALIDATE_OPTS]
#                                          data/<set> -> DUMP/<set> at FS Hz mono: training sets cut to
#                                          MIN..MAX s, test sets whole; then every set validated
# Python: $AUDIOTOK_PYTHON, else the repo's .venv/bin/python, else python3 with the repo on PYTHONPATH.

_audiotok_realpath() {  # follow symlinks (utils/ is linked into every recipe) without GNU readlink -f
  local p=$1 d
  while [ -L "$p" ]; do
    d=$(cd -P "$(dirname "$p")" && pwd)
    p=$(readlink "$p")
    case $p in /*) ;; *) p=$d/$p ;; esac
  done
  d=$(cd -P "$(dirname "$p")" && pwd)
  printf '%s/%s\n' "$d" "$(basename "$p")"
}

AUDIOTOK_UTILS=$(dirname "$(_audiotok_realpath "${BASH_SOURCE[0]}")")
AUDIOTOK_ROOT=$(cd "$AUDIOTOK_UTILS/../.." && pwd)
if [ -z "${AUDIOTOK_PYTHON:-}" ]; then
  if [ -x "$AUDIOTOK_ROOT/.venv/bin/python" ]; then
    AUDIOTOK_PYTHON=$AUDIOTOK_ROOT/.venv/bin/python
  else
    AUDIOTOK_PYTHON=$(command -v python3 || command -v python || echo python3)
    export PYTHONPATH="$AUDIOTOK_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi

_log_from() {  # _log_from DEPTH msg...: log with the file/line/function of the caller DEPTH frames up
  local depth=$1
  shift
  printf '%s (%s:%s:%s) %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$(basename "${BASH_SOURCE[$depth]:-$0}")" \
    "${BASH_LINENO[$((depth - 1))]:-0}" "${FUNCNAME[$depth]:-main}" "$*" >&2
}

log() {
  _log_from 1 "$@"
}

run_stage() {
  local n=$1 what=$2 inputs=${3:-} outputs=${4:-}
  if [ "${stage:-1}" -le "$n" ] && [ "${stop_stage:-10000}" -ge "$n" ]; then
    _log_from 2 "Stage $n: $what: ${inputs:--} -> ${outputs:--}"
    return 0
  fi
  return 1
}

save_run_args() {  # save_run_args "$0" "$@"; --stage/--stop-stage are left out (write_run_sh sets them)
  local script=$1
  local kept=()
  shift
  case $script in */*) ;; *) script=./$script ;; esac
  while [ $# -gt 0 ]; do
    case $1 in
      --stage | --stop-stage | --stop_stage) shift; [ $# -gt 0 ] && shift ;;
      *) kept+=("$1"); shift ;;
    esac
  done
  run_args="bash $(printf '%q ' "$script" ${kept[@]+"${kept[@]}"})"  # bash: the script need not be executable
  run_args=${run_args% }
}

write_run_sh() {
  local dir=$1 n=$2
  if [ -z "${run_args:-}" ]; then
    echo "write_run_sh: call save_run_args \"\$0\" \"\$@\" before parse_options.sh" >&2
    return 1
  fi
  mkdir -p "$dir"
  {
    echo "#!/usr/bin/env bash"
    echo "# Written by $(basename "${BASH_SOURCE[1]:-$0}") on $(date '+%Y-%m-%dT%H:%M:%S'): reruns stage $n of this experiment;"
    echo "# extra options (e.g. --stop-stage 9) are appended."
    printf 'cd %q || exit 1\n' "$PWD"
    echo "${run_args} --stage $n --stop-stage $n \"\$@\"; exit \$?"
  } > "$dir/.run.sh.tmp"
  chmod +x "$dir/.run.sh.tmp"
  mv "$dir/.run.sh.tmp" "$dir/run.sh"
}

audiotok_bin() {
  local module=$1 a
  local args=()
  shift
  for a in "$@"; do
    case $a in --*) a=${a//_/-} ;; esac  # Kaldi spells some options --utt_extra_files
    args+=("$a")
  done
  "$AUDIOTOK_PYTHON" -m "audiotok.bin.$module" ${args[@]+"${args[@]}"}
}

format_sets() {
  local dump=$1 fs=$2 nj=$3 min_s=$4 max_s=$5 train_sets=$6 test_sets=$7 dset
  shift 7
  for dset in ${train_sets}; do
    audiotok format-data-dir "data/${dset}" "${dump}/${dset}" --fs "${fs}" --nj "${nj}" \
      --min-seconds "${min_s}" --max-seconds "${max_s}" || return 1
  done
  for dset in ${test_sets}; do
    audiotok format-data-dir "data/${dset}" "${dump}/${dset}" --fs "${fs}" --nj "${nj}" || return 1
  done
  for dset in ${train_sets} ${test_sets}; do
    utils/validate_data_dir.sh "$@" "${dump}/${dset}" || return 1
  done
}
