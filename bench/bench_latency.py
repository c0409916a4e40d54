"""Streaming latency. DualCodec is not causal: its SSL encoder (BEST-RQ) attends over the whole
input in both directions and its DAC-style convolutions are centred. So there is no streaming
mode; what exists is chunked encoding (audiotok.compress: chunks of C seconds with 2 s of
context on both sides, context frames thrown away). Its algorithmic latency is C + 2 s: the first
sample of a chunk waits for the rest of the chunk and the right context before it is coded.

Measured here on the full-size 12.5 Hz model (random weights):
  * the lookahead of each part, from gradients: how far to the right of a frame the input still
    changes that frame (waveform encoder, SSL features, decoder output);
  * for chunk sizes C, the compute time per window (C + 4 s) on this machine, so latency =
    C + 2 s + compute, and whether the chunked encoder keeps up with real time (compute < C).
For comparison (reference/dualcodec.md, section 5): Mimi is causal with an 80 ms frame latency.

    python -m bench.bench_latency [--quick] [--chunks 0.5,1,2,5,30]
"""

import math
import sys
import time

import torch
import torchaudio

from bench import common, zoo

NAME = "latency"
TITLE = "Streaming latency (algorithmic) of chunked DualCodec encoding"
CONTEXT_S = 2.0  # audiotok.compress.encode_waveform's default context_seconds, used by `audiotok encode`


def _nonzero_span(grad):
    idx = torch.nonzero(grad.abs().flatten() > 0).flatten()
    return int(idx.min()), int(idx.max())


def lookaheads(model, seconds):
    """Right/left reach of each part around a frame in the middle of `seconds` of input, in seconds."""
    sr, hop = model.sample_rate, model.hop_length
    n = int(seconds * sr) // hop * hop
    t = (n // hop) // 2  # a frame in the middle
    frame_end = (t + 1) * hop  # first sample after the frame's own hop
    out = {}
    with torch.enable_grad():
        # waveform encoder: latent frame t <- input samples
        x = (0.1 * torch.randn(1, 1, n)).requires_grad_(True)
        model.encoder(x)[..., t].sum().backward()
        lo, hi = _nonzero_span(x.grad)
        out["waveform encoder"] = ((hi + 1 - frame_end) / sr, (t * hop - lo) / sr, "centred convolutions")
        # SSL features pooled to frame t <- input samples (resampled to 16 kHz inside)
        x = (0.1 * torch.randn(1, 1, n)).requires_grad_(True)
        for p in model.ssl.parameters():
            p.requires_grad_(True)
        try:
            # ssl_features is no_grad for inference; call its pieces with gradients
            x16 = torchaudio.functional.resample(x, sr, int(model.ssl.sample_rate))
            feats = model.ssl.extract_features(x16, model.ssl_layer).transpose(1, 2)
            model._pool(feats, n // hop)[..., t].sum().backward()
        finally:
            for p in model.ssl.parameters():
                p.requires_grad_(False)
        lo, hi = _nonzero_span(x.grad)
        whole = hi + 1 >= n - hop and lo <= hop
        out["SSL features (BEST-RQ)"] = ((hi + 1 - frame_end) / sr, (t * hop - lo) / sr,
                                         "whole input: bidirectional attention" if whole else "")
        # decoder: output samples of frame t <- latent frames
        z = torch.randn(1, int(model.config["latent_dim"]), n // hop).requires_grad_(True)
        model.decoder(z)[..., t * hop:(t + 1) * hop].sum().backward()
        lo, hi = _nonzero_span(z.grad.abs().sum(1))
        out["decoder"] = ((hi - t) / model.frame_rate, (t - lo) / model.frame_rate,
                          f"{hi - t} latent frames ahead")
    model.zero_grad(set_to_none=True)
    return out


def chunk_compute(model, chunk_s, context_s, total_s):
    """Mean wall seconds to encode one window of a chunked stream (audiotok.compress chunking)."""
    from audiotok.compress import encode_waveform

    wav = 0.1 * torch.randn(1, int(total_s * model.sample_rate))
    n_chunks = math.ceil(total_s / chunk_s)
    common.sync("cpu")
    t0 = time.perf_counter()
    encode_waveform(model, wav, chunk_seconds=chunk_s, context_seconds=context_s)
    return (time.perf_counter() - t0) / n_chunks


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--chunks", default=None, help="chunk sizes in seconds (default 0.5,1,2,5,30)")
    args = p.parse_args(argv)
    common.setup(args)
    size = "tiny" if args.quick else "full"
    chunks = [float(c) for c in (args.chunks or ("0.5,1" if args.quick else "0.5,1,2,5,30")).split(",")]
    res = common.Result(NAME, TITLE, "bench.bench_latency", argv)
    codec = zoo.dualcodec("12hz", size)
    model = codec.module
    torch.manual_seed(0)
    for part, (ahead, behind, why) in lookaheads(model, 2.0 if args.quick else 8.0).items():
        res.add(kind="lookahead", part=part, ahead_s=ahead, behind_s=behind, why=why)
    with torch.inference_mode():
        model.encode(0.1 * torch.randn(1, 1, model.sample_rate))  # warm-up
    for c in chunks:
        # enough input for at least two windows, so the mean covers whole middle windows
        total = max(2 * c, 4.0) if args.quick else max(2 * c, 10.0)
        per = chunk_compute(model, c, CONTEXT_S, total)
        res.add(kind="chunk", codec=codec.name, chunk_s=c, context_s=CONTEXT_S, window_s=c + 2 * CONTEXT_S,
                algorithmic_s=c + CONTEXT_S, compute_s=per, latency_s=c + CONTEXT_S + per,
                keeps_up=per < c, overhead=(c + 2 * CONTEXT_S) / c)
    if args.quick:
        res.note("--quick: debug-size model; the figures mean nothing")
    res.write(args.out, render)
    return 0


def render(data):
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    out += ["The paper-size DualCodec configs (and audiotok's version of them) are **not causal**, so they have no "
            "streaming mode (the shipped CPU codec is causal and streams: see the streaming section). Lookahead of "
            "each part around one frame, measured from gradients on random weights (architecture only):", ""]
    la = [r for r in data["rows"] if r["kind"] == "lookahead"]
    out.append(common.md_table(["part", "lookahead (s)", "look-behind (s)", "why"],
                               [[r["part"], r["ahead_s"], r["behind_s"], r["why"]] for r in la]))
    ch = [r for r in data["rows"] if r["kind"] == "chunk"]
    if ch:
        out += ["", "Chunked encoding as `audiotok encode --chunk-seconds C` does it "
                f"(context {ch[0]['context_s']:g} s "
                "on each side, thrown away after coding). Algorithmic latency = C + right context; compute = mean wall "
                f"time per window on this machine ({ch[0]['codec']}, batch 1):", ""]
        out.append(common.md_table(
            ["chunk C (s)", "window (s)", "algorithmic latency (s)", "compute per window (s)",
             "latency incl. compute (s)",
             "keeps up with real time", "compute overhead vs whole file"],
            [[r["chunk_s"], r["window_s"], r["algorithmic_s"], r["compute_s"], r["latency_s"],
              "yes" if r["keeps_up"] else "no", f"{r['overhead']:.1f}x"] for r in ch]))
    out += ["", "For comparison: Mimi is causal with 80 ms frames (reference/dualcodec.md, section 5); "
            "EnCodec 24 kHz is causal too. audiotok's causal codec (causal SSL, causal convolutions) is measured in the "
            "streaming section.",
            ""]
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
