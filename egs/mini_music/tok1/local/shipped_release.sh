#!/usr/bin/env bash
# local/shipped_release.sh VERSION DEST: put music-v1 release VERSION (the release whose token files are
# of VERSION) into DEST as the model dir a later release starts from or is scored against: the shipped
# one when it is that release, else the commit of this clone that last shipped it (git archive). Nothing is
# done when DEST has one.
set -euo pipefail
version=$1 dest=$2
[ -f "${dest}/model.safetensors" ] && exit 0
path=audiotok/pretrained/music-v1
top=$(cd ../../.. && pwd)
version_of() {  # meta.json on stdin -> the version of the token files it writes
  python3 -c "import json,sys; m = json.load(sys.stdin); print(m.get('tokens_version') or m['version'])"
}
mkdir -p "$(dirname "${dest}")"
rm -rf "${dest}.tmp"
if [ "$(version_of < "${top}/${path}/meta.json")" = "${version}" ]; then
  cp -r "${top}/${path}" "${dest}.tmp"
else
  if ! git -C "${top}" rev-parse --git-dir > /dev/null 2>&1; then
    echo "$0: the shipped music-v1 is not release ${version}, and ${top} is not a git clone to find it in" >&2
    exit 1
  fi
  commit=""
  for c in $(git -C "${top}" log --format=%H -- "${path}/meta.json"); do
    if [ "$(git -C "${top}" show "${c}:${path}/meta.json" | version_of)" = "${version}" ]; then
      commit=${c}
      break
    fi
  done
  if [ -z "${commit}" ]; then
    echo "$0: no commit of ${top} shipped music-v1 release ${version}" >&2
    exit 1
  fi
  mkdir -p "${dest}.tmp"
  git -C "${top}" archive "${commit}" "${path}" | tar -x -C "${dest}.tmp" --strip-components=3
fi
mv "${dest}.tmp" "${dest}"
