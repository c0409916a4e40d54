# parse_options.sh: Kaldi-style option parsing, sourced by a script after it declares its options:
#     stage=1; stop_stage=10000; use_amp=false; help_message="Usage: $0 [options] <dir>"
#     . utils/parse_options.sh
# - `--opt-name VALUE` sets the already declared variable opt_name (so --stop-stage == --stop_stage);
#   an undeclared one is an error, `--name=value` is an error, a later repeat wins.
# - a variable whose value is true/false only takes true or false; a *cmd option cannot be empty.
# - every `--config FILE` is sourced first (left to right), so the command line overrides it.
# - `--help`/`-h` prints $help_message and exits 0; `--` or the first non-option word ends the options,
#   leaving the positional arguments in "$@".

_po_i=1
while [ "$_po_i" -le $# ]; do  # first pass: source --config files
  case ${!_po_i} in
    --config)
      _po_j=$((_po_i + 1))
      if [ "$_po_j" -gt $# ]; then echo "$0: option --config needs a file" >&2; exit 1; fi
      if [ ! -r "${!_po_j}" ]; then echo "$0: cannot read config file '${!_po_j}'" >&2; exit 1; fi
      # shellcheck source=/dev/null
      . "${!_po_j}"
      _po_i=$((_po_i + 2)) ;;
    --help | -h) _po_i=$((_po_i + 1)) ;;
    --) break ;;
    --*) _po_i=$((_po_i + 2)) ;;
    *) break ;;
  esac
done

while [ $# -gt 0 ]; do
  case $1 in
    --help | -h)
      if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message"; else echo "$0: no help message"; fi
      exit 0 ;;
    --)
      shift
      break ;;
    --*=*)
      echo "$0: options are written '--name value', not '$1'" >&2
      exit 1 ;;
    --*)
      _po_name=${1#--}
      _po_name=${_po_name//-/_}
      if ! [[ $_po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then echo "$0: invalid option $1" >&2; exit 1; fi
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      if [ "$_po_name" = config ]; then  # already sourced; record it if the script has a config variable
        if [ -n "${config+x}" ]; then config=$2; fi
        shift 2
        continue
      fi
      if [ -z "${!_po_name+x}" ]; then echo "$0: invalid option $1" >&2; exit 1; fi
      _po_old=${!_po_name}
      if [ "$_po_old" = true ] || [ "$_po_old" = false ]; then
        if [ "$2" != true ] && [ "$2" != false ]; then
          echo "$0: option $1 takes true or false, got '$2'" >&2
          exit 1
        fi
      fi
      case $_po_name in *cmd)
        if [ -z "$2" ]; then echo "$0: option $1 got an empty value" >&2; exit 1; fi ;;
      esac
      printf -v "$_po_name" '%s' "$2"
      shift 2 ;;
    *) break ;;
  esac
done
unset _po_i _po_j _po_name _po_old
:
