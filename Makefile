# Two commands do all set-up on a fresh machine: `make try` (the shipped codec and LM on a sentence) and
# `make test`. `make mini` trains the embedded recipes from scratch.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.audiotok-installed
NGPU ?= 0
NJ ?= 2

.PHONY: setup try mini mini-music test bench demo clean

$(STAMP): setup.cfg pyproject.toml scripts/setup_env.sh
	bash scripts/setup_env.sh
	touch $@

setup: $(STAMP)

# Encode and decode a sentence with the shipped speech codec, then ASR and TTS with the shipped LM (no training, no download).
try: $(STAMP)
	bash scripts/try.sh

# The embedded mini recipe end to end (debug configs, CPU).
mini: $(STAMP)
	cd egs/mini_synth/codec1 && ./run.sh --ngpu $(NGPU) --nj $(NJ)
	cd egs/mini_synth/codec1 && ./run.sh --stage 4 --stop-stage 4 --codec-config conf/dualcodec_25hz_debug.yaml --ngpu $(NGPU)
	cd egs/mini_synth/lm1 && ./run.sh --ngpu $(NGPU) --nj $(NJ)

# Duo-Tok dual-track music tokens vs a single-track RVQ control on mini_music (debug configs, CPU).
mini-music: $(STAMP)
	cd egs/mini_music/tok1 && ./run.sh --ngpu $(NGPU) --nj $(NJ)

# Two worker processes, each test file kept in one (module fixtures are made once).
TEST_JOBS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile tests

bench: $(STAMP)
	$(PY) -m bench.run_all

demo: $(STAMP)
	$(PY) -m audiotok.cli demo

clean:
	rm -rf egs/*/*/exp egs/*/*/data egs/*/*/dump
