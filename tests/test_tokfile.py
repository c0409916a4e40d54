"""audiotok.tokfile: the .atok format round trip, exact size, damage detection and model checks."""

import json
import math
import os
import struct
import zlib

import numpy as np
import pytest
import torch

from audiotok.errors import TokenFileError, UserError
from audiotok.models.base import TokenStream
from audiotok.tokfile import (
    FORMAT_VERSION,
    MAGIC,
    bits_per_code,
    check_model_matches,
    payload_bits,
    read_header,
    read_tokens,
    summarize,
    write_tokens,
)

SIZES = {"sem": 16384, "ac": 1000, "pow2": 1024, "bin": 2, "odd": 3, "one": 1, "big": 2 ** 20, "byte": 256}


def random_tokens(rng, frames=37, sizes=SIZES, k=3):
    return {name: torch.from_numpy(rng.integers(0, n, (k, frames))) for name, n in sizes.items()}


def make_header(sizes=SIZES, **extra):
    h = {"model_type": "toycodec", "sample_rate": 16000, "frame_rate": 25.0, "original_length": 16000,
         "streams": [{"name": n, "codebook_size": c, "n_codebooks": 3} for n, c in sizes.items()]}
    h.update(extra)
    return h


def layout(path):
    """(header length, payload bytes) read from the raw file."""
    data = open(path, "rb").read()
    hlen = struct.unpack("<I", data[5:9])[0]
    return hlen, len(data) - 9 - hlen - 4


def test_bits_per_code():
    sizes = (1, 2, 3, 4, 1000, 1024, 1025, 16384, 2 ** 20)
    assert [bits_per_code(n) for n in sizes] == [0, 1, 2, 2, 10, 10, 11, 14, 20]
    with pytest.raises(ValueError):
        bits_per_code(0)


def test_round_trip_many_codebook_sizes(tmp_path):
    rng = np.random.default_rng(1)
    tokens = random_tokens(rng)
    tokens["sem"][0, :2] = torch.tensor([0, 16383])  # the extremes of the range
    path = tmp_path / "x.atok"
    write_tokens(path, tokens, make_header(utt_id="spk1-utt7", note="ünïcode"))
    back, header = read_tokens(path)
    assert list(back) == list(SIZES)  # stream order kept
    for name in SIZES:
        assert back[name].dtype == torch.int64 and torch.equal(back[name], tokens[name]), name
    assert header["utt_id"] == "spk1-utt7" and header["note"] == "ünïcode"
    assert header["model_type"] == "toycodec" and header["original_length"] == 16000
    assert header["streams"][0] == {"name": "sem", "codebook_size": 16384, "n_codebooks": 3, "frames": 37}
    assert "audiotok_version" in header
    assert read_header(path) == header


def test_size_is_the_real_bitrate(tmp_path):
    rng = np.random.default_rng(2)
    for frames in (1, 7, 250):
        tokens = {"sem": torch.from_numpy(rng.integers(0, 16384, (1, frames))),
                  "ac": torch.from_numpy(rng.integers(0, 1000, (5, frames)))}
        header = make_header({"sem": 16384, "ac": 1000})
        write_tokens(tmp_path / "a.atok", tokens, header)
        bits = payload_bits(tokens, header["streams"])
        assert bits == frames * (14 + 5 * 10)
        hlen, payload = layout(tmp_path / "a.atok")
        assert payload == math.ceil(bits / 8)
        s = summarize(tmp_path / "a.atok")
        assert s["payload_bytes"] == payload and s["payload_bits"] == bits
        assert s["file_bytes"] == os.path.getsize(tmp_path / "a.atok") == payload + hlen + 13
        assert s["bitrate_kbps"] == pytest.approx(25 * 64 / 1000)


def test_bit_layout_is_msb_first_across_streams(tmp_path):
    # 3-bit codes 1, 2, 3 then a 1-bit code 1: 001 010 011 1 -> 0b00101001 0b11000000
    tokens = {"a": torch.tensor([[1, 2, 3]]), "b": torch.tensor([[1]])}
    write_tokens(tmp_path / "a.atok", tokens, make_header({"a": 8, "b": 2}))
    data = open(tmp_path / "a.atok", "rb").read()
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    assert data[-6:-4] == bytes([0b00101001, 0b11000000])
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_accepts_batch_of_one_and_stream_subset(tmp_path):
    rng = np.random.default_rng(3)
    codes = torch.from_numpy(rng.integers(0, 1000, (1, 4, 20)))  # model.encode output [B=1, K, T]
    header = make_header({"sem": 16384, "ac": 1000})  # the model has 'sem' too; n_q kept only 'ac'
    write_tokens(tmp_path / "a.atok", {"ac": codes}, header)
    back, h = read_tokens(tmp_path / "a.atok")
    assert list(back) == ["ac"] and torch.equal(back["ac"], codes[0])
    assert h["streams"] == [{"name": "ac", "codebook_size": 1000, "n_codebooks": 4, "frames": 20}]


def test_empty_and_single_entry_streams(tmp_path):
    tokens = {"one": torch.zeros(2, 5, dtype=torch.long), "ac": torch.zeros(1, 0, dtype=torch.long)}
    write_tokens(tmp_path / "a.atok", tokens, make_header({"one": 1, "ac": 1000}))
    assert layout(tmp_path / "a.atok")[1] == 0
    back, _ = read_tokens(tmp_path / "a.atok")
    assert back["one"].shape == (2, 5) and back["ac"].shape == (1, 0)


def test_large_random_tokens_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    frames = 25 * 3600  # one hour at 25 Hz, 12 codebooks
    tokens = {"sem": torch.from_numpy(rng.integers(0, 16384, (1, frames))),
              "ac": torch.from_numpy(rng.integers(0, 1000, (11, frames)))}
    write_tokens(tmp_path / "hour.atok", tokens, make_header({"sem": 16384, "ac": 1000}))
    assert layout(tmp_path / "hour.atok")[1] == frames * (14 + 110) // 8
    back, _ = read_tokens(tmp_path / "hour.atok")
    assert torch.equal(back["sem"], tokens["sem"]) and torch.equal(back["ac"], tokens["ac"])


# ---------------------------------------------------------------- errors when writing
def test_code_out_of_range_when_writing(tmp_path):
    header = make_header({"ac": 1000})
    for bad, shown in ((1000, "1000"), (-1, "-1")):
        codes = torch.zeros(2, 10, dtype=torch.long)
        codes[1, 3] = bad
        with pytest.raises(TokenFileError, match=f"stream 'ac' has code {shown} outside \\[0, 1000\\)"):
            write_tokens(tmp_path / "a.atok", {"ac": codes}, header)
    with pytest.raises(TokenFileError, match="no codebook_size for stream"):
        write_tokens(tmp_path / "a.atok", {"other": torch.zeros(1, 3, dtype=torch.long)}, header)
    with pytest.raises(TokenFileError, match="header needs 'frame_rate'"):
        write_tokens(tmp_path / "a.atok", {"ac": torch.zeros(1, 3, dtype=torch.long)},
                     {"sample_rate": 16000, "streams": header["streams"]})
    assert os.listdir(tmp_path) == []  # nothing half-written


# ---------------------------------------------------------------- damaged files
@pytest.fixture
def good_file(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "good.atok"
    write_tokens(path, random_tokens(rng, frames=50), make_header())
    return path


def _variant(good_file, name, mutate):
    data = bytearray(open(good_file, "rb").read())
    data = mutate(data)
    p = good_file.parent / name
    p.write_bytes(bytes(data))
    return p


def _raises(path, words):
    for fn in (read_tokens, summarize):
        with pytest.raises(TokenFileError) as e:
            fn(path)
        assert isinstance(e.value, UserError) and str(path) in str(e.value) and words in str(e.value), str(e.value)


def test_truncated_file(good_file):
    _raises(_variant(good_file, "t1.atok", lambda d: d[:-10]), "truncated")
    _raises(_variant(good_file, "t2.atok", lambda d: d[:30]), "truncated")
    _raises(_variant(good_file, "t3.atok", lambda d: d[:6]), "truncated")
    with pytest.raises(TokenFileError, match="truncated"):
        read_header(good_file.parent / "t1.atok")


def test_flipped_payload_byte_is_checksum_error(good_file):
    def flip(d):
        d[len(d) - 20] ^= 0x10
        return d

    _raises(_variant(good_file, "f.atok", flip), "file is damaged (checksum mismatch)")


def test_flipped_header_byte_is_damage(good_file):
    def flip(d):
        i = d.index(b'"toycodec"') + 3
        d[i] ^= 0x01  # still valid JSON, other model name: only the checksum can tell
        return d

    def brace(d):
        d[9] = ord("[")  # JSON no longer parses
        return d

    _raises(_variant(good_file, "h.atok", flip), "checksum mismatch")
    _raises(_variant(good_file, "b.atok", brace), "damaged")


def test_trailing_bytes_are_damage(good_file):
    _raises(_variant(good_file, "x.atok", lambda d: d + b"\x00\x00"), "damaged")


def test_bad_magic_and_version(good_file, tmp_path):
    wav = tmp_path / "audio.atok"
    wav.write_bytes(b"RIFF" + bytes(60))
    _raises(wav, "not an audiotok token file")
    empty = tmp_path / "empty.atok"
    empty.write_bytes(b"")
    _raises(empty, "not an audiotok token file")

    def bump(d):
        d[4] = FORMAT_VERSION + 1
        return d

    _raises(_variant(good_file, "v.atok", bump), f"unsupported token file version {FORMAT_VERSION + 1}")
    _raises(tmp_path / "missing.atok", "no such file")
    _raises(tmp_path, "directory")


# ---------------------------------------------------------------- model check
def model_desc(**over):
    d = {"model_type": "toycodec", "sample_rate": 16000, "frame_rate": 25.0,
         "streams": [{"name": "sem", "codebook_size": 16384, "n_codebooks": 1},
                     {"name": "ac", "codebook_size": 1000, "n_codebooks": 7}]}
    d.update(over)
    return d


def test_model_check(tmp_path):
    tokens = {"sem": torch.zeros(1, 4, dtype=torch.long), "ac": torch.zeros(3, 4, dtype=torch.long)}
    write_tokens(tmp_path / "a.atok", tokens, dict(model_desc(), model_id="abc123"))
    header = read_header(tmp_path / "a.atok")
    check_model_matches(header, model_desc(), tmp_path / "a.atok")  # fewer codebooks (n_q) is fine
    check_model_matches(header, model_desc(model_id="abc123"))
    # TokenStream objects (a model's own streams) work as well as dicts
    check_model_matches(header, model_desc(streams=[TokenStream("sem", 16384, 1), TokenStream("ac", 1000, 7)]))

    def streams(ac_size=1000, ac_k=7, with_ac=True):
        out = [{"name": "sem", "codebook_size": 16384, "n_codebooks": 1}]
        return out + ([{"name": "ac", "codebook_size": ac_size, "n_codebooks": ac_k}] if with_ac else [])

    wrong = {
        "model type differs": model_desc(model_type="othercodec"),
        "sample rate 16000 Hz vs 24000 Hz": model_desc(sample_rate=24000),
        "frame rate 25.0 Hz vs 12.5 Hz": model_desc(frame_rate=12.5),
        "stream 'ac' codebook size 1000 vs 1024": model_desc(streams=streams(ac_size=1024)),
        "stream 'ac' has 3 codebooks, the model 2": model_desc(streams=streams(ac_k=2)),
        "the model has no stream 'ac'": model_desc(streams=streams(with_ac=False)),
        "model id abc123 vs fff000": model_desc(model_id="fff000"),
    }
    for words, desc in wrong.items():
        with pytest.raises(TokenFileError) as e:
            check_model_matches(header, desc, tmp_path / "a.atok")
        msg = str(e.value)
        assert words in msg and "made by model toycodec" in msg and str(tmp_path / "a.atok") in msg, msg
        assert "\n" not in msg


def test_header_is_plain_json(good_file):
    data = open(good_file, "rb").read()
    hlen = struct.unpack("<I", data[5:9])[0]
    assert json.loads(data[9:9 + hlen].decode("utf-8"))["sample_rate"] == 16000
