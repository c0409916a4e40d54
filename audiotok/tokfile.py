"""The `.atok` token file: a compact binary header, then codes bit-packed at
ceil(log2(codebook_size)) bits in framed, checksummed blocks, so the file size is the code rate
plus a few tens of bytes, and the same byte stream can be written and read as it is produced.

Layout (format version 2; varint = unsigned LEB128, 1 byte below 128, 2 below 16384, 3 below 2**21):

    stream header block
      magic          4   b"ATOK"
      version        1   2
      body length    varint
      body:
        sample_rate        varint (Hz)
        frame_rate         varint numerator, varint denominator (the exact fraction, e.g. 25/2)
        model id           varint length + UTF-8 (a short name such as speech-12hz-v1, or the
                           packed dir's id <type>-<weights digest>; never a local path)
        model version      varint length + UTF-8 (often empty)
        stream count       varint
        per stream         name: varint tag (1.. = a name of KNOWN_NAMES, 0 = varint length + UTF-8),
                           codebook_size varint, n_codebooks varint
      crc32          4   zlib CRC32 of magic..body, little-endian
    code blocks, one after the other (a whole file is the header then >= 1 blocks)
      flags          1   bit 0: last block of the stream; bit 1: original length follows
      frames         varint: frames in this block (the same for every stream)
      original length varint, only with flag bit 1 (samples; known at the end of a stream)
      codes          ceil(frames * bits_per_frame / 8) bytes: stream by stream, codes [K, frames]
                     row-major, each code MSB-first in bits_per_code(codebook_size) bits, padded
                     with zero bits to a whole byte at the end of the block
      crc32          4   CRC32 of flags..codes, started from the previous block's CRC (the header's
                         for the first block), so a dropped, repeated or reordered block shows too

The header CRC is checked before any field of the body is believed. A reader stops at the first
block that is cut short or fails its CRC and can hand back the frames of the whole blocks before it
(`read_token_stream`); `read_tokens` insists on a complete file. n_q is the sum of n_codebooks.
torch is imported lazily so that `audiotok info` starts fast.
"""

import hashlib
import json
import math
import os
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from audiotok import __version__
from audiotok.errors import TokenFileError
from audiotok.fileio import atomic_open

MAGIC = b"ATOK"
FORMAT_VERSION = 2
OLD_VERSIONS = (1,)  # JSON-header files: refused with "re-encode"
# Stream names stored as one byte; a name not listed is stored in full. Append only.
KNOWN_NAMES = ("semantic", "acoustic", "codes", "vocals", "accompaniment", "mix", "content")
FLAG_LAST, FLAG_LENGTH = 0x01, 0x02
BLOCK_SECONDS = 10.0  # frames per block in a whole file: ~10 s, so framing costs < 1 bit/s
_CRC = struct.Struct("<I")


def bits_per_code(codebook_size):
    """Bits that hold one code of a codebook: ceil(log2(size)); 0 for a 1-entry codebook."""
    codebook_size = int(codebook_size)
    if codebook_size < 1:
        raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
    return (codebook_size - 1).bit_length()


def payload_bits(tokens, streams):
    """Bits the codes of `tokens` ({name: [K, T]}) take packed, given `streams` (dicts or
    TokenStream with name and codebook_size); the file adds per-block byte padding to this."""
    sizes = {stream_field(s, "name"): int(stream_field(s, "codebook_size")) for s in streams}
    total = 0
    for name, codes in tokens.items():
        k, t = _shape2(codes)
        total += k * t * bits_per_code(sizes[name])
    return total


def stream_field(s, key):
    """A stream's field, whether it is a dict (token file layouts) or a TokenStream."""
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


# ---------------------------------------------------------------- model identity
def model_identity(model):
    """(model id, model version) that a token file records for `model`: meta.json's `name` and
    `version` when the packed dir has them, else the packed dir's model_id (type + weights digest),
    else the model type + a short hash of its config (unpacked models: a mismatch still shows).
    A release packed with `--tokens-of` an earlier one records that one's version (`tokens_version`):
    the codes mean the same, so the files of either decode with either."""
    meta = getattr(model, "meta", None) or {}
    version = meta.get("tokens_version", meta.get("version"))
    version = "" if version is None else str(version)
    if meta.get("name"):
        return str(meta["name"]), version
    if getattr(model, "model_id", None):
        return str(model.model_id), version
    conf = json.dumps({"model": model.model_type, "model_conf": getattr(model, "config", None)},
                      sort_keys=True, default=str)
    return f"{model.model_type}-{hashlib.sha256(conf.encode()).hexdigest()[:8]}", version


# ---------------------------------------------------------------- varints and bit packing
def _varint(n):
    n = int(n)
    if n < 0:
        raise ValueError(f"varint of a negative number {n}")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Short(Exception):
    """The bytes end inside a field."""


class _Bad(Exception):
    """A field holds an impossible value (only raised after its CRC matched, or for framing)."""


class _Cursor:
    def __init__(self, data, pos=0, end=None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self):
        if self.pos >= self.end:
            raise _Short
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self):
        n = shift = 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise _Bad("varint too long")

    def take(self, n):
        if self.pos + n > self.end:
            raise _Short
        self.pos += n
        return bytes(self.data[self.pos - n : self.pos])

    def text(self):
        try:
            return self.take(self.varint()).decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("text is not UTF-8") from None


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


def _frame_bits(layout):
    return sum(s["n_codebooks"] * bits_per_code(s["codebook_size"]) for s in layout)


def _block_bytes(layout, frames):
    return (frames * _frame_bits(layout) + 7) // 8


# ---------------------------------------------------------------- writing
def _fraction(path, frame_rate):
    fr = float(frame_rate)
    q = Fraction(fr).limit_denominator(1 << 16)
    if fr <= 0 or not math.isclose(float(q), fr, rel_tol=1e-9):
        raise TokenFileError(path, f"frame rate {frame_rate} is not a positive fraction with a denominator <= 65536")
    return q


def stream_layout(path, tokens, header):
    """The ordered stream list stored in the file ({name, codebook_size, n_codebooks}): streams of
    header["streams"] that `tokens` holds, in that order, with the codebook counts of `tokens`."""
    sizes, order = {}, []
    for s in header.get("streams") or []:
        name = stream_field(s, "name")
        sizes[name] = int(stream_field(s, "codebook_size"))
        order.append(name)
    unknown = [n for n in tokens if n not in sizes]
    if unknown:
        raise TokenFileError(path, f"no codebook_size for stream(s) {unknown}: pass them in header['streams']")
    return [{"name": n, "codebook_size": sizes[n], "n_codebooks": int(_shape2(tokens[n])[0])}
            for n in order if n in tokens]


def encode_header_block(header, layout, path="<tokens>"):
    """(bytes, crc) of the stream header block. header: sample_rate, frame_rate, model_id (else
    model_type), model_version; layout: [{name, codebook_size, n_codebooks}]."""
    for key in ("sample_rate", "frame_rate"):
        if key not in header:
            raise TokenFileError(path, f"header needs '{key}'")
    fr = _fraction(path, header["frame_rate"])
    model_id = header.get("model_id") or header.get("model_type") or ""
    version = "" if header.get("model_version") is None else str(header["model_version"])
    body = bytearray(_varint(header["sample_rate"]) + _varint(fr.numerator) + _varint(fr.denominator))
    for text in (str(model_id), version):
        raw = text.encode("utf-8")
        body += _varint(len(raw)) + raw
    body += _varint(len(layout))
    for s in layout:
        if s["name"] in KNOWN_NAMES:
            body += _varint(KNOWN_NAMES.index(s["name"]) + 1)
        else:
            raw = s["name"].encode("utf-8")
            body += _varint(0) + _varint(len(raw)) + raw
        body += _varint(s["codebook_size"]) + _varint(s["n_codebooks"])
    block = MAGIC + bytes([FORMAT_VERSION]) + _varint(len(body)) + bytes(body)
    crc = zlib.crc32(block)
    return block + _CRC.pack(crc), crc


def encode_code_block(codes, layout, prev_crc, last=False, original_length=None):
    """(bytes, crc) of one code block: codes [K, frames] per stream of `layout`, in its order.
    prev_crc: the CRC of the block before it (the header's for the first block)."""
    frames = codes[0].shape[1] if codes else 0
    flags = (FLAG_LAST if last else 0) | (FLAG_LENGTH if original_length is not None else 0)
    head = bytes([flags]) + _varint(frames)
    if original_length is not None:
        head += _varint(original_length)
    arrays = [(c, bits_per_code(s["codebook_size"])) for c, s in zip(codes, layout)]
    block = head + _pack(arrays)
    crc = zlib.crc32(block, prev_crc)
    return block + _CRC.pack(crc), crc


def _checked_arrays(path, layout, tokens):
    """The codes of `tokens` as int64 arrays in `layout` order, checked against it: codebook counts,
    codes inside their codebooks, one frame count for every stream (a block holds the same frames)."""
    arrays = []
    for s in layout:
        codes = _as_numpy(tokens[s["name"]])
        if codes.shape[0] != s["n_codebooks"]:
            raise TokenFileError(path, f"stream '{s['name']}' has {codes.shape[0]} codebooks, the header "
                                       f"{s['n_codebooks']}")
        if codes.size:
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi >= s["codebook_size"]:
                bad = lo if lo < 0 else hi
                raise TokenFileError(path, f"stream '{s['name']}' has code {bad} outside [0, {s['codebook_size']})")
        arrays.append(codes)
    frames = {a.shape[1] for a in arrays}
    if len(frames) > 1:
        raise TokenFileError(path, f"streams have different frame counts {sorted(frames)}: a block holds "
                                   "the same frames of every stream")
    return arrays


def encode_token_bytes(tokens, header, path="<tokens>", block_frames=None):
    """The complete .atok bytes for `tokens` ({stream: [K, T] ints, one T for all}) and `header`
    (sample_rate, frame_rate, streams [{name, codebook_size}], and optionally model_id,
    model_version, original_length; other keys are not stored)."""
    layout = stream_layout(path, tokens, header)
    arrays = _checked_arrays(path, layout, tokens)
    n_frames = arrays[0].shape[1] if arrays else 0
    out, crc = encode_header_block(header, layout, path)
    out = [out]
    if block_frames is None:
        block_frames = max(1, math.ceil(BLOCK_SECONDS * float(header["frame_rate"])))
    length = header.get("original_length")
    starts = list(range(0, n_frames, int(block_frames))) or [0]
    for i, f0 in enumerate(starts):
        last = i == len(starts) - 1
        f1 = n_frames if last else f0 + int(block_frames)
        block, crc = encode_code_block([a[:, f0:f1] for a in arrays], layout, crc, last=last,
                                       original_length=int(length) if last and length is not None else None)
        out.append(block)
    return b"".join(out)


def write_tokens(path, tokens, header, block_frames=None):
    """Write `tokens` ({stream: LongTensor [K, T]}) and `header` to `path` atomically (see
    encode_token_bytes: e.g. `model.describe()` plus original_length, model_id, model_version)."""
    data = encode_token_bytes(tokens, header, path, block_frames)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------- reading
@dataclass
class TokenRead:
    """What a reader got from a token byte stream. tokens/header cover the whole blocks read;
    complete: the last block was read; offset: bytes up to the end of the last good block;
    problem: why reading stopped early or what follows the end (None for a clean file)."""

    tokens: dict
    header: dict
    complete: bool
    offset: int
    header_bytes: int
    framing_bytes: int = 0
    code_bytes: int = 0
    blocks: int = 0
    problem: str = None
    truncated: bool = False


def _old_format(data):
    """A version-1 (JSON header) file whose whole-file CRC still matches."""
    return len(data) >= 13 and zlib.crc32(data[:-4]) == _CRC.unpack(data[-4:])[0]


def _header_crc_ok(data, magic=MAGIC, version=FORMAT_VERSION):
    """Does the header block check out with these magic/version bytes? -> (ok, body start, body end)."""
    try:
        cur = _Cursor(data, 5)
        n = cur.varint()
        start = cur.pos
        cur.take(n)
        crc = _CRC.unpack(cur.take(4))[0]
    except (_Short, _Bad):
        return False, 0, 0
    return zlib.crc32(magic + bytes([version]) + data[5 : start + n]) == crc, start, start + n


def _parse_header(path, data):
    """-> (header dict, layout, header block size, header crc). Checks the CRC before the body."""
    if not data:
        raise TokenFileError(path, "not an audiotok token file (empty; expected an .atok file)")
    if len(data) < 5:
        if MAGIC.startswith(bytes(data[:4])):
            raise TokenFileError(path, f"truncated file ({len(data)} bytes)")
        raise TokenFileError(path, "not an audiotok token file (bad magic; expected an .atok file)")
    magic, version = bytes(data[:4]), data[4]
    unsupported = f"unsupported token file version {version} (this audiotok {__version__} reads version {FORMAT_VERSION})"
    ok, start, end = _header_crc_ok(data, magic, version)
    if not ok:
        # A file whose magic or version byte was flipped still checks out with the right ones.
        if _header_crc_ok(data)[0]:
            if magic != MAGIC:
                raise TokenFileError(path, "not an audiotok token file (bad magic), or a damaged one: "
                                           "the rest of its header checks out")
            raise TokenFileError(path, "file is damaged (bad version byte)")
        if magic != MAGIC:
            raise TokenFileError(path, "not an audiotok token file (bad magic; expected an .atok file)")
        if version in OLD_VERSIONS and _old_format(data):
            raise TokenFileError(path, f"old token file format (version {version}): re-encode it with this "
                                       f"audiotok {__version__}")
        if version > FORMAT_VERSION:
            raise TokenFileError(path, unsupported)
        if end == 0 or end + 4 > len(data):
            raise TokenFileError(path, f"truncated or damaged file: the header does not fit in {len(data)} bytes")
        raise TokenFileError(path, "file is damaged (checksum mismatch in its header)")
    if magic != MAGIC:  # a CRC-valid header with other bytes is not ours
        raise TokenFileError(path, "not an audiotok token file (bad magic; expected an .atok file)")
    if version != FORMAT_VERSION:
        raise TokenFileError(path, unsupported)
    crc = _CRC.unpack(data[end : end + 4])[0]
    cur = _Cursor(data, start, end)
    try:
        sr = cur.varint()
        num, den = cur.varint(), cur.varint()
        model_id, model_version = cur.text(), cur.text()
        layout = []
        for _ in range(cur.varint()):
            tag = cur.varint()
            if tag == 0:
                name = cur.text()
            elif tag <= len(KNOWN_NAMES):
                name = KNOWN_NAMES[tag - 1]
            else:
                raise _Bad(f"unknown stream name tag {tag}")
            size, k = cur.varint(), cur.varint()
            if size < 1 or size > 1 << 62:
                raise _Bad(f"codebook size {size}")
            layout.append({"name": name, "codebook_size": size, "n_codebooks": k})
        if cur.pos != end or den == 0 or num == 0:
            raise _Bad("header fields do not add up")
    except (_Short, _Bad) as e:
        # the CRC matched, so this is a writer bug or a newer file, not line damage
        raise TokenFileError(path, f"unreadable token file header ({e or 'too short'})") from None
    header = {
        "model_id": model_id,
        "model_version": model_version,
        "sample_rate": sr,
        "frame_rate": num / den,
        "n_q": sum(s["n_codebooks"] for s in layout),
        "original_length": None,
        "streams": layout,
    }
    return header, layout, end + 4, crc


def _unpack_block(payload, layout, frames):
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    out, pos = [], 0
    for s in layout:
        k, b = s["n_codebooks"], bits_per_code(s["codebook_size"])
        count = k * frames
        if b == 0 or count == 0:
            codes = np.zeros(count, dtype=np.int64)
        else:
            codes = _bits_code(bits[pos : pos + count * b], count, b)
        pos += count * b
        out.append(codes.reshape(k, frames))
    return out


def _parse_block(data, pos, prev_crc, frame_bits):
    """The code block at data[pos:] -> (flags, frames, original length or None, payload, crc, end).
    Raises _Short when the bytes end inside it, _Bad (message with {block} and {frames} to fill)
    when it is damaged."""
    cur = _Cursor(data, pos)
    try:
        flags = cur.byte()
        nf = cur.varint()
        length = cur.varint() if flags & FLAG_LENGTH else None
    except _Bad:
        raise _Bad("file is damaged (code block {block} is unreadable)") from None
    nbytes = (nf * frame_bits + 7) // 8
    payload = cur.take(nbytes)
    stored = _CRC.unpack(cur.take(4))[0]
    if zlib.crc32(data[pos: cur.pos - 4], prev_crc) != stored:
        raise _Bad("file is damaged (checksum mismatch) in code block {block}, after frame {frames}")
    if flags & ~(FLAG_LAST | FLAG_LENGTH):
        raise _Bad("unreadable code block {block} (flags %#x from a newer audiotok?)" % flags)
    return flags, nf, length, payload, stored, cur.pos


def read_token_stream(data, path="<tokens>", unpack=True):
    """Read as much of a token byte stream as is whole -> TokenRead. Raises TokenFileError only
    when the stream header is unusable; a cut or damaged block ends the read (`problem` says why)."""
    header, layout, pos, crc = _parse_header(path, data)
    header_bytes = pos
    frame_bits = _frame_bits(layout)
    pieces = [[] for _ in layout]
    frames = blocks = framing = code = 0
    complete, problem, truncated = False, None, False
    n = len(data)
    while pos < n and not complete:
        try:
            flags, nf, length, payload, stored, end = _parse_block(data, pos, crc, frame_bits)
        except _Short:
            # a cut, or a damaged frame count that points past the end: the bytes cannot tell
            problem = f"truncated or damaged file: it ends inside code block {blocks + 1} (after frame {frames})"
            truncated = True
            break
        except _Bad as e:
            problem = str(e).format(block=blocks + 1, frames=frames)
            break
        if unpack:
            for acc, codes in zip(pieces, _unpack_block(payload, layout, nf)):
                acc.append(codes)
        crc, blocks, frames = stored, blocks + 1, frames + nf
        framing += end - pos - len(payload)
        code += len(payload)
        pos = end
        if length is not None:
            header["original_length"] = length
        complete = bool(flags & FLAG_LAST)
    if complete and pos < n:
        problem = f"file is damaged: {n - pos} unexpected bytes after the last code block"
    elif not complete and problem is None:
        problem, truncated = f"truncated file: it ends after frame {frames} without its last code block", True
    tokens = {}
    for s, acc in zip(layout, pieces):
        s["frames"] = frames
        if unpack:
            tokens[s["name"]] = np.concatenate(acc, axis=1) if acc else np.zeros((s["n_codebooks"], 0), np.int64)
    return TokenRead(tokens, header, complete, pos, header_bytes=header_bytes, framing_bytes=framing,
                     code_bytes=code, blocks=blocks, problem=problem, truncated=truncated)


class TokenStreamWriter:
    """Write a .atok as its codes are produced: the header block now, then one code block per
    `write`, then the last block (with the original length) at `close`. Each block is flushed, so a
    reader on the other end of a pipe gets it at once; a stream cut anywhere reads back to its last
    whole block."""

    def __init__(self, f, header, streams=None, path="<tokens>"):
        self.f, self.path = f, path
        streams = streams or header.get("streams") or []
        self.layout = [{"name": stream_field(s, "name"), "codebook_size": int(stream_field(s, "codebook_size")),
                        "n_codebooks": int(stream_field(s, "n_codebooks"))} for s in streams]
        block, self.crc = encode_header_block(header, self.layout, path)
        self.frames = 0
        self.bytes = 0
        self.closed = False
        self._put(block)

    def _put(self, block):
        self.f.write(block)
        self.f.flush()
        self.bytes += len(block)

    def write(self, tokens):
        """One code block of `tokens` ({stream: [K, frames]}); nothing for 0 frames."""
        arrays = _checked_arrays(self.path, self.layout, tokens)
        if not arrays or arrays[0].shape[1] == 0:
            return 0
        block, self.crc = encode_code_block(arrays, self.layout, self.crc)
        self._put(block)
        self.frames += arrays[0].shape[1]
        return arrays[0].shape[1]

    def close(self, original_length=None, tokens=None):
        """The last block (holding `tokens`, possibly none) and the stream's length in samples."""
        if self.closed:
            return
        if tokens:
            arrays = _checked_arrays(self.path, self.layout, tokens)
        else:
            arrays = [np.zeros((s["n_codebooks"], 0), np.int64) for s in self.layout]
        block, self.crc = encode_code_block(arrays, self.layout, self.crc, last=True,
                                            original_length=None if original_length is None else int(original_length))
        self._put(block)
        self.frames += arrays[0].shape[1] if arrays else 0
        self.closed = True


class TokenStreamReader:
    """Read a .atok as its bytes arrive: `feed(data)` returns the code blocks it completed, each
    {stream: int64 ndarray [K, frames]}. After the last block `complete` is True; a damaged block
    sets `problem` and ends reading (the blocks before it stay good)."""

    def __init__(self, path="<tokens>"):
        self.path = path
        self.buf = bytearray()
        self.header = None
        self.layout = None
        self.frames = 0
        self.blocks = 0
        self.complete = False
        self.problem = None
        self._crc = None

    def _header_ready(self):
        try:
            cur = _Cursor(self.buf, 5)
            n = cur.varint()
            cur.take(n + 4)
            return True
        except _Short:
            return False
        except _Bad:
            return True  # let the parser say what is wrong

    def feed(self, data):
        self.buf += data
        if self.problem or self.complete:
            if self.complete and self.buf and not self.problem:
                self.problem = f"file is damaged: {len(self.buf)} unexpected bytes after the last code block"
            return []
        if self.header is None:
            if len(self.buf) < 5 and (not self.buf or MAGIC.startswith(bytes(self.buf[:4]))):
                return []
            if len(self.buf) >= 5 and not self._header_ready() and bytes(self.buf[:4]) == MAGIC:
                return []
            self.header, self.layout, pos, self._crc = _parse_header(self.path, bytes(self.buf))
            del self.buf[:pos]
        out = []
        frame_bits = _frame_bits(self.layout)
        while self.buf and not self.complete:
            try:
                flags, nf, length, payload, stored, end = _parse_block(self.buf, 0, self._crc, frame_bits)
            except _Short:
                break
            except _Bad as e:
                self.problem = str(e).format(block=self.blocks + 1, frames=self.frames)
                break
            codes = _unpack_block(payload, self.layout, nf)
            out.append({s["name"]: c for s, c in zip(self.layout, codes)})
            del self.buf[:end]
            self._crc, self.blocks, self.frames = stored, self.blocks + 1, self.frames + nf
            if length is not None:
                self.header["original_length"] = length
            self.complete = bool(flags & FLAG_LAST)
        if self.complete and self.buf:
            self.problem = f"file is damaged: {len(self.buf)} unexpected bytes after the last code block"
        return out

    def finish(self):
        """The bytes have ended: None if the stream was whole, else why it stopped (and where)."""
        if self.problem:
            return self.problem
        if self.header is None:
            _parse_header(self.path, bytes(self.buf))  # raises its own one-line reason
        if not self.complete:
            where = f"after frame {self.frames}"
            if self.header and self.header.get("frame_rate"):
                where += f" ({self.frames / float(self.header['frame_rate']):.2f} s)"
            inside = " inside a code block" if self.buf else ""
            return f"truncated stream: it ends{inside} {where} without its last code block"
        return None


def _strict(path, r):
    if r.problem or not r.complete:
        raise TokenFileError(path, r.problem)
    return r


def decode_token_bytes(data, path="<tokens>"):
    """Inverse of encode_token_bytes -> ({stream: int64 ndarray [K, T]}, header); the whole
    file must be there and check out."""
    r = _strict(path, read_token_stream(data, path))
    return r.tokens, r.header


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


def _torch(tokens):
    import torch

    return {k: torch.from_numpy(v) for k, v in tokens.items()}


def read_tokens(path, as_numpy=False):
    """Read an .atok file -> ({stream: LongTensor [K, T]}, header). Verifies every checksum;
    a truncated or damaged file raises TokenFileError with a one-line reason."""
    tokens, header = decode_token_bytes(_read_bytes(path), path)
    return (tokens if as_numpy else _torch(tokens)), header


def read_tokens_partial(path, as_numpy=False):
    """Like read_tokens, but a cut or damaged file gives the whole blocks before the damage:
    -> TokenRead (tokens, header, complete, offset, problem)."""
    r = read_token_stream(_read_bytes(path), path)
    if not as_numpy:
        r.tokens = _torch(r.tokens)
    return r


def read_header(path):
    """The header (streams with their frame counts, original_length, n_q, model id/version) of a
    complete, undamaged file; codes are checked but not unpacked. model_dir is added when this
    machine has encoded with that model (see remember_model_dir): it is never in the file."""
    header = _strict(path, read_token_stream(_read_bytes(path), path, unpack=False)).header
    model_dir = known_model_dir(header["model_id"], header["model_version"])
    if model_dir:
        header["model_dir"] = model_dir
    return header


def summarize(path):
    """Everything `audiotok info` shows about a token file (reads and verifies it all).
    code rate: packed code bits per second of the frames they cover (= the model's code_rate at
    this n_q); file rate: the whole file's bits per second of audio (original length)."""
    data = _read_bytes(path)
    r = _strict(path, read_token_stream(data, path, unpack=False))
    header = r.header
    streams = header["streams"]
    bits = sum(s["n_codebooks"] * s["frames"] * bits_per_code(s["codebook_size"]) for s in streams)
    frames = max((s["frames"] for s in streams), default=0)
    fr, sr = float(header["frame_rate"]), int(header["sample_rate"])
    code_seconds = frames / fr if fr > 0 else 0.0
    length = header.get("original_length")
    duration = length / sr if length is not None and sr else code_seconds
    code_rate = bits / code_seconds / 1000 if code_seconds > 0 else 0.0
    return {
        "path": str(path),
        "model_id": header["model_id"],
        "model_version": header["model_version"],
        "sample_rate": sr,
        "frame_rate": fr,
        "n_q": header["n_q"],
        "original_length": length,
        "duration": duration,
        "streams": [dict(s, bits_per_code=bits_per_code(s["codebook_size"])) for s in streams],
        "blocks": r.blocks,
        "payload_bits": bits,
        "payload_bytes": r.code_bytes,
        "header_bytes": r.header_bytes,
        "framing_bytes": r.framing_bytes,
        "overhead_bytes": len(data) - r.code_bytes,
        "file_bytes": len(data),
        "code_rate_kbps": code_rate,
        "file_rate_kbps": 8 * len(data) / duration / 1000 if duration > 0 else 0.0,
        "tokens_per_s": fr * header["n_q"],
        "format_version": FORMAT_VERSION,
    }


# ---------------------------------------------------------------- where models live, locally
def _index_path():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "audiotok" / "model_dirs.json"


def _load_index():
    try:
        with open(_index_path()) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def remember_model_dir(model_id, model_version, model_dir):
    """Note on this machine where the model that wrote a token file lives, so `audiotok decode`
    can find it without --model. The file itself records only the id (no local paths)."""
    if not model_id or not model_dir:
        return
    key = f"{model_id}@{model_version or ''}"
    value = str(Path(model_dir).resolve())
    index = _load_index()
    if index.get(key) == value:
        return
    index[key] = value
    try:
        with atomic_open(_index_path(), "w") as f:
            json.dump(index, f, indent=1)
    except OSError:
        pass  # a read-only home only costs the --model-less decode


def known_model_dir(model_id, model_version):
    """The local model dir remembered for this id/version if it still exists, else None."""
    d = _load_index().get(f"{model_id}@{model_version or ''}")
    return d if d and Path(d).exists() else None


# ---------------------------------------------------------------- model check
def _id_str(model_id, version):
    return f"{model_id} version {version}" if version else str(model_id)


def _model_str(d):
    streams = " + ".join(
        f"{stream_field(s, 'name')} {stream_field(s, 'n_codebooks')}x{stream_field(s, 'codebook_size')}"
        for s in d.get("streams") or []
    )
    rates = f"{d.get('sample_rate')} Hz, {float(d.get('frame_rate') or 0):g} Hz frames"
    name = _id_str(d.get("model_id"), d.get("model_version")) if d.get("model_id") else d.get("model_type") or "?"
    return f"{name} ({rates}, {streams})"


def check_model_matches(header, model, path="<tokens>"):
    """Raise TokenFileError when the tokens in `header` cannot be decoded by `model` (its
    describe() dict plus model_id / model_version, see model_identity): another model id or
    version (other weights: the codes mean nothing), sample rate, frame rate, an unknown stream,
    other codebook size, or more codebooks than the model has."""
    want = _id_str(header.get("model_id"), header.get("model_version"))
    have = _id_str(model.get("model_id"), model.get("model_version"))
    if header.get("model_id") and model.get("model_id") and want != have:
        raise TokenFileError(path, f"made by model {want}, not {have}: decode it with --model of {want}")
    problems = []
    if int(header.get("sample_rate", -1)) != int(model.get("sample_rate", -1)):
        problems.append(f"sample rate {header.get('sample_rate')} Hz vs {model.get('sample_rate')} Hz")
    if not math.isclose(float(header.get("frame_rate", -1)), float(model.get("frame_rate", -2)), rel_tol=1e-6):
        problems.append(f"frame rate {header.get('frame_rate')} Hz vs {model.get('frame_rate')} Hz")
    mstreams = {stream_field(s, "name"): s for s in model.get("streams") or []}
    for s in header.get("streams") or []:
        m = mstreams.get(s["name"])
        if m is None:
            problems.append(f"the model has no stream '{s['name']}'")
        elif int(stream_field(m, "codebook_size")) != int(s["codebook_size"]):
            problems.append(f"stream '{s['name']}' codebook size {s['codebook_size']} vs "
                            f"{stream_field(m, 'codebook_size')}")
        elif int(stream_field(m, "n_codebooks")) < int(s["n_codebooks"]):
            n = stream_field(m, "n_codebooks")
            problems.append(f"stream '{s['name']}' has {s['n_codebooks']} codebooks, the model {n}")
    if problems:
        raise TokenFileError(
            path, f"made by model {_model_str(header)}, not {_model_str(model)}: {'; '.join(problems)}"
        )
