"""Smoke test of the benchmarks: every bench/bench_*.py runs in --quick mode (toy models, tiny
inputs) as a subprocess and writes its JSON rows and Markdown section; run_all assembles them.
Times are never asserted (they are meaningless in quick mode and on a shared machine)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# script -> (keys every row has, Markdown fragments the section must contain)
EXPECT = {
    "speech_codec": ({"kind"}, ["| codec |", "Speed ratio audiotok / peer", "| EnCodec 24 kHz |"]),
    "speed": ({"kind"}, ["| codec |", "Speed ratio audiotok / peer", "SSL share"]),
    "memory": ({"minutes", "peak_rss_mb", "peak_tree_mb", "frames"}, ["| input |", "peak RSS"]),
    "latency": ({"kind"}, ["not causal", "| chunk C (s) |"]),
    "streaming": ({"kind"}, ["| part | samples | ms |", "x real time per core", "onnxruntime"]),
    "lm": ({"kind", "g", "cache", "tokens_per_s"}, ["KV cache", "| grouping g |"]),
    "speechlm": ({"kind", "system", "wall_s", "xrt"}, ["| system |", "speech-lm-v1 version", "TTS of 1 texts"]),
    "train": ({"size", "amp", "steps_per_s", "samples_per_s"}, ["| config |"]),
    "scale": ({"kind"}, ["--nj", "--ddp-cpu 2"]),
}


def run(module, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, f"{module} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.mark.parametrize("name", list(EXPECT))
def test_bench_script_quick_writes_rows(name, tmp_path, request):
    extra = []
    if name == "streaming":  # reuse the session's ONNX export of the shipped codec (a minute to make)
        extra = ["--onnx-dir", str(request.getfixturevalue("shipped_onnx")[0])]
    run(f"bench.bench_{name}", "--quick", "--threads", "1", "--out", str(tmp_path), *extra)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    keys, fragments = EXPECT[name]
    assert data["name"] == name and data["rows"], data
    for row in data["rows"]:
        assert keys <= set(row), (keys - set(row), row)
    assert data["command"].startswith(f"python -m bench.bench_{name} --quick")
    assert data["env"]["torch"] and data["load"]["before"] is not None
    md = data["markdown"]
    assert md.startswith(f"## {data['title']}")
    for frag in fragments:
        assert frag in md, (frag, md)
    assert any("--quick" in n for n in data["notes"])
    _check(name, data["rows"])


def _check(name, rows):
    """What each benchmark's rows must say, beyond their shape."""
    if name == "speech_codec":  # the shipped codec's architecture and its two peers, in one run
        codecs = list(dict.fromkeys(r["codec"] for r in rows if r["kind"] == "codec"))
        assert len(codecs) == 3 and "CPU (spectral, causal)" in codecs[0]
        assert all(r["enc_xrt"] > 0 and r["dec_xrt"] > 0 for r in rows if r["kind"] == "codec")
    if name == "speed":
        codecs = {r["codec"] for r in rows if r["kind"] == "codec"}
        assert len(codecs) == 7  # three DualCodecs (CPU spectral, 12.5 and 25 Hz) and four peers, in one run
        for r in rows:
            if r["kind"] == "codec" and not r.get("skipped"):
                assert r["enc_xrt"] > 0 and r["dec_xrt"] > 0
        shares = [r for r in rows if r["kind"] == "ssl_share"]
        assert len(shares) == 3 and all(0 < r["share"] < 1 for r in shares)
        assert len([r for r in rows if r["kind"] == "ssl"]) == 2
    if name == "memory":
        assert {r["chunked"] for r in rows} == {True, False}
        for r in rows:
            assert r["frames"] == -(-round(r["minutes"] * 60 * 24000) // 1920)
            assert r["peak_rss_mb"] > 10
    if name == "latency":
        parts = {r["part"]: r for r in rows if r["kind"] == "lookahead"}
        assert parts["SSL features (BEST-RQ)"]["why"].startswith("whole input")
        assert parts["waveform encoder"]["ahead_s"] > 0
        for r in rows:
            if r["kind"] == "chunk":
                assert r["algorithmic_s"] == r["chunk_s"] + r["context_s"]
    if name == "streaming":
        total = next(r for r in rows if r["kind"] == "algorithmic_total")
        assert total["samples"] == 1280 + 40 + 480  # frame + SSL STFT reach + iSTFT overlap of the shipped codec
        chunks = {(r["codec"], r["direction"]) for r in rows if r["kind"] == "chunk"}
        assert ("audiotok speech-12hz-v1", "encode") in chunks and ("audiotok speech-12hz-v1", "decode") in chunks
        assert {r["backend"] for r in rows if r["kind"] == "whole"} == {"PyTorch", "onnxruntime"}
        ours = {r["backend"] for r in rows if r["kind"] == "chunk" and r["codec"].startswith("audiotok")}
        assert ours == {f"{b} stream {d}" for b in ("PyTorch", "onnxruntime") for d in ("encoder", "decoder")}
    if name == "lm":
        assert {(r["g"], r["kind"]) for r in rows} == {(5, "text"), (1, "text"), (5, "speech"), (1, "speech")}
        assert all(r["same_tokens"] for r in rows if r["kind"] == "text")
        speech = {r["g"]: r for r in rows if r["kind"] == "speech"}
        assert speech[5]["lm_positions"] * 5 == speech[1]["lm_positions"]
        assert speech[5]["semantic_tokens"] == speech[1]["semantic_tokens"]
    if name == "speechlm":  # the shipped LM and its peers in one run, both directions
        systems = {(r["kind"], r["system"].split(" (")[0].split(",")[0]) for r in rows}
        assert systems == {("asr", "audiotok speech-lm-v1"), ("asr", "Whisper tiny.en"), ("asr", "pocketsphinx"),
                           ("tts", "audiotok speech-lm-v1"), ("tts", "espeak-ng"), ("tts", "flite")}
        ours = [r for r in rows if r["system"].startswith("audiotok")]
        assert all(r["xrt"] > 0 and r["lm_s"] > 0 for r in ours)
        tts = next(r for r in ours if r["kind"] == "tts")
        assert 0 < tts["speech_s"] <= 2.0 and tts["acoustic_s"] > 0  # --quick caps the speech at 2 s
    if name == "train":
        assert {r["amp"] for r in rows} == {"none", "bf16"}
    if name == "scale":
        assert {r["nj"] for r in rows if r["kind"] == "encode"} == {1, 2}
        assert {r["processes"] for r in rows if r["kind"] == "train"} == {1, 2}


def test_run_all_assembles_results(tmp_path):
    out, md = tmp_path / "results", tmp_path / "RESULTS.md"
    run("bench.run_all", "--quick", "--threads", "1", "--only", "latency,lm", "--out", str(out), "--results", str(md),
        "--no-cuda")
    text = md.read_text()
    assert text.startswith("# audiotok benchmarks")
    assert text.index("## Streaming latency") < text.index("## Unified speech LM")
    assert "load average" in text and "python -m bench.bench_lm --out" in text
    # a later partial run keeps the sections it did not rerun
    run("bench.run_all", "--assemble-only", "--out", str(out), "--results", str(md))
    assert "## Unified speech LM" in md.read_text()
