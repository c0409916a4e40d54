"""Metrics, baselines and `audiotok score` on real speech made by espeak-ng."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiotok.errors import UserError
from audiotok.metrics import baselines, codebook, quality, report
from audiotok.metrics import wer as werm

needs = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("espeak-ng", "opusenc", "opusdec", "sox", "c2enc", "c2dec")),
    reason="needs the Debian tools espeak-ng, opus-tools, sox, codec2",
)

SENTENCES = {
    "spk1-u1": "I would like a cup of coffee please",
    "spk1-u2": "The quick brown fox jumps over the lazy dog",
    "spk2-u3": "This is a test of the speech recognition system",
}


def _espeak(path, text, voice="en-us+f2"):
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    x, sr = sf.read(str(path), dtype="float32")
    return x, sr


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech")
    return {u: (d / f"{u}.wav",) + _espeak(d / f"{u}.wav", t) for u, t in SENTENCES.items()}


@pytest.fixture(scope="module")
def utt(speech):
    _, x, sr = speech["spk1-u1"]
    return x.astype(np.float64), sr


# ---------------------------------------------------------------- signal quality
@needs
def test_identical_signal_scores_at_the_top(utt):
    x, sr = utt
    m = quality.quality_metrics(x, x.copy(), sr, max_delay_s=0.1)
    assert m["pesq"] > 4.3
    assert m["stoi"] > 0.99
    assert m["sisdr"] > 60
    assert m["mel"] == 0.0
    assert m["delay_ms"] == 0.0


@needs
def test_noise_makes_every_metric_worse(utt):
    x, sr = utt
    rng = np.random.default_rng(0)
    light = x + rng.normal(0, 0.003, len(x))
    heavy = x + rng.normal(0, 0.05, len(x))
    a = quality.quality_metrics(x, light, sr)
    b = quality.quality_metrics(x, heavy, sr)
    assert 4.5 > a["pesq"] > b["pesq"]
    assert 1.0 > a["stoi"] > b["stoi"]
    assert 0.0 < a["mel"] < b["mel"]
    assert 60 > a["sisdr"] > b["sisdr"]


@needs
def test_delayed_copy_is_found_and_aligned(utt):
    x, sr = utt
    d = 331  # 15 ms
    late = np.concatenate([np.zeros(d), x])[: len(x)]
    early = np.concatenate([x[d:], np.zeros(d)])
    assert quality.estimate_delay(x, late, sr, 0.1) == d
    assert quality.estimate_delay(x, early, sr, 0.1) == -d
    raw = quality.quality_metrics(x, late, sr, ("stoi", "sisdr"))
    fixed = quality.quality_metrics(x, late, sr, ("stoi", "sisdr"), max_delay_s=0.1)
    assert raw["sisdr"] < 0 and raw["stoi"] < 0.9
    assert fixed["sisdr"] > 60 and fixed["stoi"] > 0.99
    assert fixed["delay_ms"] == pytest.approx(1000 * d / sr)
    # a delay beyond the search range is not invented
    assert abs(quality.estimate_delay(x, late, sr, 0.005)) <= int(0.005 * sr)


def test_si_sdr_exact_value_and_scale_invariance():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=16000)
    ref -= ref.mean()
    n = rng.normal(size=16000)
    n -= n.mean()
    n -= np.dot(n, ref) / np.dot(ref, ref) * ref  # orthogonal to ref
    n *= math.sqrt(np.dot(ref, ref) / np.dot(n, n) / 10.0)  # 10 dB below
    assert quality.si_sdr(ref, ref + n) == pytest.approx(10.0, abs=1e-6)
    assert quality.si_sdr(ref, 0.25 * (ref + n)) == pytest.approx(10.0, abs=1e-6)


def test_pesq_of_silence_is_nan_and_lengths_are_trimmed():
    assert math.isnan(quality.pesq_wb(np.zeros(16000), np.zeros(16000), 16000))
    rng = np.random.default_rng(2)
    x = rng.normal(size=8000)
    assert quality.mel_distance(x, np.concatenate([x, rng.normal(size=500)]), 16000) == 0.0


# ---------------------------------------------------------------- ASR and WER
@needs
def test_pocketsphinx_recognises_espeak_speech(utt):
    x, sr = utt
    hyp = werm.transcribe(x, sr)
    table = werm.wer_table({"u": SENTENCES["spk1-u1"]}, {"u": hyp})
    assert table["wer"] < 60.0, hyp


def test_wer_table_counts_hand_made_errors():
    refs = {"a": "The cat sat on the mat.", "b": "Hello, world!", "c": "good morning", "d": "one two"}
    hyps = {"a": "the cat sat on mat", "b": "hello there world", "c": "GOOD EVENING"}
    t = werm.wer_table(refs, hyps)
    assert (t["snt"], t["wrd"], t["sub"], t["del"], t["ins"]) == (4, 12, 1, 1 + 2, 1)
    assert (t["corr"], t["err"], t["s_err"]) == (8, 5, 4)
    assert t["wer"] == pytest.approx(100 * 5 / 12)
    assert t["missing"] == ["d"]
    perfect = werm.wer_table({"x": "Don't stop-now"}, {"x": "don't stop now"})
    assert perfect["err"] == 0 and perfect["s_err"] == 0 and perfect["cer"] == 0.0
    assert werm.normalize_text("'Quoted', well-known U.S.A.") == "QUOTED WELL KNOWN U S A"
    assert werm.sclite_row("sys", perfect) == "| sys | 1 | 3 | 100.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 |"


# ---------------------------------------------------------------- codebooks and bitrate
def test_codebook_usage_and_perplexity_on_known_histograms():
    a = np.array([[0, 1, 2, 3], [5, 5, 5, 5]])
    b = np.array([[0, 1, 2, 3, 0, 1, 2, 3], [5, 5, 6, 6, 6, 6, 7, 7]])
    s0, s1 = codebook.codebook_stats([a, b], [8, 16])
    assert (s0["n_used"], s0["usage"], s0["n_tokens"]) == (4, 0.5, 12)
    assert s0["perplexity"] == pytest.approx(4.0) and s0["entropy_bits"] == pytest.approx(2.0)
    # codebook 1: counts {5: 6, 6: 4, 7: 2}
    p = np.array([6, 4, 2]) / 12
    assert s1["usage"] == 3 / 16
    assert s1["perplexity"] == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert codebook.histogram_stats([0, 7, 0])["perplexity"] == 1.0
    assert codebook.bitrate_kbps(25, [1024, 1024]) == pytest.approx(0.5)
    assert codebook.tokens_per_second(12.5, 8) == 100.0
    with pytest.raises(ValueError):
        codebook.codebook_stats([np.array([[9]])], 8)


# ---------------------------------------------------------------- classical baselines
@needs
@pytest.mark.parametrize("name,lo,hi", [("opus6", 5.0, 6.8), ("codec2_3200", 3.2, 3.3), ("codec2_1300", 1.3, 1.36)])
def test_baseline_keeps_length_and_reports_its_bitrate(speech, name, lo, hi):
    _, x, sr = speech["spk1-u2"]
    y, info = baselines.run_baseline(name, x, sr)
    assert y.shape == x.shape and y.dtype == np.float32
    assert lo <= info["kbps"] <= hi
    assert info["kbps_file"] >= info["kbps"] - 1e-9
    assert info["duration"] == pytest.approx(len(x) / sr)
    m = quality.quality_metrics(x, y, sr, ("stoi",), max_delay_s=0.1)
    assert m["stoi"] > 0.6  # speech survives
    assert 0.0 <= m["delay_ms"] <= 40.0  # codecs lag, never lead


def test_magnitude_oracles_keep_the_spectrum_and_lose_the_waveform(speech):
    _, x, sr = speech["spk1-u2"]
    scores = {}
    for name in ("magnitude_oracle_gl", "magnitude_oracle_random"):
        baselines.check_tools(name)  # no tool to find
        y, info = baselines.run_baseline(name, x, sr)
        assert y.shape == x.shape and y.dtype == np.float32 and info["kbps"] is None
        y2, _ = baselines.run_baseline(name, x, sr)
        assert np.array_equal(y, y2)  # seeded: the same every run
        scores[name] = quality.quality_metrics(x, y, sr, ("mel", "sisdr", "stoi"), max_delay_s=0.0)
    gl, rnd = scores["magnitude_oracle_gl"], scores["magnitude_oracle_random"]
    assert gl["mel"] < 0.25 and gl["stoi"] > 0.9, gl  # Griffin-Lim keeps the spectrum (espeak: 0.17, 0.99)...
    assert gl["sisdr"] < -5.0 and rnd["sisdr"] < -5.0, scores  # ...but neither keeps the waveform (-18, -24 dB)
    assert rnd["mel"] > gl["mel"] + 0.1, scores  # a random phase smears the spectrum too (0.42)


def test_baseline_errors_name_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="opus-tools"):
        baselines.check_tools("opus6")
    with pytest.raises(UserError, match="'sox'"):
        baselines.check_tools("codec2_700c")
    with pytest.raises(UserError, match="unknown baseline"):
        baselines.parse_baseline("codec2_9999")
    with pytest.raises(UserError, match="magnitude_oracle_gl"):
        baselines.parse_baseline("magnitude_oracle_zero")


# ---------------------------------------------------------------- RESULTS.md
def test_results_sections_are_added_and_replaced(tmp_path):
    md = tmp_path / "RESULTS.md"
    env = report.environment("audiotok score --test")
    row = {"system": "x", "kbps": 1.5, "pesq": float("nan"), "wer": 12.345, "utts": "2/3"}
    report.write_section(md, "run A", report.render_section("run A", [row], env=env))
    report.write_section(md, "run B", report.render_section("run B", [dict(row, system="y")], env=env))
    report.write_section(md, "run A", report.render_section("run A", [dict(row, system="z")], env=env))
    text = md.read_text()
    assert text.count("Generated by audiotok") == 1 and text.count("<!-- section: run A -->") == 1
    assert text.index("run A") < text.index("run B")  # replaced in place
    assert "| z | 1.500 | — | — | — | — | — | — | 12.3 | — | 2/3 |" in text and "| x |" not in text  # kbps: 3 decimals
    assert "audiotok score --test" in text and f"- python: {env['python']}" in text


# ---------------------------------------------------------------- audiotok score end to end
@pytest.fixture(scope="module")
def data_dir(speech, tmp_path_factory):
    from audiotok.data.kaldi_dir import write_data_dir

    d = tmp_path_factory.mktemp("score")
    write_data_dir(d / "data", {u: str(p) for u, (p, _, _) in speech.items()}, {u: u.split("-")[0] for u in speech},
                   text=SENTENCES)
    hyp = d / "hyp"
    hyp.mkdir()
    rng = np.random.default_rng(3)
    for u in ("spk1-u1", "spk1-u2"):  # spk2-u3 deliberately missing
        _, x, sr = speech[u]
        sf.write(str(hyp / f"{u}.wav"), x + rng.normal(0, 0.01, len(x)), sr)
    return d


@needs
def test_score_cli_with_opus_baseline_and_a_missing_utterance(data_dir):
    out, md = data_dir / "exp", data_dir / "RESULTS.md"
    cmd = [sys.executable, "-m", "audiotok", "score", "--ref-data", str(data_dir / "data"),
           "--hyp", f"noisy={data_dir / 'hyp'}", "--baselines", "opus6,magnitude_oracle_gl", "--out", str(out),
           "--results-md", str(md), "--section", "mini test"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "1 of 3 utterances missing from noisy" in p.stderr
    text = md.read_text()
    header = "| system | kbps | frame rate | tokens/s | PESQ-WB | STOI | mel dist | SI-SDR | WER % ("
    assert header in text and "| WER % (pocketsphinx) |" in text
    assert "| opus6 |" in text and "| noisy |" in text and "1 of 3 utterances missing from noisy" in text
    assert "| dataset | Snt | Wrd | Corr | Sub | Del | Ins | Err | S.Err |" in text
    lines = (out / "noisy" / "utt_result.jsonl").read_text().splitlines()
    assert [json.loads(s)["key"] for s in lines] == ["spk1-u1", "spk1-u2"]
    avg = json.loads((out / "noisy" / "avg_result.json").read_text())
    assert avg["missing"] == ["spk2-u3"] and avg["n_scored"] == 2 and avg["stoi"] > 0.9
    opus = json.loads((out / "opus6" / "avg_result.json").read_text())
    assert opus["n_scored"] == 3 and 5.0 < opus["kbps"] < 6.8 and opus["pesq"] < avg["pesq"] + 2
    assert sorted(f.name for f in (out / "baselines" / "opus6").glob("*.wav")) == [f"{u}.wav" for u in SENTENCES]
    oracle = json.loads((out / "magnitude_oracle_gl" / "avg_result.json").read_text())
    assert oracle["kbps"] is None and oracle["stoi"] > 0.9 and oracle["sisdr"] < -5.0, oracle
    assert "| magnitude_oracle_gl | — |" in text


@needs
def test_score_refuses_a_system_with_no_utterances(data_dir, tmp_path, capsys):
    from audiotok.cli import main

    other = tmp_path / "other"
    other.mkdir()
    sf.write(str(other / "nobody.wav"), np.zeros(1600), 16000)
    rc = main(["score", "--ref-data", str(data_dir / "data"), "--hyp", f"bad={other}", "--metrics", "stoi",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "system 'bad' has none of the 3 reference utterances" in err
    assert err.count("\n") == 1


def test_token_files_summary_measures_bitrate_and_usage(tmp_path):
    import torch

    from audiotok.tokfile import write_tokens

    streams = [{"name": "content", "codebook_size": 16}, {"name": "acoustic", "codebook_size": 1024}]
    for i, t in enumerate((50, 25)):
        content = torch.arange(t).remainder(8).reshape(1, t)  # codes 0..7 equally often per file
        acoustic = torch.zeros(2, t, dtype=torch.long)
        write_tokens(tmp_path / f"u{i}.atok", {"content": content, "acoustic": acoustic},
                     {"sample_rate": 16000, "frame_rate": 25.0, "original_length": t * 640, "streams": streams})
    s = codebook.token_files_summary(sorted(tmp_path.glob("*.atok")))
    assert s["kbps"] == pytest.approx(25 * (4 + 2 * 10) / 1000)  # 4-bit + two 10-bit codes per frame
    assert s["kbps_file"] > s["kbps"] and s["frame_rate"] == 25.0 and s["n_files"] == 2
    assert s["tokens_per_s"] == pytest.approx(75.0) and s["duration"] == pytest.approx(3.0)
    by = {(b["stream"], b["codebook"]): b for b in s["codebooks"]}
    assert by["content", 0]["usage"] == 0.5 and by["content", 0]["perplexity"] == pytest.approx(8.0, rel=0.02)
    assert by["acoustic", 1]["n_used"] == 1 and by["acoustic", 1]["perplexity"] == 1.0


@needs
def test_score_reuse_reads_back_unchanged_baselines(data_dir, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "audiotok", "score", "--ref-data", str(data_dir / "data"), "--baselines", "opus6",
            "--include-original", "--metrics", "stoi,mel"]
    first, second = tmp_path / "first", tmp_path / "second"
    p = subprocess.run(base + ["--out", str(first)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(base + ["--hyp", f"noisy={data_dir / 'hyp'}", "--out", str(second), "--reuse", str(first)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "read back from" in p.stderr and "opus6, original" in p.stderr
    assert not (second / "baselines").exists()  # opus was not run again
    a = json.loads((first / "opus6" / "avg_result.json").read_text())
    b = json.loads((second / "opus6" / "avg_result.json").read_text())
    assert a["stoi"] == b["stoi"] and a["kbps"] == b["kbps"]
    # other metrics: nothing fits, everything is scored afresh
    p = subprocess.run(base[:-1] + ["stoi", "--out", str(tmp_path / "third"), "--reuse", str(first)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "read back" not in p.stderr and (tmp_path / "third" / "baselines").exists()


def test_stem_leakage_ranks_clean_leaky_and_swapped_stems(tmp_path, capsys):
    """A 'vocal' tone with an 'accompaniment' of noise bursts: the true stem scores low, the mix higher,
    the other stem highest; through the CLI the column appears only when --metrics leak is asked."""
    from audiotok.cli import main
    from audiotok.data.kaldi_dir import write_data_dir

    sr, rng = 16000, np.random.default_rng(0)
    t = np.arange(2 * sr) / sr
    own = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    other = 0.2 * rng.normal(size=t.size) * (np.sin(2 * np.pi * 3 * t + 1) > 0.3)
    clean, mix, swapped = (quality.stem_leakage(own, other, x) for x in (own, own + other, other))
    assert clean < -20 and clean + 10 < mix < swapped and swapped > 10
    dirs = {}
    for name, x in (("ref", own), ("other", other), ("mix", own + other)):
        sf.write(str(tmp_path / f"{name}.wav"), x, sr)
        dirs[name] = tmp_path / f"d_{name}"
        write_data_dir(dirs[name], {"u1": str(tmp_path / f"{name}.wav")}, {"u1": "u1"})
    args = ["score", "--ref-data", str(dirs["ref"]), "--hyp", f"mix={dirs['mix']}", "--metrics", "mel,leak",
            "--out", str(tmp_path / "o")]
    assert main(args) == 1 and "--metrics leak needs --other-stem" in capsys.readouterr().err
    assert main(args + ["--other-stem", str(dirs["other"])]) == 0
    table = capsys.readouterr().out
    assert "| mel dist | SI-SDR | leak dB |" in table
    avg = json.loads((tmp_path / "o" / "mix" / "avg_result.json").read_text())
    assert avg["leak"] == pytest.approx(mix, abs=0.05)
    assert "leak dB" not in report.results_table([{"system": "x", "mel": 1.0}])


def test_pitch_error_in_cents_and_its_opt_in_column(tmp_path, capsys):
    """A sung-like harmonic tone: itself scores 0 cents, a semitone up about 100, the octave 1200;
    silence has no voiced frame (NaN). Through the CLI the column appears only when --metrics f0 is asked."""
    from audiotok.cli import main
    from audiotok.data.kaldi_dir import write_data_dir

    sr = 24000
    t = np.arange(int(1.5 * sr)) / sr

    def voice(f0):
        return 0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3, 4))

    ref = voice(220.0)
    assert quality.pitch_error(ref, ref, sr) == pytest.approx(0.0, abs=5)
    assert quality.pitch_error(ref, voice(220.0 * 2 ** (1 / 12)), sr) == pytest.approx(100, abs=15)
    assert quality.pitch_error(ref, voice(440.0), sr) == pytest.approx(1200, abs=30)
    assert math.isnan(quality.pitch_error(ref, np.zeros_like(ref), sr))  # silence: no frame is voiced
    dirs = {}
    for name, x in (("ref", ref), ("up", voice(220.0 * 2 ** (1 / 12)))):
        sf.write(str(tmp_path / f"{name}.wav"), x, sr)
        dirs[name] = tmp_path / f"d_{name}"
        write_data_dir(dirs[name], {"u1": str(tmp_path / f"{name}.wav")}, {"u1": "u1"})
    base = ["score", "--ref-data", str(dirs["ref"]), "--hyp", f"up={dirs['up']}"]
    assert main(base + ["--metrics", "mel,f0", "--out", str(tmp_path / "o")]) == 0
    assert "| SI-SDR | F0 err cents |" in capsys.readouterr().out
    avg = json.loads((tmp_path / "o" / "up" / "avg_result.json").read_text())
    assert avg["f0"] == pytest.approx(100, abs=15)
    assert main(base + ["--metrics", "mel", "--out", str(tmp_path / "o2")]) == 0
    assert "F0 err" not in capsys.readouterr().out


def test_git_state_ignores_results_files_only(tmp_path):
    """A run's provenance: RESULTS.md files being written do not mark the tree dirty; any other change does."""
    import subprocess

    from audiotok.provenance import git_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_state(tmp_path) == (None, False)  # not a checkout
    git("init", "-q")
    (tmp_path / "egs").mkdir()
    for name in ("a.py", "RESULTS.md", "egs/RESULTS.md"):
        (tmp_path / name).write_text("x\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    rev, dirty = git_state(tmp_path)
    assert len(rev) == 7 and not dirty
    (tmp_path / "RESULTS.md").write_text("y\n")
    (tmp_path / "egs" / "RESULTS.md").write_text("y\n")
    (tmp_path / "new.py").write_text("untracked\n")
    assert git_state(tmp_path) == (rev, False)
    (tmp_path / "a.py").write_text("changed\n")
    assert git_state(tmp_path) == (rev, True)
