"""egs/mini_synth/lm1/local/feature_probe.py: the content probe's reader on four views down a codec's semantic
path (Whisper's states, the SSL, before and after the quantizer), run as the recipe runs it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tiny_models import packed_tiny_dualcodec

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "egs/mini_synth/lm1/local/feature_probe.py"


def _data_dir(d, n=6):
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    wav, text, utt2spk = [], [], []
    for i in range(n):
        path = d / f"s{i % 2}-u{i}.wav"
        t = np.arange(16000) / 16000
        sf.write(path, (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(16000)).astype("float32"), 16000)
        wav.append(f"s{i % 2}-u{i} {path}\n")
        text.append(f"s{i % 2}-u{i} {'A BAD CAB' if i % 2 else 'THE DAB'}\n")
        utt2spk.append(f"s{i % 2}-u{i} s{i % 2}\n")
    for name, lines in (("wav.scp", wav), ("text", text), ("utt2spk", utt2spk)):
        (d / name).write_text("".join(sorted(lines)))
    return d


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_four_views_are_read_scored_and_reported(tmp_path):
    codec = packed_tiny_dualcodec(tmp_path / "codec", sample_rate=16000)
    data = _data_dir(tmp_path / "data")
    out = tmp_path / "out"
    args = ["--codec", codec, "--train", data, "--train-utts", 4, "--test", f"dev={data}", "--test-utts", 2,
            "--steps", 2, "--dim", 16, "--layers", 1, "--heads", 2, "--batch-size", 2, "--out", out,
            "--results-md", tmp_path / "RESULTS.md", "--section", "probe"]
    r = _run(*args)
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["teacher", "student", "prevq", "quantized"]
    assert results["teacher"]["dim"] == 384  # Whisper tiny.en's states
    assert results["student"]["dim"] == results["prevq"]["dim"] == 32 and results["quantized"]["dim"] == 32
    assert all(0 <= r_["tests"]["dev"]["cer"] for r_ in results.values())
    md = (tmp_path / "RESULTS.md").read_text()
    assert "## probe" in md and "| teacher | 384 | 2 |" in md and "| quantized | 32 | 2 |" in md
    assert "utterances in" in r.stdout and (out / "train.pt").exists()
    again = _run(*args)  # the features are computed once
    assert again.returncode == 0 and "utterances in" not in again.stdout


@pytest.mark.parametrize("case", ["no_text", "bad_test", "bad_view", "codec_not_16k"])
def test_bad_input_is_a_one_line_error(tmp_path, case):
    codec = packed_tiny_dualcodec(tmp_path / "codec", sample_rate=24000 if case == "codec_not_16k" else 16000)
    data = _data_dir(tmp_path / "data")
    test = str(data) if case == "bad_test" else f"dev={data}"
    args = ["--codec", codec, "--train", data, "--test", test, "--out", tmp_path / "out"]
    if case == "no_text":
        (data / "text").unlink()
    if case == "bad_view":
        args += ["--views", "teacher,mfcc"]
    r = _run(*args)
    expect = {"no_text": f"{data}/text: missing", "bad_test": f"--test expects NAME=DIR, got ['{data}']",
              "bad_view": "--views takes teacher,student,prevq,quantized, got teacher,mfcc",
              "codec_not_16k": f"{codec}: the codec runs at 24000 Hz; Whisper's states need 16000"}[case]
    assert r.returncode == 1 and r.stderr.strip() == f"feature_probe: {expect}"
    assert not (tmp_path / "out" / "train.pt").exists()
