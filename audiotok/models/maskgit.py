"""MaskGIT masked-token infilling: the cosine masking schedule for training and the iterative
confidence-based decoder for inference. The unit of masking is a frame (all acoustic
codebooks of a frame together); frames outside `maskable` (e.g. the speech prompt) are never
masked and never changed.
"""

import math

import torch
import torch.nn.functional as F


def cosine_mask_ratio(u):
    """Fraction of frames still masked at progress u in [0, 1]: cos(pi/2 * u) (1 -> 0)."""
    if torch.is_tensor(u):
        return torch.cos(u * (math.pi / 2))
    return math.cos(float(u) * math.pi / 2)


def sample_train_mask(maskable, generator=None):
    """Training mask [B,T] bool: per row, draw u ~ U(0,1) and mask ceil(cos(pi/2 u) * n) of its
    n maskable frames (at least one when n > 0), chosen uniformly at random."""
    B, T = maskable.shape
    device = maskable.device
    n = maskable.sum(1)
    u = torch.rand(B, generator=generator, device=device)
    k = torch.ceil(cosine_mask_ratio(u) * n).long().clamp(min=1)
    k = torch.minimum(k, n)
    scores = torch.rand(B, T, generator=generator, device=device)
    scores = scores.masked_fill(~maskable, 2.0)  # never picked
    rank = scores.argsort(1).argsort(1)
    return (rank < k[:, None]) & maskable


def _gumbel(shape, generator, device):
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def maskgit_decode(predict, tokens, masked, steps=8, temperature=1.0, noise=1.0, generator=None,
                   return_probs=False):
    """Iterative parallel decoding.

    predict(tokens [B,K,T], masked [B,T]) -> logits [B,K,T,A]; it must treat masked frames as
    unknown whatever `tokens` holds there.
    tokens: [B,K,T] with the known frames filled; masked: [B,T] frames to generate.
    At step i (of `steps`) every masked frame gets a candidate (argmax if temperature == 0,
    else sampled at `temperature`); its confidence is the summed log-probability over the K
    codebooks (+ Gumbel noise scaled by noise * temperature * (1 - (i+1)/steps), MaskGIT's
    annealed randomness). The least confident candidates are masked again so that
    floor(n * cos(pi/2 * (i+1)/steps)) frames stay masked (n = frames masked at the start);
    the others are fixed for good. Every masked frame is filled after the last step.
    Returns the filled tokens [B,K,T] (known frames untouched); with `return_probs` also [B,K,T,A]:
    each generated frame's distribution (softmax of its logits) at the step that fixed it, one-hot at
    the known frames (None when no frame was masked).
    """
    tokens = tokens.clone()
    masked = masked.clone()
    probs_out = None
    steps = max(1, int(steps))
    n0 = masked.sum(1)
    for i in range(steps):
        if not masked.any():
            break
        logits = predict(tokens, masked).float()
        logp = logits.log_softmax(-1)
        if return_probs and probs_out is None:
            probs_out = F.one_hot(tokens, logits.shape[-1]).float()
        if temperature <= 0:
            cand = logp.argmax(-1)
        else:
            probs = (logits / temperature).softmax(-1)
            flat = probs.reshape(-1, probs.shape[-1])
            cand = torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
        conf = logp.gather(-1, cand[..., None])[..., 0].sum(1)  # [B,T]
        scale = noise * max(temperature, 0.0) * (1.0 - (i + 1) / steps)
        if scale > 0:
            conf = conf + scale * _gumbel(conf.shape, generator, conf.device)
        keep_masked = torch.floor(n0.float() * cosine_mask_ratio((i + 1) / steps)).long()
        # progress: at least one frame per row is fixed at every step
        keep_masked = torch.minimum(keep_masked, (masked.sum(1) - 1).clamp(min=0))
        conf = conf.masked_fill(~masked, float("inf"))
        rank = conf.argsort(1).argsort(1)  # 0 = least confident
        still = masked & (rank < keep_masked[:, None])
        fill = masked & ~still
        tokens = torch.where(fill[:, None], cand, tokens)
        if return_probs:
            probs_out = torch.where(fill[:, None, :, None], logp.exp(), probs_out)
        masked = still
    return (tokens, probs_out) if return_probs else tokens
