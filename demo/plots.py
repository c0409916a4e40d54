"""Pictures for the demo, written as small PNG files: a spectrogram of a waveform and the
token grid (codebook x frame) of every stream. matplotlib runs headless (Agg)."""

import math

import numpy as np
import torch

DPI = 80


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def spectrogram_db(wav, sample_rate, n_fft=1024, hop=256, floor_db=-80.0):
    """wav [T] or [1,T] -> (dB magnitude [freq, frames] relative to full scale, seconds per frame)."""
    x = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
    n_fft = min(n_fft, max(16, 1 << int(math.log2(max(16, x.numel())))))
    hop = min(hop, n_fft // 4)
    x = torch.nn.functional.pad(x, (0, max(0, n_fft - x.numel())))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    ref = n_fft / 4  # a full-scale sine's peak under a Hann window: 0 dB
    db = 20 * torch.log10(spec / ref + 1e-10)
    return db.clamp(min=floor_db).numpy(), hop / sample_rate


def save_spectrogram(path, wav, sample_rate, title):
    plt = _plt()
    db, sec = spectrogram_db(wav, sample_rate)
    fig, ax = plt.subplots(figsize=(6.0, 2.2), dpi=DPI)
    extent = (0, db.shape[1] * sec, 0, sample_rate / 2000)
    im = ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-80, vmax=0)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("kHz", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=ax, pad=0.01).ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def save_token_grid(path, tokens, streams, frame_rate, max_frames=400):
    """tokens {stream: LongTensor[K,T]}; streams: the model's TokenStream list (codebook sizes).
    One panel per stream; rows are codebooks (layer 1 on top), colour is the code index."""
    plt = _plt()
    names = [s for s in streams if s.name in tokens]
    heights = [max(1, tokens[s.name].shape[0]) for s in names]
    fig, axes = plt.subplots(len(names), 1, figsize=(6.0, 0.9 + 0.45 * sum(heights)), dpi=DPI, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, s in zip(axes[:, 0], names):
        codes = np.asarray(tokens[s.name][:, :max_frames], dtype=np.int64)
        K, T = codes.shape
        ax.imshow(codes, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=s.codebook_size - 1,
                  extent=(0, T / frame_rate, K + 0.5, 0.5))
        ax.set_yticks(range(1, K + 1))
        ax.set_ylabel("codebook" if K > 1 else "", fontsize=8)
        ax.set_title(f"{s.name}: {K} x {s.codebook_size} codes, {frame_rate:g} frames/s"
                     + (f" (first {max_frames} frames)" if tokens[s.name].shape[1] > max_frames else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time (s)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
