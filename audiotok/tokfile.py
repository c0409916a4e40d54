"""The `.atok` token file: codes bit-packed at ceil(log2(codebook_size)) bits, so the file
size is the real bitrate plus a small constant header.

Layout (all integers little-endian):

    b"ATOK"  | version: uint8 | header length: uint32 | header: UTF-8 JSON
    payload: every stream in header["streams"] order, codes [K, T] row-major, each code
             MSB-first in bits_per_code(codebook_size) bits, all streams as ONE bit string,
             zero-padded to a whole byte at the very end
    CRC32 (zlib) of all the bytes before it: uint32

The header holds sample_rate, frame_rate, original_length (samples), model_type / model_id
when known, streams [{name, codebook_size, n_codebooks, frames}], audiotok_version and any
other keys the writer passes. Packing is vectorised numpy (an hour of 25 Hz x 12 codebooks
is ~1M codes). torch is imported lazily so that `audiotok info` starts fast.
"""

import json
import math
import os
import struct
import zlib

import numpy as np

from audiotok import __version__
from audiotok.errors import TokenFileError
from audiotok.fileio import atomic_open

MAGIC = b"ATOK"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length
_CRC = struct.Struct("<I")
OVERHEAD_FIXED = _PREFIX.size + _CRC.size  # bytes besides the JSON header and the payload


def bits_per_code(codebook_size):
    """Bits that hold one code of a codebook: ceil(log2(size)); 0 for a 1-entry codebook."""
    codebook_size = int(codebook_size)
    if codebook_size < 1:
        raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
    return (codebook_size - 1).bit_length()


def payload_bits(tokens, streams):
    """Exact payload size in bits of `tokens` ({name: [K, T]}) given `streams` (dicts or
    TokenStream with name and codebook_size)."""
    sizes = {_get(s, "name"): int(_get(s, "codebook_size")) for s in streams}
    total = 0
    for name, codes in tokens.items():
        k, t = _shape2(codes)
        total += k * t * bits_per_code(sizes[name])
    return total


def _get(s, key):
    return s[key] if isinstance(s, dict) else getattr(s, key)


def _shape2(codes):
    shape = tuple(codes.shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2:
        raise ValueError(f"token arrays must be [K, T] (or [1, K, T]), got shape {shape}")
    return shape


def _as_numpy(codes):
    """Tensor or ndarray [K, T] / [1, K, T] -> int64 ndarray [K, T]."""
    if hasattr(codes, "detach"):
        codes = codes.detach().to("cpu").numpy()
    arr = np.asarray(codes)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"token arrays must be [K, T] (or [1, K, T]), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError("token arrays must hold integers")
    return arr.astype(np.int64, copy=False)


# ---------------------------------------------------------------- bit packing
def _byte_width(bits):
    return 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8


def _code_bits(codes, bits):
    """Flat codes -> uint8 bit array [N * bits], MSB first: big-endian bytes, unpacked, low `bits` kept."""
    w = _byte_width(bits)
    be = codes.astype(f">u{w}").view(np.uint8).reshape(-1, w)
    return np.unpackbits(be, axis=1)[:, 8 * w - bits :].ravel()


def _bits_code(bitarr, n, bits):
    """Inverse of _code_bits: uint8 bit array [n * bits] -> int64 codes [n]."""
    w = _byte_width(bits)
    full = np.zeros((n, 8 * w), dtype=np.uint8)
    full[:, 8 * w - bits :] = bitarr.reshape(n, bits)
    return np.packbits(full, axis=1).view(f">u{w}").reshape(n).astype(np.int64)


def _pack(arrays):
    """[(codes ndarray, bits)] -> bytes: one bit string over all arrays, padded once at the end."""
    chunks = [_code_bits(a.ravel(), b) for a, b in arrays if b > 0 and a.size]
    if not chunks:
        return b""
    return np.packbits(np.concatenate(chunks)).tobytes()


# ---------------------------------------------------------------- writing
def _stream_table(path, tokens, header):
    """The ordered stream list stored in the file: codebook sizes come from header["streams"]."""
    declared = header.get("streams") or []
    sizes = {}
    order = []
    for s in declared:
        name = _get(s, "name")
        sizes[name] = int(_get(s, "codebook_size"))
        order.append(name)
    unknown = [n for n in tokens if n not in sizes]
    if unknown:
        raise TokenFileError(path, f"no codebook_size for stream(s) {unknown}: pass them in header['streams']")
    names = [n for n in order if n in tokens]
    table = []
    for name in names:
        k, t = _shape2(tokens[name])
        table.append({"name": name, "codebook_size": sizes[name], "n_codebooks": int(k), "frames": int(t)})
    return table


def encode_token_bytes(tokens, header, path="<tokens>"):
    """The complete .atok bytes for `tokens` ({stream: [K, T] ints}) and `header` (see module doc)."""
    for key in ("sample_rate", "frame_rate"):
        if key not in header:
            raise TokenFileError(path, f"header needs '{key}'")
    table = _stream_table(path, tokens, header)
    arrays = []
    for s in table:
        codes = _as_numpy(tokens[s["name"]])
        if codes.size:
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi >= s["codebook_size"]:
                bad = lo if lo < 0 else hi
                raise TokenFileError(
                    path, f"stream '{s['name']}' has code {bad} outside [0, {s['codebook_size']})"
                )
        arrays.append((codes, bits_per_code(s["codebook_size"])))
    full = dict(header)
    full["streams"] = table
    full["sample_rate"] = int(header["sample_rate"])
    full["frame_rate"] = float(header["frame_rate"])
    full.setdefault("audiotok_version", __version__)
    blob = json.dumps(full, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(blob)) + blob + _pack(arrays)
    return body + _CRC.pack(zlib.crc32(body))


def write_tokens(path, tokens, header):
    """Write `tokens` ({stream: LongTensor [K, T]}) and `header` to `path` atomically.
    header must hold sample_rate, frame_rate and streams [{name, codebook_size, ...}] covering
    every token stream (e.g. `model.describe()` plus original_length, model_id)."""
    data = encode_token_bytes(tokens, header, path)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------- reading
def _expected_payload_bytes(streams):
    bits = sum(s["n_codebooks"] * s["frames"] * bits_per_code(s["codebook_size"]) for s in streams)
    return (bits + 7) // 8


def _crc_ok(data):
    return len(data) >= _CRC.size and zlib.crc32(data[: -_CRC.size]) == _CRC.unpack(data[-_CRC.size :])[0]


def _parse(path, data, file_size):
    """Check magic, version and header of `data` (the whole file, or just its start when
    file_size says more); return (header, payload offset, payload length)."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise TokenFileError(path, "not an audiotok token file (bad magic; expected an .atok file)")
    if len(data) < _PREFIX.size:
        raise TokenFileError(path, f"truncated file ({file_size} bytes)")
    _, version, hlen = _PREFIX.unpack(data[: _PREFIX.size])
    if version != FORMAT_VERSION:
        raise TokenFileError(path, f"unsupported token file version {version} "
                                   f"(this audiotok {__version__} reads version {FORMAT_VERSION})")
    if _PREFIX.size + hlen + _CRC.size > file_size:
        raise TokenFileError(
            path, f"truncated or damaged file: header of {hlen} bytes does not fit in {file_size} bytes")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + hlen].decode("utf-8"))
        streams = header["streams"]
        for s in streams:
            s["n_codebooks"], s["frames"], s["codebook_size"] = (
                int(s["n_codebooks"]), int(s["frames"]), int(s["codebook_size"]))
            bits_per_code(s["codebook_size"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenFileError(path, "file is damaged (unreadable header)") from None
    start = _PREFIX.size + hlen
    n = _expected_payload_bytes(streams)
    expected = start + n + _CRC.size
    if file_size < expected:
        raise TokenFileError(path, f"truncated file: {file_size} bytes, the header promises {expected}")
    if file_size > expected:
        raise TokenFileError(path, f"file is damaged: {file_size - expected} unexpected bytes after the codes")
    return header, start, n


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise TokenFileError(path, "no such file") from None
    except IsADirectoryError:
        raise TokenFileError(path, "is a directory, not a token file") from None
    except OSError as e:
        raise TokenFileError(path, f"cannot read: {e.strerror or e}") from None


def decode_token_bytes(data, path="<tokens>"):
    """Inverse of encode_token_bytes -> ({stream: int64 ndarray [K, T]}, header)."""
    header, start, n = _parse(path, data, len(data))
    if not _crc_ok(data):
        raise TokenFileError(path, "file is damaged (checksum mismatch)")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, count=n, offset=start))
    tokens, pos = {}, 0
    for s in header["streams"]:
        k, t, b = s["n_codebooks"], s["frames"], bits_per_code(s["codebook_size"])
        count = k * t
        if b == 0 or count == 0:
            codes = np.zeros(count, dtype=np.int64)
        else:
            codes = _bits_code(bits[pos : pos + count * b], count, b)
        pos += count * b
        tokens[s["name"]] = codes.reshape(k, t)
    return tokens, header


def read_tokens(path, as_numpy=False):
    """Read an .atok file -> ({stream: LongTensor [K, T]}, header). Verifies magic, version,
    size and checksum; raises TokenFileError with a one-line reason."""
    tokens, header = decode_token_bytes(_read_bytes(path), path)
    if not as_numpy:
        import torch

        tokens = {k: torch.from_numpy(v) for k, v in tokens.items()}
    return tokens, header


def read_header(path):
    """Only the header (cheap: reads the start of the file; checks size, not the checksum)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(_PREFIX.size)
            if len(head) == _PREFIX.size and head[:4] == MAGIC:
                head += f.read(_PREFIX.unpack(head)[2])
    except FileNotFoundError:
        raise TokenFileError(path, "no such file") from None
    except IsADirectoryError:
        raise TokenFileError(path, "is a directory, not a token file") from None
    except OSError as e:
        raise TokenFileError(path, f"cannot read: {e.strerror or e}") from None
    return _parse(path, head, size)[0]


def summarize(path):
    """Everything `audiotok info` shows about a token file (reads and verifies it all)."""
    data = _read_bytes(path)
    tokens, header = decode_token_bytes(data, path)
    streams = header["streams"]
    bits = sum(s["n_codebooks"] * s["frames"] * bits_per_code(s["codebook_size"]) for s in streams)
    frames = max((s["frames"] for s in streams), default=0)
    fr, sr = float(header["frame_rate"]), int(header["sample_rate"])
    code_seconds = frames / fr if fr > 0 else 0.0
    n_payload = (bits + 7) // 8
    duration = header["original_length"] / sr if header.get("original_length") is not None and sr else code_seconds
    return {
        "path": str(path),
        "model_type": header.get("model_type"),
        "model_id": header.get("model_id"),
        "sample_rate": sr,
        "frame_rate": fr,
        "original_length": header.get("original_length"),
        "duration": duration,
        "streams": [dict(s, bits_per_code=bits_per_code(s["codebook_size"])) for s in streams],
        "payload_bits": bits,
        "payload_bytes": n_payload,
        "header_bytes": len(data) - n_payload,
        "file_bytes": len(data),
        # bits of the codes per second of the frames they cover: the model's bitrate at this n_q
        "bitrate_kbps": bits / code_seconds / 1000 if code_seconds > 0 else 0.0,
        "format_version": FORMAT_VERSION,
        "audiotok_version": header.get("audiotok_version"),
    }


# ---------------------------------------------------------------- model check
def _model_str(d):
    streams = " + ".join(
        f"{_get(s, 'name')} {_get(s, 'n_codebooks')}x{_get(s, 'codebook_size')}" for s in d.get("streams") or []
    )
    rates = f"{d.get('sample_rate')} Hz, {float(d.get('frame_rate') or 0):g} Hz frames"
    return f"{d.get('model_type') or '?'} ({rates}, {streams})"


def check_model_matches(header, model, path="<tokens>"):
    """Raise TokenFileError when the tokens in `header` cannot be decoded by `model`
    (a TokenModel's describe() dict): other model type, sample rate, frame rate, an unknown
    stream, other codebook size, more codebooks than the model has, or another model_id
    when both sides carry one (same architecture, other weights: the codes mean nothing)."""
    problems = []
    if header.get("model_type") and model.get("model_type") and header["model_type"] != model["model_type"]:
        problems.append("model type differs")
    if int(header.get("sample_rate", -1)) != int(model.get("sample_rate", -1)):
        problems.append(f"sample rate {header.get('sample_rate')} Hz vs {model.get('sample_rate')} Hz")
    if not math.isclose(float(header.get("frame_rate", -1)), float(model.get("frame_rate", -2)), rel_tol=1e-6):
        problems.append(f"frame rate {header.get('frame_rate')} Hz vs {model.get('frame_rate')} Hz")
    mstreams = {_get(s, "name"): s for s in model.get("streams") or []}
    for s in header.get("streams") or []:
        m = mstreams.get(s["name"])
        if m is None:
            problems.append(f"the model has no stream '{s['name']}'")
        elif int(_get(m, "codebook_size")) != int(s["codebook_size"]):
            problems.append(f"stream '{s['name']}' codebook size {s['codebook_size']} vs {_get(m, 'codebook_size')}")
        elif int(_get(m, "n_codebooks")) < int(s["n_codebooks"]):
            have = _get(m, "n_codebooks")
            problems.append(f"stream '{s['name']}' has {s['n_codebooks']} codebooks, the model {have}")
    ids = header.get("model_id"), model.get("model_id")
    if not problems and all(ids) and ids[0] != ids[1]:
        problems.append(f"model id {header['model_id']} vs {model['model_id']}")
    if problems:
        raise TokenFileError(
            path, f"made by model {_model_str(header)}, not {_model_str(model)}: {'; '.join(problems)}"
        )
