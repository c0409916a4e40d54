"""recipes/lm1/lm.sh end to end on a tiny data dir (two espeak-ng speakers, a tiny random codec, an LM
trained for two steps), through bash from a copy of egs/mini_synth/lm1; and the data stage of
egs/librispeech/lm1 on a fixture tree laid out like the corpus (reusing codec1's local/ scripts)."""

import json
import shutil
import subprocess

import pytest
import soundfile as sf
import torch
from test_real_corpus_prep import REPO, bash, make_librispeech  # noqa: E402  (tests/ is on sys.path)
from test_speechlm_cli import espeak, make_codec, write_data_dir  # noqa: E402

from audiotok.data.kaldi_dir import check_data_dir, load_data_dir
from audiotok.models.loading import load_model
from audiotok.speechlm import SpeechLM

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

TEXTS = {
    "spka-001": ("en-us", "THE CAT SAT"),
    "spka-002": ("en-us", "A DOG RAN"),
    "spkb-001": ("en-us+f3", "THE DOG SAT"),
    "spkb-002": ("en-us+f3", "A CAT RAN HOME"),
}
TINY_LM = """model: ulm
model_conf: {vocab: null, frame_rate: 25.0, lm: {dim: 32, n_layers: 1, n_heads: 4}, prompt_frames: 10,
             grouping: {size: 5, mode: concat, frontend: codec, srh_context: sequence}, asr_attention: bidirectional,
             srh: {dim: 16, n_layers: 1, n_heads: 2}}
dataset: lm_tokens
dataset_conf: {vocab: null, tasks: [asr, tts, acoustic], max_frames: 200}
batch_size: 4
num_workers: 0
optim: adamw
optim_conf: {lr: 1.0e-3}
trainer: {max_steps: 2, log_interval: 1, valid_interval: 2, save_interval: 2, valid_batches: 1, seed: 1}
"""


def lm_recipe(dst, name="mini_synth"):
    """A copy of egs/<name>/lm1 (its links point at the repo's files)."""
    src = REPO / "egs" / name / "lm1"
    dst.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name in ("data", "dump", "exp", "RESULTS.md"):
            continue
        if entry.is_symlink():
            (dst / entry.name).symlink_to(entry.resolve())
        elif entry.is_dir():
            shutil.copytree(entry, dst / entry.name)
        else:
            shutil.copy2(entry, dst / entry.name)
    return dst


def test_lm_recipe_all_stages_on_a_tiny_data_dir(tmp_path):
    recipe = lm_recipe(tmp_path / "lm1")
    make_codec(tmp_path / "codec1" / "exp" / "codec_tiny" / "model")
    wavs = {u: espeak(tmp_path / "wav" / f"{u}.wav", text, voice) for u, (voice, text) in TEXTS.items()}
    write_data_dir(tmp_path / "raw" / "all", wavs, {u: t for u, (_, t) in TEXTS.items()})
    (recipe / "conf" / "tiny.yaml").write_text(TINY_LM)
    r = bash(recipe, "lm.sh", "--codec-exp-dir", tmp_path / "codec1" / "exp" / "codec_tiny",
             "--data-root", tmp_path / "raw", "--train-set", "all", "--valid-set", "all", "--test-sets", "all",
             "--bpe-size", "30", "--lm-config", "conf/tiny.yaml", "--nj", "1", "--timing-steps", "1",
             "--tts-args", "--seed 0 --max-seconds 1")
    assert r.returncode == 0, r.stderr[-3000:]
    for n, what in enumerate(["data", "tokenize", "train the bpe", "joint text", "train the LM", "ASR decode", "TTS",
                              "score", "pack"], 1):
        assert f"Stage {n}: {what}" in r.stderr
    # tokens of every utterance, encoded once although all three sets are the same dir
    assert r.stderr.count("encoded 4 of 4 files") == 1
    tok = recipe / "dump" / "codec_tiny" / "all"
    assert len((tok / "tokens.scp").read_text().splitlines()) == 4 and (tok / "text").is_file()
    vocab = json.loads((recipe / "data" / "lang_codec_tiny_bpe30" / "vocab.json").read_text())
    assert (vocab["semantic_size"], vocab["acoustic_size"], vocab["n_acoustic"]) == (64, 32, 2)
    exp = recipe / "exp" / "lm_tiny"
    assert (exp / "codec").resolve() == (tmp_path / "codec1" / "exp" / "codec_tiny").resolve()
    assert (exp / "run.sh").is_file() and (exp / "model" / "model.safetensors").is_file()
    assert len((exp / "decode_asr_all" / "text").read_text().splitlines()) == 4
    prompts = dict(line.split() for line in (exp / "tts_all" / "utt2prompt").read_text().splitlines())
    assert all(p.split("-")[0] != u.split("-")[0] for u, p in prompts.items())  # another speaker's voice
    assert check_data_dir(exp / "tts_all").problems == []
    # the score stage: RESULTS.md with the three tables and the recipe's command line
    results = (recipe / "RESULTS.md").read_text()
    assert "<!-- section: lm_tiny on all (codec codec_tiny) -->" in results
    for heading in ("### Environment", "### ASR on the test set", "### ASR on 4 training utterances (seen",
                    "### TTS intelligibility",
                    "### LM positions per second of speech and throughput", "lm.sh --codec-exp-dir"):
        assert heading in results
    assert "<!-- section: lm_tiny on all: speaker similarity to the voice prompt -->" in results
    sim = json.loads((exp / "score_all" / "spk_sim_lm_tiny" / "summary.json").read_text())
    assert sim["utts"] == 4 and sim["prompt_speakers"] >= 2
    numbers = json.loads((exp / "score_all" / "results.json").read_text())
    assert set(numbers["intelligibility"]) == {"original", "codec", "tts_lm_tiny"}
    rates = numbers["rates"]["lm_tiny"]
    assert rates["group_size"] == 5 and rates["lm_rate_hz"] == 5.0
    assert 4.0 < rates["asr_speech_positions_per_s"] < 7.0  # ceil(T/5) per utterance of ~1 s at 25 Hz
    assert numbers["intelligibility"]["original"]["wer_pocketsphinx"] is not None
    # TTS judged by Whisper, a recogniser independent of our LM, next to pocketsphinx
    assert numbers["intelligibility"]["tts_lm_tiny"]["wer_whisper"] is not None
    assert "| WER % (whisper tiny.en) |" in results and "whisper tiny.en (reference recogniser)" in results
    assert numbers["asr_seen"]["lm_tiny"]["snt"] == 4
    # the release: LM + its codec, usable on its own
    release = recipe / "exp" / "packed" / "lm_tiny"
    assert load_model(release / "codec").model_id == load_model(tmp_path / "codec1" / "exp" / "codec_tiny").model_id
    slm = SpeechLM.from_pretrained(release)
    assert isinstance(slm.asr(wavs["spka-001"], max_len=3), str)
    # the LM read its speech through the codec's semantic decoder, copied into its own weights
    assert slm.lm.frontend is not None and slm.lm.config["codec_dir"] is None
    assert torch.equal(slm.lm.frontend.vq.codebook, slm.codec.sem_vq.codebook)


def test_librispeech_lm1_prepares_data_without_a_codec_recipe(tmp_path):
    corpus, expect = make_librispeech(tmp_path / "ls")
    recipe = lm_recipe(tmp_path / "lm1", "librispeech")
    assert (recipe / "local" / "librispeech_data_dir.py").is_file()  # codec1's, shared (not a copy in the repo)
    r = bash(recipe, "run.sh", "--stage", "1", "--stop-stage", "1", "--nj", "1", LIBRISPEECH=str(corpus))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "lacks some of train_clean_100 dev_clean test_clean: preparing the data here" in r.stderr
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        d = recipe / "dump" / "raw" / subset.replace("-", "_")
        assert check_data_dir(d).problems == []
        data = load_data_dir(d)
        assert set(data.wav) == set(expect[subset])
        assert all(sf.info(p).samplerate == 24000 for p in data.wav.values())
        assert data.text == {u: words for u, (_, words) in expect[subset].items()}
    # without the corpus path: one clear error naming db.sh
    r = bash(recipe, "run.sh", "--stage", "1", "--stop-stage", "1")
    assert r.returncode != 0 and "LIBRISPEECH is empty" in r.stderr


def test_lm_recipe_option_errors(tmp_path):
    recipe = lm_recipe(tmp_path / "lm1")
    r = bash(recipe, "lm.sh", "--lm-config", "conf/ulm_g5_debug.yaml")
    assert r.returncode == 1 and "--codec-exp-dir is required" in r.stderr
    r = bash(recipe, "lm.sh", "--codec-exp-dir", tmp_path / "none", "--lm-config", "conf/ulm_g5_debug.yaml")
    assert r.returncode == 1 and "codec" in r.stderr and "not found" in r.stderr
    r = bash(recipe, "lm.sh", "--codec-exp-dir", tmp_path, "--lm-config", "conf/nope.yaml")
    assert r.returncode == 1 and "config conf/nope.yaml not found" in r.stderr
    assert subprocess.run(["bash", "-n", str(recipe / "lm.sh")]).returncode == 0


def test_lm_recipe_tokenizes_with_a_shipped_codec_named(tmp_path):
    """--codec-exp-dir may name a shipped codec (a fresh machine has no codec exp dir)."""
    recipe = lm_recipe(tmp_path / "lm1")
    wavs = {u: espeak(tmp_path / "wav" / f"{u}.wav", text, voice) for u, (voice, text) in list(TEXTS.items())[:2]}
    write_data_dir(tmp_path / "raw" / "all", wavs, {u: t for u, (_, t) in list(TEXTS.items())[:2]})
    r = bash(recipe, "lm.sh", "--codec-exp-dir", "speech", "--data-root", tmp_path / "raw", "--train-set", "all",
             "--valid-set", "all", "--test-sets", "all", "--lm-config", "conf/ulm_g5_debug.yaml", "--nj", "1",
             "--fs", "16000", "--stage", "1", "--stop-stage", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    tokens = recipe / "dump" / "speech-12hz-v1" / "all" / "tokens.scp"  # the versioned name, not the alias
    assert len(tokens.read_text().splitlines()) == 2
    assert (tokens.parent / "run.sh").is_file()


def test_pointer_script_checks_its_units_and_the_quick_check_its_arguments(tmp_path):
    """run_cpu_pointer.sh names a bad --units before any stage runs; local/tts_quick.sh needs NAME and MODEL."""
    recipe = lm_recipe(tmp_path / "lm1")
    r = bash(recipe, "run_cpu_pointer.sh", "--units", "words")
    assert r.returncode == 1 and "--units must be chars or pieces, got words" in r.stderr
    assert not (recipe / "dump").exists()  # nothing ran
    r = bash(recipe, "local/tts_quick.sh", "only-a-name")
    assert r.returncode == 1 and "usage: local/tts_quick.sh [--set SET] NAME MODEL" in r.stderr
    for script in ("run_cpu_pointer.sh", "local/tts_quick.sh"):
        assert subprocess.run(["bash", "-n", str(recipe / script)]).returncode == 0
