"""Embedded mini corpora, generated on the machine so every recipe runs without downloads:
mini_synth (speech from espeak-ng and flite voices reading seeded sentences) and mini_music
(songs with vocal and accompaniment stems: fluidsynth band + espeak-ng singer)."""
