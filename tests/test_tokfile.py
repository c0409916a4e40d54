"""audiotok.tokfile: the .atok format round trip, compact header, exact size, damage detection
(every single-bit flip, every truncation), partial reads and model checks."""

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
    encode_token_bytes,
    payload_bits,
    read_header,
    read_token_stream,
    read_tokens,
    read_tokens_partial,
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
    """(header block bytes, code bytes) of a file, from the reader."""
    r = read_token_stream(open(path, "rb").read())
    return r.header_bytes, r.code_bytes


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
    write_tokens(path, tokens, make_header(model_id="tøy-ünïcode", model_version="2", utt_id="spk1-utt7"))
    back, header = read_tokens(path)
    assert list(back) == list(SIZES)  # stream order kept
    for name in SIZES:
        assert back[name].dtype == torch.int64 and torch.equal(back[name], tokens[name]), name
    assert "utt_id" not in header  # only the format's own fields are stored
    assert header["model_id"] == "tøy-ünïcode" and header["model_version"] == "2"
    assert header["original_length"] == 16000 and header["n_q"] == 3 * len(SIZES)
    assert header["sample_rate"] == 16000 and header["frame_rate"] == 25.0
    assert header["streams"][0] == {"name": "sem", "codebook_size": 16384, "n_codebooks": 3, "frames": 37}
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
        assert s["payload_bytes"] == payload and s["payload_bits"] == bits and s["blocks"] == 1
        # one block: flags, frame count, original length (2 bytes: 16000), CRC32
        assert s["framing_bytes"] == 1 + len(bytes([frames])) + (1 if frames >= 128 else 0) + 2 + 4
        assert s["file_bytes"] == os.path.getsize(tmp_path / "a.atok") == payload + hlen + s["framing_bytes"]
        assert s["overhead_bytes"] == hlen + s["framing_bytes"]
        assert s["code_rate_kbps"] == pytest.approx(25 * 64 / 1000)
        assert s["file_rate_kbps"] == pytest.approx(8 * s["file_bytes"] / 1.0 / 1000)  # 16000 samples = 1 s


def test_bit_layout_is_msb_first_across_streams(tmp_path):
    # 3-bit codes 1, 2, 3 then a 1-bit code 1: 001 010 011 1 -> 0b00101001 0b11000000
    tokens = {"a": torch.tensor([[1], [2], [3]]), "b": torch.tensor([[1]])}  # 3 codebooks x 1 frame
    write_tokens(tmp_path / "a.atok", tokens, make_header({"a": 8, "b": 2}))
    data = open(tmp_path / "a.atok", "rb").read()
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    assert data[-6:-4] == bytes([0b00101001, 0b11000000])
    hlen = read_token_stream(data).header_bytes
    header_crc = struct.unpack("<I", data[hlen - 4 : hlen])[0]
    assert header_crc == zlib.crc32(data[: hlen - 4])
    # the block's CRC continues from the header's: blocks are chained
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[hlen:-4], header_crc)


def test_accepts_batch_of_one_and_stream_subset(tmp_path):
    rng = np.random.default_rng(3)
    codes = torch.from_numpy(rng.integers(0, 1000, (1, 4, 20)))  # model.encode output [B=1, K, T]
    header = make_header({"sem": 16384, "ac": 1000})  # the model has 'sem' too; n_q kept only 'ac'
    write_tokens(tmp_path / "a.atok", {"ac": codes}, header)
    back, h = read_tokens(tmp_path / "a.atok")
    assert list(back) == ["ac"] and torch.equal(back["ac"], codes[0])
    assert h["streams"] == [{"name": "ac", "codebook_size": 1000, "n_codebooks": 4, "frames": 20}]


def test_empty_and_single_entry_streams(tmp_path):
    tokens = {"one": torch.zeros(2, 5, dtype=torch.long), "ac": torch.zeros(0, 5, dtype=torch.long)}
    write_tokens(tmp_path / "a.atok", tokens, make_header({"one": 1, "ac": 1000}))
    assert layout(tmp_path / "a.atok")[1] == 0
    back, _ = read_tokens(tmp_path / "a.atok")
    assert back["one"].shape == (2, 5) and back["ac"].shape == (0, 5)
    empty = {"ac": torch.zeros(3, 0, dtype=torch.long)}
    write_tokens(tmp_path / "b.atok", empty, make_header({"ac": 1000}))
    back, h = read_tokens(tmp_path / "b.atok")
    assert back["ac"].shape == (3, 0) and h["streams"][0]["frames"] == 0


def test_large_random_tokens_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    frames = 25 * 3600  # one hour at 25 Hz, 12 codebooks
    tokens = {"sem": torch.from_numpy(rng.integers(0, 16384, (1, frames))),
              "ac": torch.from_numpy(rng.integers(0, 1000, (11, frames)))}
    write_tokens(tmp_path / "hour.atok", tokens, make_header({"sem": 16384, "ac": 1000}))
    assert layout(tmp_path / "hour.atok")[1] == frames * (14 + 110) // 8  # 250-frame blocks: no padding
    s = summarize(tmp_path / "hour.atok")
    assert s["blocks"] == 360 and s["framing_bytes"] < 360 * 8  # < 1 bit/s of framing
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
    with pytest.raises(TokenFileError, match="different frame counts"):
        write_tokens(tmp_path / "a.atok", {"ac": torch.zeros(1, 3, dtype=torch.long),
                                           "sem": torch.zeros(1, 4, dtype=torch.long)}, make_header())
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
        i = d.index(b"toycodec") + 3
        d[i] ^= 0x01  # another model name that still parses: only the checksum can tell
        return d

    def length(d):
        d[5] ^= 0x01  # the header's length field
        return d

    _raises(_variant(good_file, "h.atok", flip), "checksum mismatch in its header")
    _raises(_variant(good_file, "b.atok", length), "damaged")


def test_trailing_bytes_are_damage(good_file):
    _raises(_variant(good_file, "x.atok", lambda d: d + b"\x00\x00"), "damaged")


def test_bad_magic_and_version(good_file, tmp_path):
    wav = tmp_path / "audio.atok"
    wav.write_bytes(b"RIFF" + bytes(60))
    _raises(wav, "not an audiotok token file")
    empty = tmp_path / "empty.atok"
    empty.write_bytes(b"")
    _raises(empty, "not an audiotok token file")

    def bump(d):  # a newer writer: the header checks out with its own version byte
        d[4] = FORMAT_VERSION + 1
        hlen = read_token_stream(open(good_file, "rb").read()).header_bytes
        d[hlen - 4 : hlen] = struct.pack("<I", zlib.crc32(bytes(d[: hlen - 4])))
        return d

    _raises(_variant(good_file, "v.atok", bump), f"unsupported token file version {FORMAT_VERSION + 1}")
    # a version-1 file (JSON header, whole-file CRC)
    body = MAGIC + bytes([1]) + struct.pack("<I", 2) + b"{}"
    old = tmp_path / "old.atok"
    old.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    _raises(old, "old token file format (version 1): re-encode it")
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
        "sample rate 16000 Hz vs 24000 Hz": model_desc(sample_rate=24000),
        "frame rate 25.0 Hz vs 12.5 Hz": model_desc(frame_rate=12.5),
        "stream 'ac' codebook size 1000 vs 1024": model_desc(streams=streams(ac_size=1024)),
        "stream 'ac' has 3 codebooks, the model 2": model_desc(streams=streams(ac_k=2)),
        "the model has no stream 'ac'": model_desc(streams=streams(with_ac=False)),
        "made by model abc123, not fff000: decode it with --model of abc123": model_desc(model_id="fff000"),
    }
    for words, desc in wrong.items():
        with pytest.raises(TokenFileError) as e:
            check_model_matches(header, desc, tmp_path / "a.atok")
        msg = str(e.value)
        assert words in msg and "made by model abc123" in msg and str(tmp_path / "a.atok") in msg, msg
        assert "\n" not in msg


# ---------------------------------------------------------------- every flip, every cut
def small_file(tmp_path, block_frames=4):
    """A 2-stream file of 10 frames in blocks of `block_frames` (so 3 blocks by default)."""
    rng = np.random.default_rng(9)
    tokens = {"semantic": torch.from_numpy(rng.integers(0, 16384, (1, 10))),
              "acoustic": torch.from_numpy(rng.integers(0, 1024, (2, 10)))}
    header = {"model_id": "speech-12hz-v1", "model_version": "1", "sample_rate": 24000, "frame_rate": 12.5,
              "original_length": 10 * 1920 - 300,
              "streams": [{"name": "semantic", "codebook_size": 16384}, {"name": "acoustic", "codebook_size": 1024}]}
    path = tmp_path / "small.atok"
    write_tokens(path, tokens, header, block_frames=block_frames)
    return path, tokens


def test_header_is_tens_of_bytes_and_holds_no_path(tmp_path):
    path, _ = small_file(tmp_path)
    data = path.read_bytes()
    r = read_token_stream(data)
    assert r.header_bytes < 64, r.header_bytes  # 2 streams, id speech-12hz-v1 version 1
    assert r.blocks == 3 and r.framing_bytes == 3 * 6 + 3  # flags, frames, CRC32 each; the length (18900) in the last
    for needle in (str(tmp_path).encode(), os.path.expanduser("~").encode(), b"/"):
        assert needle not in data[: r.header_bytes]
    assert str(tmp_path).encode() not in data


def test_every_single_bit_flip_is_damage(tmp_path):
    path, _ = small_file(tmp_path)
    data = path.read_bytes()
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(TokenFileError) as e:
                read_tokens(_write(tmp_path / "f.atok", bad))
            msg = str(e.value)
            # damage, never "another model" or "not a token file"; framing flips may look like a cut
            assert "damaged" in msg and "made by model" not in msg, (i, bit, msg)
    n = 8 * len(data)
    print(f"{n} single-bit flips over {len(data)} bytes, all detected as damage")
    assert n == 8 * len(data) > 600


def test_every_truncation_is_detected(tmp_path):
    path, tokens = small_file(tmp_path)
    data = path.read_bytes()
    for n in range(1, len(data)):
        with pytest.raises(TokenFileError, match="truncated"):
            read_tokens(_write(tmp_path / "t.atok", data[:n]))
    print(f"{len(data) - 1} truncations of a {len(data)}-byte file, all detected")


def test_truncated_stream_gives_the_whole_blocks_before_the_cut(tmp_path):
    path, tokens = small_file(tmp_path)
    data = path.read_bytes()
    full = read_token_stream(data)
    r = read_token_stream(data[:-1])
    assert not r.complete and r.truncated and r.header["original_length"] is None
    assert r.blocks == 2 and r.header["streams"][0]["frames"] == 8
    ends = [full.header_bytes]  # byte offset after the header, then after each block
    for n in range(full.header_bytes, len(data) + 1):
        r = read_token_stream(data[:n])
        want = 0 if r.blocks == 0 else min(4 * r.blocks, 10)
        assert r.header["streams"][0]["frames"] == want
        for name in tokens:
            assert np.array_equal(r.tokens[name], tokens[name].numpy()[:, :want])
        assert r.complete == (n == len(data)) and (r.problem is None) == r.complete
        if r.offset != ends[-1]:
            ends.append(r.offset)
    assert len(ends) == 4 and ends[-1] == len(data)  # header, then 3 blocks
    # the file API: the same partial result, while read_tokens refuses
    p = _write(tmp_path / "cut.atok", data[: ends[2] + 3])
    r = read_tokens_partial(p)
    assert r.offset == ends[2] and r.blocks == 2 and not r.complete and "truncated" in r.problem
    assert torch.equal(r.tokens["acoustic"], tokens["acoustic"][:, :8])
    with pytest.raises(TokenFileError, match="truncated"):
        read_tokens(p)
    # a damaged middle block: the first block is still there
    bad = bytearray(data)
    bad[ends[1] + 3] ^= 0x04
    r = read_token_stream(bytes(bad))
    assert r.blocks == 1 and "damaged" in r.problem and r.offset == ends[1]
    # a whole block dropped from the middle: the chained CRCs notice
    r = read_token_stream(data[: ends[1]] + data[ends[2]:])
    assert r.blocks == 1 and "damaged" in r.problem


def test_file_rate_close_to_code_rate(tmp_path):
    # 2.3 s at 24 kHz, 12.5 Hz frames: 14 + 2 x 10 bits = 0.425 kbps of codes
    rng = np.random.default_rng(3)
    frames = math.ceil(2.3 * 12.5)
    tokens = {"semantic": torch.from_numpy(rng.integers(0, 16384, (1, frames))),
              "acoustic": torch.from_numpy(rng.integers(0, 1024, (2, frames)))}
    header = {"model_id": "speech-12hz-v1", "model_version": "1", "sample_rate": 24000, "frame_rate": 12.5,
              "original_length": int(2.3 * 24000),
              "streams": [{"name": "semantic", "codebook_size": 16384}, {"name": "acoustic", "codebook_size": 1024}]}
    write_tokens(tmp_path / "s.atok", tokens, header)
    s = summarize(tmp_path / "s.atok")
    assert s["code_rate_kbps"] == pytest.approx(0.425) and s["payload_bytes"] == 124
    print(f"2.3 s: {s['payload_bytes']} code bytes + {s['overhead_bytes']} overhead "
          f"({s['header_bytes']} header, {s['framing_bytes']} framing): file rate {s['file_rate_kbps']:.3f} kbps")
    assert s["overhead_bytes"] <= 52  # was 487 bytes of JSON header
    assert s["file_rate_kbps"] < 0.62  # the old format: 2.1 kbps


def test_model_id_or_version_mismatch_names_the_required_model(tmp_path):
    path, _ = small_file(tmp_path)
    header = read_header(path)
    desc = {"sample_rate": 24000, "frame_rate": 12.5,
            "streams": [{"name": "semantic", "codebook_size": 16384, "n_codebooks": 1},
                        {"name": "acoustic", "codebook_size": 1024, "n_codebooks": 8}]}
    check_model_matches(header, dict(desc, model_id="speech-12hz-v1", model_version="1"), path)
    for other in (dict(model_id="speech-12hz-v1", model_version="2"), dict(model_id="speech-25hz-v1", model_version="1")):
        with pytest.raises(UserError) as e:
            check_model_matches(header, dict(desc, **other), path)
        msg = str(e.value)
        assert "made by model speech-12hz-v1 version 1" in msg and str(path) in msg and "\n" not in msg, msg


def _write(path, data):
    path.write_bytes(bytes(data))
    return path
