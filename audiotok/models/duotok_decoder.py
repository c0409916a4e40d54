"""Duo-Tok stage 4 building blocks: a conditional flow-matching mel generator and a mel vocoder.

FlowMelDecoder: rectified-flow / conditional flow matching (x_t = (1 - t) x0 + t x1, x0 ~ N(0, I),
the network predicts the velocity x1 - x0) on the normalised log-mels of the output tracks
(vocals and accompaniment, stacked on channels so their correspondence is modelled jointly),
conditioned on the token embeddings of every input track, upsampled from the token rate to the
mel rate. A track's condition is replaced by a learned null embedding with probability
`cond_dropout` in training; that is what classifier-free guidance (`guidance` != 1) contrasts
against, and what stands in for a track that is not given at decode time.
Backbone: ConvNeXt blocks (cheap on a CPU) or the shared bidirectional Transformer (RoPE).
Sampling: `steps` Euler steps from t = 0 to 1, with a seeded generator (decoding is repeatable).

MelVocoder: the DAC-style WaveDecoder of audiotok.nn.conv from normalised log-mel frames to
waveform (hop = product of `rates`), trained on ground-truth mels with the multi-scale mel loss.

SpectralStemDecoder (`decoder.kind: spectral`): the other way, tokens straight to waveforms. Each
output stem has its own SpectralDecoder (frame-rate ConvNeXt + inverse-STFT head, the speech
codec's) that reads only the token embeddings of its source tracks: with hard routing the vocal
decoder never sees the accompaniment tokens, so what a decoded stem holds came through its own
codebook; the single-track control decodes both stems from the one mix stream.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.nn.conv import WaveDecoder
from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.spectral import SpectralDecoder
from audiotok.nn.transformer import Transformer

BACKBONES = ("convnext", "transformer")


def timestep_embedding(t, dim):
    """t [B] in [0, 1] -> sinusoidal features [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=-1)


class FlowMelDecoder(nn.Module):
    def __init__(self, n_out=2, n_mels=80, n_cond=2, cond_dim=128, upsample=4, dim=256, layers=6,
                 backbone="convnext", heads=4, intermediate_dim=None, cond_dropout=0.1):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        self.n_out, self.n_mels, self.n_cond, self.cond_dim = int(n_out), int(n_mels), int(n_cond), int(cond_dim)
        self.upsample, self.dim, self.backbone = int(upsample), int(dim), backbone
        self.cond_dropout = float(cond_dropout)
        self.null = nn.Parameter(torch.zeros(self.n_cond, self.cond_dim))
        self.in_proj = nn.Conv1d(self.n_out * self.n_mels, dim, 1)
        self.cond_proj = nn.Conv1d(self.n_cond * self.cond_dim, dim, 1)
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        if backbone == "convnext":
            self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim or 3 * dim) for _ in range(layers))
            self.time_shift = nn.Linear(dim, dim * layers)  # a per-block time offset
        else:
            self.net = Transformer(dim, layers, heads, ffn_dim=intermediate_dim)
        self.out_proj = nn.Conv1d(dim, self.n_out * self.n_mels, 1)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def condition(self, cond, keep=None):
        """cond [B, n_cond, cond_dim, F] (rows of a missing track ignored) and keep [B, n_cond] bool ->
        [B, n_cond * cond_dim, F * upsample] with dropped tracks set to the null embedding."""
        b, n, c, f = cond.shape
        if keep is not None:
            null = self.null.to(cond.dtype)[None, :, :, None].expand(b, n, c, f)
            cond = torch.where(keep[:, :, None, None], cond, null)
        return cond.reshape(b, n * c, f).repeat_interleave(self.upsample, dim=-1)

    def forward(self, x_t, t, cond_up):
        """x_t [B, n_out*M, N], t [B], cond_up [B, n_cond*C, N] -> velocity [B, n_out*M, N]."""
        temb = self.time(timestep_embedding(t, self.dim))
        h = self.in_proj(x_t) + self.cond_proj(cond_up) + temb[:, :, None]
        if self.backbone == "convnext":
            shifts = self.time_shift(temb).view(x_t.shape[0], len(self.blocks), self.dim)
            for i, block in enumerate(self.blocks):
                h = block(h + shifts[:, i, :, None])
        else:
            h = self.net(h.transpose(1, 2)).transpose(1, 2)
        return self.out_proj(h)

    def loss(self, x1, cond, present=None):
        """Flow-matching MSE for targets x1 [B, n_out*M, N] given cond [B, n_cond, C, F];
        `present` [B, n_cond] bool marks the tracks that are given at all (default: all)."""
        b = x1.shape[0]
        keep = torch.rand(b, self.n_cond, device=x1.device) >= self.cond_dropout if self.training else None
        if present is not None:
            keep = present if keep is None else keep & present
        cond_up = self.condition(cond, keep)[..., : x1.shape[-1]]
        t = torch.rand(b, device=x1.device)
        x0 = torch.randn_like(x1)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        v = self(x_t, t, cond_up)
        return F.mse_loss(v.float(), (x1 - x0).float())

    @torch.no_grad()
    def sample(self, cond, n_frames, steps=16, guidance=1.0, present=None, generator=None):
        """Euler integration of the learned flow -> x1 [B, n_out*M, n_frames]."""
        b = cond.shape[0]
        keep = present if present is not None else torch.ones(b, self.n_cond, dtype=torch.bool, device=cond.device)
        cond_up = self.condition(cond, keep)[..., :n_frames]
        null_up = self.condition(cond, torch.zeros_like(keep))[..., :n_frames] if guidance != 1.0 else None
        x = torch.randn(b, self.n_out * self.n_mels, n_frames, generator=generator, device="cpu").to(cond.device)
        dt = 1.0 / steps
        for i in range(steps):
            t = torch.full((b,), i * dt, device=cond.device)
            v = self(x, t, cond_up)
            if null_up is not None:
                v_null = self(x, t, null_up)
                v = v_null + guidance * (v - v_null)
            x = x + dt * v
        return x


class MelVocoder(nn.Module):
    """Normalised log-mel [B, M, N] -> waveform [B, 1, N * hop]."""

    def __init__(self, n_mels=80, channels=256, rates=(8, 6, 5), dilations=(1, 3, 9)):
        super().__init__()
        self.net = WaveDecoder(n_mels, channels, rates, dilations=dilations)
        self.hop_length = self.net.hop_length

    def forward(self, mel):
        return self.net(mel)


class SpectralStemDecoder(nn.Module):
    """{track: token embedding [B, cond_dim, F]} -> {stem: wav [B, 1, F * hop]} for the stems whose
    sources are all given (`sources`: stem -> the input tracks its decoder reads)."""

    def __init__(self, sources, cond_dim, hop_length, n_fft, upsample, dim, fine_layers, coarse_layers,
                 frame_gain=False):
        super().__init__()
        self.sources = {stem: list(tracks) for stem, tracks in sources.items()}
        self.nets = nn.ModuleDict({
            stem: SpectralDecoder(len(tracks) * cond_dim, dim, hop_length, n_fft, upsample, fine_layers,
                                  coarse_layers, frame_gain=frame_gain)
            for stem, tracks in self.sources.items()
        })
        self.hop_length = next(iter(self.nets.values())).hop_length

    def forward(self, embeddings, stems=None):
        out = {}
        for stem in stems or self.sources:
            tracks = self.sources[stem]
            if all(t in embeddings for t in tracks):
                out[stem] = self.nets[stem](torch.cat([embeddings[t] for t in tracks], 1))
        return out


__all__ = ["FlowMelDecoder", "MelVocoder", "SpectralStemDecoder", "timestep_embedding"]
