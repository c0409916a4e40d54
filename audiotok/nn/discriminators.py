"""GAN discriminators for waveform codecs: multi-period (MPD) and multi-band complex STFT (MB-STFT).

Every sub-discriminator returns (logits, feature_maps); `Discriminator` returns a list of those,
one per sub-discriminator (5 periods + 3 STFT windows = 8 with the defaults).
"""

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.nn.conv import WNConv2d

BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
LRELU = 0.1


class PeriodDiscriminator(nn.Module):
    """Folds the waveform into [T/p, p] and runs 2-D convs along time (kernel (5,1))."""

    def __init__(self, period, channels=32):
        super().__init__()
        self.period = int(period)
        c = int(channels)
        widths = [1, c, 4 * c, 16 * c, 32 * c, 32 * c]
        self.convs = nn.ModuleList(
            WNConv2d(widths[i], widths[i + 1], (5, 1), stride=(3, 1) if i < 4 else (1, 1), padding=(2, 0))
            for i in range(5)
        )
        self.post = WNConv2d(widths[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x):
        t = x.shape[-1]
        pad = (-t) % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect" if pad < t else "constant")
        x = x.view(x.shape[0], 1, -1, self.period)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            fmaps.append(x)
        return self.post(x), fmaps


class STFTBandDiscriminator(nn.Module):
    """Complex STFT (real+imag as 2 channels) split into frequency bands, one conv stack per band."""

    def __init__(self, window_length, hop_factor=0.25, bands=BANDS, channels=64):
        super().__init__()
        self.n_fft = int(window_length)
        self.hop = max(1, int(window_length * hop_factor))
        n_bins = self.n_fft // 2 + 1
        self.bands = [(int(lo * n_bins), int(hi * n_bins)) for lo, hi in bands]
        c = int(channels)

        def stack():
            return nn.ModuleList(
                [
                    WNConv2d(2, c, (3, 9), padding=(1, 4)),
                    WNConv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)),
                    WNConv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)),
                    WNConv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4)),
                    WNConv2d(c, c, (3, 3), padding=(1, 1)),
                ]
            )

        self.band_convs = nn.ModuleList(stack() for _ in self.bands)
        self.post = WNConv2d(c, 1, (3, 3), padding=(1, 1))
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, x):
        spec = torch.stft(
            x.squeeze(1).float(), self.n_fft, self.hop, window=self.window, center=True, return_complex=True
        )
        spec = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2, frames, bins]
        fmaps, outs = [], []
        for (lo, hi), convs in zip(self.bands, self.band_convs):
            h = spec[..., lo:hi]
            for conv in convs:
                h = F.leaky_relu(conv(h), LRELU)
                fmaps.append(h)
            outs.append(h)
        return self.post(torch.cat(outs, dim=-1)), fmaps


class Discriminator(nn.Module):
    """MPD (periods 2,3,5,7,11) + MB-STFT (windows 2048/1024/512, 5 bands), as in DAC/DualCodec.

    `channels` sets the MPD base width (32 -> 32..1024 channels); `stft_channels` defaults to
    2*channels (64 in the reference). Tiny values give tiny debug discriminators.
    """

    def __init__(
        self,
        sample_rate=24000,
        periods=(2, 3, 5, 7, 11),
        fft_sizes=(2048, 1024, 512),
        bands=BANDS,
        channels=32,
        stft_channels=None,
        hop_factor=0.25,
    ):
        super().__init__()
        self.sample_rate = int(sample_rate)
        stft_channels = stft_channels or 2 * channels
        subs = [PeriodDiscriminator(p, channels) for p in periods]
        subs += [STFTBandDiscriminator(w, hop_factor, bands, stft_channels) for w in fft_sizes]
        self.discriminators = nn.ModuleList(subs)

    @staticmethod
    def preprocess(wav):
        # Remove DC and peak-normalise so D judges shape, not level.
        wav = wav - wav.mean(dim=-1, keepdim=True)
        return 0.8 * wav / (wav.abs().amax(dim=-1, keepdim=True) + 1e-9)

    def forward(self, wav):
        wav = self.preprocess(wav)
        return [d(wav) for d in self.discriminators]
