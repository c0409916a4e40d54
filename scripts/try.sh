#!/usr/bin/env bash
# The first thing to run after installing: the shipped speech codec (speech-12hz-v1) encodes a
# sentence spoken by a voice it never heard in training (flite's slt), decodes it back, and shows
# what the token file holds. Outputs go to try/ (listen to try/speech.wav and try/speech_rec.wav).
set -euo pipefail
cd "$(dirname "$0")/.."
AUDIOTOK=${AUDIOTOK:-.venv/bin/audiotok}
mkdir -p try
flite -voice slt -o try/speech.wav -t "The quick brown fox jumps over the lazy dog, and the codec keeps every word."
"$AUDIOTOK" encode try/speech.wav -o try/speech.atok          # no --model: the shipped speech codec
"$AUDIOTOK" info try/speech.atok
"$AUDIOTOK" decode try/speech.atok -o try/speech_rec.wav
"$AUDIOTOK" decode try/speech.atok -o try/speech_semantic.wav --semantic-only
echo "try/: speech.wav (input), speech.atok ($(stat -c %s try/speech.atok) bytes), speech_rec.wav, speech_semantic.wav (codebook 1 only)"
