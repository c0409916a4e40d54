"""audiotok.audio: round trips, mixdown, resampling, compressed formats and every bad input."""

import os
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.audio import (
    AudioWriter,
    ClippingWarning,
    audio_info,
    read_audio,
    read_audio_segment,
    resample,
    write_audio,
)
from audiotok.errors import AudioError, UserError


def sine(freq, sr, seconds, amp=0.5):
    t = torch.arange(int(sr * seconds)) / sr
    return (amp * torch.sin(2 * torch.pi * freq * t)).float()


def peak_hz(wav, sr):
    spec = np.abs(np.fft.rfft(np.asarray(wav, dtype=np.float64)))
    return np.argmax(spec) * sr / len(wav)


def pcm16_wav_bytes(sr, n_frames, channels=1):
    """A canonical 44-byte-header PCM_16 WAV, written by hand so any field can be wrong."""
    data = np.zeros(n_frames * channels, "<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, sr, (sr * 2 * channels) & 0xFFFFFFFF, 2 * channels, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def make_bad_inputs(d):
    """{case: (path, words the problem must contain)} for every kind of unusable audio file."""
    d.mkdir(parents=True, exist_ok=True)
    cases = {}
    cases["missing"] = (d / "missing.wav", "no such file")
    (d / "folder.wav").mkdir()
    cases["directory"] = (d / "folder.wav", "directory")
    (d / "empty.wav").write_bytes(b"")
    cases["empty"] = (d / "empty.wav", "empty")
    (d / "zero_length.wav").write_bytes(pcm16_wav_bytes(16000, 0))
    cases["zero_length"] = (d / "zero_length.wav", "no audio samples")
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(100))
    cases["corrupt_header"] = (d / "corrupt.wav", "corrupt WAV header")
    (d / "text.wav").write_text("utt1 hello world\nutt2 this is a transcript, not audio\n")
    cases["text"] = (d / "text.wav", "text file")
    nan = np.zeros(1600, np.float32)
    nan[100] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    cases["nan"] = (d / "nan.wav", "NaN")
    inf = np.zeros(1600, np.float32)
    inf[5] = np.inf
    sf.write(d / "inf.wav", inf, 16000, subtype="FLOAT")
    cases["inf"] = (d / "inf.wav", "infinite")
    (d / "zero_hz.wav").write_bytes(pcm16_wav_bytes(0, 100))
    cases["zero_hz"] = (d / "zero_hz.wav", "sample rate 0 Hz")
    (d / "absurd_hz.wav").write_bytes(pcm16_wav_bytes(4_000_000_000, 100))
    cases["absurd_hz"] = (d / "absurd_hz.wav", "sample rate 4000000000 Hz")
    (d / "high_hz.wav").write_bytes(pcm16_wav_bytes(500_000, 100))  # libsndfile reads it; we refuse
    cases["high_hz"] = (d / "high_hz.wav", "sample rate 500000 Hz")
    (d / "low_hz.wav").write_bytes(pcm16_wav_bytes(999, 100))
    cases["low_hz"] = (d / "low_hz.wav", "sample rate 999 Hz")
    rng = np.random.default_rng(0)
    (d / "noise.xyz").write_bytes(bytes([0x01, 0x02, 0x00, 0xFF]) + rng.bytes(2000))
    cases["unsupported"] = (d / "noise.xyz", "unsupported")
    return cases


BAD_CASES = [
    "missing", "directory", "empty", "zero_length", "corrupt_header", "text", "nan", "inf",
    "zero_hz", "absurd_hz", "high_hz", "low_hz", "unsupported",
]


# ---------------------------------------------------------------- round trips
def test_wav_pcm16_round_trip(tmp_path):
    wav = sine(440, 16000, 0.5)
    write_audio(tmp_path / "a.wav", wav, 16000)
    back, sr = read_audio(tmp_path / "a.wav")
    assert sr == 16000 and back.dtype == torch.float32 and back.shape == (1, wav.numel())
    assert torch.max(torch.abs(back[0] - wav)) <= 1 / 32768 + 1e-7
    assert sf.info(str(tmp_path / "a.wav")).subtype == "PCM_16"


def test_wav_float_round_trip_is_exact(tmp_path):
    wav = torch.randn(2, 999) * 0.9  # [C, T], FLOAT keeps everything, even > 1
    write_audio(tmp_path / "f.wav", wav, 22050, subtype="FLOAT")
    back, sr = read_audio(tmp_path / "f.wav", mono=False)
    assert sr == 22050 and torch.equal(back, wav.float())


def test_flac_round_trip_24bit_stereo(tmp_path):
    wav = torch.stack([sine(300, 48000, 0.2), sine(700, 48000, 0.2, amp=0.25)])
    write_audio(tmp_path / "a.flac", wav, 48000, subtype="PCM_24")
    info = audio_info(tmp_path / "a.flac")
    assert info["format"] == "FLAC" and info["subtype"] == "PCM_24" and info["channels"] == 2
    assert info["frames"] == wav.shape[1] and info["duration"] == pytest.approx(0.2)
    back, sr = read_audio(tmp_path / "a.flac", mono=False)
    assert back.shape == wav.shape and torch.max(torch.abs(back - wav)) < 2 ** -22


def test_mono_mixdown_is_channel_mean(tmp_path):
    left, right = sine(200, 16000, 0.1), sine(500, 16000, 0.1, amp=0.3)
    write_audio(tmp_path / "s.wav", torch.stack([left, right]), 16000, subtype="FLOAT")
    mono, _ = read_audio(tmp_path / "s.wav")
    stereo, _ = read_audio(tmp_path / "s.wav", mono=False)
    assert mono.shape == (1, left.numel()) and stereo.shape == (2, left.numel())
    assert torch.allclose(mono[0], (left + right) / 2, atol=1e-7)


def test_write_accepts_1d_numpy_and_batched(tmp_path):
    write_audio(tmp_path / "n.wav", np.full(100, 0.25, np.float32), 8000)
    write_audio(tmp_path / "b.wav", torch.full((1, 1, 100), 0.25), 8000)
    for name in ("n.wav", "b.wav"):
        back, _ = read_audio(tmp_path / name)
        assert back.shape == (1, 100) and torch.allclose(back, torch.full((1, 100), 0.25), atol=1e-4)


@pytest.mark.parametrize("suffix,subtype,bits", [(".wav", "PCM_16", 16), (".flac", "PCM_16", 16),
                                                 (".wav", "PCM_24", 24)])
def test_pcm_writes_round_to_the_nearest_step_so_silence_stays_silent(tmp_path, suffix, subtype, bits):
    step = 2.0 ** (1 - bits)
    wav = np.array([-3e-8, 3e-8, -0.4 * step, 0.4 * step, -0.6 * step, 0.6 * step, -1.0, 1.0, 0.25])
    want = np.array([0, 0, 0, 0, -step, step, -1.0, 1.0 - step, 0.25])
    write_audio(tmp_path / f"a{suffix}", wav, 16000, subtype=subtype)
    with AudioWriter(tmp_path / f"w{suffix}", 16000, subtype=subtype) as w:
        w.write(wav[:4])
        w.write(wav[4:])
    for name in (f"a{suffix}", f"w{suffix}"):
        back, _ = sf.read(tmp_path / name, dtype="float64")
        assert np.array_equal(back, want), (name, back)  # libsndfile alone floors: -3e-8 -> -1 step
    noise, _ = sf.read(tmp_path / f"a{suffix}", dtype="float64")
    write_audio(tmp_path / f"again{suffix}", noise, 16000, subtype=subtype)  # read -> write is bit-exact
    assert np.array_equal(sf.read(tmp_path / f"again{suffix}", dtype="float64")[0], noise)


def test_write_clips_instead_of_wrapping(tmp_path):
    wav = torch.tensor([0.0, 1.5, -2.0, 0.5, 1.0])
    with pytest.warns(ClippingWarning, match="clipped 2 samples"):
        write_audio(tmp_path / "c.wav", wav, 16000)
    back, _ = read_audio(tmp_path / "c.wav")
    assert back[0, 1] > 0.999 and back[0, 2] < -0.999  # wrapping would flip the sign
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FLOAT keeps out-of-range values, no clipping
        write_audio(tmp_path / "c_float.wav", wav, 16000, subtype="FLOAT")
    assert read_audio(tmp_path / "c_float.wav")[0][0, 2] == -2.0


def test_write_is_atomic_and_validates(tmp_path):
    write_audio(tmp_path / "sub" / "a.wav", torch.zeros(10), 16000)
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.wav"]  # no temp file left
    with pytest.raises(AudioError, match="cannot write '.mp3'"):
        write_audio(tmp_path / "a.mp3", torch.zeros(10), 16000)
    with pytest.raises(AudioError, match="NaN"):
        write_audio(tmp_path / "nan.wav", torch.tensor([0.0, float("nan")]), 16000)
    with pytest.raises(AudioError, match="sample rate 0 Hz"):
        write_audio(tmp_path / "z.wav", torch.zeros(10), 0)
    with pytest.raises(AudioError, match="FLAC cannot hold FLOAT"):
        write_audio(tmp_path / "f.flac", torch.zeros(10), 16000, subtype="FLOAT")
    assert sorted(os.listdir(tmp_path)) == ["sub"]


# ---------------------------------------------------------------- resampling
@pytest.mark.parametrize("sr_in,sr_out,n", [(16000, 24000, 16000), (16000, 8000, 1001), (44100, 16000, 44100),
                                            (24000, 16000, 7)])
def test_resample_lengths(sr_in, sr_out, n):
    out = resample(torch.randn(2, n), sr_in, sr_out)
    assert out.shape == (2, int(np.ceil(n * sr_out / sr_in)))


def test_resample_keeps_pitch_and_identity():
    wav = sine(440, 16000, 1.0)
    up = resample(wav, 16000, 24000)
    assert abs(peak_hz(up, 24000) - 440) <= 1.0
    assert resample(wav, 16000, 16000) is wav


def test_read_with_target_sr(tmp_path):
    write_audio(tmp_path / "a.wav", sine(1000, 48000, 0.5), 48000)
    wav, sr = read_audio(tmp_path / "a.wav", target_sr=16000)
    assert sr == 16000 and wav.shape == (1, 8000)
    assert abs(peak_hz(wav[0], sr) - 1000) <= 2.0


# ---------------------------------------------------------------- segments
def test_read_segment_matches_slice(tmp_path):
    wav = torch.randn(2, 16000) * 0.1
    write_audio(tmp_path / "a.flac", wav, 16000)
    full, _ = read_audio(tmp_path / "a.flac", mono=False)
    seg, sr = read_audio_segment(tmp_path / "a.flac", 0.25, 0.5, mono=False)
    assert sr == 16000 and torch.equal(seg, full[:, 4000:12000])
    tail, _ = read_audio_segment(tmp_path / "a.flac", 0.9)
    assert torch.allclose(tail, full[:, 14400:].mean(0, keepdim=True))
    with pytest.raises(AudioError, match="after the end"):
        read_audio_segment(tmp_path / "a.flac", 1.5, 0.1)
    with pytest.raises(AudioError, match="bad segment"):
        read_audio_segment(tmp_path / "a.flac", -1, 0.1)


# ---------------------------------------------------------------- compressed formats via ffmpeg
def _ffmpeg_make(tmp_path, src, name, *codec):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    out = tmp_path / name
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(out)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"ffmpeg cannot encode {name}: {r.stderr.decode()[-200:]}")
    return out


@pytest.mark.parametrize("name,codec", [("a.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
                                        ("a.m4a", ["-c:a", "aac", "-b:a", "64k"]),
                                        ("a.ogg", ["-c:a", "libvorbis"])])
def test_compressed_formats(tmp_path, name, codec):
    write_audio(tmp_path / "src.wav", sine(660, 16000, 1.0), 16000)
    path = _ffmpeg_make(tmp_path, tmp_path / "src.wav", name, *codec)
    wav, sr = read_audio(path)
    assert sr == 16000 and wav.shape[0] == 1
    assert abs(wav.shape[1] - 16000) <= 2048  # codecs pad by up to a frame or two
    assert abs(peak_hz(wav[0], sr) - 660) <= 2.0
    assert 0.2 < float(wav.abs().max()) < 0.8
    info = audio_info(path)
    assert info["sample_rate"] == 16000 and info["frames"] == wav.shape[1]
    seg, _ = read_audio_segment(path, 0.5, 0.25)  # soundfile seek (mp3, ogg) or ffmpeg -ss (m4a)
    assert seg.shape == (1, 4000)
    assert torch.nn.functional.cosine_similarity(seg, wav[:, 8000:12000]).item() > 0.999
    with pytest.raises(AudioError, match="after the end"):
        read_audio_segment(path, 5.0, 0.25)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_raises_audio_error(tmp_path, case):
    path, words = make_bad_inputs(tmp_path / "bad")[case]
    for fn in (read_audio, audio_info, lambda p: read_audio_segment(p, 0.0, 0.01)):
        with pytest.raises(AudioError) as e:
            fn(path)
        msg = str(e.value)
        assert isinstance(e.value, UserError) and "\n" not in msg
        assert str(path) in msg and words in msg, msg
        assert e.value.path == str(path)


def test_string_paths_work(tmp_path):
    write_audio(str(tmp_path / "a.wav"), torch.zeros(1600), 16000)
    assert audio_info(str(tmp_path / "a.wav"))["duration"] == pytest.approx(0.1)


def test_bad_case_list_covers_every_fixture(tmp_path):
    assert sorted(make_bad_inputs(tmp_path)) == sorted(BAD_CASES)


def test_truncated_wav_is_detected(tmp_path):
    from audiotok.audio import audio_info, truncation_warning, wav_truncation

    full = tmp_path / "full.wav"
    sf.write(full, np.zeros(32000, dtype="float32"), 16000)
    assert wav_truncation(full) is None and "truncated" not in audio_info(full)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2000])
    assert wav_truncation(cut) == (32000, 1000, 16000)
    assert audio_info(cut)["truncated"] == {"header_seconds": 2.0, "present_seconds": 0.0625}
    assert truncation_warning(cut) == f"{cut}: truncated: header says 2.000 s, file holds 0.062 s"


def test_atomic_writes_keep_the_umask_permissions(tmp_path):
    code = (
        "import os, sys\n"
        "import numpy as np\n"
        "from audiotok.audio import write_audio\n"
        "from audiotok.data.kaldi_table import write_scp\n"
        "from audiotok.fileio import atomic_write_text\n"
        "os.umask(0o027)  # set after the import: every write must see it\n"
        "d = sys.argv[1]\n"
        "write_audio(d + '/a.wav', np.zeros(100), 16000)\n"
        "write_scp(d + '/wav.scp', {'u': 'x'})\n"
        "atomic_write_text(d + '/t.txt', 'hi')\n"
        "import torch\n"
        "from safetensors.torch import save_file\n"
        "from audiotok.fileio import atomic_path\n"
        "with atomic_path(d + '/m.safetensors') as tmp:  # a writer that makes its own 0600 file\n"
        "    save_file({'w': torch.zeros(2)}, str(tmp))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    for name in ("a.wav", "wav.scp", "t.txt", "m.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_unwritable_output_is_one_clear_error(tmp_path):
    from audiotok.errors import UserError
    from audiotok.fileio import atomic_write_text

    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(UserError, match="f.txt is not a folder"):
        atomic_write_text(tmp_path / "f.txt" / "out.txt", "hi")
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="is a folder, expected a file"):
        atomic_write_text(tmp_path / "d", "hi")
