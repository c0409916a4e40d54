"""egs/musdb18/tok1/local/data.sh on small MUSDB18-HQ and MUSDB18 (.stem.mp4) fixture trees."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.data.kaldi_dir import load_data_dir, validate_data_dir
from audiotok.errors import UserError

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "musdb18" / "tok1"
SR = 44100
TRACKS = {"train": ["Actions - One Minute Smile", "A Classic Education - NightOwl"],
          "test": ["Al James - Schoolboy Facination"]}
LOUD = "A Classic Education - NightOwl"  # its mixture - vocals does not fit in 16 bits


def _helper():
    spec = importlib.util.spec_from_file_location("musdb18_data_dir", RECIPE / "local" / "musdb18_data_dir.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stems(i, loud):
    """Four 2 s stereo stems of a little song: a vibrato voice, drum bursts, a bass line, a pad."""
    rng = np.random.default_rng(i)
    t = np.arange(2 * SR) / SR
    voice = 0.25 * np.sin(2 * np.pi * (220 + 30 * i) * t + 3 * np.sin(2 * np.pi * 5.5 * t))
    drums = 0.2 * rng.standard_normal(len(t)) * np.exp(-40 * np.mod(t, 0.25))
    bass = 0.25 * np.sin(2 * np.pi * np.where(t < 1, 55.0, 73.4) * t)
    other = 0.08 * sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((330.0, 415.3, 494.0)))
    stems = {"vocals": voice, "drums": drums, "bass": bass, "other": other}
    if loud:  # vocals in antiphase with a loud band: mixture - vocals leaves the 16-bit range
        stems = {"vocals": -0.45 * np.sign(bass), "drums": drums, "bass": 2.2 * bass, "other": other}
    else:
        stems = {k: 0.6 * v for k, v in stems.items()}
    out = {k: np.round(np.stack([v, 0.7 * v + 0.01 * j], 1) * 32767).astype(np.int16)
           for j, (k, v) in enumerate(stems.items())}
    mix = sum(v.astype(np.int32) for v in out.values())
    assert loud or np.abs(mix).max() < 32767  # the mixture is the exact sum of the stems
    out["mixture"] = np.clip(mix, -32768, 32767).astype(np.int16)
    return out


@pytest.fixture(scope="module")
def musdb_hq(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb18hq")
    for split, names in TRACKS.items():
        for i, name in enumerate(names):
            d = root / split / name
            d.mkdir(parents=True)
            for stem, data in _stems(i + 3 * (split == "test"), name == LOUD).items():
                sf.write(d / f"{stem}.wav", data, SR, subtype="PCM_16")
    return root


def _recipe(tmp):
    """A recipe dir laid out like egs/<corpus>/<task>1: links to path.sh, utils/, db.sh and local/."""
    r = tmp / "recipe"
    r.mkdir()
    (r / "path.sh").symlink_to(REPO / "recipes" / "utils" / "path.sh")
    (r / "utils").symlink_to(REPO / "recipes" / "utils")
    if (REPO / "egs" / "db.sh").exists():
        (r / "db.sh").symlink_to(REPO / "egs" / "db.sh")
    (r / "local").symlink_to(RECIPE / "local")
    return r


def _run(recipe, musdb, *opts):
    env = dict(os.environ, OMP_NUM_THREADS="1", MUSDB18=str(musdb))
    return subprocess.run(["bash", "local/data.sh", "--nj", "2", *opts], cwd=recipe, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def prepared(musdb_hq, tmp_path_factory):
    recipe = _recipe(tmp_path_factory.mktemp("hq"))
    r = _run(recipe, musdb_hq)
    assert r.returncode == 0, r.stderr
    return recipe / "data"


def test_hq_data_dirs(prepared, musdb_hq):
    ids = {}
    for split in ("train", "dev", "test"):
        assert validate_data_dir(prepared / split, no_text=True) == []
        dd = load_data_dir(prepared / split)
        assert dd.text is None
        assert set(dd.extra) >= {"vocals", "accompaniment", "drums", "bass", "other"}
        for utt in dd.wav:
            assert " " not in utt and dd.utt2spk[utt] == utt
            assert " " not in dd.wav[utt]
        ids[split] = sorted(dd.wav)
    # dev is the listed validation track, carved out of train
    assert ids == {"train": ["A_Classic_Education_NightOwl"], "dev": ["Actions_One_Minute_Smile"],
                   "test": ["Al_James_Schoolboy_Facination"]}
    track = (prepared / "dev" / "utt2track").read_text().split(" ", 1)[1].strip()
    assert track == "Actions - One Minute Smile"
    dd = load_data_dir(prepared / "test")
    utt = ids["test"][0]
    assert Path(dd.wav[utt]).resolve() == (musdb_hq / "test" / TRACKS["test"][0] / "mixture.wav").resolve()


def test_accompaniment_is_mixture_minus_vocals(prepared):
    subtypes = {}
    for split in ("train", "dev", "test"):
        dd = load_data_dir(prepared / split)
        for utt, mix_path in dd.wav.items():
            mix, sr = sf.read(mix_path, dtype="int16", always_2d=True)
            voc, _ = sf.read(dd.extra["vocals"][utt], dtype="int16", always_2d=True)
            acc_path = dd.extra["accompaniment"][utt]
            info = sf.info(acc_path)
            assert (info.samplerate, info.channels, info.frames) == (SR, 2, len(mix))
            assert Path(acc_path).resolve().is_relative_to(prepared.resolve())  # written in data/, not the corpus
            diff = mix.astype(np.int64) - voc.astype(np.int64)
            acc, _ = sf.read(acc_path, dtype="float64", always_2d=True)
            assert np.array_equal(acc * 32768, diff)  # exact, in 16-bit or float
            subtypes[utt] = info.subtype
            if info.subtype == "PCM_16":
                # the fixture's unclipped mixtures are the sum of the stems: acc = drums + bass + other
                band = sum(sf.read(dd.extra[s][utt], dtype="int16", always_2d=True)[0].astype(np.int64)
                           for s in ("drums", "bass", "other"))
                assert np.array_equal(diff, band)
    assert subtypes == {"A_Classic_Education_NightOwl": "FLOAT", "Actions_One_Minute_Smile": "PCM_16",
                        "Al_James_Schoolboy_Facination": "PCM_16"}


def test_rerun_keeps_the_written_accompaniment(prepared, musdb_hq):
    acc = prepared / "musdb18_audio" / "Actions_One_Minute_Smile" / "accompaniment.wav"
    before = acc.stat().st_mtime_ns
    r = _run(prepared.parent, musdb_hq)
    assert r.returncode == 0, r.stderr
    assert acc.stat().st_mtime_ns == before
    assert validate_data_dir(prepared / "dev", no_text=True) == []


@pytest.mark.parametrize("musdb", ["", "missing"])
def test_missing_root_is_one_line_error(tmp_path, musdb):
    recipe = _recipe(tmp_path)
    r = _run(recipe, tmp_path / musdb if musdb else "")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1, r.stderr
    assert "MUSDB18" in r.stderr and ("not found" in r.stderr or "is empty" in r.stderr)
    assert not (recipe / "data").exists()


def test_broken_track_is_one_line_error(tmp_path, musdb_hq):
    root = tmp_path / "musdb"
    shutil.copytree(musdb_hq, root)
    (root / "test" / TRACKS["test"][0] / "vocals.wav").unlink()
    cmd = [sys.executable, str(RECIPE / "local" / "musdb18_data_dir.py"), str(root), str(tmp_path / "data"),
           "--nj", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "vocals.wav: missing" in lines[0]


def test_track_ids_and_seeded_dev():
    m = _helper()
    assert m.track_id("Johnny Lokke - Promises & Lies") == "Johnny_Lokke_Promises_Lies"
    assert m.track_id("Zé Ribeiro - Olá (live)") == "Ze_Ribeiro_Ola_live"
    names = [f"Artist {i} - Song {i}" for i in range(20)]
    dev = m.pick_dev(names, ["Not - Here"], seed=3)
    assert len(dev) == 3 and dev <= set(names)
    assert m.pick_dev(names, [], seed=3) == dev
    assert m.pick_dev(names, ["Artist 5 - Song 5", "Other - Track"], seed=3) == {"Artist 5 - Song 5"}
    with pytest.raises(UserError):
        m.pick_dev(["Only - One"], [], seed=0)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_stem_mp4_layout(tmp_path, musdb_hq):
    """The original MUSDB18: one .stem.mp4 per track, streams mixture, drums, bass, other, vocals."""
    root = tmp_path / "musdb18"
    for split, names in TRACKS.items():
        (root / split).mkdir(parents=True)
        for name in names:
            src = musdb_hq / split / name
            cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
            for stem in ("mixture", "drums", "bass", "other", "vocals"):
                cmd += ["-i", str(src / f"{stem}.wav")]
            cmd += [a for i in range(5) for a in ("-map", str(i))]
            subprocess.run(cmd + ["-c:a", "aac", "-b:a", "128k", str(root / split / f"{name}.stem.mp4")], check=True)
    recipe = _recipe(tmp_path)
    r = _run(recipe, root)
    assert r.returncode == 0, r.stderr
    dd = load_data_dir(recipe / "data" / "test")
    assert set(dd.extra) == {"vocals", "accompaniment"}
    assert validate_data_dir(recipe / "data" / "test", no_text=True) == []
    utt = "Al_James_Schoolboy_Facination"
    mix, _ = sf.read(dd.wav[utt], dtype="int16", always_2d=True)
    voc, _ = sf.read(dd.extra["vocals"][utt], dtype="int16", always_2d=True)
    acc, _ = sf.read(dd.extra["accompaniment"][utt], dtype="float64", always_2d=True)
    assert np.array_equal(acc * 32768, mix.astype(np.int64) - voc.astype(np.int64))

    def band(x, lo, hi):
        p = np.abs(np.fft.rfft(x[:, 0].astype(np.float64))) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        return p[(f >= lo) & (f < hi)].sum() / p.sum()

    # stream 0 is the mixture (it has the bass), stream 4 the vocals (a 310 Hz voice, no bass)
    assert band(mix, 40, 90) > 0.2 and band(voc, 40, 90) < 0.01 and band(voc, 250, 400) > 0.8
