"""Codebook statistics over a set of token arrays, and bitrate / token-rate arithmetic.

usage      = distinct codes seen / codebook size (1.0: every entry was used at least once)
perplexity = exp(H), H the entropy (nats) of the code histogram: the number of equally likely
             codes that would carry the same information; codebook size at best, 1 at worst
"""

import math
from pathlib import Path

import numpy as np

from audiotok.errors import UserError


def _as_2d(codes):
    """numpy/torch [T] or [K, T] (or [1, K, T]) -> int64 numpy [K, T]."""
    if hasattr(codes, "detach"):
        codes = codes.detach().cpu().numpy()
    a = np.asarray(codes)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"expected token codes [K, T], got shape {a.shape}")
    return a.astype(np.int64, copy=False)


def histogram_stats(counts):
    """Stats of one code histogram (counts indexed by code): dict(n_tokens, n_used, usage,
    perplexity, entropy_bits)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    used = int((counts > 0).sum())
    if n == 0:
        return {"n_tokens": 0, "n_used": 0, "usage": 0.0, "perplexity": math.nan, "entropy_bits": math.nan}
    p = counts[counts > 0] / n
    h = float(-(p * np.log(p)).sum())
    return {"n_tokens": int(n), "n_used": used, "usage": used / len(counts), "perplexity": math.exp(h),
            "entropy_bits": h / math.log(2)}


def codebook_stats(token_arrays, codebook_size):
    """Per-codebook stats over a set of arrays (each [K, T] or [T]; T may differ, K may not).
    `codebook_size` is an int or one per codebook. Returns a list of K dicts (codebook, size, ...)."""
    hists = None
    sizes = None
    for codes in token_arrays:
        a = _as_2d(codes)
        if hists is None:
            k = a.shape[0]
            sizes = [int(codebook_size)] * k if np.isscalar(codebook_size) else [int(s) for s in codebook_size]
            if len(sizes) != k:
                raise ValueError(f"{len(sizes)} codebook sizes for {k} codebooks")
            hists = [np.zeros(s, dtype=np.int64) for s in sizes]
        elif a.shape[0] != len(hists):
            raise ValueError(f"arrays disagree on the number of codebooks: {a.shape[0]} vs {len(hists)}")
        for i, row in enumerate(a):
            if row.size and (row.min() < 0 or row.max() >= sizes[i]):
                raise ValueError(f"codebook {i}: code outside [0, {sizes[i]})")
            hists[i] += np.bincount(row, minlength=sizes[i])
    if hists is None:
        return []
    return [dict(codebook=i, size=sizes[i], **histogram_stats(h)) for i, h in enumerate(hists)]


def bitrate_kbps(frame_rate, codebook_sizes):
    """Code rate of a token stream in kbit/s: frame_rate x the packed bits of one code of each
    codebook, ceil(log2(size)) (what a token file spends; TokenModel.code_rate)."""
    return frame_rate * sum((int(s) - 1).bit_length() for s in codebook_sizes) / 1000.0


def tokens_per_second(frame_rate, n_codebooks):
    return float(frame_rate) * int(n_codebooks)


def measured_kbps(n_bytes, duration_s):
    """Real bitrate of `n_bytes` carrying `duration_s` seconds of audio."""
    return 8.0 * n_bytes / duration_s / 1000.0 if duration_s > 0 else math.nan


def token_files_summary(paths):
    """Read .atok files (audiotok.tokfile) -> dict(kbps, kbps_file, frame_rate, tokens_per_s,
    duration, n_files, codebooks: [dict(stream, codebook, size, usage, perplexity, ...)]).
    kbps: the code rate, packed code bits per second of the frames they cover (the model's
    code_rate at this n_q); kbps_file: the file rate, whole files (header and block framing
    included) per second of audio; tokens_per_s: codes per second of frames (frame rate x n_q)."""
    from audiotok import tokfile

    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no token files to summarise")
    per_stream, sizes = {}, {}
    bits = file_bytes = 0
    seconds = code_seconds = 0.0
    frame_rate, n_tokens_total = None, 0
    for p in paths:
        tokens, header = tokfile.read_tokens(p, as_numpy=True)
        info = tokfile.summarize(p)
        if frame_rate is None:
            frame_rate = info["frame_rate"]
        elif abs(info["frame_rate"] - frame_rate) > 1e-9:
            raise UserError(f"{p}: frame rate {info['frame_rate']} differs from the other token files ({frame_rate})")
        bits += info["payload_bits"]
        file_bytes += info["file_bytes"]
        seconds += info["duration"]
        frames = max((s["frames"] for s in header["streams"]), default=0)
        code_seconds += frames / frame_rate if frame_rate > 0 else 0.0
        for s in header["streams"]:
            per_stream.setdefault(s["name"], []).append(tokens[s["name"]])
            sizes[s["name"]] = s["codebook_size"]
            n_tokens_total += s["n_codebooks"] * s["frames"]
    codebooks = []
    for name, arrays in per_stream.items():
        for row in codebook_stats(arrays, sizes[name]):
            codebooks.append(dict(stream=name, **row))
    return {
        "kbps": bits / code_seconds / 1000.0 if code_seconds > 0 else math.nan,
        "kbps_file": measured_kbps(file_bytes, seconds),
        "frame_rate": frame_rate,
        "tokens_per_s": n_tokens_total / code_seconds if code_seconds > 0 else math.nan,
        "duration": seconds,
        "n_files": len(paths),
        "codebooks": codebooks,
    }
