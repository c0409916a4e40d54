"""ConvNeXt 1-D block: depthwise conv k7 -> LayerNorm -> pointwise MLP (GELU), residual."""

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """x [B,C,T] -> [B,C,T]. `causal` pads only on the left so frame t sees no future frames."""

    def __init__(self, dim, intermediate_dim=None, kernel_size=7, causal=False, layer_scale_init=None, eps=1e-6):
        super().__init__()
        intermediate_dim = intermediate_dim or 4 * dim
        self.causal = causal
        self.left_pad = kernel_size - 1 if causal else (kernel_size - 1) // 2
        self.right_pad = 0 if causal else kernel_size - 1 - self.left_pad
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        # Layer scale is off by default, as in the reference (init 0 disables it there).
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init))) if layer_scale_init else None

    def forward(self, x, context=None):
        """`context` [B,C,left_pad]: the frames before x (streaming a causal block); default zeros."""
        if context is None:
            y = nn.functional.pad(x, (self.left_pad, self.right_pad))
        elif self.causal:
            y = torch.cat([context.to(x.dtype), x], dim=-1)
        else:
            raise ValueError("only a causal ConvNeXt block streams (a centred one looks ahead)")
        y = self.dwconv(y).transpose(1, 2)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        if self.gamma is not None:
            y = y * self.gamma
        return x + y.transpose(1, 2)
