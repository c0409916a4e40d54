"""The shipped music tokenizer (music-v1) on a fresh install: a song rendered by `audiotok synth-music`
with a seed the training corpus never used is encoded with `--model music` and its stems are decoded
from the token file alone (it names its model), through the real CLI."""

import json

import numpy as np
import soundfile as sf

from audiotok.metrics.quality import stem_leakage
from audiotok.tokfile import read_header
from cli_helpers import cli


def test_a_fresh_install_splits_a_song_with_the_shipped_music_tokenizer(tmp_path):
    from audiotok.pretrained import shipped_dir

    assert shipped_dir("music") is not None, "audiotok/pretrained/music-v1 must ship with the package"
    cli("synth-music", "--out", tmp_path / "c", "--songs", 3, "--seed", 977, "--min-seconds", 10, "--max-seconds", 11,
        "--quiet")
    song = tmp_path / "c" / "songs" / "song00002"
    cli("encode", song / "mix.wav", "-o", tmp_path / "s.atok", "--model", "music")
    header = read_header(tmp_path / "s.atok")
    assert header["model_id"] == "music-v1" and header["model_version"] == "5"
    assert sorted(s["name"] for s in header["streams"]) == ["accompaniment", "vocals"]
    ref = {k: sf.read(song / f"{k}.wav")[0] for k in ("mix", "vocals", "accompaniment")}
    out = {}
    for track in ("vocals", "accompaniment", "mix"):  # no --model: the token file names it
        cli("decode", tmp_path / "s.atok", "-o", tmp_path / f"{track}.wav", "--track", track)
        out[track], sr = sf.read(tmp_path / f"{track}.wav")
        assert sr == 24000 and len(out[track]) == len(ref["mix"]) and np.isfinite(out[track]).all()
    n = len(ref["mix"])
    assert np.allclose(out["mix"], out["vocals"] + out["accompaniment"], atol=2e-3)
    # each decoded stem holds its own part: less of the other stem than the unseparated mix has
    # (measured on this song: release 1 vocals 6.0 dB, accompaniment 8.6 dB below the mix's leakage;
    # release 2: 6.2 and 9.0 dB; release 4: 5.1 and 9.7 dB; release 5: 5.6 and 8.8 dB)
    for own, other, margin in (("vocals", "accompaniment", 3), ("accompaniment", "vocals", 5)):
        mix_leak = stem_leakage(ref[own][:n], ref[other][:n], ref["mix"][:n])
        ours = stem_leakage(ref[own][:n], ref[other][:n], out[own])
        assert ours < mix_leak - margin, (own, ours, mix_leak)
    card = (shipped_dir("music") / "MODEL_CARD.md").read_text()
    assert "synthetic songs" in card and "--track vocals" in card
    assert json.loads((shipped_dir("music") / "meta.json").read_text())["name"] == "music-v1"


def test_encode_stems_routes_each_given_stem_to_its_own_track(tmp_path):
    """`encode --stems VOCALS ACCOMPANIMENT` (no --model: the shipped music tokenizer) and its data-dir form:
    the vocal stream comes from the vocal stem alone, so silencing the accompaniment leaves it unchanged,
    and the vocal track decoded from it holds less of the band than the mix does (on this song release 2
    2.9 dB less, release 4 2.6 dB, release 5 8.2 dB; routing the mix by release 2's separation head gave 2.3 dB)."""
    from audiotok.tokfile import read_tokens

    cli("synth-music", "--out", tmp_path / "c", "--songs", 3, "--seed", 978, "--min-seconds", 10, "--max-seconds", 11,
        "--quiet")
    song = tmp_path / "c" / "songs" / "song00002"
    cli("encode", "--stems", song / "vocals.wav", song / "accompaniment.wav", "-o", tmp_path / "stems.atok")
    tokens, header = read_tokens(tmp_path / "stems.atok")
    assert header["model_id"] == "music-v1" and header["original_length"] == sf.info(song / "mix.wav").frames
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(sf.info(song / "mix.wav").frames), 24000)
    cli("encode", "--stems", song / "vocals.wav", silent, "-o", tmp_path / "vocals_only.atok")
    alone, _ = read_tokens(tmp_path / "vocals_only.atok")
    assert np.array_equal(alone["vocals"], tokens["vocals"])
    assert not np.array_equal(alone["accompaniment"], tokens["accompaniment"])
    cli("decode", tmp_path / "stems.atok", "-o", tmp_path / "v.wav", "--track", "vocals")
    ref = {k: sf.read(song / f"{k}.wav")[0] for k in ("vocals", "accompaniment", "mix")}
    leak = stem_leakage(ref["vocals"], ref["accompaniment"], sf.read(tmp_path / "v.wav")[0])
    assert leak < stem_leakage(ref["vocals"], ref["accompaniment"], ref["mix"]) - 2
    # a data dir's vocals.scp and accompaniment.scp, one token file per song and tokens.scp
    cli("encode", "--stems", "--data-dir", tmp_path / "c" / "train", "-o", tmp_path / "train_tok")
    assert len((tmp_path / "train_tok" / "tokens.scp").read_text().splitlines()) == len(
        (tmp_path / "c" / "train" / "wav.scp").read_text().splitlines())
    # mistakes: one line each, nothing written
    r = cli("encode", "--stems", song / "vocals.wav", "-o", tmp_path / "x.atok", check=False)
    assert r.returncode == 1 and "two inputs" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("encode", "--stems", song / "vocals.wav", song / "accompaniment.wav", "-o", tmp_path / "x.atok",
            "--model", "speech", check=False)
    assert r.returncode == 1 and "dual-track tokenizer" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "c" / "dev" / "accompaniment.scp").unlink()
    r = cli("encode", "--stems", "--data-dir", tmp_path / "c" / "dev", "-o", tmp_path / "dev_tok", check=False)
    assert r.returncode == 1 and "accompaniment.scp: missing" in r.stderr
    assert not (tmp_path / "x.atok").exists() and not (tmp_path / "dev_tok").exists()
