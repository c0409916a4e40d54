# path.sh: environment for recipes (sourced from a recipe dir, egs/<corpus>/<task>1).
export LC_ALL=C                # sort, join and the data-dir tables agree on C byte order
export PYTHONIOENCODING=UTF-8
export OMP_NUM_THREADS=1       # jobs run in parallel; each uses one thread unless a stage says otherwise
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # idle OpenMP threads sleep instead of spinning on shared cores
export PYTHONUNBUFFERED=1      # logs show progress as it happens
_audiotok_p=${BASH_SOURCE[0]}
while [ -L "$_audiotok_p" ]; do  # recipes link path.sh itself: find the utils/ it belongs to
  _audiotok_d=$(cd -P "$(dirname "$_audiotok_p")" && pwd)
  _audiotok_p=$(readlink "$_audiotok_p")
  case $_audiotok_p in /*) ;; *) _audiotok_p=$_audiotok_d/$_audiotok_p ;; esac
done
. "$(cd -P "$(dirname "$_audiotok_p")" && pwd)/common.sh"
unset _audiotok_p _audiotok_d
export AUDIOTOK_ROOT AUDIOTOK_PYTHON
if [ -d "$AUDIOTOK_ROOT/.venv/bin" ]; then
  export PATH="$AUDIOTOK_ROOT/.venv/bin:$PATH"
fi
if [ -f local/path.sh ]; then
  # shellcheck source=/dev/null
  . local/path.sh              # site- or corpus-specific additions
fi
