"""encode -> .atok -> decode through the real CLI and the Python API, on a tiny packed DualCodec."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok import load_model
from audiotok.compress import decode_tokens, encode_waveform
from audiotok.models.loading import save_model_dir
from audiotok.tokfile import read_header, read_tokens, summarize
from tiny_models import packed_tiny_dualcodec, tiny_dualcodec

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "audiotok.cli", *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    return r


def speech(path, text="the quick brown fox jumps over the lazy dog", voice="en-us"):
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # random weights whisper (about 1e-7, below 16 bits): a louder last layer makes decoded files differ
    codec = tiny_dualcodec()
    with torch.no_grad():
        codec.decoder.block[-2].parametrizations.weight.original0.mul_(3e5)
    directory = tmp_path_factory.mktemp("codec") / "model"
    save_model_dir(codec, directory, meta={"training_data": "none (random weights, test)"})
    return directory


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return speech(tmp_path_factory.mktemp("audio") / "fox.wav")  # 22.05 kHz: encode resamples


def test_round_trip_through_cli_keeps_length_and_rate(tmp_path, model_dir, wav):
    atok, out = tmp_path / "fox.atok", tmp_path / "fox_rec.wav"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    cli("decode", atok, "-o", out)  # the model dir comes from the token file's header
    info = sf.info(wav)
    rec, sr = sf.read(out)
    assert sr == 24000
    assert len(rec) == round(info.frames * 24000 / info.samplerate)
    # the file holds the model's own decode, rounded to 16 bits
    tokens, header = read_tokens(atok)
    want = decode_tokens(load_model(model_dir), tokens, header["original_length"])[0].numpy()
    assert np.abs(rec - want).max() <= 0.5 / 32768 + 1e-7 and np.abs(rec).max() > 0.01
    shown = cli("info", atok).stdout
    assert "semantic" in shown and "acoustic" in shown and "kbps" in shown


def test_file_size_is_the_bitrate(tmp_path, model_dir, wav):
    model = load_model(model_dir)
    for n_q in (1, 2, 4):
        atok = tmp_path / f"nq{n_q}.atok"
        cli("encode", wav, "-o", atok, "--model", model_dir, "--n-q", n_q)
        header = read_header(atok)
        frames = header["streams"][0]["frames"]
        bits = model.bitrate(n_q) / model.frame_rate * frames
        data = atok.read_bytes()
        overhead = len(data) - math.ceil(bits / 8)
        # everything beyond the codes is the binary header and the block framing: tens of bytes,
        # and no local path (the model is named by its id)
        assert 20 < overhead < 64, overhead
        # (a lone 0x2F byte may occur in the binary fields; a path has at least /name/)
        assert str(model_dir).encode() not in data
        assert not re.search(rb"/[\w.-]+/", data[: summarize(atok)["header_bytes"]])
        assert header["model_id"] == model.model_id
        tokens, _ = read_tokens(atok)
        assert sum(t.shape[0] for t in tokens.values()) == n_q


def test_kbps_picks_the_largest_n_q_under_it(tmp_path, model_dir, wav):
    model = load_model(model_dir)
    target = model.bitrate(2) / 1000 + 0.01  # just above 2 codebooks
    atok = tmp_path / "k.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir, "--kbps", target)
    assert read_header(atok)["n_q"] == 2


def test_semantic_only_decode_and_n_q_prefix(tmp_path, model_dir, wav):
    atok = tmp_path / "full.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    a, b = tmp_path / "sem.wav", tmp_path / "full.wav"
    cli("decode", atok, "-o", a, "--semantic-only")
    cli("decode", atok, "-o", b)
    sa, _ = sf.read(a)
    sb, _ = sf.read(b)
    assert sa.shape == sb.shape and not np.allclose(sa, sb)


def test_wrong_model_and_damaged_files_are_one_line_errors(tmp_path, model_dir, wav):
    other = packed_tiny_dualcodec(tmp_path / "other", seed=1)
    atok = tmp_path / "x.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    r = cli("decode", atok, "-o", tmp_path / "y.wav", "--model", other, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "made by model" in r.stderr and not (tmp_path / "y.wav").exists()
    data = atok.read_bytes()
    (tmp_path / "trunc.atok").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    (tmp_path / "flip.atok").write_bytes(bytes(flipped))
    for name, words in (("trunc.atok", "truncated"), ("flip.atok", "damaged")):
        r = cli("decode", tmp_path / name, "-o", tmp_path / "z.wav", "--model", model_dir, check=False)
        assert r.returncode == 1 and words in r.stderr and name in r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "z.wav").exists()


def test_a_bad_file_among_good_ones_is_counted_and_the_rest_written(tmp_path, model_dir, wav):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.wav").write_bytes(wav.read_bytes())
    (src / "bad.wav").write_text("not audio")
    r = cli("encode", src, "-o", tmp_path / "out", "--model", model_dir, check=False)
    assert r.returncode == 1
    assert "1 of 2 files failed" in r.stderr and "bad.wav" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "out" / "good.atok").is_file() and not (tmp_path / "out" / "bad.atok").exists()


def test_data_dir_mode_in_parallel(tmp_path, model_dir):
    d = tmp_path / "data"
    d.mkdir()
    utts = {}
    for i, voice in enumerate(("en-us", "en-gb", "en-us+f3")):
        utt = f"spk{i}-utt{i}"
        utts[utt] = speech(tmp_path / f"{utt}.wav", f"sentence number {i} is here", voice)
    (d / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in sorted(utts.items())))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in sorted(utts)))
    (d / "spk2utt").write_text("".join(f"{u.split('-')[0]} {u}\n" for u in sorted(utts)))
    cli("encode", "--data-dir", d, "-o", tmp_path / "codes", "--model", model_dir, "--nj", 2, "--n-q", 2)
    scp = (tmp_path / "codes" / "tokens.scp").read_text().split("\n")
    assert sorted(line.split()[0] for line in scp if line) == sorted(utts)
    cli("decode", "--scp", tmp_path / "codes" / "tokens.scp", "-o", tmp_path / "wav", "--nj", 2)
    for u, p in utts.items():
        rec, sr = sf.read(tmp_path / "wav" / f"{u}.wav")
        assert sr == 24000 and len(rec) == round(sf.info(p).frames * 24000 / sf.info(p).samplerate)


def test_long_file_is_encoded_in_chunks_from_disk(tmp_path, model_dir):
    model = load_model(model_dir)
    t = np.arange(24000 * 20) / 24000
    sig = 0.3 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    sf.write(tmp_path / "long.wav", sig, 24000)
    atok = tmp_path / "long.atok"
    cli("encode", tmp_path / "long.wav", "-o", atok, "--model", model_dir, "--chunk-seconds", 3)
    tokens, header = read_tokens(atok)
    frames = math.ceil(len(sig) / (24000 / model.frame_rate))
    assert all(c.shape[-1] == frames for c in tokens.values())
    whole = encode_waveform(model, torch.tensor(sig, dtype=torch.float32)[None], chunk_seconds=60)
    # chunks see 2 s of context on each side; the global-attention SSL still sees a shorter
    # window, so a few semantic codes may differ, but nearly all must agree
    for name, c in whole.items():
        agree = (c == tokens[name]).float().mean().item()
        assert agree > 0.9, (name, agree)
    rec = tmp_path / "long_rec.wav"
    cli("decode", atok, "-o", rec)
    assert sf.info(rec).frames == len(sig)


def test_python_api(model_dir, wav):
    m = load_model(model_dir)
    x, _ = sf.read(wav)
    x = torch.tensor(x, dtype=torch.float32)[None, None]
    toks = m.encode(x, n_q=3)
    assert set(toks) == {"semantic", "acoustic"} and toks["acoustic"].shape[1] == 2
    y = m.decode(toks)
    y1 = m.decode({"semantic": toks["semantic"]})
    assert y.shape == y1.shape and y.shape[-1] >= x.shape[-1]


def test_pack_makes_a_self_contained_release(tmp_path, model_dir, wav):
    exp = tmp_path / "exp"
    (exp / "model").mkdir(parents=True)
    for f in Path(model_dir).iterdir():
        (exp / "model" / f.name).write_bytes(f.read_bytes())
    (exp / "RESULTS.md").write_text("# results\n")
    cli("pack", "--exp-dir", exp, "--out", tmp_path / "release")
    rel = tmp_path / "release"
    assert {"model.safetensors", "config.yaml", "meta.json", "README.md", "RESULTS.md"} <= {p.name for p in rel.iterdir()}
    cli("encode", wav, "-o", tmp_path / "r.atok", "--model", rel)
    assert read_header(tmp_path / "r.atok")["model_id"] == load_model(rel).model_id


def test_pack_never_replaces_what_it_did_not_make(tmp_path, model_dir, wav):
    exp = tmp_path / "exp"
    (exp / "model").mkdir(parents=True)
    for f in Path(model_dir).iterdir():
        (exp / "model" / f.name).write_bytes(f.read_bytes())
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    r = cli("pack", "--exp-dir", exp, "--out", precious, check=False)
    assert r.returncode == 1 and "not a packed model dir" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (precious / "keep.txt").read_text() == "mine"
    r = cli("pack", "--exp-dir", exp, "--out", exp, check=False)  # the exp dir itself
    assert r.returncode == 1 and (exp / "model" / "model.safetensors").is_file()
    rel = tmp_path / "rel"
    cli("pack", "--exp-dir", exp, "--out", rel, "--name", "tiny-12hz-v1", "--version", "1", "--dtype", "float16")
    cli("pack", "--exp-dir", exp, "--out", rel, "--name", "tiny-12hz-v1", "--version", "2")  # replaces a release
    assert load_model(rel).meta["version"] == "2"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rel")]  # no partial or old dirs left
    assert oct((rel / "model.safetensors").stat().st_mode & 0o777) != oct(0o600)
    cli("encode", wav, "-o", tmp_path / "a.atok", "--model", rel)
    assert read_header(tmp_path / "a.atok")["model_id"] == "tiny-12hz-v1"


def test_pack_float16_halves_the_weights_and_still_codes(tmp_path, model_dir, wav):
    exp = tmp_path / "exp"
    (exp / "model").mkdir(parents=True)
    for f in Path(model_dir).iterdir():
        (exp / "model" / f.name).write_bytes(f.read_bytes())
    cli("pack", "--exp-dir", exp, "--out", tmp_path / "f32")
    cli("pack", "--exp-dir", exp, "--out", tmp_path / "f16", "--dtype", "float16")
    s32, s16 = ((tmp_path / d / "model.safetensors").stat().st_size for d in ("f32", "f16"))
    assert s16 < 0.6 * s32
    x = torch.from_numpy(sf.read(wav, dtype="float32")[0])[None, None]
    a, b = load_model(tmp_path / "f32"), load_model(tmp_path / "f16")
    assert next(b.parameters()).dtype == torch.float32
    ya, yb = a.decode(a.encode(x)), b.decode(b.encode(x))
    assert ya.shape == yb.shape and torch.isfinite(yb).all()


def test_pack_inner_gives_the_codecs_ssl_encoder_as_a_model_a_new_codec_can_start_from(tmp_path, model_dir):
    from safetensors.torch import load_file

    from audiotok.config import plain_config
    from audiotok.registry import build_model

    cli("pack", "--exp-dir", model_dir, "--out", tmp_path / "ssl", "--inner", "ssl")
    ssl = load_model(tmp_path / "ssl")
    codec = load_model(model_dir)
    assert ssl.model_type == "bestrq" and "its 'ssl'" in ssl.meta["packed_from"]
    weights = load_file(str(tmp_path / "ssl" / "model.safetensors"))
    # the codec holds its SSL encoder's weights, not that SSL model's training head
    held = {k[len("ssl."):]: v for k, v in load_file(str(Path(model_dir) / "model.safetensors")).items()
            if k.startswith("ssl.")}
    assert held and all(torch.equal(weights[k], v) for k, v in held.items())
    conf = plain_config(codec.config)
    conf.pop("ssl")
    fresh = build_model({"model": "dualcodec", "model_conf": {**conf, "ssl_init_dir": str(tmp_path / "ssl")}})
    assert all(torch.equal(v, fresh.ssl.state_dict()[k]) for k, v in held.items())
    r = cli("pack", "--exp-dir", model_dir, "--out", tmp_path / "rvq", "--inner", "rvq", check=False)
    assert r.returncode == 1 and "holds no inner model under 'rvq'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "rvq").exists()


def test_shipped_names_resolve_and_unknown_names_say_what_ships(tmp_path, model_dir):
    from audiotok.errors import UserError
    from audiotok.pretrained import ALIASES, resolve_model, shipped_dir

    assert resolve_model(model_dir) == Path(model_dir)  # a path is used as is
    with pytest.raises(UserError, match="not a shipped model name"):
        resolve_model("no-such-model-v9")
    for alias, name in ALIASES.items():
        d = shipped_dir(alias)
        if d is not None:  # shipped in this checkout: the alias and the full name are the same dir
            assert d == shipped_dir(name) == resolve_model(alias) and d.name == name
            assert load_model(alias).meta["name"] == name


# ---- trustworthy results, no lost work ----------------------------------------------------------

def one_line_error(r, *words):
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert str(w) in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("nj", [1, 2])
def test_unwritable_output_is_one_line(tmp_path, model_dir, wav, nj):
    blocker = tmp_path / "some_file.txt"
    blocker.write_text("x")
    r = cli("encode", wav, "-o", blocker / "out.atok", "--model", model_dir, "--nj", nj, check=False)
    one_line_error(r, blocker / "out.atok", "not a folder")
    other = tmp_path / "other.wav"
    other.write_bytes(wav.read_bytes())
    r = cli("encode", wav, other, "-o", blocker / "outdir", "--model", model_dir, "--nj", nj, check=False)
    one_line_error(r, blocker / "outdir")
    r = cli("encode", wav, "-o", "/proc/audiotok_test/out.atok", "--model", model_dir, "--nj", nj, check=False)
    one_line_error(r, "/proc/audiotok_test")
    folder = tmp_path / "taken.atok"
    folder.mkdir()
    r = cli("encode", wav, "-o", folder, "--model", model_dir, "--nj", nj, check=False)
    one_line_error(r, folder, "is a folder")


def test_decode_unwritable_output_is_one_line(tmp_path, model_dir, wav):
    atok = tmp_path / "x.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    (tmp_path / "f.txt").write_text("x")
    one_line_error(cli("decode", atok, "-o", tmp_path / "f.txt" / "y.wav", check=False), "f.txt")
    (tmp_path / "y.wav").mkdir()
    one_line_error(cli("decode", atok, "-o", tmp_path / "y.wav", check=False), "is a folder")


def test_synth_corpus_unwritable_output_is_one_line(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    r = cli("synth-corpus", "--out", tmp_path / "f.txt" / "corpus", "--minutes", 0.05, "--quiet", check=False)
    one_line_error(r, tmp_path / "f.txt" / "corpus")


def test_an_output_that_is_an_input_is_refused(tmp_path, model_dir, wav):
    atok = tmp_path / "a.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    before = atok.read_bytes()
    one_line_error(cli("encode", atok, "-o", atok, "--model", model_dir, check=False), "a.atok", "also an input")
    one_line_error(cli("decode", atok, "-o", atok, check=False), "a.atok")  # not a .wav: refused too
    link = tmp_path / "link.atok"  # the same file under another name
    os.symlink(atok, link)
    one_line_error(cli("encode", link, "-o", atok, "--model", model_dir, check=False), "also an input")
    assert atok.read_bytes() == before
    # a data dir whose wav.scp names the would-be token file itself
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text(f"u1 {tmp_path / 'codes' / 'u1.atok'}\n")
    one_line_error(cli("encode", "--data-dir", d, "-o", tmp_path / "codes", "--model", model_dir, check=False),
                   "also an input")


def test_track_on_a_speech_codec_is_one_line(tmp_path, model_dir, wav):
    atok = tmp_path / "x.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    r = cli("decode", atok, "-o", tmp_path / "y.wav", "--track", "vocals", check=False)
    one_line_error(r, "has no tracks", "--track")
    assert not (tmp_path / "y.wav").exists()


def test_truncated_wav_is_encoded_with_a_warning(tmp_path, model_dir):
    full = tmp_path / "full.wav"
    sf.write(full, 0.3 * np.sin(np.arange(32000) / 5.0), 16000)  # header: 2 s
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2000])  # 1000 frames: 0.062 s present
    r = cli("encode", cut, "-o", tmp_path / "cut.atok", "--model", model_dir)
    warn = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warn) == 1 and str(cut) in warn[0] and "header says 2.000 s" in warn[0] and "0.062 s" in warn[0]
    assert "1 truncated" in r.stderr.splitlines()[-1]
    shown = cli("info", cut).stdout
    assert "truncated:   header says 2.000 s, file holds 0.062 s" in shown
    assert "truncated:" not in cli("info", full).stdout


def test_bad_option_values_are_one_line(tmp_path, model_dir, wav):
    model = load_model(model_dir)
    lowest = f"{model.code_rate(1) / 1000:.3f} kbps"
    one_line_error(cli("encode", wav, "-o", tmp_path / "a.atok", "--model", model_dir, "--kbps", 0.001,
                       check=False), "lowest bitrate", lowest)
    for bad in (0, -1):
        one_line_error(cli("encode", wav, "-o", tmp_path / "a.atok", "--model", model_dir, "--chunk-seconds", bad,
                           check=False), "--chunk-seconds must be > 0")
    atok = tmp_path / "x.atok"
    cli("encode", wav, "-o", atok, "--model", model_dir)
    one_line_error(cli("decode", atok, "-o", tmp_path / "x.mp3", check=False), "x.mp3", ".wav")
    assert not (tmp_path / "x.mp3").exists()
    one_line_error(cli("encode", wav, "-o", tmp_path / "x.wav", "--model", model_dir, check=False), ".atok")


def test_a_bad_first_token_file_does_not_stop_the_batch(tmp_path, model_dir, wav):
    src = tmp_path / "in"
    src.mkdir()
    cli("encode", wav, "-o", src / "b_good.atok", "--model", model_dir)
    (src / "a_bad.atok").write_bytes(b"not a token file")
    (src / "c_bad.atok").write_bytes(b"not a token file either")
    r = cli("decode", src, "-o", tmp_path / "out", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "a_bad.atok" in r.stderr and "c_bad.atok" in r.stderr and "2 of 3 files failed" in r.stderr
    assert (tmp_path / "out" / "b_good.wav").is_file()


def test_encode_nj1_loads_the_model_once(tmp_path, model_dir, wav):
    code = ("import sys, audiotok.models.loading as L; from audiotok.cli import main; n = [0]; f = L.load_model\n"
            "def count(*a, **k):\n    n[0] += 1\n    return f(*a, **k)\n"
            "L.load_model = count\nrc = main(sys.argv[1:])\nprint('loads', n[0]); sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, "encode", str(wav), "-o", str(tmp_path / "a.atok"),
                        "--model", str(model_dir)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "loads 1" in r.stdout


def test_entry_points_set_passive_omp_wait_before_torch():
    from audiotok.bin import use_passive_omp_wait

    env = {}
    assert use_passive_omp_wait(env) == "PASSIVE" and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert use_passive_omp_wait(env) == "ACTIVE"  # the user's choice stands
    code = ("import os, sys; import audiotok.cli; "
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=base, timeout=120)
    assert r.stdout.split() == ["PASSIVE", "False"], r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={**base, "OMP_WAIT_POLICY": "ACTIVE"}, timeout=120)
    assert r.stdout.split() == ["ACTIVE", "False"], r.stdout + r.stderr


def test_a_fresh_install_codes_speech_with_the_shipped_codec(tmp_path):
    """No --model anywhere: encode, info and decode use the shipped speech codec (speech-12hz-v1)."""
    from audiotok.pretrained import shipped_dir

    assert shipped_dir("speech") is not None, "audiotok/pretrained/speech-12hz-v1 must ship with the package"
    src = tmp_path / "slt.wav"
    subprocess.run(["flite", "-voice", "slt", "-o", str(src), "-t", "Seven bright birds sang at dawn."], check=True)
    cli("encode", src, "-o", tmp_path / "s.atok")
    header = read_header(tmp_path / "s.atok")
    assert header["model_id"] == "speech-12hz-v1" and header["model_version"] == "3"
    shown = cli("info", tmp_path / "s.atok").stdout
    assert "speech-12hz-v1" in shown
    cli("decode", tmp_path / "s.atok", "-o", tmp_path / "rec.wav")
    rec, sr = sf.read(tmp_path / "rec.wav")
    info = sf.info(src)
    assert sr == 16000 and len(rec) == round(info.frames * 16000 / info.samplerate)  # every input sample back
    assert np.isfinite(rec).all() and np.abs(rec).max() > 0.01
    # a token file of an earlier release (other weights, same name) is refused, naming the version it needs
    from audiotok.tokfile import encode_token_bytes, read_tokens

    tokens, head = read_tokens(tmp_path / "s.atok", as_numpy=True)
    (tmp_path / "v2.atok").write_bytes(encode_token_bytes(tokens, {**head, "model_version": "2"}))
    r = cli("decode", tmp_path / "v2.atok", "-o", tmp_path / "v2.wav", check=False)
    assert r.returncode == 1 and "speech-12hz-v1 version 2" in r.stderr and "Traceback" not in r.stderr
    m = load_model()  # the Python API default
    assert m.meta["name"] == "speech-12hz-v1" and m.frame_rate == 12.5 and "synthetic" in \
        (shipped_dir("speech") / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("name,version,origin", [("speech-25hz-v1", "2", "speech-12hz-v1` (version 3)"),
                                                 ("speech-25hz-v2", "1", "speech-25hz-v1` (version 2)")])
def test_the_25hz_codecs_ship_and_code_a_sentence(tmp_path, name, version, origin):
    """The 25 Hz codecs ship: speech-25hz-v2 (the unified LM reads it; its encoder distilled from Whisper)
    and speech-25hz-v1. 25 Hz frames of one semantic codebook (4096) and three acoustic ones (1024),
    and each card names the shipped codec it started from."""
    from audiotok.pretrained import shipped_dir

    d = shipped_dir(name)
    assert d is not None, f"audiotok/pretrained/{name} must ship with the package"
    src = speech(tmp_path / "s.wav", "a cat sat on the mat", voice="en-us+f3")
    cli("encode", src, "-o", tmp_path / "s.atok", "--model", name)
    head = read_header(tmp_path / "s.atok")
    assert (head["model_id"], head["model_version"], head["frame_rate"]) == (name, version, 25.0)
    assert [(s["name"], s["n_codebooks"], s["codebook_size"]) for s in head["streams"]] == [
        ("semantic", 1, 4096), ("acoustic", 3, 1024)]
    cli("decode", tmp_path / "s.atok", "-o", tmp_path / "rec.wav")  # the token file names its codec
    rec, sr = sf.read(tmp_path / "rec.wav")
    info = sf.info(src)
    assert sr == 16000 and len(rec) == round(info.frames * 16000 / info.samplerate) and np.abs(rec).max() > 0.01
    card = (d / "MODEL_CARD.md").read_text()
    assert "synthetic" in card and f"- started from `{origin}" in card


def test_decoding_a_long_file_keeps_memory_flat(tmp_path):
    """Whole-file decode writes its chunks to disk as they come: 20 minutes of tokens take about the
    memory of 20 seconds (it held the whole waveform, several copies of it, before)."""

    import numpy as np

    from audiotok.compress import model_header
    from audiotok.models.loading import save_model_dir
    from audiotok.tokfile import write_tokens
    from test_spectral_codec import tiny

    model_dir = save_model_dir(tiny().eval(), tmp_path / "model")
    model = load_model(model_dir)  # as packed: the token files name it
    g = np.random.default_rng(0)
    peaks = {}
    for minutes in (1 / 3, 20):
        frames = int(minutes * 60 * model.frame_rate)
        tokens = {"semantic": g.integers(0, 64, (1, frames)), "acoustic": g.integers(0, 32, (3, frames))}
        atok = tmp_path / f"{minutes:g}.atok"
        write_tokens(atok, tokens, model_header(model, None, frames * model.hop_length))
        child = ("import resource, sys; from audiotok.cli import main; rc = main(sys.argv[1:]); "
                 "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
        r = subprocess.run([sys.executable, "-c", child, "decode", str(atok), "-o", str(tmp_path / f"{minutes:g}.wav"),
                            "--model", str(model_dir)], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr
        peaks[minutes] = int(r.stderr.split("peak")[-1].split()[0]) / 1024  # MB
    wav_mb = 20 * 60 * 16000 * 4 / 2**20  # 73 MB of float32 for 20 minutes
    assert sf.info(str(tmp_path / "20.wav")).frames == int(20 * 60 * model.frame_rate) * model.hop_length
    assert peaks[20] - peaks[1 / 3] < 0.5 * wav_mb, peaks
