"""Training targets of the Duo-Tok heads: chroma, stem ratio masks, character ids for lyric CTC.

chroma       12 pitch classes from a power STFT: each bin between fmin and fmax votes for the pitch
             classes near its frequency (Gaussian in semitones, width `sigma`), frames are pooled to
             the encoder rate and scaled so their loudest class is 1 (librosa's `norm=inf`); silent
             frames stay 0. Written here so no network or librosa is needed at run time.
ratio mask   vocal share of the mix per mel bin: P_v / (P_v + P_a) on power mels, 0.5 where both
             stems are silent; `separation_loss` scores a predicted share against it.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

CHARS = " abcdefghijklmnopqrstuvwxyz'"  # CTC blank is id 0, CHARS[i] is id i + 1


def chroma_filterbank(sample_rate, n_fft, fmin=65.0, fmax=2100.0, sigma=0.5):
    """[12, n_fft // 2 + 1]: weight of each STFT bin for each pitch class (C = 0)."""
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    inside = (freqs >= fmin) & (freqs <= fmax)
    midi = 69 + 12 * torch.log2(freqs.clamp_min(1e-6) / 440.0)
    classes = torch.arange(12, dtype=torch.float64)[:, None]
    d = torch.remainder(midi[None] - classes + 6, 12) - 6  # circular distance in semitones
    fb = torch.exp(-0.5 * (d / sigma) ** 2) * inside[None]
    return fb.float()


class Chroma(nn.Module):
    """wav [B,1,T] -> chroma [B, frames // pool, 12] with frames = T // hop + 1 (centred STFT)."""

    def __init__(self, sample_rate, n_fft=4096, hop_length=240, pool=4, fmin=65.0, fmax=2100.0):
        super().__init__()
        self.n_fft, self.hop_length, self.pool = int(n_fft), int(hop_length), int(pool)
        self.register_buffer("fb", chroma_filterbank(sample_rate, n_fft, fmin, fmax), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, wav):
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = wav.reshape(wav.shape[0], -1).float()
            if x.shape[-1] <= self.n_fft // 2:
                x = F.pad(x, (0, self.n_fft // 2 + 1 - x.shape[-1]))
            spec = torch.stft(x, self.n_fft, self.hop_length, window=self.window, center=True,
                              return_complex=True).abs().pow(2)
            frames = wav.shape[-1] // self.hop_length + 1
            c = torch.einsum("cf,bft->btc", self.fb, spec[..., :frames])  # [B, N, 12]
            n = c.shape[1] // self.pool
            c = c[:, : n * self.pool].reshape(c.shape[0], n, self.pool, 12).mean(2)
            peak = c.amax(-1, keepdim=True)
            # relative floor: frames 80 dB below the loudest of the item count as silent
            floor = 1e-8 * c.flatten(1).amax(-1).clamp_min(1e-12)[:, None, None]
            return torch.where(peak > floor, c / peak.clamp_min(1e-12), torch.zeros_like(c))


def ratio_mask(logmel_vocals, logmel_accompaniment):
    """Vocal share of the power in each mel bin, from two log-power mels [B, M, N]."""
    pv, pa = logmel_vocals.float().exp(), logmel_accompaniment.float().exp()
    return pv / (pv + pa)


def separation_loss(mask, target, logmel_mix):
    """Squared error of a predicted vocal share [B,M,N] against the true one, weighted by the mix's
    compressed power (loud bins matter; the weights average 1 per item)."""
    pw = logmel_mix[..., : target.shape[-1]].float().exp().pow(0.3)
    pw = pw / pw.mean(dim=(1, 2), keepdim=True).clamp_min(1e-8)
    return (pw * (mask - target).pow(2)).mean()


def apply_mask(logmel_mix, mask, floor=1e-5):
    """Log-power mels of the two parts of a mix split by `mask` (vocal share): (vocals, accompaniment)."""
    p = logmel_mix.float().exp()
    log_floor = math.log(floor)
    return (torch.log((mask * p).clamp_min(floor)).clamp_min(log_floor),
            torch.log(((1 - mask) * p).clamp_min(floor)).clamp_min(log_floor))


def text_to_ids(text):
    """Lower-cased text -> CTC target ids (characters outside CHARS dropped, spaces squeezed)."""
    out, last_space = [], True
    for ch in text.lower():
        if ch.isspace():
            if not last_space:
                out.append(1)
            last_space = True
        elif ch in CHARS:
            out.append(CHARS.index(ch) + 1)
            last_space = False
    while out and out[-1] == 1:
        out.pop()
    return out
