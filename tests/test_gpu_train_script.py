"""scripts/gpu_train.sh end to end on the CPU: `prepare` packs a tiny recipe's tokens, their character
alignments and extra train options into .gpu/, `train` (as on the device: from the repo root, with only
what travelled) trains a pointer LM and splits its float16 weights, `fetch` rebuilds a usable model dir.
The script runs from a copy inside a scratch git repo, so the real checkout's .gpu/ is never touched."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from test_lm_recipe import TEXTS, TINY_LM, lm_recipe  # noqa: E402  (tests/ is on sys.path)
from test_real_corpus_prep import REPO, bash  # noqa: E402
from test_speechlm_cli import espeak, make_codec, write_data_dir  # noqa: E402

from audiotok.speechlm import SpeechLM

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

POINTER = TINY_LM.replace("srh: {dim: 16, n_layers: 1, n_heads: 2}}",
                          "srh: {dim: 16, n_layers: 1, n_heads: 2},\n             tts_pointer: {max_advance: 10, units: chars}}")
POINTER = POINTER.replace("max_frames: 200}", "max_frames: 200, text_starts: chars}")


def run(cmd, cwd, **env):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PYTHON": sys.executable, **env})
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_gpu_train_script_carries_alignments_and_options_and_brings_the_model_back(tmp_path):
    assert "tts_pointer: {max_advance: 10, units: chars}" in POINTER and "text_starts: chars" in POINTER
    recipe = lm_recipe(tmp_path / "lm1")
    codec = tmp_path / "codec_tiny"
    make_codec(codec)
    wavs = {u: espeak(tmp_path / "wav" / f"{u}.wav", text, voice) for u, (voice, text) in TEXTS.items()}
    write_data_dir(tmp_path / "raw" / "all", wavs, {u: t for u, (_, t) in TEXTS.items()})
    (recipe / "conf" / "pointer.yaml").write_text(POINTER)
    for split in ("train", "dev"):
        shutil.copytree(tmp_path / "raw" / "all", tmp_path / "raw" / split)
    r = bash(recipe, "lm.sh", "--codec-exp-dir", codec, "--data-root", tmp_path / "raw",
             "--train-set", "train", "--valid-set", "dev", "--test-sets", "dev", "--bpe-size", "30",
             "--lm-config", "conf/pointer.yaml", "--nj", "1", "--stop-stage", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    tok = recipe / "dump" / "codec_tiny"
    vocab = next((recipe / "data").glob("lang_codec_tiny_*")) / "vocab.json"
    run([sys.executable, "-m", "audiotok", "align-text", tok / "train", tok / "dev", "--train-dir", tok / "train",
         "--valid-dir", tok / "dev", "--vocab", vocab, "--exp-dir", tmp_path / "aligner", "--units", "chars",
         "--steps", "3", "--dim", "16", "--layers", "1", "--heads", "2"], tmp_path)
    assert (tok / "train" / "char_starts").is_file()

    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "gpu_train.sh", repo / "scripts")
    run(["git", "init", "-q"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"], repo)
    script = repo / "scripts" / "gpu_train.sh"
    run(["bash", script, "prepare", recipe, "conf/pointer.yaml", codec], repo,
        TRAIN_ARGS="trainer.valid_interval=1 trainer.seed=7")
    gpu = repo / ".gpu"
    assert (gpu / "tok" / "train" / "char_starts").read_text() == (tok / "train" / "char_starts").read_text()
    assert (gpu / "train_args").read_text() == "trainer.valid_interval=1 trainer.seed=7\n"
    assert "pointer.yaml trainer.valid_interval=1 trainer.seed=7 @ " in (gpu / "SOURCE").read_text()
    # the device: only the repo with .gpu/ (the recipe's dump/ is not there)
    shutil.move(str(tok), str(tmp_path / "dump_away"))
    out = tmp_path / "out"
    run(["bash", script, "train", "0.02", out, "cpu"], repo, GPU_EXP=str(tmp_path / "gpu_exp"))
    assert (tmp_path / "gpu_exp" / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in out.iterdir())[0].startswith("model.safetensors.part")
    exp = tmp_path / "exp"
    assert "trained from conf/pointer.yaml trainer.valid_interval=1 trainer.seed=7 @" in \
        run(["bash", script, "fetch", out, exp], repo).stdout
    # the pointer trained on the alignments that travelled, validated every step as TRAIN_ARGS asked
    history = [json.loads(line) for line in (exp / "valid_history.jsonl").read_text().splitlines()]
    assert history[0]["step"] == 1 and "loss_pointer" in history[0]
    slm = SpeechLM.from_pretrained(exp / "model", codec=codec)
    assert slm.lm.pointer is not None
    wav, _ = slm.tts("THE CAT SAT", max_seconds=1.0)
    assert wav.numel() > 0
