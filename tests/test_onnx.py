"""ONNX export of the speech codec and the onnxruntime backend: `audiotok export`, parity with
PyTorch on real speech, and encode/decode through onnxruntime in a process where torch cannot load."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiotok.errors import UserError
from audiotok.tokfile import read_tokens

AUDIOTOK = [sys.executable, "-m", "audiotok"]
# the CLI with torch made unimportable: proves the onnxruntime backend never needs it
NO_TORCH = [sys.executable, "-c",
            "import sys; sys.modules['torch'] = None; from audiotok.cli import main; sys.exit(main(sys.argv[1:]))"]


@pytest.fixture(scope="module")
def exported(shipped_onnx):
    """The shipped codec exported by the CLI (conftest.py: once per test session)."""
    out, stderr = shipped_onnx
    assert "codes 100.0% equal" in stderr  # its own parity check on a test signal
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "decoder_stream.onnx", "encoder.onnx",
                                                     "encoder_stream.onnx", "onnx.json"]
    return out


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["flite", "-voice", "kal16", "-o", str(path), "-t",
                    "The quick brown fox jumps over the lazy dog, twice on Sunday."], check=True)
    return path


def test_export_writes_both_graphs_and_what_token_files_need(exported):
    meta = json.loads((exported / "onnx.json").read_text())
    assert meta["model_id"] == "speech-12hz-v1" and meta["sample_rate"] == 16000 and meta["hop_length"] == 1280
    assert [s["name"] for s in meta["streams"]] == ["semantic", "acoustic"]
    import onnx

    for name in ("encoder", "decoder"):
        graph = onnx.load(str(exported / f"{name}.onnx"))
        onnx.checker.check_model(graph)
        ops = {n.op_type for n in graph.graph.node}
        assert not ops & {"STFT", "Col2Im"}, ops  # the front-ends are convs, the iSTFT is irfft + overlap-add


def test_onnxruntime_matches_pytorch_on_real_speech(exported, speech):
    from audiotok import load_model
    from audiotok.audio import read_audio
    from audiotok.onnx_export import parity

    model = load_model("speech")
    wav, _ = read_audio(speech, target_sr=16000)
    diff = parity(model, exported, wav)
    print(f"onnxruntime vs torch on flite kal16 speech: codes {diff['codes_equal']:.4%} equal, "
          f"audio max abs diff {diff['audio_max_abs']:.2e}")
    assert diff["codes_equal"] >= 0.995
    assert diff["audio_max_abs"] < 1e-3


def test_cli_encodes_and_decodes_through_onnxruntime_without_torch(exported, speech, tmp_path):
    ort_atok, torch_atok = tmp_path / "ort.atok", tmp_path / "torch.atok"
    r = subprocess.run(NO_TORCH + ["encode", "--backend", "onnxruntime", "--model", str(exported), str(speech),
                                   "-o", str(ort_atok)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    subprocess.run(AUDIOTOK + ["encode", str(speech), "-o", str(torch_atok)], check=True, capture_output=True)
    a, ha = read_tokens(ort_atok)
    b, hb = read_tokens(torch_atok)
    assert (ha["model_id"], ha["original_length"]) == (hb["model_id"], hb["original_length"])
    # the same codes up to the rare near-tie (soxr vs torchaudio resampling of the 16 kHz file: none)
    assert sum(int((a[k] != b[k]).sum()) for k in b) <= 0.005 * sum(v.numel() for v in b.values())

    ort_wav, torch_wav = tmp_path / "ort.wav", tmp_path / "torch.wav"
    r = subprocess.run(NO_TORCH + ["decode", "--backend", "onnxruntime", "--model", str(exported), str(torch_atok),
                                   "-o", str(ort_wav), "--n-q", "3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    subprocess.run(AUDIOTOK + ["decode", str(torch_atok), "-o", str(torch_wav), "--n-q", "3"], check=True,
                   capture_output=True)
    x, _ = sf.read(ort_wav, dtype="int16")
    y, _ = sf.read(torch_wav, dtype="int16")
    assert x.shape == y.shape and np.abs(x.astype(int) - y).max() <= 2

    # streaming through pipes, still without torch: the same codes as the whole-file torch encode
    raw = (sf.read(speech, dtype="int16")[0]).astype("<i2").tobytes()
    r = subprocess.run(NO_TORCH + ["encode", "--stream", "-", "-o", "-", "--backend", "onnxruntime", "--model",
                                   str(exported)], input=raw, capture_output=True)
    assert r.returncode == 0, r.stderr
    streamed = tmp_path / "streamed.atok"
    streamed.write_bytes(r.stdout)
    c, hc = read_tokens(streamed)
    assert hc["original_length"] == hb["original_length"]
    assert sum(int((c[k] != b[k]).sum()) for k in b) <= 0.005 * sum(v.numel() for v in b.values())
    r = subprocess.run(NO_TORCH + ["decode", "--stream", "-", "-o", "-", "--backend", "onnxruntime", "--model",
                                   str(exported)], input=torch_atok.read_bytes(), capture_output=True)
    assert r.returncode == 0, r.stderr
    pcm = np.frombuffer(r.stdout, dtype="<i2")
    assert pcm.shape == (hb["original_length"],)

    # a token file from another model is refused in one line
    other = tmp_path / "other.atok"

    from audiotok.tokfile import encode_token_bytes

    tokens, header = read_tokens(torch_atok, as_numpy=True)
    other.write_bytes(encode_token_bytes(tokens, {**header, "model_id": "someone-else"}))
    r = subprocess.run(NO_TORCH + ["decode", "--backend", "onnxruntime", "--model", str(exported), str(other),
                                   "-o", str(tmp_path / "o.wav")], capture_output=True, text=True)
    assert r.returncode == 1 and "someone-else" in r.stderr and "Traceback" not in r.stderr



def test_streaming_graphs_give_the_pytorch_stream(exported, speech):
    from audiotok import load_model
    from audiotok.audio import read_audio
    from audiotok.onnx_runtime import OnnxCodec

    model = load_model("speech")
    codec = OnnxCodec(exported, threads=1)
    wav = read_audio(speech, target_sr=16000)[0][0].numpy()
    enc_t, enc_o = model.stream_encoder(), codec.stream_encoder()
    got_t, got_o = [], []
    for i in range(0, len(wav), 1000):  # 62.5 ms pushes: frames come out one or none at a time
        got_t.append(enc_t.push(wav[i:i + 1000]))
        got_o.append(enc_o.push(wav[i:i + 1000]))
    got_t.append(enc_t.flush())
    got_o.append(enc_o.flush())
    codes_t = {k: np.concatenate([np.asarray(c[k]) for c in got_t], -1) for k in got_t[0]}
    codes_o = {k: np.concatenate([c[k] for c in got_o], -1) for k in got_o[0]}
    same = sum(int((codes_t[k] == codes_o[k]).sum()) for k in codes_t) / sum(v.size for v in codes_t.values())
    dec_t, dec_o = model.stream_decoder(), codec.stream_decoder()
    out_t, out_o = [], []
    for j in range(codes_t["semantic"].shape[-1]):  # one frame per push, the live case
        frame = {k: v[..., j:j + 1] for k, v in codes_t.items()}
        out_t.append(np.asarray(dec_t.push(frame)))
        out_o.append(dec_o.push(frame))
    wav_t = np.concatenate(out_t + [np.asarray(dec_t.flush())])
    wav_o = np.concatenate(out_o + [dec_o.flush()])
    print(f"onnxruntime vs torch streaming on flite kal16 speech: codes {same:.4%} equal, "
          f"audio max abs diff {np.abs(wav_t - wav_o).max():.2e}")
    assert same >= 0.995 and wav_t.shape == wav_o.shape
    assert np.abs(wav_t - wav_o).max() < 1e-3


def test_export_refuses_what_it_cannot_export_or_must_not_replace(tmp_path):
    from tiny_models import tiny_dualcodec

    from audiotok.onnx_export import export_onnx

    with pytest.raises(UserError, match="spectral DualCodec"):
        export_onnx(tiny_dualcodec(), tmp_path / "x")  # the DAC-style (wave) codec
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "mine.txt").write_text("do not delete")
    r = subprocess.run(AUDIOTOK + ["export", "-o", str(keep)], capture_output=True, text=True)
    assert r.returncode == 1 and "is not an exported ONNX dir" in r.stderr
    assert (keep / "mine.txt").read_text() == "do not delete"
    r = subprocess.run(AUDIOTOK + ["encode", "--backend", "onnxruntime", "--model", str(keep), str(keep / "mine.txt"),
                                   "-o", str(tmp_path / "x.atok")], capture_output=True, text=True)
    assert r.returncode == 1 and "not an exported ONNX codec" in r.stderr

