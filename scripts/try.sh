#!/usr/bin/env bash
# The first thing to run after installing: the shipped speech codec (speech-12hz-v1) encodes a
# sentence spoken by a voice it never heard in training (flite's slt), decodes it back, and shows
# what the token file holds; then the shipped speech LM (speech-lm-v1) transcribes the sentence and speaks
# another in its voice. Outputs go to try/ (listen to try/speech.wav, try/speech_rec.wav, try/tts.wav).
set -euo pipefail
cd "$(dirname "$0")/.."
AUDIOTOK=${AUDIOTOK:-.venv/bin/audiotok}
mkdir -p try
flite -voice slt -o try/speech.wav -t "The quick brown fox jumps over the lazy dog, and the codec keeps every word."
"$AUDIOTOK" encode try/speech.wav -o try/speech.atok          # no --model: the shipped speech codec
"$AUDIOTOK" info try/speech.atok
"$AUDIOTOK" decode try/speech.atok -o try/speech_rec.wav
"$AUDIOTOK" decode try/speech.atok -o try/speech_semantic.wav --semantic-only
# the LM was trained on espeak-ng voices: it reads an espeak-ng voice setting it never heard far better
# than flite's slt, an engine it never heard (egs/mini_synth/lm1/RESULTS.md)
espeak-ng -v en-us+m3 -p 30 -s 185 -w try/espeak.wav "we should finish this work before the end of the week"
"$AUDIOTOK" asr try/espeak.wav try/speech.wav -o try/asr.txt --beam-size 4   # no --model: the shipped LM
echo "ASR (utterance id, transcript):"; cat try/asr.txt
"$AUDIOTOK" tts "She opened the window and looked at the garden." --prompt try/speech.wav -o try/tts.wav --seed 0
echo "try/: speech.wav (input), speech.atok ($(stat -c %s try/speech.atok) bytes), speech_rec.wav, speech_semantic.wav (codebook 1 only), espeak.wav, asr.txt, tts.wav"
