"""DAC-style convolutional waveform encoder and decoder (weight-normed convs, Snake activations).

Shapes: audio [B,1,T] <-> latent [B,D,T/hop]. The encoder right-pads its input to a multiple
of the hop so every frame sees a whole hop; the caller trims decoded audio to the length it wants.
`dilations` sets the residual units per block (DAC: 1, 3, 9); fewer make CPU debug models fast.
"""

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _init_conv(conv):
    # Small weights and zero biases: default biases swamp quiet waveforms and stall early training.
    nn.init.trunc_normal_(conv.weight, std=0.02)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def WNConv1d(*args, **kwargs):
    return weight_norm(_init_conv(nn.Conv1d(*args, **kwargs)))


def WNConvTranspose1d(*args, **kwargs):
    return weight_norm(_init_conv(nn.ConvTranspose1d(*args, **kwargs)))


def WNConv2d(*args, **kwargs):
    return weight_norm(_init_conv(nn.Conv2d(*args, **kwargs)))


class Snake1d(nn.Module):
    """x + sin^2(alpha x) / alpha with a learnable alpha per channel (periodic inductive bias)."""

    def __init__(self, channels):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    """Snake -> dilated conv k7 -> Snake -> conv k1, added to the input."""

    def __init__(self, dim, dilation=1, kernel_size=7):
        super().__init__()
        pad = (kernel_size - 1) * dilation // 2
        self.block = nn.Sequential(
            Snake1d(dim),
            WNConv1d(dim, dim, kernel_size, dilation=dilation, padding=pad),
            Snake1d(dim),
            WNConv1d(dim, dim, 1),
        )

    def forward(self, x):
        y = self.block(x)
        trim = (x.shape[-1] - y.shape[-1]) // 2
        if trim > 0:
            x = x[..., trim : trim + y.shape[-1]]
        return x + y


class EncoderBlock(nn.Module):
    """Residual units at `in_dim` (dilations 1/3/9), then a strided conv to `out_dim`."""

    def __init__(self, in_dim, out_dim, stride, dilations=(1, 3, 9)):
        super().__init__()
        self.block = nn.Sequential(
            *[ResidualUnit(in_dim, d) for d in dilations],
            Snake1d(in_dim),
            WNConv1d(in_dim, out_dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x):
        return self.block(x)


class DecoderBlock(nn.Module):
    """Transposed conv upsampling `in_dim` -> `out_dim` by `stride`, then residual units."""

    def __init__(self, in_dim, out_dim, stride, dilations=(1, 3, 9)):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(in_dim),
            WNConvTranspose1d(
                in_dim, out_dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2), output_padding=stride % 2
            ),
            *[ResidualUnit(out_dim, d) for d in dilations],
        )

    def forward(self, x):
        return self.block(x)


class WaveEncoder(nn.Module):
    """wav [B,1,T] -> latent [B,latent_dim,ceil(T/hop)]; widths double at every stride."""

    def __init__(self, channels=64, strides=(4, 5, 6, 8), latent_dim=1024, dilations=(1, 3, 9)):
        super().__init__()
        self.strides = [int(s) for s in strides]
        self.hop_length = math.prod(self.strides)
        layers = [WNConv1d(1, channels, 7, padding=3)]
        dim = channels
        for s in self.strides:
            layers.append(EncoderBlock(dim, dim * 2, s, dilations))
            dim *= 2
        layers += [Snake1d(dim), WNConv1d(dim, latent_dim, 3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.out_dim = dim

    def num_frames(self, num_samples):
        return -(-int(num_samples) // self.hop_length)

    def forward(self, wav):
        pad = self.num_frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]
        if pad:
            wav = nn.functional.pad(wav, (0, pad))
        return self.block(wav)


class WaveDecoder(nn.Module):
    """latent [B,latent_dim,T] -> wav [B,1,T*hop]; widths halve at every rate; tanh output."""

    def __init__(self, latent_dim=1024, channels=1536, rates=(8, 6, 5, 4), tanh=True, dilations=(1, 3, 9)):
        super().__init__()
        self.rates = [int(r) for r in rates]
        self.hop_length = math.prod(self.rates)
        layers = [WNConv1d(latent_dim, channels, 7, padding=3)]
        dim = channels
        for r in self.rates:
            layers.append(DecoderBlock(dim, dim // 2, r, dilations))
            dim //= 2
        layers += [Snake1d(dim), WNConv1d(dim, 1, 7, padding=3)]
        if tanh:
            layers.append(nn.Tanh())
        self.block = nn.Sequential(*layers)

    def forward(self, z):
        return self.block(z)
