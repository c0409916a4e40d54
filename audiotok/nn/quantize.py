"""Vector quantizers: factorised VQ, SimVQ, residual VQ with quantizer dropout, usage tracking.

All quantizers take latents [B,D,T]. A `VectorQuantizer` projects them to a low `codebook_dim`,
looks up the nearest code, and projects back (straight-through gradients). Codebooks are learned
by the codebook loss (not EMA), as in DAC; an EMA of per-code usage decides which codes are dead,
and `restart_dead_codes()` moves those onto random latents of the last training batch.
Under data parallel each rank tracks its own batches; the trainer copies rank 0's weights and
buffers to all ranks after a step whose hook reports a change, so no collective is issued here.

distance:
  euclidean  LayerNorm'd latent, squared-L2 nearest code (default: robust against collapse)
  cosine     l2-normalised latent and codes for the lookup, raw codes as output (DAC-style)
"""

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.nn.conv import WNConv1d
from audiotok.nn.precision import at_least_fp32

DISTANCES = ("euclidean", "cosine")


def perplexity(counts):
    """exp(entropy) of a usage histogram: the number of codes effectively in use."""
    p = counts.float() / counts.float().sum().clamp_min(1e-12)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    """One factorised codebook. forward(x[B,D,T]) -> (x_q[B,D,T], codes[B,T], commit[B], codebook[B]).

    The losses are per-sample means so a caller can mask them (quantizer dropout). Dead codes are
    restarted on recent latents unless `restarts` is False (None: the class's default).
    """

    default_restarts = True

    def __init__(
        self,
        input_dim,
        codebook_size,
        codebook_dim=8,
        distance="euclidean",
        usage_decay=0.99,
        dead_threshold=0.01,
        restart_noise=0.01,
        restarts=None,
        entropy_temperature=0.0,
    ):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.input_dim = int(input_dim)
        self.codebook_size = int(codebook_size)
        self.codebook_dim = int(codebook_dim)
        self.distance = distance
        self.usage_decay = float(usage_decay)
        # A code is dead when its EMA usage falls below this fraction of the uniform share.
        self.dead_threshold = float(dead_threshold)
        self.restart_noise = float(restart_noise)
        self.restarts = self.default_restarts if restarts is None else bool(restarts)
        # > 0: ResidualVQ adds the soft-assignment usage loss (`entropy_loss`) at this temperature
        self.entropy_temperature = float(entropy_temperature)
        self.in_proj = WNConv1d(self.input_dim, self.codebook_dim, 1)
        self.out_proj = WNConv1d(self.codebook_dim, self.input_dim, 1)
        self._init_codebook()
        self.register_buffer("usage", torch.zeros(self.codebook_size))
        self._last_latents = None

    # ---- codebook ------------------------------------------------------------------------
    def _init_codebook(self):
        # Unit-variance codes match the LayerNorm'd latent; for cosine only directions matter.
        self.codebook = nn.Parameter(torch.randn(self.codebook_size, self.codebook_dim))

    def code_vectors(self):
        """[K, codebook_dim] code vectors in the latent space the lookup uses."""
        return self.codebook

    def _place_codes(self, dead, latents):
        self.codebook.data[dead] = latents.to(self.codebook.dtype)

    def project(self, x):
        z = self.in_proj(x)
        if self.distance == "euclidean":
            z = F.layer_norm(z.transpose(1, 2), (self.codebook_dim,)).transpose(1, 2)
        return z

    def nearest(self, z):
        """z [B,d,T] -> codes [B,T]."""
        b, d, t = z.shape
        flat = z.transpose(1, 2).reshape(-1, d)
        cb = self.code_vectors()
        if self.distance == "cosine":
            flat, cb = F.normalize(flat, dim=-1), F.normalize(cb, dim=-1)
            scores = flat @ cb.t()
        else:
            scores = 2 * flat @ cb.t() - cb.pow(2).sum(-1)[None]
        return scores.argmax(-1).view(b, t)

    def lookup(self, codes):
        """codes [B,T] -> code vectors [B,d,T]."""
        return F.embedding(codes, self.code_vectors()).transpose(1, 2)

    # ---- forward / encode / decode -----------------------------------------------------
    # Quantizers always run in fp32: under bf16 autocast the distances flip nearest-code choices
    # (a bf16 simulation changed 4.6 % of them at 16384 codes x 8 dims).
    def forward(self, x, track_mask=None, frame_mask=None):
        """`track_mask` [B] (samples that use this codebook) and `frame_mask` [B,T] (real, not
        padded, frames) select what the losses average over and what usage tracking counts."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._forward(at_least_fp32(x), track_mask, frame_mask)

    def _forward(self, x, track_mask, frame_mask):
        z_e = self.project(x)
        codes = self.nearest(z_e.detach())
        z_q = self.lookup(codes)
        if frame_mask is None:
            commit = (z_e - z_q.detach()).pow(2).mean(dim=(1, 2))
            codebook = (z_q - z_e.detach()).pow(2).mean(dim=(1, 2))
        else:
            w = frame_mask[:, None].to(z_e.dtype)
            denom = (w.sum(dim=(1, 2)) * z_e.shape[1]).clamp_min(1)
            commit = ((z_e - z_q.detach()).pow(2) * w).sum(dim=(1, 2)) / denom
            codebook = ((z_q - z_e.detach()).pow(2) * w).sum(dim=(1, 2)) / denom
        if self.training:
            z_q = z_e + (z_q - z_e).detach()  # straight-through estimator
            keep = None
            if track_mask is not None or frame_mask is not None:
                keep = torch.ones(codes.shape, dtype=torch.bool, device=codes.device)
                if track_mask is not None:
                    keep = keep & track_mask.bool()[:, None]
                if frame_mask is not None:
                    keep = keep & frame_mask.bool()
            self._track(z_e.detach(), codes, keep)
        return self.out_proj(z_q), codes, commit, codebook

    @torch.no_grad()
    def encode(self, x):
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.nearest(self.project(at_least_fp32(x)))

    def decode(self, codes):
        with torch.autocast(device_type=codes.device.type, enabled=False):
            return self.out_proj(self.lookup(codes))

    def decode_expected(self, probs):
        """probs [B,T,K] (a distribution over the codes per frame) -> the expected decoded vector [B,D,T]:
        the decode of a one-hot row is that code's. What a model unsure of the code should ask for (the
        mean of what it might say) instead of a sample that may be far off."""
        with torch.autocast(device_type=probs.device.type, enabled=False):
            return self.out_proj((probs.float() @ self.code_vectors().float()).transpose(1, 2))

    # ---- usage loss ---------------------------------------------------------------------
    def entropy_loss(self, x, keep=None):
        """Soft-assignment usage loss on latents x [B,D,T] (MAGVIT-v2's entropy penalty): the mean
        entropy of each frame's softmax over negative code distances / `entropy_temperature`, minus
        the entropy of their average. Minimising it keeps each frame's choice sharp and spreads the
        frames over the whole codebook; the gradient reaches the codes (through SimVQ's map) and
        the encoder. `keep` [B,T] bool: the frames to count (None = all)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = self.project(at_least_fp32(x)).transpose(1, 2)
            if keep is not None:
                z = z[keep]
            z = z.reshape(-1, self.codebook_dim)
            if z.shape[0] == 0:
                return x.new_zeros((), dtype=torch.float32)
            cb = self.code_vectors()
            if self.distance == "cosine":
                logits = F.normalize(z, dim=-1) @ F.normalize(cb, dim=-1).t()
            else:  # -squared distance; the |z|^2 term is constant per frame and drops out of the softmax
                logits = 2 * z @ cb.t() - cb.pow(2).sum(-1)[None]
            log_p = F.log_softmax(logits / self.entropy_temperature, dim=-1)
            per_frame = -(log_p.exp() * log_p).sum(-1).mean()
            avg = log_p.exp().mean(0)
            codebook = -(avg * torch.log(avg.clamp_min(1e-12))).sum()
            return per_frame - codebook

    # ---- usage tracking and dead-code restart ------------------------------------------
    @torch.no_grad()
    def _track(self, z_e, codes, keep=None):
        """`keep` [B,T] bool: the frames to count (None = all)."""
        latents = z_e.transpose(1, 2)  # [B,T,d]
        if keep is not None:
            latents, codes = latents[keep], codes[keep]
        latents = latents.reshape(-1, self.codebook_dim)
        counts = torch.bincount(codes.reshape(-1), minlength=self.codebook_size).float()
        # Usage starts at zero: after the first batch every unused code counts as dead, so the
        # first restarts place the codebook on real latents (a data-dependent initialisation).
        self.usage.mul_(self.usage_decay).add_(counts, alpha=1 - self.usage_decay)
        self._last_latents = latents if latents.shape[0] else self._last_latents

    def dead_codes(self):
        """Bool mask [K] of codes whose EMA usage fell below the threshold."""
        share = self.usage.sum() / self.codebook_size
        return self.usage < self.dead_threshold * share

    def usage_fraction(self):
        """Perplexity of the EMA usage / codebook size: 1.0 = all codes used evenly."""
        if float(self.usage.sum()) == 0:
            return 0.0
        return float(perplexity(self.usage) / self.codebook_size)

    @torch.no_grad()
    def restart_dead_codes(self):
        """Move dead codes onto distinct random latents of the last training batch; returns how many.

        At most one code per latent: with more dead codes than latents the rest wait for the
        next batches, which keeps restarted codes apart. A restarted code gets the uniform
        usage share, i.e. a fair period to prove itself before it can be restarted again.
        """
        latents, self._last_latents = self._last_latents, None
        if not self.restarts or latents is None or latents.shape[0] == 0:
            return 0
        dead = torch.nonzero(self.dead_codes()).squeeze(1)
        if dead.numel() == 0:
            return 0
        n = min(dead.numel(), latents.shape[0])
        dead = dead[torch.randperm(dead.numel(), device=dead.device)[:n]]
        new = latents[torch.randperm(latents.shape[0], device=latents.device)[:n]].float()
        new = new + self.restart_noise * new.std() * torch.randn_like(new)
        self._place_codes(dead, new)
        self.usage[dead] = self.usage.sum() / self.codebook_size
        return n


class SimVQ(VectorQuantizer):
    """SimVQ: a frozen random codebook C times one learned linear map W (codes = C W).

    Every gradient on W moves all codes at once, so the codebook cannot split into a used and a
    dead part; the paper needs no dead-code restart, so none runs by default. With `restarts`
    (small data, few steps: measured in egs/mini_music) a dead code's frozen vector is replaced by
    the one W maps onto a recent latent.
    """

    default_restarts = False

    def _init_codebook(self):
        self.register_buffer("frozen_codebook", torch.randn(self.codebook_size, self.codebook_dim))
        self.codebook_map = nn.Linear(self.codebook_dim, self.codebook_dim, bias=False)
        nn.init.eye_(self.codebook_map.weight)

    def code_vectors(self):
        return self.codebook_map(self.frozen_codebook)

    def map_weight(self):
        return self.codebook_map.weight

    def _place_codes(self, dead, latents):
        """Give codes `dead` the vectors `latents` [n, d]: the frozen codes that the map W sends there
        (least squares through W's pseudo-inverse), so W itself and every other code stay as they are."""
        w = self.map_weight().detach().float()  # code vectors = frozen @ W^T
        self.frozen_codebook[dead] = (latents.float() @ torch.linalg.pinv(w.t())).to(self.frozen_codebook.dtype)


QUANTIZERS = {"vq": VectorQuantizer, "simvq": SimVQ}


class ResidualVQ(nn.Module):
    """`n_codebooks` quantizers, each coding the residual the previous ones left.

    Training applies quantizer dropout: a `quantizer_dropout` share of the samples uses a random
    number n in [1, n_codebooks] of codebooks, and both the reconstruction and the VQ losses are
    masked to those n. Fewer codebooks always means a prefix of the codes.
    """

    def __init__(
        self, n_codebooks, input_dim, codebook_size, codebook_dim=8, quantizer_dropout=1.0, kind="vq", **vq_kwargs
    ):
        super().__init__()
        if kind not in QUANTIZERS:
            raise ValueError(f"quantizer kind must be one of {sorted(QUANTIZERS)}, got {kind!r}")
        self.n_codebooks = int(n_codebooks)
        self.codebook_size = int(codebook_size)
        self.quantizer_dropout = float(quantizer_dropout)
        self.quantizers = nn.ModuleList(
            QUANTIZERS[kind](input_dim, codebook_size, codebook_dim, **vq_kwargs) for _ in range(self.n_codebooks)
        )

    def _n_per_sample(self, batch, n_q, device):
        if n_q is not None:
            if not 1 <= int(n_q) <= self.n_codebooks:
                raise ValueError(f"n_q must be in [1, {self.n_codebooks}], got {n_q}")
            return torch.full((batch,), int(n_q), dtype=torch.long, device=device)
        n = torch.full((batch,), self.n_codebooks, dtype=torch.long, device=device)
        if self.training and self.quantizer_dropout > 0:
            drop = torch.rand(batch, device=device) < self.quantizer_dropout
            n = torch.where(drop, torch.randint(1, self.n_codebooks + 1, (batch,), device=device), n)
        return n

    def forward(self, z, n_q=None, frame_mask=None):
        """z [B,D,T] -> dict(z_q, codes [B,K,T], commitment, codebook, entropy (scalars), n_q [B]).

        `frame_mask` [B,T] marks real frames: padding neither trains nor counts as usage. `entropy`
        sums the usage losses of the codebooks built with an `entropy_temperature` (0 when none is)."""
        n_per = self._n_per_sample(z.shape[0], n_q, z.device)
        # Training runs every codebook (masked) so all parameters are in the graph (DDP-safe).
        n_run = self.n_codebooks if self.training else int(n_per.max())
        z_q = torch.zeros_like(z)
        residual = z
        codes, commit, cb_loss, entropy = [], z.new_zeros(()), z.new_zeros(()), z.new_zeros(())
        for i in range(n_run):
            keep = i < n_per
            q = self.quantizers[i]
            if self.training and q.entropy_temperature > 0:
                frames = keep[:, None].expand(-1, z.shape[-1])
                if frame_mask is not None:
                    frames = frames & frame_mask.bool()
                entropy = entropy + q.entropy_loss(residual, frames)
            out, c, cm, cb = q(residual, track_mask=keep, frame_mask=frame_mask)
            keep_f = keep.to(z.dtype)
            z_q = z_q + out * keep_f[:, None, None]
            residual = residual - out
            commit = commit + (cm * keep_f).mean()
            cb_loss = cb_loss + (cb * keep_f).mean()
            codes.append(c)
        return {"z_q": z_q, "codes": torch.stack(codes, 1), "commitment": commit, "codebook": cb_loss,
                "entropy": entropy, "n_q": n_per}

    @torch.no_grad()
    def encode(self, z, n_q=None):
        n_q = self.n_codebooks if n_q is None else int(n_q)
        codes, residual = [], z
        for q in self.quantizers[:n_q]:
            c = q.encode(residual)
            residual = residual - q.decode(c)
            codes.append(c)
        return torch.stack(codes, 1)

    def decode(self, codes):
        """codes [B,K,T] with K <= n_codebooks -> latent [B,D,T]."""
        if codes.shape[1] > self.n_codebooks:
            raise ValueError(f"got {codes.shape[1]} codebooks, this quantizer has {self.n_codebooks}")
        out = 0
        for i in range(codes.shape[1]):
            out = out + self.quantizers[i].decode(codes[:, i])
        return out

    def decode_expected(self, probs):
        """probs [B,K,T,C] (per codebook, a distribution over its C codes) -> the expected latent [B,D,T]."""
        if probs.shape[1] > self.n_codebooks:
            raise ValueError(f"got {probs.shape[1]} codebooks, this quantizer has {self.n_codebooks}")
        return sum(self.quantizers[i].decode_expected(probs[:, i]) for i in range(probs.shape[1]))

    @torch.no_grad()
    def restart_dead_codes(self):
        return sum(q.restart_dead_codes() for q in self.quantizers)

    def usage_fraction(self):
        return sum(q.usage_fraction() for q in self.quantizers) / self.n_codebooks


def codebook_usage(codes, codebook_size):
    """Fraction of a codebook's entries that occur in `codes` (any shape)."""
    return torch.unique(codes).numel() / float(codebook_size)


def code_perplexity(codes, codebook_size):
    return float(perplexity(torch.bincount(codes.reshape(-1), minlength=codebook_size)))


__all__ = [
    "VectorQuantizer",
    "SimVQ",
    "ResidualVQ",
    "QUANTIZERS",
    "perplexity",
    "codebook_usage",
    "code_perplexity",
]
