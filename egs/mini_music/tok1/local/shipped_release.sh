#!/usr/bin/env bash
# local/shipped_release.sh VERSION DEST: put the shipped music-v1 (which must write the token files of
# VERSION) into DEST as the model dir a later release starts from; nothing is done when DEST has one.
set -euo pipefail
version=$1 dest=$2
[ -f "${dest}/model.safetensors" ] && exit 0
shipped=../../../audiotok/pretrained/music-v1
have=$(python3 -c "import json,sys; m = json.load(open(sys.argv[1])); print(m.get('tokens_version') or m['version'])" \
  ${shipped}/meta.json)
if [ "${have}" != "${version}" ]; then
  echo "$0: the shipped music-v1 writes the tokens of version ${have}, not ${version}; put release ${version} in ${dest}" >&2
  exit 1
fi
mkdir -p "$(dirname "${dest}")"
cp -r ${shipped} "${dest}.tmp" && mv "${dest}.tmp" "${dest}"
