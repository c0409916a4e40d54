"""Dual-resolution speech tokens (DrVoice / Fun-Audio-Chat): the LM reads g full-rate speech
tokens as one position, and a Speech Refined Head (SRH) writes g full-rate tokens per LM step.

Token values here are *semantic-local*: 0..S-1 are codebook indices, S is end-of-speech (EOS),
and `pad` (-1 by default) marks the unused tail of the last group.

    group_tokens(tokens [B,T], lengths, g) -> groups [B, ceil(T/g), g], n_groups [B]
    ungroup_tokens(groups, lengths, T)     -> tokens [B, T]   (exact inverse on the valid part)
    GroupEmbed(dim, g, mode)               embeddings [.., g, dim] -> one vector [.., dim]
    SpeechRefinedHead                      LM hidden of a position -> the g tokens of the next group
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.errors import UserError
from audiotok.nn.transformer import TransformerConf, causal_mask

IGNORE = -100


def num_groups(lengths, g):
    """ceil(lengths / g) for ints or tensors."""
    if torch.is_tensor(lengths):
        return torch.div(lengths + g - 1, g, rounding_mode="floor")
    return (int(lengths) + g - 1) // g


def group_tokens(tokens, lengths=None, g=1, pad=-1):
    """[B,T] -> ([B,N,g], n_groups [B]) with N = ceil(T/g); positions >= length become `pad`."""
    B, T = tokens.shape
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=tokens.device)
    lengths = torch.as_tensor(lengths, device=tokens.device)
    N = num_groups(T, g)
    out = torch.full((B, N * g), pad, dtype=tokens.dtype, device=tokens.device)
    out[:, :T] = tokens
    out[torch.arange(N * g, device=tokens.device)[None] >= lengths[:, None]] = pad
    return out.view(B, N, g), num_groups(lengths, g)


def ungroup_tokens(groups, lengths=None, T=None, pad=-1):
    """[B,N,g] -> [B,T] (T defaults to N*g; tokens at positions >= length set to `pad`)."""
    B, N, g = groups.shape
    flat = groups.reshape(B, N * g)
    T = N * g if T is None else int(T)
    if T > N * g:
        flat = torch.cat([flat, flat.new_full((B, T - N * g), pad)], 1)
    flat = flat[:, :T].clone()
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=flat.device)
        flat[torch.arange(T, device=flat.device)[None] >= lengths[:, None]] = pad
    return flat


def speech_targets(tokens, lengths, g, eos, pad=-1):
    """The TTS target stream: tokens, then EOS, padded to whole groups -> ([B,N,g], n_groups [B])
    where n_groups = ceil((length + 1) / g)."""
    B, T = tokens.shape
    ext = torch.cat([tokens, tokens.new_full((B, 1), pad)], 1)
    lengths = torch.as_tensor(lengths, device=tokens.device)
    ext[torch.arange(B, device=tokens.device), lengths] = eos
    return group_tokens(ext, lengths + 1, g, pad)


class GroupEmbed(nn.Module):
    """g token embeddings -> one LM input. `mean`: mean then Linear (Fun-Audio-Chat's release);
    `concat`: concatenation then Linear (the DrVoice paper). g = 1 is the plain one-token-per-
    position LM (no projection)."""

    def __init__(self, dim, g, mode="mean"):
        super().__init__()
        if mode not in ("mean", "concat"):
            raise UserError(f"ulm: grouping.mode must be 'mean' or 'concat', got '{mode}'")
        if g < 1:
            raise UserError(f"ulm: grouping.size must be >= 1, got {g}")
        self.g, self.mode = int(g), mode
        self.proj = None if g == 1 else nn.Linear(dim * (g if mode == "concat" else 1), dim, bias=False)

    def forward(self, e):
        """e [..., g, dim] -> [..., dim]."""
        if self.proj is None:
            return e.squeeze(-2)
        if self.mode == "mean":
            return self.proj(e.mean(-2))
        return self.proj(e.flatten(-2))


CONTEXTS = ("group", "sequence")


class SpeechRefinedHead(nn.Module):
    """A small causal transformer that emits the g full-rate tokens of one group.

    Input at sub-step j of the group predicted from LM hidden h:
        x_j = U_j(h) + E(prev_j)
    where U = Linear(lm_dim -> g*dim) split in g parts (DrVoice's ungrouping W_p: each
    sub-frame gets its own view of h). Output j predicts token j (S+1 classes: the codebook and
    EOS). `context` says what else the head sees:
      group     groups are independent sequences of length g (prev_0 = BOS): the history before
                the group reaches the head only through h; each group has its own g-step KV cache.
      sequence  DrVoice's head: causal over the whole 25 Hz sequence (prev of a group's first token is
                the last token of the group before); one KV cache runs across groups, and a voice
                prompt's tokens are prefilled into it (`prefill`).
    """

    def __init__(self, lm_dim, group_size, n_tokens, conf=None, context="group"):
        """`conf`: the TransformerConf of the head's own decoder (default 256 wide, 2 layers, 4 heads)."""
        super().__init__()
        if context not in CONTEXTS:
            raise UserError(f"ulm: grouping.srh_context must be one of {', '.join(CONTEXTS)}, got '{context}'")
        conf = conf or TransformerConf(dim=256, n_layers=2, n_heads=4)
        self.g, self.n_tokens, self.dim = int(group_size), int(n_tokens), int(conf.dim)
        self.context = context
        self.eos, self.bos = self.n_tokens, self.n_tokens + 1
        self.ungroup = nn.Linear(lm_dim, self.g * self.dim)
        self.embed = nn.Embedding(self.n_tokens + 2, self.dim)
        self.decoder = conf.build()
        self.head = nn.Linear(self.dim, self.n_tokens + 1, bias=False)
        nn.init.normal_(self.ungroup.weight, std=0.02)
        nn.init.zeros_(self.ungroup.bias)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.head.weight, std=0.02 / math.sqrt(self.dim / 64))

    def _cond(self, h):
        return self.ungroup(h).view(*h.shape[:-1], self.g, self.dim)

    def _previous(self, flat, first):
        """Teacher-forced inputs: each token's predecessor in `flat` [M, L] (`first` before the first);
        ignored targets (< 0: after EOS, padding) enter as EOS."""
        prev = torch.cat([flat.new_full((flat.shape[0], 1), first), flat[:, :-1]], 1)
        return prev.masked_fill(prev < 0, self.eos)

    def forward(self, h, targets):
        """Teacher forcing. group: h [M, lm_dim], targets [M, g]; sequence: h [B, N, lm_dim] (the hidden
        that predicts group n), targets [B, N, g]; targets 0..S, anything < 0 = ignored.
        -> logits [..., g, S+1] shaped like targets."""
        if self.context == "group":  # every group is a sequence of its own
            return self._teacher_forced(h[:, None], targets[:, None])[:, 0]
        return self._teacher_forced(h, targets)

    def _teacher_forced(self, h, targets):
        """h [B, N, lm_dim], targets [B, N, g] -> logits [B, N, g, S+1], causal over the N*g tokens."""
        B, N, g = targets.shape
        x = self._cond(h).reshape(B, N * g, self.dim) + self.embed(self._previous(targets.reshape(B, N * g), self.bos))
        y = self.decoder(x, mask=causal_mask(N * g, device=x.device))
        return self.head(y).view(B, N, g, -1)

    def loss(self, h, targets, keep):
        """(mean CE over non-ignored targets, accuracy). h [B, N, lm_dim] predicts targets [B, N, g];
        keep [B, N] marks the real groups."""
        if self.context == "group":
            h, targets = h[keep], targets[keep]
        else:
            targets = targets.masked_fill(~keep[..., None], -1)
        logits = self(h, targets)
        tgt = targets.masked_fill(targets < 0, IGNORE)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1), ignore_index=IGNORE)
        valid = tgt != IGNORE
        acc = (logits.argmax(-1) == tgt)[valid].float().mean() if valid.any() else logits.new_zeros(())
        return ce, acc

    # ---- generation -----------------------------------------------------------------------------
    def start(self, batch_size, max_tokens, device, dtype=torch.float32):
        """The generation state of a sequence-context head (None for group context: `generate` starts
        each group afresh)."""
        return None if self.context == "group" else self._new_state(batch_size, max_tokens, device, dtype)

    def _new_state(self, batch_size, max_tokens, device, dtype):
        """A KV cache for `max_tokens` tokens, which keys are real, each row's next position and last token."""
        return {"cache": self.decoder.new_cache(batch_size, max_len=max_tokens, device=device, dtype=dtype),
                "keys": torch.zeros(batch_size, 0, dtype=torch.bool, device=device),
                "pos": torch.zeros(batch_size, dtype=torch.long, device=device),
                "prev": torch.full((batch_size,), self.bos, dtype=torch.long, device=device)}

    @torch.no_grad()
    def prefill(self, state, h, tokens):
        """Feed known groups (a voice prompt) into a sequence state. h [B, P, lm_dim] predicts tokens
        [B, P, g]; a row with fewer groups has -1 in its leading slots (left padding)."""
        B, P, g = tokens.shape
        if P == 0:
            return state
        flat = tokens.reshape(B, P * g).long()
        real = flat >= 0
        prev = torch.cat([state["prev"][:, None], flat[:, :-1]], 1)
        prev = torch.where(prev < 0, torch.full_like(prev, self.bos), prev)
        x = self._cond(h).reshape(B, P * g, self.dim) + self.embed(prev)
        n_old = state["keys"].shape[1]
        keys = torch.cat([state["keys"], real], 1)
        causal = torch.ones(P * g, n_old + P * g, dtype=torch.bool, device=x.device).tril(n_old)
        pos = state["pos"][:, None] + torch.cumsum(real.long(), 1) - 1
        self.decoder(x, mask=causal[None, None] & keys[:, None, None, :], positions=pos.clamp_min(0),
                     cache=state["cache"])
        state["keys"], state["pos"] = keys, state["pos"] + real.sum(1)
        state["prev"] = torch.where(real[:, -1], flat[:, -1], state["prev"])
        return state

    @torch.no_grad()
    def generate(self, h, sampler, state=None, return_logits=False):
        """One group per row, autoregressively with a KV cache. h [B, lm_dim] -> tokens [B, g]
        in 0..S; every position after a row's first EOS is EOS. `state` (sequence context, from
        `start`) carries the tokens before this group and is updated."""
        B = h.shape[0]
        cond = self._cond(h)
        if state is None:  # group context: this group alone
            state = self._new_state(B, self.g, h.device, cond.dtype)
        prev = state["prev"]
        done = torch.zeros(B, dtype=torch.bool, device=h.device)
        out, logits_all = [], []
        for j in range(self.g):
            x = cond[:, j : j + 1] + self.embed(prev)[:, None]
            state["keys"] = torch.cat([state["keys"], torch.ones(B, 1, dtype=torch.bool, device=h.device)], 1)
            y = self.decoder(x, mask=state["keys"][:, None, None, :], positions=state["pos"][:, None],
                             cache=state["cache"])
            state["pos"] = state["pos"] + 1
            logits = self.head(y)[:, 0]
            tok = sampler(logits)
            tok = torch.where(done, torch.full_like(tok, self.eos), tok)
            done = done | (tok == self.eos)
            out.append(tok)
            logits_all.append(logits)
            prev = tok
        state["prev"] = prev
        tokens = torch.stack(out, 1)
        return (tokens, torch.stack(logits_all, 1)) if return_logits else tokens
