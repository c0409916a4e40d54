"""Pre-norm transformer shared by the SSL encoder and the unified LM.

RMSNorm, rotary positions (RoPE), multi-head attention with grouped KV heads (GQA), SwiGLU
feed-forward, an optional conformer-style depthwise-conv module per block, a KV cache for
incremental decoding, and the boolean mask builders the models need.

Mask convention everywhere: a bool tensor broadcastable to [B, 1, Tq, Tk], True = the query
may attend to that key; `mask=None` means full (bidirectional) attention.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from audiotok.nn.precision import at_least_fp32

# ---------------------------------------------------------------------------------------------
# masks


def causal_mask(T, offset=0, device=None):
    """[1,1,T,offset+T]: query i (absolute position offset+i) sees keys 0..offset+i.

    `offset` is the number of tokens already in a KV cache.
    """
    q = torch.arange(T, device=device).unsqueeze(1) + offset
    k = torch.arange(offset + T, device=device).unsqueeze(0)
    return (k <= q)[None, None]


def padding_mask(lengths, max_len=None):
    """[B,1,T,T] from valid lengths: every query may attend to the keys j < length of its row.

    Only keys are masked, so no row is ever fully masked (padded queries see the valid keys;
    their outputs are garbage the caller ignores). The result is an expanded view: combine it
    with `&` (e.g. `causal_mask(T) & padding_mask(lengths)`), do not write into it.
    """
    lengths = torch.as_tensor(lengths)
    T = int(lengths.max()) if max_len is None else int(max_len)
    keys = torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]
    return keys[:, None, None, :].expand(-1, 1, T, T)


def _is_pair(s):
    return isinstance(s, (tuple, list)) and len(s) == 2 and not isinstance(s[0], (tuple, list))


def bidirectional_span_mask(T, spans, device=None):
    """Causal everywhere except inside each [start, end) span, which is fully bidirectional.

    `spans` is either a list of (start, end) pairs shared by the batch -> [1,1,T,T], or one such
    list per batch item -> [B,1,T,T]. Tokens after a span see the whole span (causality);
    tokens before it see none of it; tokens inside it see each other in both directions.
    """
    spans = list(spans)
    per_item = len(spans) > 0 and not _is_pair(spans[0])
    groups = spans if per_item else [spans]
    base = causal_mask(T, device=device)[0, 0]
    out = base.unsqueeze(0).repeat(len(groups), 1, 1)
    for b, group in enumerate(groups):
        for start, end in group:
            start, end = int(start), int(end)
            if not 0 <= start <= end <= T:
                raise ValueError(f"span [{start},{end}) outside a sequence of {T}")
            out[b, start:end, start:end] = True
    return out[:, None]


# ---------------------------------------------------------------------------------------------
# layers


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # statistics in float32: bf16 squares lose too much precision
        xf = at_least_fp32(x)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.to(xf.dtype)).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding ("rotate half" layout). cos/sin are computed per call from the
    absolute positions, so KV-cache offsets and per-row positions (left padding) are exact."""

    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def forward(self, positions):
        """positions: LongTensor [T] or [B,T] -> (cos, sin), each broadcastable to [B,H,T,head_dim/2]."""
        angles = positions.to(self.inv_freq.device).float()[..., None] * self.inv_freq
        cos, sin = angles.cos(), angles.sin()
        if positions.dim() == 1:
            return cos[None, None], sin[None, None]
        return cos[:, None], sin[:, None]


def apply_rotary(x, cos, sin):
    """x [B,H,T,D] rotated by the angles in cos/sin [.., T, D/2]; math in float32."""
    half = x.shape[-1] // 2
    xf = at_least_fp32(x)
    x1, x2 = xf[..., :half], xf[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class KVCache:
    """Keys/values of every layer for incremental decoding.

    With `max_len` the buffers are preallocated ([n_layers, B, n_kv_heads, max_len, head_dim]);
    without it they grow by concatenation. `pos` is how many tokens are stored; the
    Transformer uses it as the RoPE offset and advances it after each forward. Inference only
    (the in-place writes are not differentiable).
    """

    def __init__(self, n_layers, batch_size, n_kv_heads, head_dim, max_len=None, device=None, dtype=torch.float32):
        self.n_layers = n_layers
        self.max_len = max_len
        self.pos = 0
        self.conv = [None] * n_layers  # causal conv modules: the frames before the new ones
        if max_len is None:
            self.k = [None] * n_layers
            self.v = [None] * n_layers
        else:
            shape = (n_layers, batch_size, n_kv_heads, max_len, head_dim)
            self.k = torch.zeros(shape, device=device, dtype=dtype)
            self.v = torch.zeros(shape, device=device, dtype=dtype)

    def update(self, layer, k, v):
        """Store the new k, v [B,KV,T,D] after the `pos` cached ones; return all keys/values so far."""
        end = self.pos + k.shape[2]
        if self.max_len is None:
            if self.k[layer] is None or self.pos == 0:
                self.k[layer], self.v[layer] = k, v
            else:
                self.k[layer] = torch.cat([self.k[layer][:, :, : self.pos], k], dim=2)
                self.v[layer] = torch.cat([self.v[layer][:, :, : self.pos], v], dim=2)
            return self.k[layer], self.v[layer]
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} tokens > max_len {self.max_len}")
        self.k[layer, :, :, self.pos : end] = k.to(self.k.dtype)
        self.v[layer, :, :, self.pos : end] = v.to(self.v.dtype)
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n):
        self.pos += int(n)

    def crop(self, n):
        """Forget everything after the first `n` tokens (e.g. to re-decode a suffix)."""
        if not 0 <= n <= self.pos:
            raise ValueError(f"cannot crop a cache of {self.pos} tokens to {n}")
        if any(c is not None for c in self.conv) and n != self.pos:
            raise ValueError("cannot crop a cache that holds conv context (it only streams forward)")
        self.pos = int(n)

    def reorder(self, index):
        """Select/reorder batch rows (beam search)."""
        if self.max_len is None:
            self.k = [None if t is None else t.index_select(0, index) for t in self.k]
            self.v = [None if t is None else t.index_select(0, index) for t in self.v]
        else:
            self.k = self.k.index_select(1, index)
            self.v = self.v.index_select(1, index)
        self.conv = [None if c is None else c.index_select(0, index) for c in self.conv]


class Attention(nn.Module):
    """Multi-head self-attention; `n_kv_heads < n_heads` shares each KV head across a group of
    query heads (GQA); `n_kv_heads == 1` is multi-query attention."""

    def __init__(self, dim, n_heads, n_kv_heads=None, head_dim=None, dropout=0.0, bias=False, qkv_bias=False):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads or n_heads
        if n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        self.head_dim = head_dim or dim // n_heads
        self.dropout = dropout
        # qkv_bias: biases on q/k/v only (Qwen2 layout); bias: on all four projections
        self.wq = nn.Linear(dim, n_heads * self.head_dim, bias=bias or qkv_bias)
        self.wk = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias or qkv_bias)
        self.wv = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias or qkv_bias)
        self.wo = nn.Linear(n_heads * self.head_dim, dim, bias=bias)

    def forward(self, x, mask=None, rope=None, cache=None, layer_idx=0):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if cache is not None:
            k, v = cache.update(layer_idx, k, v)
        if self.n_kv_heads != self.n_heads:
            rep = self.n_heads // self.n_kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(
            q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.wo(out.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden, dropout=0.0, bias=False):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=bias)  # gate
        self.w3 = nn.Linear(dim, hidden, bias=bias)  # up
        self.w2 = nn.Linear(hidden, dim, bias=bias)  # down
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.w2(self.drop(F.silu(self.w1(x)) * self.w3(x)))


class ConvModule(nn.Module):
    """Conformer convolution module: pointwise -> GLU -> depthwise conv -> norm -> SiLU -> pointwise.

    LayerNorm instead of Conformer's BatchNorm so padding and batch size do not change the
    statistics (and DDP needs no sync). Padded frames are zeroed before the depthwise conv so
    they do not leak into valid ones.
    """

    def __init__(self, dim, kernel_size, dropout=0.0, causal=False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel must be odd, got {kernel_size}")
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        # causal: all padding on the left, so frame t never sees frames after it
        self.causal = bool(causal)
        self.pad = (kernel_size - 1, 0) if causal else (kernel_size // 2, kernel_size // 2)
        self.dw = nn.Conv1d(dim, dim, kernel_size, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw2 = nn.Conv1d(dim, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, valid=None, cache=None, layer_idx=0):
        """With a KV cache (causal only) the depthwise conv continues from the frames the cache
        holds for this layer, so feeding a sequence in pieces gives the whole-sequence output."""
        if valid is not None:
            x = x * valid[..., None].to(x.dtype)
        h = F.glu(self.pw1(x.transpose(1, 2)), dim=1)
        if valid is not None:
            h = h * valid[:, None].to(h.dtype)
        if cache is None:
            h = F.pad(h, self.pad)
        else:
            before = cache.conv[layer_idx]
            if before is None:
                before = h.new_zeros(h.shape[0], h.shape[1], self.pad[0])
            h = torch.cat([before.to(h.dtype), h], dim=-1)
            cache.conv[layer_idx] = h[..., h.shape[-1] - self.pad[0]:]
        h = self.dw(h).transpose(1, 2)
        h = F.silu(self.norm(h))
        return self.drop(self.pw2(h.transpose(1, 2)).transpose(1, 2))


class TransformerBlock(nn.Module):
    """Pre-norm block: x += attn(norm(x)); [x += conv(norm(x))]; x += ffn(norm(x))."""

    def __init__(self, dim, n_heads, n_kv_heads=None, ffn_dim=None, conv_kernel=0, dropout=0.0, norm_eps=1e-6,
                 qkv_bias=False, conv_causal=False):
        super().__init__()
        ffn_dim = ffn_dim or default_ffn_dim(dim)
        self.attn_norm = RMSNorm(dim, norm_eps)
        self.attn = Attention(dim, n_heads, n_kv_heads, dropout=dropout, qkv_bias=qkv_bias)
        self.conv_norm = RMSNorm(dim, norm_eps) if conv_kernel else None
        self.conv = ConvModule(dim, conv_kernel, dropout, conv_causal) if conv_kernel else None
        self.ffn_norm = RMSNorm(dim, norm_eps)
        self.ffn = SwiGLU(dim, ffn_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask=None, rope=None, cache=None, layer_idx=0, valid=None):
        x = x + self.drop(self.attn(self.attn_norm(x), mask, rope, cache, layer_idx))
        if self.conv is not None:
            x = x + self.conv(self.conv_norm(x), valid, cache, layer_idx)
        return x + self.drop(self.ffn(self.ffn_norm(x)))


def default_ffn_dim(dim, multiple=64):
    """SwiGLU width with the parameter count of a 4x GELU MLP (8/3 dim), rounded up."""
    return multiple * math.ceil(8 * dim / 3 / multiple)


@dataclass
class TransformerConf:
    """A transformer stack's settings: the config group of each model part that is one."""
    dim: int = 512
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int = None  # None: n_heads (no grouped-query attention)
    ffn_dim: int = None  # None: default_ffn_dim(dim)
    dropout: float = 0.0
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    qkv_bias: bool = False
    conv_kernel: int = 0  # > 0: a convolution module in every block (Conformer-style)
    grad_checkpoint: bool = False

    def build(self, conv_causal=False):
        return Transformer(self.dim, self.n_layers, self.n_heads, self.n_kv_heads, self.ffn_dim, self.conv_kernel,
                           dropout=self.dropout, rope_base=self.rope_base, norm_eps=self.norm_eps,
                           grad_checkpoint=self.grad_checkpoint, qkv_bias=self.qkv_bias, conv_causal=conv_causal)


class Transformer(nn.Module):
    """A stack of TransformerBlocks with RoPE and a final RMSNorm.

    forward(x [B,T,dim], mask=None, positions=None, cache=None, valid=None,
            return_hidden_states=False, num_layers=None)
      -> y [B,T,dim] (final-normed output of the last block run), or with
         return_hidden_states=True (y, hidden) where hidden[0] = the input and hidden[i] = the
         raw (un-normed) output of block i, len = blocks run + 1.
    `positions` default: arange(cache.pos, cache.pos + T) (0.. without a cache).
    `valid` [B,T] bool marks real (non-padded) frames for the conv module.
    `num_layers` runs only the first blocks (cheap feature extraction from a middle layer).
    With a cache the mask must cover all keys: [.., T, cache.pos + T] (e.g.
    `causal_mask(T, offset=cache.pos)`, or rows pos:pos+T of a full-sequence mask).
    """

    def __init__(
        self,
        dim,
        n_layers,
        n_heads,
        n_kv_heads=None,
        ffn_dim=None,
        conv_kernel=0,
        dropout=0.0,
        rope_base=10000.0,
        norm_eps=1e-6,
        grad_checkpoint=False,
        qkv_bias=False,
        conv_causal=False,
    ):
        super().__init__()
        self.dim = dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads or n_heads
        self.head_dim = dim // n_heads
        self.grad_checkpoint = grad_checkpoint
        self.rope = RotaryEmbedding(self.head_dim, rope_base)
        self.layers = nn.ModuleList(
            TransformerBlock(dim, n_heads, n_kv_heads, ffn_dim, conv_kernel, dropout, norm_eps, qkv_bias, conv_causal)
            for _ in range(n_layers)
        )
        self.norm = RMSNorm(dim, norm_eps)
        self.reset_parameters()

    def reset_parameters(self):
        # GPT-2 style: small normal init, residual output projections scaled by depth
        resid_std = 0.02 / math.sqrt(2 * max(1, self.n_layers))
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)) and not name.endswith(".dw"):
                std = resid_std if name.endswith((".wo", ".w2", ".pw2")) else 0.02
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def new_cache(self, batch_size, max_len=None, device=None, dtype=torch.float32):
        return KVCache(self.n_layers, batch_size, self.n_kv_heads, self.head_dim, max_len, device, dtype)

    def forward(
        self, x, mask=None, positions=None, cache=None, valid=None, return_hidden_states=False, num_layers=None
    ):
        B, T, _ = x.shape
        offset = cache.pos if cache is not None else 0
        if positions is None:
            positions = torch.arange(offset, offset + T, device=x.device)
        rope = self.rope(positions)
        if mask is not None:
            if mask.shape[-1] != offset + T:
                raise ValueError(f"mask has {mask.shape[-1]} keys for {offset + T} (cached + new) tokens")
            # a fully masked row makes SDPA return NaN; let such (padding) rows see everything
            mask = mask | ~mask.any(-1, keepdim=True)
        if cache is not None and any(layer.conv is not None and not layer.conv.causal for layer in self.layers):
            raise ValueError("a KV cache cannot be used with centred conv blocks (they look ahead)")
        n = self.n_layers if num_layers is None else int(num_layers)
        hidden = [x] if return_hidden_states else None
        for i, layer in enumerate(self.layers[:n]):
            if self.grad_checkpoint and self.training and cache is None and torch.is_grad_enabled():
                x = checkpoint(layer, x, mask, rope, None, i, valid, use_reentrant=False)
            else:
                x = layer(x, mask, rope, cache, i, valid)
            if hidden is not None:
                hidden.append(x)
        if cache is not None:
            cache.advance(T)
        y = self.norm(x)
        return (y, hidden) if return_hidden_states else y
