"""audiotok score-compare: paired gains, bootstrap intervals and verdicts on score results written by
`audiotok score`'s own writer."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from audiotok.bin import score, score_compare
from audiotok.errors import UserError


def _write(score_dir, system, values):
    """values: {metric: array over utterances u000..}; written as score writes utt_result.jsonl."""
    n = len(next(iter(values.values())))
    results = {f"u{i:03d}": {"key": f"u{i:03d}", **{m: float(v[i]) for m, v in values.items()}} for i in range(n)}
    score._write_json(score_dir / system, results, {})


@pytest.fixture
def scored(tmp_path):
    rng = np.random.default_rng(1)
    base_mel, base_sdr = rng.uniform(0.3, 0.8, 40), rng.normal(-40, 8, 40)
    _write(tmp_path, "control", {"mel": base_mel, "sisdr": base_sdr, "leak": rng.normal(-5, 1, 40)})
    # better mel on (nearly) every song; SI-SDR and leak are the control's plus zero-mean noise
    _write(tmp_path, "better", {"mel": base_mel - 0.05 + rng.normal(0, 0.01, 40),
                                "sisdr": base_sdr + rng.normal(0, 8, 40), "leak": rng.normal(-5, 1, 40)})
    # worse SI-SDR by 6 dB everywhere (higher is better, so the sign flips), one NaN pitch-like gap
    sdr = base_sdr - 6.0
    _write(tmp_path, "worse", {"mel": base_mel, "sisdr": sdr, "leak": rng.normal(-5, 1, 40)})
    return tmp_path


def test_a_consistent_gain_is_better_and_noise_is_no_clear_difference(scored):
    ref = score_compare.read_utterances(scored, "control")
    better = score_compare.read_utterances(scored, "better")
    mel = score_compare.compare(better, ref, "mel", resamples=2000)
    assert mel["n"] == 40 and mel["verdict"] == "better"
    assert mel["gain"] == pytest.approx(0.05, abs=0.01) and mel["ci_low"] > 0.03 and mel["wins"] > 0.95
    assert mel["p_wilcoxon"] < 1e-6
    sdr = score_compare.compare(better, ref, "sisdr", resamples=2000)
    assert sdr["verdict"] == "no clear difference" and sdr["ci_low"] < 0 < sdr["ci_high"]


def test_higher_is_better_for_si_sdr_and_a_constant_gap_is_exact(scored):
    ref = score_compare.read_utterances(scored, "control")
    worse = score_compare.read_utterances(scored, "worse")
    sdr = score_compare.compare(worse, ref, "sisdr")
    assert sdr["gain"] == pytest.approx(-6.0) and sdr["ci_low"] == sdr["ci_high"] == pytest.approx(-6.0)
    assert sdr["verdict"] == "worse" and sdr["wins"] == 0
    same = score_compare.compare(worse, ref, "mel")  # identical values: no gain, no interval to draw
    assert same["gain"] == 0 and same["verdict"] == "no clear difference"


def test_only_utterances_both_scored_with_finite_values_are_paired(tmp_path):
    _write(tmp_path, "a", {"f0": [100.0, math.nan, 300.0, 50.0]})
    _write(tmp_path, "b", {"f0": [200.0, 10.0, 100.0]})
    r = score_compare.compare(score_compare.read_utterances(tmp_path, "a"),
                              score_compare.read_utterances(tmp_path, "b"), "f0")
    assert r["n"] == 2 and r["mean"] == pytest.approx(200.0) and r["gain"] == pytest.approx(-50.0)
    assert r["verdict"] == "too few utterances"


def test_cli_writes_table_json_and_section(scored):
    md = scored / "RESULTS.md"
    r = subprocess.run([sys.executable, "-m", "audiotok", "score-compare", "--score-dir", str(scored),
                        "--against", "control", "--resamples", "500", "--results-md", str(md),
                        "--section", "vocals: paired"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.startswith("| better | mel dist")]
    assert len(lines) == 1 and lines[0].rstrip().endswith("| better |")
    rows = json.loads((scored / "compare_control.json").read_text())["rows"]
    assert {(x["system"], x["metric"]) for x in rows} == {(s, m) for s in ("better", "worse")
                                                           for m in ("mel", "leak", "sisdr")}
    text = md.read_text()
    assert "<!-- section: vocals: paired -->" in text and "| worse | SI-SDR | 40 |" in text


def test_cli_errors_are_one_line(scored):
    for extra, needle in ((["--against", "nobody"], "nobody/utt_result.jsonl: no such file"),
                          (["--against", "control", "--metrics", "mel,pesq2"], "unknown pesq2"),
                          (["--against", "control", "--metrics", "f0"], "do not both have 'f0'")):
        r = subprocess.run([sys.executable, "-m", "audiotok", "score-compare", "--score-dir", str(scored), *extra],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (scored / "control" / "utt_result.jsonl").write_text("not json\n")
    with pytest.raises(UserError, match="utt_result.jsonl:1: not a score result line"):
        score_compare.read_utterances(scored, "control")
