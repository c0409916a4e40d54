"""Streaming encode/decode between byte streams (a pipe, a socket file, a growing file).

    encode_stream(model, pcm_in, atok_out)   16-bit PCM (raw or a WAV stream) -> .atok blocks as frames complete
    decode_stream(atok_in, pcm_out, ...)     .atok blocks -> 16-bit PCM (raw or WAV) as samples become final

The token stream is the ordinary .atok format: a header block, then framed, checksummed code
blocks. A stream cut anywhere decodes to its last whole block, and the reader says where it stopped.
"""

import contextlib
import struct
import sys

import numpy as np

from audiotok.errors import UserError
from audiotok.tokfile import TokenStreamReader, TokenStreamWriter, stream_field

READ_BYTES = 4096  # up to 128 ms of 16 kHz PCM per read: reads return what has arrived


def read_some(f, n=READ_BYTES):
    """What the stream has now (at least 1 byte, blocking until then), b"" at its end."""
    read1 = getattr(f, "read1", None)
    return read1(n) if read1 is not None else f.read(n)


class PcmReader:
    """16-bit little-endian PCM from a byte stream: raw at `sample_rate`, or a WAV stream (its
    header is read and checked; a streamed WAV's unknown data size is fine)."""

    def __init__(self, f, sample_rate, name="<stdin>"):
        self.f, self.name, self.sample_rate = f, name, int(sample_rate)
        self.channels = 1
        self.pending = b""
        self.samples = 0
        self.stray_bytes = 0
        head = self._read_exactly(4, allow_short=True)
        if head == b"RIFF":
            self._wav_header()
        else:
            self.pending = head

    def _read_exactly(self, n, allow_short=False):
        out = b""
        while len(out) < n:
            got = read_some(self.f, n - len(out))
            if not got:
                if allow_short:
                    return out
                raise UserError(f"{self.name}: the WAV header is cut short")
            out += got
        return out

    def _wav_header(self):
        riff = self._read_exactly(8)
        if riff[4:8] != b"WAVE":
            raise UserError(f"{self.name}: a RIFF stream that is not WAVE")
        fmt = None
        while True:
            cid, size = struct.unpack("<4sI", self._read_exactly(8))
            if cid == b"data":
                break
            body = self._read_exactly(size + (size & 1))
            if cid == b"fmt ":
                fmt = struct.unpack("<HHIIHH", body[:16])
        if fmt is None:
            raise UserError(f"{self.name}: WAV stream without a fmt chunk before its data")
        code, channels, rate, _, _, bits = fmt
        if code not in (1, 0xFFFE) or bits != 16:
            raise UserError(f"{self.name}: WAV stream must be 16-bit PCM (got format {code}, {bits} bits)")
        if rate != self.sample_rate:
            raise UserError(f"{self.name}: WAV stream is {rate} Hz, the model codes {self.sample_rate} Hz "
                            f"(resample it first, e.g. sox IN -t wav -r {self.sample_rate} - | "
                            "audiotok encode --stream -)")
        self.channels = channels

    def chunks(self):
        """Float samples [n] in [-1, 1] (channels averaged), as they arrive."""
        width = 2 * self.channels
        buf = self.pending
        while True:
            got = read_some(self.f)
            if not got:
                break
            buf += got
            whole = len(buf) // width * width
            if whole:
                x = np.frombuffer(buf[:whole], dtype="<i2").astype(np.float32) / 32768.0
                buf = buf[whole:]
                x = x.reshape(-1, self.channels).mean(1)
                self.samples += x.shape[0]
                yield x
        self.stray_bytes = len(buf)  # a producer cut inside a sample: the caller says so


def wav_stream_header(sample_rate, channels=1):
    """A WAV header for 16-bit PCM of unknown length (sizes 0xFFFFFFFF, as streaming tools write)."""
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * 2 * channels, 2 * channels, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0xFFFFFFFF))


def to_pcm16(x):
    x = np.asarray(x, dtype=np.float32)
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def encode_stream(model, reader, atok_out, n_q=None, block_frames=1):
    """Encode the PCM of `reader` (a PcmReader) to .atok blocks on `atok_out` as frames complete
    -> (frames, samples). `model`: a PyTorch codec or an onnxruntime OnnxCodec."""
    if block_frames < 1:
        raise UserError(f"--block-frames must be >= 1, got {block_frames}")
    enc = model.stream_encoder(n_q)
    if hasattr(model, "header"):  # OnnxCodec
        header = model.header(n_q, 0)
    else:
        from audiotok.compress import model_header

        header = model_header(model, n_q, 0)
    writer = TokenStreamWriter(atok_out, header, enc.streams)
    held = []

    def put(codes, final=False):
        codes = {k: np.asarray(v) for k, v in codes.items()}
        if codes["semantic"].shape[-1]:
            held.append(codes)
        n = sum(c["semantic"].shape[-1] for c in held)
        if held and (n >= block_frames or final):
            merged = {k: np.concatenate([c[k][0] for c in held], -1) for k in held[0]}
            held.clear()
            return merged
        return None

    for x in reader.chunks():
        block = put(enc.push(x))
        if block is not None:
            writer.write(block)
    last = put(enc.flush(), final=True)
    writer.close(original_length=reader.samples, tokens=last)
    if reader.stray_bytes:
        print(f"warning: {reader.name}: ignored {reader.stray_bytes} byte(s) after the last whole sample",
              file=sys.stderr)
    return writer.frames, reader.samples


class PcmWriter:
    """16-bit PCM out: raw (a pipe) or a WAV file whose header is fixed up at the end."""

    def __init__(self, f, sample_rate, wav):
        self.f, self.wav, self.samples = f, wav, 0
        if wav:
            f.write(wav_stream_header(sample_rate))

    def write(self, x):
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if x.shape[0]:
            self.f.write(to_pcm16(x))
            self.f.flush()
            self.samples += x.shape[0]

    def close(self):
        if self.wav and self.f.seekable():  # a file: real sizes, so every reader takes it
            data = 2 * self.samples
            self.f.seek(4)
            self.f.write(struct.pack("<I", 36 + data))
            self.f.seek(40)
            self.f.write(struct.pack("<I", data))
            self.f.seek(0, 2)
        self.f.flush()


def decode_stream(atok_in, pcm_out, load_model_for, wav=False, n_q=None, name="<stdin>"):
    """Decode .atok blocks from `atok_in` to PCM on `pcm_out` as samples become final.
    load_model_for(header) gives the model once the header is in. -> (samples, problem or None)."""
    reader = TokenStreamReader(name)
    dec = writer = keep = None
    while True:
        data = read_some(atok_in)
        blocks = reader.feed(data) if data else []
        if dec is None and reader.header is not None:
            model = load_model_for(reader.header)
            dec = model.stream_decoder()
            writer = PcmWriter(pcm_out, model.sample_rate, wav)
            if n_q is not None:
                keep = {stream_field(s, "name"): stream_field(s, "n_codebooks") for s in model.streams_for(n_q)}
        for block in blocks:
            codes = {k: v[None] for k, v in block.items() if keep is None or k in keep}
            if keep is not None:
                codes = {k: v[:, : keep[k]] for k, v in codes.items()}
            if codes["semantic"].shape[-1]:
                _write_trimmed(writer, dec.push(codes), reader.header.get("original_length"))
        if not data or reader.complete or reader.problem:
            break
    problem = reader.finish()
    if dec is not None:
        _write_trimmed(writer, dec.flush(), reader.header.get("original_length"))
        writer.close()
    return (writer.samples if writer else 0), problem


def _write_trimmed(writer, x, original_length):
    """Write x, but never past the stream's original length (known once its last block is in)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if original_length is not None:
        x = x[: max(0, int(original_length) - writer.samples)]
    writer.write(x)


@contextlib.contextmanager
def stdio(path, mode):
    """sys.stdin/stdout's byte stream for '-' (left open), else the file, opened and closed."""
    if path == "-":
        yield sys.stdin.buffer if "r" in mode else sys.stdout.buffer
        return
    try:
        f = open(path, mode)
    except OSError as e:
        raise UserError(f"{path}: cannot open: {e.strerror or e}") from None
    with f:
        yield f
