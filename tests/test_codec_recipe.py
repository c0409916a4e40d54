"""The mini codec recipe end to end (all 7 stages) through bash, on a tiny corpus and a few steps."""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from audiotok import load_model

ROOT = Path(__file__).resolve().parents[1]


def recipe_copy(tmp_path):
    """egs/mini_synth/codec1 copied under tmp_path, its relative links pointing into the repo's recipes/."""
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    dst = tmp_path / "egs" / "mini_synth" / "codec1"
    shutil.copytree(ROOT / "egs" / "mini_synth" / "codec1", dst, symlinks=True,
                    ignore=shutil.ignore_patterns("exp", "data", "dump", "RESULTS.md"))
    return dst


def test_codec_recipe_all_stages(tmp_path):
    d = recipe_copy(tmp_path)
    fast = "trainer.max_steps=3 trainer.valid_interval=3 trainer.save_interval=3 trainer.log_interval=1 batch_size=2"
    cmd = [
        "bash", "run.sh", "--nj", "2",
        "--local-data-opts", "--minutes 0.4 --seed 5",
        "--ssl-train-args", fast,
        "--train-args", fast + " model_conf.training.disc_start_step=1 model_conf.training.quantize_warmup_steps=1",
        "--decode-nq", "1 3",
        "--baselines", "codec2_3200",
        "--score-opts", "--metrics stoi,mel,sisdr,wer",
        "--train-threads", "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = r.stdout + r.stderr
    for n in range(1, 8):
        assert f"Stage {n}: " in log
    exp = d / "exp" / "codec_dualcodec_12hz_debug"
    # every stage that makes an exp dir leaves the resolved config and a run.sh that reruns it
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["trainer"]["max_steps"] == 3 and cfg["model"] == "dualcodec"
    assert "--stage 4 --stop-stage 4" in (exp / "run.sh").read_text()
    assert (d / "exp" / "ssl_bestrq_speech_debug" / "model" / "model.safetensors").is_file()
    # a run writes its results under exp/; the committed RESULTS.md changes only with --update-results true
    assert not (d / "RESULTS.md").exists()
    results = (exp / "RESULTS.md").read_text()
    for row in ("original", "codec2_3200", "codec_dualcodec_12hz_debug_nq1", "codec_dualcodec_12hz_debug_nq3"):
        assert f"| {row} |" in results
    assert "Environment" in results or "environment" in results
    # stage 4 again as a new codec started from this one, its SSL-side tensors kept new (--train-init-skip)
    again = subprocess.run(["bash", "run.sh", "--stage", "4", "--stop-stage", "4", "--tag", "from_first",
                            "--train-init", str(exp), "--train-init-skip", "ssl", "--train-threads", "1",
                            "--train-args", fast], cwd=d, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    said = (d / "exp" / "from_first" / "log" / "train.log").read_text()
    assert "skipped (--init-skip ssl)" in said and "--train-init-skip ssl" in (d / "exp" / "from_first" / "run.sh").read_text()
    # the packed release needs nothing from the exp dir, not even the SSL dir
    shutil.rmtree(d / "exp" / "ssl_bestrq_speech_debug")
    m = load_model(d / "exp" / "packed" / "codec_dualcodec_12hz_debug")
    assert m.frame_rate == 12.5 and m.total_codebooks == 4
    n_test = len((d / "dump" / "raw" / "test" / "wav.scp").read_text().splitlines())
    assert len(list((exp / "decode_nq3" / "test" / "wav").glob("*.wav"))) == n_test
