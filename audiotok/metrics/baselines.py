"""Classical codec baselines run through their real command-line tools, so that a neural codec is
scored next to them by the same scorer on the same audio.

  opus<K>      opusenc --bitrate K (VBR, 20 ms frames) -> opusdec --rate 48000 --float
  codec2_<M>   sox -> 8 kHz 16-bit mono raw -> c2enc M -> c2dec M   (M: 3200 2400 1600 1400 1300 1200 700C 450)

and two oracles that no codec beats on the waveform unless it codes phase: the reference's own STFT
magnitude (1024 points, hop 256) with its phase thrown away,

  magnitude_oracle_gl       phase rebuilt by 32 Griffin-Lim iterations (librosa, seeded start)
  magnitude_oracle_random   a random phase per bin (seeded)

A decoder that renders its waveform from codes of magnitude features (mels, bands) sits near these on
SI-SDR however good its spectrum: they show where SI-SDR stops measuring the codes and measures
invented phase. They have no bitrate (kbps is left empty).

Each returns the decoded signal at the input's sample rate and length, and its measured bitrate:
`kbps` counts the codec's own bitstream (Opus: the audio packets inside the Ogg pages, without the
container; Codec2: bits per frame x frames written, the input padded to whole frames so its end is
coded too), `kbps_file` the whole output file, both per second of input audio.
Opus needs no delay correction (opusdec drops the encoder's pre-skip); Codec2 output lags by
about 20 ms (3200, 1300) to 30 ms (700C), which the scorer's delay search
(`audiotok score --max-delay-ms`) removes for every system alike.
"""

import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from audiotok.errors import UserError

DEBIAN_PACKAGE = {"opusenc": "opus-tools", "opusdec": "opus-tools", "c2enc": "codec2", "c2dec": "codec2",
                  "sox": "sox"}

# Codec2 mode -> (bit rate in bit/s, frame duration in s); bits per frame = rate x duration
CODEC2_MODES = {"3200": (3200, 0.02), "2400": (2400, 0.02), "1600": (1600, 0.04), "1400": (1400, 0.04),
                "1300": (1300, 0.04), "1200": (1200, 0.04), "700C": (700, 0.04), "450": (450, 0.04)}
CODEC2_SR = 8000
OPUS_FRAME_S = 0.02

_OPUS = re.compile(r"^opus(\d+(?:\.\d+)?)$")
_CODEC2 = re.compile(r"^codec2_(\w+)$", re.IGNORECASE)
_ORACLE = re.compile(r"^magnitude_oracle_(gl|random)$")
ORACLE_N_FFT, ORACLE_HOP, ORACLE_GL_ITERS = 1024, 256, 32


def require_tool(tool):
    path = shutil.which(tool)
    if path is None:
        raise UserError(f"'{tool}' not found on PATH; install the Debian package '{DEBIAN_PACKAGE.get(tool, tool)}'")
    return path


def parse_baseline(name):
    """'opus6' -> ('opus', 6.0); 'codec2_700c' -> ('codec2', '700C'). UserError for anything else."""
    m = _OPUS.match(name)
    if m:
        return "opus", float(m.group(1))
    m = _CODEC2.match(name)
    if m and m.group(1).upper() in CODEC2_MODES:
        return "codec2", m.group(1).upper()
    m = _ORACLE.match(name)
    if m:
        return "oracle", m.group(1)
    raise UserError(f"unknown baseline '{name}'; use opus<kbps> (e.g. opus6), codec2_<mode> with mode in "
                    f"{', '.join(CODEC2_MODES)}, magnitude_oracle_gl or magnitude_oracle_random")


def describe(name):
    kind, arg = parse_baseline(name)
    if kind == "opus":
        return f"Opus (opusenc --bitrate {arg:g})"
    if kind == "oracle":
        phase = f"{ORACLE_GL_ITERS} Griffin-Lim iterations" if arg == "gl" else "random"
        return f"the reference's STFT magnitude ({ORACLE_N_FFT} points, hop {ORACLE_HOP}), phase: {phase}"
    return f"Codec2 {arg}"


def check_tools(name):
    """Raise UserError now (before any work) if a tool the baseline needs is missing."""
    kind, _ = parse_baseline(name)
    if kind == "oracle":
        return
    for tool in (("opusenc", "opusdec") if kind == "opus" else ("sox", "c2enc", "c2dec")):
        require_tool(tool)


def _run(cmd, what):
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as e:
        msg = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UserError(f"{what}: '{' '.join(map(str, cmd))}' failed (exit {e.returncode})"
                        f"{': ' + msg[-1] if msg else ''}") from None


def ogg_packet_sizes(data):
    """Sizes of the packets of a single-stream Ogg file (from the pages' lacing values)."""
    sizes, cur, pos = [], 0, 0
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS" or pos + 27 > len(data):
            raise ValueError(f"not an Ogg page at byte {pos}")
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        for lace in lacing:
            cur += lace
            if lace < 255:
                sizes.append(cur)
                cur = 0
        pos += 27 + nseg + sum(lacing)
    return sizes


def _mono_numpy(wav):
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().float().numpy()
    x = np.asarray(wav, dtype=np.float32)
    while x.ndim > 1 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"baselines take a mono signal, got shape {x.shape}")
    return x


def _fit_length(x, n):
    return x[:n] if len(x) >= n else np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def _opus(x, sr, kbps, tmp):
    from audiotok.audio import read_audio, resample, write_audio

    require_tool("opusenc")
    require_tool("opusdec")
    src, enc, dec = tmp / "in.wav", tmp / "out.opus", tmp / "out.wav"
    write_audio(src, x, sr)
    _run(["opusenc", "--quiet", "--bitrate", f"{kbps:g}", str(src), str(enc)], "opus baseline")
    _run(["opusdec", "--quiet", "--rate", "48000", "--float", str(enc), str(dec)], "opus baseline")
    data = enc.read_bytes()
    packets = ogg_packet_sizes(data)
    y, dsr = read_audio(dec)
    y = resample(y[0], dsr, sr).numpy()
    duration = len(x) / sr
    return y, {
        "bytes": len(data),
        "kbps": 8.0 * sum(packets[2:]) / duration / 1000.0,  # packets 0-1: OpusHead, OpusTags
        "kbps_file": 8.0 * len(data) / duration / 1000.0,
        "frame_rate": 1.0 / OPUS_FRAME_S,
    }


def _codec2(x, sr, mode, tmp):
    from audiotok.audio import resample, write_audio

    for tool in ("sox", "c2enc", "c2dec"):
        require_tool(tool)
    src, raw, bits, out = tmp / "in.wav", tmp / "in.raw", tmp / "out.bit", tmp / "out.raw"
    write_audio(src, x, sr)
    _run(["sox", "-G", str(src), "-r", str(CODEC2_SR), "-b", "16", "-e", "signed-integer", "-c", "1", "-t", "raw",
          str(raw)], "codec2 baseline")
    rate, frame_s = CODEC2_MODES[mode]
    # c2enc drops a partial last frame: pad with silence to whole frames so all the audio is coded
    pcm = np.fromfile(raw, dtype="<i2")
    frame_len = round(frame_s * CODEC2_SR)
    np.concatenate([pcm, np.zeros(-len(pcm) % frame_len, dtype="<i2")]).tofile(raw)
    # a .bit name makes c2enc write a headerless stream: its size is the bitstream itself
    _run(["c2enc", mode, str(raw), str(bits)], "codec2 baseline")
    _run(["c2dec", mode, str(bits), str(out)], "codec2 baseline")
    bits_per_frame = round(rate * frame_s)
    n_bytes = bits.stat().st_size
    frames = n_bytes // math.ceil(bits_per_frame / 8)
    y = np.fromfile(out, dtype="<i2").astype(np.float32) / 32768.0
    y = resample(torch.from_numpy(y), CODEC2_SR, sr).numpy()
    duration = len(x) / sr
    return y, {
        "bytes": n_bytes,
        "kbps": frames * bits_per_frame / duration / 1000.0,
        "kbps_file": 8.0 * n_bytes / duration / 1000.0,
        "frame_rate": 1.0 / frame_s,
    }


def _magnitude_oracle(x, phase):
    import librosa

    mag = np.abs(librosa.stft(x, n_fft=ORACLE_N_FFT, hop_length=ORACLE_HOP))
    rng = np.random.default_rng(0)  # the same output for the same input, run after run
    if phase == "gl":
        y = librosa.griffinlim(mag, n_iter=ORACLE_GL_ITERS, hop_length=ORACLE_HOP, n_fft=ORACLE_N_FFT,
                               length=len(x), random_state=rng)
    else:
        spec = mag * np.exp(2j * np.pi * rng.random(mag.shape))
        y = librosa.istft(spec, hop_length=ORACLE_HOP, n_fft=ORACLE_N_FFT, length=len(x))
    return y, {"bytes": 0, "kbps": None, "kbps_file": None, "frame_rate": None}


def run_baseline(name, wav, sr, workdir=None):
    """Encode and decode `wav` (mono numpy/torch, float in [-1, 1]) with baseline `name`.
    Returns (decoded float32 numpy [T] at sr with the input's length, info dict with
    system, codec, kbps, kbps_file, bytes, frame_rate, duration)."""
    kind, arg = parse_baseline(name)
    x = _mono_numpy(wav)
    if len(x) == 0:
        raise UserError(f"{name}: empty input signal")
    if kind == "oracle":
        y, info = _magnitude_oracle(x, arg)
    else:
        with tempfile.TemporaryDirectory(prefix=f"audiotok-{name}-", dir=workdir) as tmp:
            tmp = Path(tmp)
            y, info = (_opus(x, sr, arg, tmp) if kind == "opus" else _codec2(x, sr, arg, tmp))
    info.update(system=name, codec=describe(name), duration=len(x) / sr)
    return _fit_length(y.astype(np.float32), len(x)), info


def run_baseline_file(name, in_path, out_path, workdir=None):
    """File-to-file form: read `in_path` (mono mix), write the decoded wav at its sample rate."""
    from audiotok.audio import read_audio, write_audio

    wav, sr = read_audio(in_path)
    y, info = run_baseline(name, wav[0], sr, workdir=workdir)
    write_audio(out_path, y, sr)
    return info
