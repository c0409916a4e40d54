"""Streaming codec: push-based encode/decode equal to the whole-file causal pass, the block-framed
token stream read as it arrives, and `audiotok encode/decode --stream` over real pipes."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.errors import UserError
from audiotok.models.dualcodec_stream import lookahead
from audiotok.tokfile import TokenStreamReader, TokenStreamWriter, read_tokens
from test_spectral_codec import SSL, tiny

CAUSAL_SSL = {"model": "bestrq", "model_conf": {**SSL["model_conf"], "causal": True, "features": {"norm": "global"}}}
AUDIOTOK = [sys.executable, "-m", "audiotok"]


def tiny_causal(seed=0):
    torch.manual_seed(seed)
    return tiny(ssl=CAUSAL_SSL, semantic={"causal": True},
                spectral_encoder={"dim": 32, "n_mels": 20, "fine_layers": 1, "coarse_layers": 1, "causal": True},
                spectral_decoder={"dim": 32, "fine_layers": 1, "coarse_layers": 1, "causal": True}).eval()


def speech(tmp_path, text="Seven bright birds sang at dawn near the quiet river."):
    path = tmp_path / "speech.wav"
    subprocess.run(["flite", "-voice", "slt", "-o", str(path), "-t", text], check=True)
    wav, sr = sf.read(path, dtype="float32")
    import torchaudio

    return torchaudio.functional.resample(torch.from_numpy(wav)[None], sr, 16000)  # [1, T]


def stream_encode(model, wav, sizes, n_q=None):
    enc = model.stream_encoder(n_q)
    pieces, i = [], 0
    for k in sizes:
        if i >= wav.shape[-1]:
            break
        pieces.append(enc.push(wav[0, i:i + k]))
        i += k
    pieces.append(enc.push(wav[0, i:]))
    pieces.append(enc.flush())
    return {name: torch.cat([p[name] for p in pieces], -1) for name in pieces[0]}


def stream_decode(model, tokens, sizes):
    dec = model.stream_decoder()
    n, j, out = tokens["semantic"].shape[-1], 0, []
    for k in sizes:
        if j >= n:
            break
        out.append(dec.push({name: c[..., j:j + k] for name, c in tokens.items()}))
        j += k
    if j < n:
        out.append(dec.push({name: c[..., j:] for name, c in tokens.items()}))
    out.append(dec.flush())
    return torch.cat(out)


def random_sizes(seed, high):
    return torch.randint(1, high, (10000,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("n_q", [None, 1, 2])
def test_stream_encoder_gives_the_whole_file_codes_for_any_chunking(tmp_path, n_q):
    m = tiny_causal()
    wav = speech(tmp_path)[:, :23456]  # not a whole number of frames: the last one is padded
    whole = m.encode(wav[None], n_q=n_q)
    for sizes in (random_sizes(0, 700), random_sizes(1, 5000), [1280] * 100, [wav.shape[-1]]):
        got = stream_encode(m, wav, sizes, n_q)
        assert set(got) == set(whole)
        for name in whole:
            assert got[name].shape == whole[name].shape
            assert torch.equal(got[name], whole[name]), name


def test_stream_decoder_gives_the_whole_file_audio(tmp_path):
    m = tiny_causal()
    wav = speech(tmp_path)
    tokens = m.encode(wav[None])
    whole = m.decode(tokens).reshape(-1)
    for sizes in ([1] * 1000, random_sizes(2, 6)):
        got = stream_decode(m, tokens, sizes)
        assert got.shape == whole.shape
        assert (got - whole).abs().max() < 1e-4
    semantic = {"semantic": tokens["semantic"]}
    assert (stream_decode(m, semantic, [3] * 100) - m.decode(semantic).reshape(-1)).abs().max() < 1e-4


def test_causal_models_encode_in_a_float64_twin_rebuilt_when_a_weight_changes(tmp_path):
    # fp32 rounding differs between chunkings and flipped near-tie codes (11 of 82,978 on the test set)
    m = tiny_causal().eval()
    twin = m.exact_encoder()
    assert twin is not m and twin.ssl_mean.dtype == torch.float64 and m.ssl_mean.dtype == torch.float32
    assert m.exact_encoder() is twin and twin.exact_encoder() is twin
    dtypes = set()
    def record(module, inputs, out):
        dtypes.update(o.dtype for o in (out if isinstance(out, tuple) else (out,))
                      if torch.is_tensor(o) and o.is_floating_point())
    hooks = [mod.register_forward_hook(record) for mod in twin.modules()]
    wav = speech(tmp_path)
    tokens = m.encode(wav[None])
    assert dtypes == {torch.float64}
    dtypes.clear()
    assert torch.equal(stream_encode(m, wav, random_sizes(5, 3000))["acoustic"], tokens["acoustic"])
    assert dtypes == {torch.float64}
    for h in hooks:
        h.remove()
    with torch.no_grad():
        m.sem_in.bias.add_(0.01)
    assert m.exact_encoder() is not twin
    assert m.train().exact_encoder() is m  # training encodes as it trains
    plain = tiny().eval()
    assert plain.exact_encoder() is plain  # not streamable: nothing to agree with


def test_samples_come_out_as_soon_as_they_are_final():
    m = tiny_causal()
    la = lookahead(m)
    hop = m.hop_length
    enc = m.stream_encoder()
    assert enc.push(torch.zeros(hop + la["ssl_stft"] - 1))["semantic"].shape[-1] == 0
    assert enc.push(torch.zeros(1))["semantic"].shape[-1] == 1  # frame 0 is final one sample later
    dec = m.stream_decoder()
    codes = {"semantic": torch.zeros(1, 1, 1, dtype=torch.long), "acoustic": torch.zeros(1, 3, 1, dtype=torch.long)}
    assert dec.push(codes).numel() == hop - la["istft"]  # all but the iSTFT overlap
    assert dec.push(codes).numel() == hop
    assert dec.flush().numel() == la["istft"]


def test_non_causal_models_refuse_to_stream():
    m = tiny().eval()
    with pytest.raises(UserError, match="cannot stream"):
        m.stream_encoder()
    with pytest.raises(UserError, match="cannot stream"):
        m.stream_decoder()


def test_shipped_codec_streams_exactly_on_speech(tmp_path):
    from audiotok import load_model

    m = load_model("speech")
    wav = speech(tmp_path)
    whole = m.encode(wav[None])
    got = stream_encode(m, wav, random_sizes(3, 2000))
    assert all(torch.equal(got[k], whole[k]) for k in whole)
    out = stream_decode(m, whole, random_sizes(4, 4))
    assert (out - m.decode(whole).reshape(-1)).abs().max() < 1e-4
    la = lookahead(m)
    assert la == {"ssl_stft": 40, "acoustic_stft": 0, "convs": 0, "istft": 480}


# ---- the token stream ---------------------------------------------------------------------------
HEADER = {"sample_rate": 16000, "frame_rate": 12.5, "model_id": "t", "model_version": "1",
          "streams": [{"name": "semantic", "codebook_size": 64, "n_codebooks": 1},
                      {"name": "acoustic", "codebook_size": 32, "n_codebooks": 3}]}


def written_stream(blocks, original_length=None, close=True):
    import io

    f = io.BytesIO()
    w = TokenStreamWriter(f, HEADER)
    for b in blocks:
        w.write(b)
    if close:
        w.close(original_length)
    return f.getvalue()


def blocks_of(frames_list, seed=0):
    g = np.random.default_rng(seed)
    return [{"semantic": g.integers(0, 64, (1, n)), "acoustic": g.integers(0, 32, (3, n))} for n in frames_list]


def test_stream_writer_makes_a_normal_token_file_read_back_byte_by_byte(tmp_path):
    blocks = blocks_of([1, 3, 1, 5])
    data = written_stream(blocks, original_length=12345)
    path = tmp_path / "s.atok"
    path.write_bytes(data)
    tokens, header = read_tokens(path, as_numpy=True)
    assert header["original_length"] == 12345
    for name in ("semantic", "acoustic"):
        assert np.array_equal(tokens[name], np.concatenate([b[name] for b in blocks], 1))
    reader = TokenStreamReader()
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i:i + 1])
        if i < len(data) - 1:
            assert not reader.complete
    assert reader.complete and reader.finish() is None
    assert [b["semantic"].shape[1] for b in got] == [1, 3, 1, 5, 0]
    assert np.array_equal(np.concatenate([b["acoustic"] for b in got], 1), tokens["acoustic"])


def test_a_cut_or_damaged_stream_stops_at_its_last_whole_block():
    data = written_stream(blocks_of([2, 2, 2]), original_length=9000)
    cut = TokenStreamReader()
    blocks = cut.feed(data[:-20])
    assert sum(b["semantic"].shape[1] for b in blocks) == 4
    problem = cut.finish()
    assert "truncated" in problem and "after frame 4 (0.32 s)" in problem
    bad = bytearray(data)
    bad[-10] ^= 0xFF  # inside the third block's codes or checksum
    damaged = TokenStreamReader()
    blocks = damaged.feed(bytes(bad))
    assert sum(b["semantic"].shape[1] for b in blocks) == 4
    assert "checksum mismatch" in damaged.finish()
    with pytest.raises(UserError, match="not an audiotok token file"):
        TokenStreamReader("x").feed(b"RIFF1234WAVEfmt ")


# ---- the command line -------------------------------------------------------------------------
def test_cli_streams_through_pipes_and_reports_a_cut_stream(tmp_path):
    from audiotok.models.loading import save_model_dir

    model_dir = tmp_path / "model"
    save_model_dir(tiny_causal(), model_dir, meta={"training_data": "none (random weights, test)"})
    wav = speech(tmp_path)
    src = tmp_path / "in.wav"
    sf.write(src, wav[0].numpy(), 16000, subtype="PCM_16")
    pcm = (np.clip(sf.read(src, dtype="float32")[0], -1, 1))

    # raw PCM in through a pipe, token stream out through a pipe, audio out as it comes
    raw = (sf.read(src, dtype="int16")[0]).astype("<i2").tobytes()
    enc = subprocess.run(AUDIOTOK + ["encode", "--stream", "-", "-o", "-", "--model", str(model_dir)],
                         input=raw, capture_output=True, check=True)
    stream_file = tmp_path / "s.atok"
    stream_file.write_bytes(enc.stdout)
    whole_file = tmp_path / "w.atok"
    subprocess.run(AUDIOTOK + ["encode", str(src), "-o", str(whole_file), "--model", str(model_dir)],
                   check=True, capture_output=True)
    a, ha = read_tokens(stream_file)
    b, hb = read_tokens(whole_file)
    assert ha["original_length"] == hb["original_length"] == len(pcm)
    assert all(torch.equal(a[k], b[k]) for k in b)

    out = tmp_path / "out.wav"
    subprocess.run(AUDIOTOK + ["decode", "--stream", "-", "-o", str(out), "--model", str(model_dir)],
                   input=enc.stdout, check=True, capture_output=True)
    subprocess.run(AUDIOTOK + ["decode", str(whole_file), "-o", str(tmp_path / "w.wav"), "--model", str(model_dir)],
                   check=True, capture_output=True)
    x, sr = sf.read(out, dtype="int16")
    y, _ = sf.read(tmp_path / "w.wav", dtype="int16")
    assert sr == 16000 and x.shape == y.shape == (len(pcm),)
    assert np.abs(x.astype(int) - y).max() <= 1  # the same audio up to 16-bit rounding

    # a WAV stream works too, and its rate is checked
    wav_stream = subprocess.run(["sox", str(src), "-t", "wav", "-"], capture_output=True, check=True).stdout
    again = subprocess.run(AUDIOTOK + ["encode", "--stream", "-", "-o", "-", "--model", str(model_dir)],
                           input=wav_stream, capture_output=True, check=True)
    assert read_tokens_bytes(again.stdout, tmp_path)["acoustic"].equal(b["acoustic"])
    wrong = subprocess.run(["sox", str(src), "-t", "wav", "-r", "8000", "-"], capture_output=True, check=True).stdout
    r = subprocess.run(AUDIOTOK + ["encode", "--stream", "-", "-o", "-", "--model", str(model_dir)],
                       input=wrong, capture_output=True, text=False)
    assert r.returncode == 1 and r.stdout == b""
    assert b"8000 Hz" in r.stderr and b"Traceback" not in r.stderr

    # a cut stream: the audio up to the last whole block, a one-line reason, a non-zero exit
    cut = tmp_path / "cut.raw"
    r = subprocess.run(AUDIOTOK + ["decode", "--stream", "-", "-o", str(cut), "--model", str(model_dir)],
                       input=enc.stdout[: len(enc.stdout) * 2 // 3], capture_output=True)
    assert r.returncode == 1 and b"truncated stream" in r.stderr and b"Traceback" not in r.stderr
    got = np.frombuffer(cut.read_bytes(), dtype="<i2")
    assert 0 < len(got) < len(pcm) and len(got) % 1280 == 0  # whole frames
    final = len(got) - 480  # the last iSTFT overlap ends without the windows that never came
    assert np.abs(got[:final].astype(int) - y[:final]).max() <= 1


def read_tokens_bytes(data, tmp_path):
    path = tmp_path / "bytes.atok"
    path.write_bytes(data)
    return read_tokens(path)[0]


def test_long_files_of_a_causal_codec_encode_exactly_through_its_stream(tmp_path):
    """`audiotok encode` reads a file longer than --chunk-seconds a chunk at a time; for a causal
    codec it pushes the chunks through the stream encoder, so the codes are the whole-file pass's."""
    from audiotok.compress import encode_file

    m = tiny_causal()
    wav = torch.cat([speech(tmp_path)] * 3, dim=-1)  # ~9 s
    path = tmp_path / "long.wav"
    sf.write(path, wav[0].numpy(), 16000, subtype="FLOAT")
    # (a chunked encode with this little context would differ at every seam)
    got = encode_file(m, path, tmp_path / "long.atok", chunk_seconds=2.0, context_seconds=0.1)
    whole = m.encode(wav[None])
    assert all(torch.equal(got[k], whole[k][0]) for k in whole)
