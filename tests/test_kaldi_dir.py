"""Kaldi data dirs: write/load, validate and fix deliberately broken dirs, split, subset, CLI and shell shims."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.data.kaldi_dir import (
    check_data_dir,
    fix_data_dir,
    load_data_dir,
    read_scp,
    split_data_dir,
    subset_data_dir,
    validate_data_dir,
    write_data_dir,
    write_scp,
)
from audiotok.errors import DataDirError, UserError

REPO = Path(__file__).resolve().parents[1]
UTILS = REPO / "recipes" / "utils"
# speaker -> number of utterances; "B" sorts before "a" only in C byte order
SPEAKERS = {"B01": 3, "a02": 2, "c03": 1}


def _make_dir(root, extra_stems=False):
    wav, utt2spk, text, vocals = {}, {}, {}, {}
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    for spk, n in SPEAKERS.items():
        for i in range(n):
            utt = f"{spk}-u{i}"
            path = root / "wav" / f"{utt}.wav"
            sf.write(path, (0.1 * rng.standard_normal(800)).astype("float32"), 16000)
            wav[utt], utt2spk[utt], text[utt] = str(path), spk, f"hello number {i}"
            vocals[utt] = str(path)
    d = root / "data"
    write_data_dir(d, wav, utt2spk, text=text, extra={"vocals": vocals} if extra_stems else None)
    return d


def _lines(path):
    return Path(path).read_text().splitlines()


@pytest.fixture
def data(tmp_path):
    return _make_dir(tmp_path)


def test_write_sorts_in_c_byte_order_and_loads_back(tmp_path):
    d = _make_dir(tmp_path, extra_stems=True)
    for name in ("wav.scp", "utt2spk", "spk2utt", "text", "vocals.scp"):
        raw = (d / name).read_bytes()
        c_sorted = subprocess.run(["sort"], input=raw, capture_output=True, env={**os.environ, "LC_ALL": "C"}).stdout
        assert raw == c_sorted, name
    assert _lines(d / "spk2utt")[0] == "B01 B01-u0 B01-u1 B01-u2"
    loaded = load_data_dir(d)
    assert len(loaded) == 6 and loaded.speakers == ["B01", "a02", "c03"]
    assert loaded.spk2utt["a02"] == ["a02-u0", "a02-u1"]
    assert loaded.text["c03-u0"] == "hello number 0"
    assert set(loaded.extra) == {"vocals"} and loaded.extra["vocals"] == loaded.wav
    assert loaded.recording("a02-u1") == "a02-u1"
    assert validate_data_dir(d) == []


def test_read_scp_rejects_duplicates_and_bad_lines(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_text("a x.wav\nb y.wav\na z.wav\n")
    with pytest.raises(DataDirError, match=r"wav.scp: duplicate id 'a' at line 3"):
        read_scp(p)
    p.write_text("a x.wav\n  b y.wav\n")
    with pytest.raises(DataDirError, match="line 2 starts with whitespace"):
        read_scp(p)
    with pytest.raises(DataDirError, match="invalid id"):
        write_scp(tmp_path / "t", {"a b": "x"})


def test_unsorted_file_is_reported_and_fixed(data):
    lines = _lines(data / "utt2spk")
    (data / "utt2spk").write_text("\n".join(reversed(lines)) + "\n")
    problems = validate_data_dir(data)
    assert any("utt2spk: not sorted in C byte order" in p for p in problems), problems
    counts = fix_data_dir(data)
    assert counts["utterances"] == {"kept": 6, "removed": 0}
    assert _lines(data / "utt2spk") == lines
    assert _lines(data / ".backup" / "utt2spk") == list(reversed(lines))
    assert validate_data_dir(data) == []


def test_missing_wav_file_is_reported_and_dropped_everywhere(data):
    os.unlink(data.parent / "wav" / "a02-u1.wav")
    problems = validate_data_dir(data)
    assert len(problems) == 1 and "'a02-u1'" in problems[0] and "file not found" in problems[0]
    counts = fix_data_dir(data)
    assert counts["wav.scp"] == {"kept": 5, "removed": 1}
    assert counts["text"] == {"kept": 5, "removed": 1}
    assert counts["utterances"] == {"kept": 5, "removed": 1}
    assert all("a02-u1" not in (data / f).read_text() for f in ("wav.scp", "utt2spk", "spk2utt", "text"))
    assert validate_data_dir(data) == []


def test_text_file_named_wav_is_not_audio(data):
    (data.parent / "wav" / "B01-u2.wav").write_text("this is not audio\n")
    problems = validate_data_dir(data)
    assert len(problems) == 1 and "'B01-u2'" in problems[0] and "not readable audio" in problems[0]
    assert validate_data_dir(data, check_audio=False) == []
    fix_data_dir(data)
    assert "B01-u2" not in read_scp(data / "wav.scp")


def test_utterance_missing_from_text(data):
    text = read_scp(data / "text")
    del text["c03-u0"]
    write_scp(data / "text", text)
    problems = validate_data_dir(data)
    assert problems == [f"{data / 'text'}: 1 id(s) of utt2spk missing (first: 'c03-u0')"]
    fix_data_dir(data)
    d = load_data_dir(data)
    assert "c03" not in d.spk2utt and len(d) == 5 and validate_data_dir(data) == []


def test_spk2utt_mismatch_is_regenerated(data):
    (data / "spk2utt").write_text("B01 B01-u0 B01-u1\na02 a02-u0 a02-u1 B01-u2\nc03 c03-u0\n")
    problems = validate_data_dir(data)
    assert any("spk2utt" in p and "other utterances" in p for p in problems), problems
    fix_data_dir(data)
    assert _lines(data / "spk2utt")[:2] == ["B01 B01-u0 B01-u1 B01-u2", "a02 a02-u0 a02-u1"]
    assert validate_data_dir(data) == []


def test_duplicate_ids_keep_the_first(data):
    wav = _lines(data / "wav.scp")
    (data / "wav.scp").write_text("\n".join(wav[:2] + [wav[1].split()[0] + " /nowhere.wav"] + wav[2:]) + "\n")
    problems = validate_data_dir(data)
    assert any("wav.scp: 1 duplicate id(s) (first: 'B01-u1' at lines 2 and 3)" in p for p in problems), problems
    counts = fix_data_dir(data)
    assert counts["wav.scp"] == {"kept": 6, "removed": 1}
    assert _lines(data / "wav.scp") == wav


def test_optional_text_wav_and_speaker_prefix(data):
    os.unlink(data / "text")
    assert validate_data_dir(data) == [f"{data / 'text'}: missing"]
    assert validate_data_dir(data, no_text=True) == []
    # speaker ids that are not prefixes of the utterance ids make utt2spk sort differently by speaker
    write_scp(data / "utt2spk", {u: {"B01": "z", "a02": "y", "c03": "x"}[s]
                                 for u, s in read_scp(data / "utt2spk").items()})
    fix_data_dir(data)
    rep = check_data_dir(data, no_text=True)
    assert any("order differs when sorted by speaker" in p for p in rep.problems)
    rep = check_data_dir(data, no_text=True, no_spk_sort=True)
    assert rep.ok and rep.num_spks == 3 and not any("do not start" in w for w in rep.warnings)
    rep = check_data_dir(data, no_text=True)
    assert any("do not start with their speaker id" in w for w in rep.warnings)


def test_segments_are_checked(data):
    wav = read_scp(data / "wav.scp")
    reco = {"rec1": wav["B01-u0"]}
    segs = {"B01-u0": "rec1 0.0 0.02", "B01-u1": "rec1 0.02 -1", "a02-u0": "rec9 0 0.01"}
    utt2spk = {"B01-u0": "B01", "B01-u1": "B01", "a02-u0": "a02"}
    d = data.parent / "seg"
    write_data_dir(d, reco, utt2spk, segments=segs)
    problems = validate_data_dir(d, no_text=True)
    assert problems == [f"{d / 'segments'}: 1 recording id(s) not in wav.scp (first: 'rec9')"]
    (d / "segments").write_text("B01-u0 rec1 0.0 0.02\nB01-u1 rec1 0.05 0.02\na02-u0 rec1 0 0.01\n")
    assert any("need 0 <= start < end" in p for p in validate_data_dir(d, no_text=True))
    fix_data_dir(d)
    loaded = load_data_dir(d)
    assert sorted(loaded.segments) == ["B01-u0", "a02-u0"] and loaded.recording("a02-u0") == "rec1"
    assert loaded.segments["B01-u0"] == ("rec1", 0.0, 0.02)
    assert validate_data_dir(d, no_text=True) == []


def test_fix_refuses_to_empty_a_dir(data):
    for p in (data.parent / "wav").iterdir():
        p.unlink()
    before = (data / "wav.scp").read_text()
    with pytest.raises(DataDirError, match="nothing changed"):
        fix_data_dir(data)
    assert (data / "wav.scp").read_text() == before


def test_split_keeps_speakers_whole(data):
    parts = split_data_dir(data, 2)
    assert [p.name for p in parts] == ["1", "2"] and parts[0].parent.name == "split2"
    spk_sets = [set(load_data_dir(p).spk2utt) for p in parts]
    assert spk_sets == [{"B01"}, {"a02", "c03"}]  # 3 | 2+1 utterances
    assert sorted(u for p in parts for u in read_scp(p / "wav.scp")) == sorted(read_scp(data / "utt2spk"))
    assert all(validate_data_dir(p) == [] for p in parts)
    # more parts than speakers: split by utterance; more than utterances: nj = #utterances
    parts = split_data_dir(data, 4)
    assert [len(load_data_dir(p)) for p in parts] == [2, 1, 2, 1]
    assert all(validate_data_dir(p) == [] for p in parts)
    parts = split_data_dir(data, 50)
    assert len(parts) == 6 and parts[0].parent.name == "split6"
    parts = split_data_dir(data, 3, per_utt=True)
    assert parts[0].parent.name == "split3utt" and [len(load_data_dir(p)) for p in parts] == [2, 2, 2]


def test_subset_first_utt_list_and_spk_list(tmp_path):
    data = _make_dir(tmp_path, extra_stems=True)
    out = subset_data_dir(data, tmp_path / "first", first=2)
    assert list(read_scp(out / "utt2spk")) == ["B01-u0", "B01-u1"]
    assert list(read_scp(out / "vocals.scp")) == ["B01-u0", "B01-u1"] and validate_data_dir(out) == []
    (tmp_path / "utts").write_text("c03-u0\na02-u1 extra field\nnot-there\n")
    out = subset_data_dir(data, tmp_path / "by_utt", utt_list=tmp_path / "utts")
    assert load_data_dir(out).utts == ["a02-u1", "c03-u0"] and validate_data_dir(out) == []
    out = subset_data_dir(data, tmp_path / "by_spk", spk_list=["a02"])
    assert _lines(out / "spk2utt") == ["a02 a02-u0 a02-u1"]
    with pytest.raises(UserError, match="exactly one"):
        subset_data_dir(data, tmp_path / "x", first=1, spk_list=["a02"])


def _run(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, **kw)


def test_validate_cli_prints_problems_and_exits_1(data):
    os.unlink(data.parent / "wav" / "c03-u0.wav")
    os.unlink(data / "text")
    r = _run([sys.executable, "-m", "audiotok.bin.validate_data_dir", str(data)])
    out = r.stdout.strip().splitlines()
    assert r.returncode == 1
    assert out[-1].startswith(f"validate_data_dir: {data}: INVALID: 2 problem(s)")
    assert any("text: missing" in line for line in out) and any("c03-u0" in line for line in out)
    # the Kaldi-flag shell shim: --no-text and the audio check switched off make it valid
    r = _run(["bash", str(UTILS / "validate_data_dir.sh"), "--no-text", "--no-audio-check", str(data)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("OK (6 utterances, 3 speakers, 0 warning(s))")


def test_fix_and_split_shims(data):
    os.unlink(data.parent / "wav" / "c03-u0.wav")
    r = _run(["bash", str(UTILS / "fix_data_dir.sh"), "--utt_extra_files", "utt2lang", str(data)])
    assert r.returncode == 0, r.stderr
    assert "kept 5 of 6 utterances" in r.stdout and (data / ".backup" / "wav.scp").exists()
    r = _run(["bash", str(UTILS / "split_data.sh"), str(data), "2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(data / "split2" / "1"), str(data / "split2" / "2")]
    r = _run(["bash", str(UTILS / "subset_data_dir.sh"), "--first", str(data), "3", str(data.parent / "sub")])
    assert r.returncode == 0, r.stderr
    assert len(load_data_dir(data.parent / "sub")) == 3
    r = _run([sys.executable, "-m", "audiotok.bin.fix_data_dir", str(data.parent / "nowhere")])
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "utt2spk: missing" in r.stderr


def test_nan_audio_is_reported_when_audio_is_checked(data):
    bad = data.parent / "wav" / "a02-u0.wav"
    x = np.zeros(800, dtype="float32")
    x[100] = np.nan
    sf.write(bad, x, 16000, subtype="FLOAT")
    problems = validate_data_dir(data)
    assert len(problems) == 1 and "'a02-u0'" in problems[0] and "NaN" in problems[0], problems
    assert validate_data_dir(data, check_audio=False) == []
    r = _run([sys.executable, "-m", "audiotok.cli", "validate-data-dir", str(data)])
    assert r.returncode == 1 and "INVALID" in r.stdout and "NaN" in r.stdout


def test_paths_with_spaces_are_kept(tmp_path):
    rng = np.random.default_rng(0)
    wav, utt2spk = {}, {}
    for i in range(10):
        folder = tmp_path / ("my audio" if i % 2 else "audio")
        folder.mkdir(exist_ok=True)
        utt = f"s{i % 3}-u{i}"
        path = folder / (f"take {i}.wav" if i % 2 else f"take{i}.wav")
        sf.write(path, 0.1 * rng.standard_normal(800), 16000)
        wav[utt], utt2spk[utt] = str(path), f"s{i % 3}"
    d = tmp_path / "data"
    write_data_dir(d, wav, utt2spk)
    assert validate_data_dir(d, no_text=True) == []
    counts = fix_data_dir(d)
    assert counts["utterances"] == {"kept": 10, "removed": 0}
    assert read_scp(d / "wav.scp") == wav


def test_fix_cli_says_which_duplicate_it_dropped(data):
    wav = _lines(data / "wav.scp")
    utt = wav[1].split()[0]
    (data / "wav.scp").write_text("\n".join(wav[:2] + [f"{utt} /elsewhere/other.wav"] + wav[2:]) + "\n")
    r = _run([sys.executable, "-m", "audiotok.cli", "fix-data-dir", "--no-audio-check", str(data)])
    assert r.returncode == 0, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 2, r.stderr
    assert f"duplicate id '{utt}'" in err[0] and "kept line 2" in err[0]
    assert "dropped line 3 (/elsewhere/other.wav)" in err[0]
    assert "dropped 1 duplicate" in err[1]
    assert _lines(data / "wav.scp") == wav


def test_format_data_dir_refuses_to_write_over_its_source(data):
    r = _run([sys.executable, "-m", "audiotok.cli", "format-data-dir", str(data), str(data), "--fs", "8000"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "also an input" in r.stderr
    assert (data / ".backup").exists() is False and len(load_data_dir(data)) == 6
