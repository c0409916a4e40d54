#!/usr/bin/env bash
# Installs everything audiotok needs on a fresh Debian machine:
# the Debian packages that recipes and tests call, then a .venv with the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="espeak-ng flite sox ffmpeg opus-tools codec2 fluidsynth fluid-soundfont-gm chromium chromium-driver"
EXTRAS="${AUDIOTOK_EXTRAS:-dev,demo,bench}"  # bench: the peer codecs its smoke test runs

missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: missing Debian packages:$missing" >&2
    echo "setup: install them with: sudo apt-get install$missing" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
# Resemblyzer (speaker similarity; its wheel carries the encoder's weights) wants webrtcvad, which
# PyPI has only as source: the binary webrtcvad-wheels provides the same module
.venv/bin/python -m pip install -q webrtcvad-wheels
.venv/bin/python -m pip install -q --no-deps Resemblyzer==0.1.4
echo "setup: done ($(.venv/bin/python -c 'import torch, audiotok; print("torch", torch.__version__, "audiotok", audiotok.__version__)'))"
