"""`audiotok info` through the real CLI in subprocesses: every bad file is one error line and
exit 1, never a traceback; good audio and token files are described."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from test_audio import BAD_CASES, make_bad_inputs  # noqa: E402  (tests/ is on sys.path under pytest)

from audiotok.audio import write_audio
from audiotok.tokfile import write_tokens

REPO = Path(__file__).resolve().parents[1]


def audiotok(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "audiotok.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def good_files(d):
    d.mkdir(parents=True, exist_ok=True)
    t = torch.arange(24000) / 16000
    write_audio(d / "tone.wav", 0.5 * torch.sin(2 * torch.pi * 440 * t), 16000)
    rng = np.random.default_rng(0)
    tokens = {"sem": torch.from_numpy(rng.integers(0, 16384, (1, 38))),
              "ac": torch.from_numpy(rng.integers(0, 1000, (3, 38)))}
    header = {"model_type": "toycodec", "sample_rate": 16000, "frame_rate": 25.0, "original_length": 24000,
              "streams": [{"name": "sem", "codebook_size": 16384, "n_codebooks": 1},
                          {"name": "ac", "codebook_size": 1000, "n_codebooks": 8}]}
    write_tokens(d / "tone.atok", tokens, header)
    return d / "tone.wav", d / "tone.atok"


def assert_one_error_line(r, path, words=None):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert lines[0].startswith("audiotok info: error: ") and str(path) in lines[0], lines[0]
    if words:
        assert words in lines[0], lines[0]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_audio_is_one_error_line(tmp_path, case):
    path, words = make_bad_inputs(tmp_path / "bad")[case]
    r = audiotok("info", path)
    assert_one_error_line(r, path, words)
    assert r.stdout == ""


@pytest.mark.parametrize("damage", ["truncated", "flipped", "magic"])
def test_bad_token_file_is_one_error_line(tmp_path, damage):
    _, atok = good_files(tmp_path)
    data = bytearray(atok.read_bytes())
    if damage == "truncated":
        data = data[:-7]
    elif damage == "flipped":
        data[-10] ^= 0xFF
    else:
        data[:4] = b"XTOK"
    atok.write_bytes(bytes(data))
    words = {"truncated": "truncated", "flipped": "checksum mismatch", "magic": "not an audiotok token file"}[damage]
    assert_one_error_line(audiotok("info", atok), atok, words)


def test_good_wav_and_atok(tmp_path):
    wav, atok = good_files(tmp_path)
    r = audiotok("info", wav, atok)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = r.stdout
    assert str(wav) in out and "duration:    1.500 s" in out and "sample rate: 16000 Hz" in out
    assert "channels:    1" in out and "frames:      24000" in out and "WAV (PCM_16)" in out
    assert str(atok) in out and "model:       toycodec" in out and "frame rate:  25 Hz" in out
    assert "sem: 1 codebook x 38 frames, codebook size 16384 (14 bits)" in out
    assert "ac: 3 codebooks x 38 frames, codebook size 1000 (10 bits)" in out
    # 25 Hz x (14 + 3 x 10) bits = 1.1 kbps; payload 38 x 44 bits = 209 bytes
    assert "code rate:   1.100 kbps (codes 209 bytes)" in out
    size = atok.stat().st_size
    assert f"file rate:   {8 * size / 1.5 / 1000:.3f} kbps (file {size} bytes)" in out
    assert f"overhead:    {size - 209} bytes (" in out and "framing of 1 block)" in out


def test_json_output(tmp_path):
    wav, atok = good_files(tmp_path)
    r = audiotok("info", "--json", wav, atok)
    assert r.returncode == 0, r.stderr
    a, t = [json.loads(line) for line in r.stdout.splitlines()]
    assert a["kind"] == "audio" and a["frames"] == 24000 and a["sample_rate"] == 16000 and a["channels"] == 1
    assert a["duration"] == pytest.approx(1.5) and a["format"] == "WAV"
    assert t["kind"] == "tokens" and t["model_id"] == "toycodec" and t["duration"] == pytest.approx(1.5)
    assert t["payload_bytes"] == 209 and t["file_bytes"] == atok.stat().st_size
    assert [(s["name"], s["codebook_size"], s["n_codebooks"], s["frames"]) for s in t["streams"]] == [
        ("sem", 16384, 1, 38), ("ac", 1000, 3, 38)]


def test_bad_files_do_not_stop_the_good_ones(tmp_path):
    wav, atok = good_files(tmp_path / "good")
    bad = make_bad_inputs(tmp_path / "bad")
    r = audiotok("info", bad["missing"][0], wav, bad["nan"][0], atok)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = r.stderr.splitlines()
    assert len(errors) == 2 and str(bad["missing"][0]) in errors[0] and str(bad["nan"][0]) in errors[1]
    assert str(wav) in r.stdout and str(atok) in r.stdout
