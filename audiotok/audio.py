"""Audio I/O: read any common format to float32 [C, T], write wav/flac atomically.

Decoders are tried in order: soundfile (wav, flac, ogg, mp3 and the other libsndfile
formats), torchaudio, then an `ffmpeg` subprocess (m4a, opus in webm, ...). Every failure
becomes an AudioError(path, problem) with a one-line diagnosis; no decoder traceback escapes.
torch is imported lazily so that `audiotok info` starts fast.
"""

import os
import shutil
import struct
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from audiotok.errors import AudioError
from audiotok.fileio import atomic_path

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000
# soundfile writes these; anything else is refused rather than guessed
_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
_BLOCK = 1 << 20  # frames per block when scanning a file for NaN/inf


class ClippingWarning(UserWarning):
    """Samples outside [-1, 1] were clipped when writing integer PCM."""


class _DecodeFailed(Exception):
    """Internal: one decoder could not read the file (the next one is tried)."""


# ---------------------------------------------------------------- checks before decoding
def _check_file(path):
    """The file-system problems that need no decoder: missing, a directory, empty, unreadable."""
    p = Path(path)
    if not p.exists():
        raise AudioError(path, "no such file")
    if p.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not p.is_file():
        raise AudioError(path, "is not a regular file")
    if not os.access(p, os.R_OK):
        raise AudioError(path, "permission denied")
    if p.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    return p


def _head(path, n=4096):
    with open(path, "rb") as f:
        return f.read(n)


def _looks_like_text(head):
    """True for plain text (a transcript or a list saved under an audio name)."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the block is still text
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    return printable >= 0.95 * max(1, len(text))


def _riff_sample_rate(head):
    """The sample rate in a WAV (RIFF) header, read by hand: libsndfile rejects 0 Hz and
    rates above 2^31 with an opaque message, and we want to name the real problem."""
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    endian = ">" if head[:4] == b"RIFX" else "<"
    pos = 12
    while pos + 8 <= len(head):
        cid = head[pos : pos + 4]
        (size,) = struct.unpack(endian + "I", head[pos + 4 : pos + 8])
        if cid == b"fmt " and pos + 16 <= len(head):
            (rate,) = struct.unpack(endian + "I", head[pos + 12 : pos + 16])
            return rate
        pos += 8 + size + (size & 1)
    return None


def wav_truncation(path):
    """(frames the header declares, frames the file holds, sample rate) of a WAV whose data chunk was
    cut short (a copy or download that stopped early), else None. libsndfile quietly reads what is
    there, so the header's data size is compared with the bytes present by walking the chunks."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            endian = ">" if head[:4] == b"RIFX" else "<"
            pos, block_align, rate = 12, None, None
            for _ in range(256):  # a WAV has a handful of chunks; stop on garbage
                f.seek(pos)
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, (csize,) = hdr[:4], struct.unpack(endian + "I", hdr[4:8])
                if cid == b"fmt ":
                    fmt = f.read(16)
                    if len(fmt) < 16:
                        return None
                    (rate,) = struct.unpack(endian + "I", fmt[4:8])
                    (block_align,) = struct.unpack(endian + "H", fmt[12:14])
                elif cid == b"data":
                    present = size - (pos + 8)
                    # 0 and 0xFFFFFFFF are the placeholders of a writer that streams (size unknown)
                    if not block_align or not rate or csize in (0, 0xFFFFFFFF) or csize <= present:
                        return None
                    return csize // block_align, max(0, present) // block_align, rate
                pos += 8 + csize + (csize & 1)
    except OSError:
        return None
    return None


def _check_rate(path, sr):
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(
            path, f"sample rate {sr} Hz is outside the supported {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )


def _check_samples(path, data):
    bad = data.size - int(np.isfinite(data).sum())
    if bad:
        raise AudioError(path, f"holds {bad} NaN or infinite samples")


def _diagnose(path, head, sf_error):
    """Why no decoder could read the file, as one line."""
    if _looks_like_text(head):
        return "is a text file, not audio"
    rate = _riff_sample_rate(head)
    if rate is not None and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return f"sample rate {rate} Hz is outside the supported {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
    kinds = {b"RIFF": "WAV", b"RIFX": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "OGG", b"FORM": "AIFF"}
    kind = kinds.get(head[:4])
    reason = (sf_error or "").strip().rstrip(".")
    if kind:
        return f"corrupt {kind} header ({reason})" if reason else f"corrupt {kind} header"
    return f"unsupported or unrecognised audio format ({reason})" if reason else "unsupported audio format"


# ---------------------------------------------------------------- decoders
def _sf_error_text(e):
    return getattr(e, "error_string", None) or str(e)


def _span_frames(span, sr):
    """(offset_s, dur_s or None) -> (start frame, frame count or -1 for the rest)."""
    if span is None:
        return 0, -1
    offset_s, dur_s = span
    return int(round(offset_s * sr)), (-1 if dur_s is None else max(1, int(round(dur_s * sr))))


def _decode_soundfile(path, span=None):
    try:
        with sf.SoundFile(str(path)) as f:
            sr, fmt, subtype, total = f.samplerate, f.format, f.subtype, f.frames
            start, frames = _span_frames(span, sr)
            if start:
                f.seek(min(start, total))
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as e:
        raise _DecodeFailed(_sf_error_text(e)) from None
    return data, sr, fmt, subtype, total


def _decode_torchaudio(path, span=None):
    # torchaudio >= 2.9 (what audiotok pins) decodes only through torchcodec: without it
    # torchaudio.load always fails, so skip the costly torch import
    import importlib.util

    if importlib.util.find_spec("torchcodec") is None:
        raise _DecodeFailed("torchaudio needs torchcodec to decode, which is not installed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torchaudio

            wav, sr = torchaudio.load(str(path))
    except Exception as e:  # ImportError, RuntimeError, ...: try the next decoder
        raise _DecodeFailed(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    data = np.ascontiguousarray(wav.detach().to("cpu").float().numpy().T)
    total = data.shape[0]
    start, frames = _span_frames(span, int(sr))
    data = data[start : None if frames < 0 else start + frames]
    return data, int(sr), Path(path).suffix.lstrip(".").upper() or "?", "?", total


def _decode_ffmpeg(path, span=None):
    """Decode with the ffmpeg program to a temporary float WAV; a span is cut by ffmpeg itself
    (-ss/-t), so a chunk of a long m4a does not cost decoding the whole file."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise _DecodeFailed("ffmpeg not installed")
    cut_in, cut_out = [], []
    if span is not None:
        cut_in = ["-ss", f"{span[0]:.6f}"] if span[0] else []
        cut_out = ["-t", f"{span[1]:.6f}"] if span[1] is not None else []
    with tempfile.TemporaryDirectory(prefix="audiotok-ffmpeg-") as d:
        out = os.path.join(d, "decoded.wav")
        cmd = [exe, "-nostdin", "-v", "error", "-y", *cut_in, "-i", str(path), *cut_out, "-vn", "-map", "0:a:0",
               "-f", "wav", "-acodec", "pcm_f32le", out]
        try:
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as e:
            raise _DecodeFailed(f"ffmpeg failed to start: {e}") from None
        if r.returncode != 0 or not os.path.exists(out):
            msg = r.stderr.decode("utf-8", "replace").strip().splitlines()
            raise _DecodeFailed(msg[-1] if msg else f"ffmpeg exit code {r.returncode}")
        data, sr, _, _, _ = _decode_soundfile(out)
    total = None if span is not None else data.shape[0]  # unknown when only a span was decoded
    if span is not None and span[1] is not None:
        data = data[: _span_frames(span, sr)[1]]  # -t may overshoot by a sample
    return data, sr, Path(path).suffix.lstrip(".").upper() or "?", "?", total


def _decode(path, span=None):
    """(data [T, C] float32, sr, format, subtype, total frames of the file or None) from the first
    decoder that works; `span` = (offset_s, dur_s or None) reads only that part."""
    try:
        return _decode_soundfile(path, span)
    except _DecodeFailed as e:
        sf_error = str(e)
    head = _head(path)
    if not _looks_like_text(head):
        for decoder in (_decode_torchaudio, _decode_ffmpeg):
            try:
                return decoder(path, span)
            except _DecodeFailed:
                continue
    raise AudioError(path, _diagnose(path, head, sf_error))


# ---------------------------------------------------------------- public API
def resample(wav, sr_in, sr_out):
    """Resample along the last axis (band-limited sinc, torchaudio). Length -> ceil(T * sr_out / sr_in)."""
    import torch

    sr_in, sr_out = int(round(sr_in)), int(round(sr_out))
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return wav
    from torchaudio.functional import resample as _resample

    wav = torch.as_tensor(wav)
    dtype = wav.dtype if wav.is_floating_point() else torch.float32
    return _resample(wav.to(dtype), sr_in, sr_out)


def _finish(path, data, sr, target_sr, mono):
    import torch

    _check_rate(path, sr)
    if data.shape[0] == 0:
        raise AudioError(path, "holds no audio samples (0 frames)")
    _check_samples(path, data)
    wav = torch.from_numpy(np.ascontiguousarray(data.T, dtype=np.float32))
    if mono and wav.shape[0] > 1:
        wav = wav.mean(dim=0, keepdim=True)
    if target_sr is not None and int(target_sr) != sr:
        wav = resample(wav, sr, target_sr)
        sr = int(target_sr)
    return wav, sr


def read_audio(path, target_sr=None, mono=True):
    """Read an audio file -> (float32 Tensor [C, T], sample_rate). Mono (channel mean) unless
    mono=False; resampled to target_sr when given. Raises AudioError for anything unusable."""
    _check_file(path)
    data, sr, _, _, _ = _decode(path)
    return _finish(path, data, sr, target_sr, mono)


def read_audio_numpy(path, target_sr=None):
    """Read an audio file as mono float32 ndarray [T] (resampled with soxr to target_sr) without
    torch: for inference runtimes that do not have it (onnxruntime)."""
    _check_file(path)
    data, sr, _, _, _ = _decode(path)
    _check_rate(path, sr)
    if data.shape[0] == 0:
        raise AudioError(path, "holds no audio samples (0 frames)")
    _check_samples(path, data)
    x = np.asarray(data, dtype=np.float32).mean(axis=1)
    if target_sr is not None and int(target_sr) != sr:
        import soxr

        x = soxr.resample(x, sr, int(target_sr), quality="VHQ").astype(np.float32)
        sr = int(target_sr)
    return x, sr


def read_audio_segment(path, offset_s, dur_s=None, target_sr=None, mono=True):
    """Read `dur_s` seconds (all the rest when None) starting at `offset_s` -> (Tensor [C, T], sr).
    Seeks with soundfile (ffmpeg -ss for other formats), so a chunk of a long file costs only that chunk."""
    _check_file(path)
    if offset_s < 0 or (dur_s is not None and dur_s <= 0):
        raise AudioError(path, f"bad segment: offset {offset_s} s, duration {dur_s} s")
    data, sr, _, _, total = _decode(path, (offset_s, dur_s))
    _check_rate(path, sr)
    if data.shape[0] == 0 and offset_s > 0 and total != 0:
        end = f" ({total / sr:.3f} s)" if total is not None else ""
        raise AudioError(path, f"segment starts at {offset_s:.3f} s, after the end{end}")
    return _finish(path, data, sr, target_sr, mono)


def audio_info(path, scan=True):
    """dict(path, duration, sample_rate, channels, frames, format, subtype). With scan=True a
    floating-point file is read block by block to reject NaN/inf samples (integer PCM cannot hold them)."""
    _check_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            sr, channels, frames, fmt, subtype = f.samplerate, f.channels, f.frames, f.format, f.subtype
            _check_rate(path, sr)
            if frames == 0:
                raise AudioError(path, "holds no audio samples (0 frames)")
            if scan and subtype in ("FLOAT", "DOUBLE"):
                for block in f.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):
                    _check_samples(path, block)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError):
        # libsndfile cannot open it: decode it fully with the other decoders (or diagnose)
        data, sr, fmt, subtype, _ = _decode(path)
        _check_rate(path, sr)
        if data.shape[0] == 0:
            raise AudioError(path, "holds no audio samples (0 frames)")
        _check_samples(path, data)
        channels, frames = data.shape[1], data.shape[0]
    out = {
        "path": str(path),
        "duration": frames / sr,
        "sample_rate": int(sr),
        "channels": int(channels),
        "frames": int(frames),
        "format": fmt,
        "subtype": subtype,
    }
    cut = wav_truncation(path)
    if cut is not None:
        out["truncated"] = {"header_seconds": cut[0] / cut[2], "present_seconds": cut[1] / cut[2]}
    return out


def truncation_warning(path):
    """One line saying that the WAV at `path` holds less audio than its header says, or None."""
    cut = wav_truncation(path)
    if cut is None:
        return None
    return f"{path}: truncated: header says {cut[0] / cut[2]:.3f} s, file holds {cut[1] / cut[2]:.3f} s"


def _to_frames_by_channels(wav):
    """Tensor/ndarray [T], [C, T] or [1, C, T] -> float32 ndarray [T, C] (soundfile's layout)."""
    if hasattr(wav, "detach"):
        wav = wav.detach().to("cpu").float().numpy()
    data = np.asarray(wav, dtype=np.float32)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 1:
        data = data[None]
    if data.ndim != 2:
        raise ValueError(f"write_audio expects [T] or [C, T] samples, got shape {tuple(data.shape)}")
    return np.ascontiguousarray(data.T)


# libsndfile writes floats as 16/24-bit PCM through 32-bit integers and a right shift, which floors:
# -3e-8 became -1 LSB, so a decoder's silence (float noise near 0) was written as 1-LSB noise, half
# its samples -1 (music-v1's vocal stems between phrases). Rounding to the file's resolution here keeps
# silence silent, and read -> write is bit-exact (reads divide by 2^(bits-1)).
_PCM_BITS = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def _to_pcm(data, subtype):
    """Float samples in [-1, 1] -> the nearest integers of `subtype` (int16, or int32 whose low bits
    are zero for 24-bit files); other subtypes as they are."""
    bits = _PCM_BITS.get(subtype)
    if bits is None:
        return data
    full = 2.0 ** (bits - 1)
    q = np.clip(np.round(np.asarray(data, dtype=np.float64) * full), -full, full - 1)
    return q.astype(np.int16) if bits == 16 else (q * 2.0 ** (32 - bits)).astype(np.int32)


class AudioWriter:
    """Write mono audio to a .wav/.flac file piece by piece (memory stays one piece whatever the
    length), atomically: the file appears, complete, when the `with` block ends without error.

        with AudioWriter(path, sr) as w:
            for piece in pieces:
                w.write(piece)            # [T] float samples in [-1, 1] (clipped like write_audio)
    """

    def __init__(self, path, sr, subtype="PCM_16"):
        suffix = Path(path).suffix.lower()
        self.fmt = _WRITE_FORMATS.get(suffix)
        if self.fmt is None or self.fmt == "OGG":
            raise AudioError(path, f"cannot write '{suffix or 'no suffix'}' files piece by piece; use .wav or .flac")
        self.path, self.sr, self.subtype = Path(path), int(sr), subtype
        _check_rate(path, self.sr)
        self.samples = self.clipped = 0

    def __enter__(self):
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._file = sf.SoundFile(str(tmp), "w", samplerate=self.sr, channels=1, format=self.fmt,
                                  subtype=self.subtype)
        return self

    def write(self, wav):
        data = _to_frames_by_channels(wav)
        _check_samples(self.path, data)
        n = int((np.abs(data) > 1.0).sum())
        if n:
            self.clipped += n
            data = np.clip(data, -1.0, 1.0)
        self._file.write(_to_pcm(data, self.subtype))
        self.samples += data.shape[0]

    def __exit__(self, exc_type, exc, tb):
        self._file.close()
        if exc_type is None:
            if self.samples == 0:
                err = AudioError(self.path, "refusing to write 0 samples")
                self._atomic.__exit__(AudioError, err, None)  # removes the temp file
                raise err
            if self.clipped:
                warnings.warn(f"{self.path}: clipped {self.clipped} samples outside [-1, 1]", ClippingWarning,
                              stacklevel=2)
        return self._atomic.__exit__(exc_type, exc, tb)


def write_audio(path, wav, sr, subtype="PCM_16"):
    """Write [T] or [C, T] samples in [-1, 1] to a .wav/.flac/.ogg file atomically. Integer PCM
    is clipped to [-1, 1] (never wrapped) and a ClippingWarning says how many samples were."""
    suffix = Path(path).suffix.lower()
    fmt = _WRITE_FORMATS.get(suffix)
    if fmt is None:
        raise AudioError(path, f"cannot write '{suffix or 'no suffix'}' files; use .wav or .flac")
    if fmt == "OGG" and subtype == "PCM_16":
        subtype = "VORBIS"
    sr = int(sr)
    _check_rate(path, sr)
    if not sf.check_format(fmt, subtype):
        raise AudioError(path, f"{fmt} cannot hold {subtype} samples")
    data = _to_frames_by_channels(wav)
    if data.shape[0] == 0:
        raise AudioError(path, "refusing to write 0 samples")
    _check_samples(path, data)
    if subtype not in ("FLOAT", "DOUBLE"):
        n = int((np.abs(data) > 1.0).sum())
        if n:
            warnings.warn(f"{path}: clipped {n} samples outside [-1, 1]", ClippingWarning, stacklevel=2)
            data = np.clip(data, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), _to_pcm(data, subtype), sr, format=fmt, subtype=subtype)
    return Path(path)
