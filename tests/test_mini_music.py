"""mini_music: determinism, nj independence, exact stems, a pitched vocal on the written notes,
a band with bass and drums, valid data dirs, the CLI and its errors."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.data.corpora import midi, mini_music, singer
from audiotok.data.corpora.sentences import vocabulary
from audiotok.data.kaldi_dir import load_data_dir, validate_data_dir
from audiotok.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SEED, SONGS, SECONDS = 5, 3, 10.0

pytestmark = pytest.mark.skipif(
    not (shutil.which("fluidsynth") and shutil.which("espeak-ng") and shutil.which("sox")
         and midi.SOUNDFONT.is_file()), reason="needs fluidsynth, fluid-soundfont-gm, espeak-ng and sox")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def corpus_nj2(tmp_path_factory):
    out = tmp_path_factory.mktemp("mm_nj2") / "corpus"
    mini_music.build_corpus(out, songs=SONGS, seed=SEED, nj=2, min_seconds=SECONDS, max_seconds=SECONDS,
                            progress=False)
    return out


@pytest.fixture(scope="module")
def corpus_cli(tmp_path_factory):
    """The same corpus through the command line with one process."""
    out = tmp_path_factory.mktemp("mm_cli") / "corpus"
    r = subprocess.run([sys.executable, "-m", "audiotok.bin.synth_music", "--out", str(out), "--songs", str(SONGS),
                        "--seed", str(SEED), "--nj", "1", "--min-seconds", str(SECONDS),
                        "--max-seconds", str(SECONDS), "--quiet"],
                       capture_output=True, text=True, env=_env(), cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "train: 1 songs" in r.stdout
    return out


def _digest(root):
    """{relative path: md5} of every file a corpus holds except corpus.json (it records tool versions)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and p.name != "corpus.json":
            data = p.read_bytes().replace(str(Path(root).resolve()).encode(), b"ROOT")
            out[str(p.relative_to(root))] = hashlib.md5(data).hexdigest()
    return out


def _songs(root):
    return sorted((Path(root) / "songs").iterdir())


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_same_corpus_whatever_nj(corpus_nj2, corpus_cli):
    a, b = _digest(corpus_nj2), _digest(corpus_cli)
    assert set(a) == set(b)
    assert len([k for k in a if k.endswith(".wav")]) == 3 * SONGS
    assert a == b
    for split in mini_music.SPLITS:
        assert (corpus_nj2 / split / "text").read_bytes() == (corpus_cli / split / "text").read_bytes()


def test_song_rendered_in_process_matches_the_corpus(corpus_nj2):
    song = mini_music.render_song(SEED, 1, SECONDS, SECONDS)
    d = corpus_nj2 / "songs" / song.id
    for stem, samples in (("vocals", song.vocals), ("accompaniment", song.accompaniment), ("mix", song.mix)):
        written, sr = sf.read(d / f"{stem}.wav", dtype="int16")
        assert sr == 24000
        assert np.array_equal(written, samples)
    other = mini_music.render_song(SEED + 1, 1, SECONDS, SECONDS)
    assert not np.array_equal(other.mix[:len(song.mix)], song.mix[:len(other.mix)])
    assert other.info()["notes"] != song.info()["notes"]


# --- the audio -----------------------------------------------------------------------------------

def test_stems_sum_exactly_to_the_mix(corpus_nj2):
    for d in _songs(corpus_nj2):
        ints = {s: sf.read(d / f"{s}.wav", dtype="int16")[0].astype(np.int32) for s in mini_music.STEMS}
        info = sf.info(str(d / "mix.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
        assert len(ints["mix"]) == round(SECONDS * 24000)
        assert np.array_equal(ints["mix"], ints["vocals"] + ints["accompaniment"])
        assert np.abs(ints["mix"]).max() <= 32767 * 10 ** (mini_music.PEAK_DB / 20) + 2  # headroom, no clipping
        floats = {s: sf.read(d / f"{s}.wav", dtype="float32")[0] for s in mini_music.STEMS}
        assert np.array_equal(floats["mix"], floats["vocals"] + floats["accompaniment"])
        for s in ("vocals", "accompaniment"):
            assert np.sqrt(np.mean(floats[s] ** 2)) > 0.01, (d.name, s)


def test_vocals_are_sung_on_the_written_notes(corpus_nj2):
    import librosa

    for d in _songs(corpus_nj2):
        info = json.loads((d / "song.json").read_text())
        vocals, sr = sf.read(d / "vocals.wav", dtype="float32")
        assert info["notes"] and info["lines"]
        hop = 240
        f0 = librosa.yin(vocals, fmin=70, fmax=900, sr=sr, frame_length=2048, hop_length=hop)
        t = np.arange(len(f0)) * hop / sr
        errors, periodic = [], []
        for n in info["notes"]:
            inside = (t > n["onset"] + 0.06) & (t < n["onset"] + n["duration"] - 0.06)
            if inside.sum() < 3:
                continue
            errors.append(1200 * np.log2(np.median(f0[inside]) / n["hz"]))
            # the note's middle repeats itself one period later: a pitched, voiced sound
            mid = int((n["onset"] + n["duration"] / 2) * sr)
            lag = int(round(sr / n["hz"]))
            a, b = vocals[mid - 600:mid + 600], vocals[mid - 600 + lag:mid + 600 + lag]
            periodic.append(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        errors = np.abs(np.array(errors))
        assert len(errors) >= 0.7 * len(info["notes"]), d.name
        assert np.mean(errors < 50) >= 0.85, (d.name, np.round(errors))  # within half a semitone
        assert np.median(periodic) > 0.7, (d.name, np.round(periodic, 2))
        # singer ranges: between G2 and B4
        assert all(90 < n["hz"] < 500 for n in info["notes"])
        # silence before the first syllable
        first = int(info["notes"][0]["onset"] * sr)
        assert np.abs(vocals[:max(0, first - 10)]).max(initial=0) == 0


def _read_midi(data):
    """Independent reader: (ticks per quarter, microseconds per quarter, [(tick, channel, key)] note-ons)."""
    assert data[:4] == b"MThd"
    _, ntrk, ppq = struct.unpack(">HHH", data[8:14])
    pos, tempo, notes = 14, None, []
    for _ in range(ntrk):
        assert data[pos:pos + 4] == b"MTrk"
        end = pos + 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
        p, tick, status = pos + 8, 0, None
        while p < end:
            delta = 0
            while True:
                b = data[p]
                p += 1
                delta = (delta << 7) | (b & 0x7F)
                if not b & 0x80:
                    break
            tick += delta
            if data[p] == 0xFF:
                if data[p + 1] == 0x51:
                    tempo = int.from_bytes(data[p + 3:p + 6], "big")
                p += 3 + data[p + 2]
                continue
            if data[p] & 0x80:
                status = data[p]
                p += 1
            if status & 0xF0 in (0xC0, 0xD0):
                p += 1
                continue
            if status & 0xF0 == 0x90 and data[p + 1] > 0:
                notes.append((tick, status & 0x0F, data[p]))
            p += 2
        pos = end
    return ppq, tempo, notes


def test_accompaniment_has_bass_and_drums(corpus_nj2):
    for d in _songs(corpus_nj2):
        acc, sr = sf.read(d / "accompaniment.wav", dtype="float64")
        vocals, _ = sf.read(d / "vocals.wav", dtype="float64")
        spec = np.fft.rfft(acc)
        freqs = np.fft.rfftfreq(len(acc), 1 / sr)
        power = np.abs(spec) ** 2
        low = power[(freqs >= 30) & (freqs < 250)].sum() / power.sum()
        vpower = np.abs(np.fft.rfft(vocals)) ** 2
        vlow = vpower[(freqs >= 30) & (freqs < 250)].sum() / vpower.sum()
        assert low > 0.3 and low > vlow, (d.name, low, vlow)

        ppq, tempo, notes = _read_midi((d / "accompaniment.mid").read_bytes())
        assert 60e6 / 160 - 1 <= tempo <= 60e6 / 80 + 1
        bass = [k for _, ch, k in notes if ch == 0]
        assert bass and 28 <= min(bass) and max(bass) <= 60
        # drum hits (GM channel 10) light up the cymbal/snare band right after they sound
        hits = sorted({t * tempo / 1e6 / ppq for t, ch, _ in notes if ch == midi.DRUM_CHANNEL})
        hits = [h for h in hits if h < len(acc) / sr - mini_music.FADE_OUT_S - 0.2]
        assert len(hits) >= 8
        spec[freqs < 5000] = 0
        high = np.fft.irfft(spec, len(acc)) ** 2
        win = int(0.02 * sr)
        env = np.convolve(high, np.ones(win) / win, "same")
        on = np.median([env[int((h + 0.01) * sr)] for h in hits])
        between = np.median([env[int((a + b) / 2 * sr)] for a, b in zip(hits, hits[1:])])
        assert on > 1.5 * between, (d.name, on, between)


# --- data dirs ------------------------------------------------------------------------------------

def test_data_dirs_validate_with_stems_and_lyrics(corpus_nj2):
    words = vocabulary()
    seen = []
    for split in mini_music.SPLITS:
        d = corpus_nj2 / split
        assert validate_data_dir(d) == []
        dd = load_data_dir(d)
        assert len(dd.wav) == 1
        assert set(dd.extra) >= {"vocals", "accompaniment"}
        for utt, path in dd.wav.items():
            seen.append(utt)
            assert dd.utt2spk[utt] == utt
            assert Path(path).is_absolute() and Path(path).name == "mix.wav"
            assert Path(dd.extra["vocals"][utt]).name == "vocals.wav"
            assert Path(dd.extra["accompaniment"][utt]).name == "accompaniment.wav"
            info = json.loads((Path(path).parent / "song.json").read_text())
            assert dd.text[utt] == " ".join(line["text"] for line in info["lines"])
            assert set(dd.text[utt].split()) <= words
    assert sorted(seen) == [mini_music.song_id(i) for i in range(SONGS)]
    meta = json.loads((corpus_nj2 / "corpus.json").read_text())
    assert meta["splits"]["test"]["songs"] == 1 and meta["seed"] == SEED


def test_split_sizes():
    assert mini_music.split_sizes(3) == {"train": 1, "dev": 1, "test": 1}
    assert mini_music.split_sizes(20) == {"train": 16, "dev": 2, "test": 2}
    assert [mini_music.split_of(i, 20) for i in (0, 15, 16, 17, 18, 19)] == \
        ["train", "train", "dev", "dev", "test", "test"]


# --- parts ------------------------------------------------------------------------------------------

def test_midi_writer_bytes():
    assert [midi._varlen(n) for n in (0, 0x40, 0x7F, 0x80, 0x2000, 0x3FFF, 0x200000)] == \
        [b"\x00", b"\x40", b"\x7f", b"\x81\x00", b"\xc0\x00", b"\xff\x7f", b"\x81\x80\x80\x00"]
    t = midi.Track("bass", 0, program=33)
    t.add(0, 480, 40, 100)
    t.add(480, 240, 43, 90)
    d = midi.Track("drums", midi.DRUM_CHANNEL)
    d.add(0, 60, 36)
    data = midi.midi_bytes([t, d], bpm=125, numerator=3, denominator=4, end_tick=1920)
    ppq, tempo, notes = _read_midi(data)
    assert (ppq, tempo) == (midi.PPQ, 480000)
    assert sorted(notes) == [(0, 0, 40), (0, 9, 36), (480, 0, 43)]
    assert bytes([0x58, 4, 3, 2]) in data  # 3/4 time signature
    assert b"\xc0\x21" in data  # program change to 33 on channel 1


def test_split_syllables():
    assert singer.split_syllables(["b", "j", "'u:", "t", "i", "f", "@L"]) == ["bj'u:", "ti", "f@L"]
    assert singer.split_syllables(["'E", "k", "s", "t", "r", "'i:", "m", "l", "i"]) == ["'Ek", "str'i:m", "li"]
    assert singer.split_syllables(["s", "'I", "N", "I", "N"]) == ["s'IN", "IN"]
    assert singer.split_syllables(["t", "'aI", "m"]) == ["t'aIm"]


def test_estimate_f0_of_a_tone():
    sr = 24000
    x = np.sin(2 * np.pi * 196.0 * np.arange(sr // 2) / sr).astype(np.float32)
    f = singer.estimate_f0(x, sr)
    assert np.all(np.abs(f[f > 0] - 196.0) < 196.0 * 0.01) and (f > 0).mean() > 0.9


# --- errors -----------------------------------------------------------------------------------------

def test_missing_tools_name_their_debian_package(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="fluid-soundfont-gm"):
        mini_music.check_tools(soundfont=tmp_path / "none.sf2")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fluidsynth").symlink_to(shutil.which("fluidsynth"))
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(UserError, match="'espeak-ng'"):
        mini_music.check_tools()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match="install the Debian package 'fluidsynth'"):
        mini_music.check_tools()


def test_cli_errors_are_one_line(tmp_path):
    env = _env()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env["PATH"] = str(bin_dir)  # no fluidsynth
    cmd = [sys.executable, "-m", "audiotok.bin.synth_music", "--out", str(tmp_path / "c"), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "error:" in r.stderr and "fluidsynth" in r.stderr
    r = subprocess.run(cmd[:-1] + ["--songs", "2"], capture_output=True, text=True, env=_env(), cwd=REPO)
    assert r.returncode == 1 and "--songs must be at least 3" in r.stderr and r.stderr.count("\n") == 1


def test_refuses_a_non_empty_out_dir(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        mini_music.build_corpus(tmp_path, songs=3, progress=False)
    assert (tmp_path / "keep.txt").read_text() == "mine"
