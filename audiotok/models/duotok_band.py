"""The low band of a track's linear spectrum, a second input to Duo-Tok's branches (`branch.pitch_band_hz`).

Why: the frozen encoder reads 64 mels, whose bands are 40-50 Hz wide where a voice's first harmonics lie,
and its features lose the pitch. music-v1 release 4's decoded vocals miss the sung pitch by 1,144 cents on
average (`audiotok score --metrics f0`, 32 test songs), so their harmonics fall between the true ones,
where the accompaniment is louder: the vocal stem's leakage (egs/mini_music/tok1/README.md, "A pitch
band for the branches"). The encoder's own STFT (1024 points at 24 kHz, 23 Hz bins) resolves those
harmonics; this module gives the branches its bins below `max_hz`.

    mix power P [B, K, N] (the encoder's STFT frames)   vocal share m per mel bin [B, M, N]
    m on the linear bins = the mel filters' weighted average of m   (each bin's filters, normalised)
    vocal band = m_lin · P, accompaniment band = (1 - m_lin) · P    (or a known stem's own P)
    log, 4 frames stacked to the token rate, LayerNorm per token frame -> [B, stack · K, frames]
"""

import torch
import torch.nn.functional as F
from torch import nn


class LowBand(nn.Module):
    """Token-rate low-band log spectra of the tracks, framed exactly as the encoder's log-mel `logmel`
    (an audiotok.nn.features.LogMel) so a mel-bin vocal share applies to them."""

    def __init__(self, logmel, max_hz, stack):
        super().__init__()
        self._logmel, self.stack = (logmel,), int(stack)  # a tuple: the encoder owns (and saves) it
        sr, n_fft = logmel.sample_rate, logmel.n_fft
        self.n_bins = min(n_fft // 2 + 1, int(float(max_hz) * n_fft / sr) + 1)
        if self.n_bins < 2:
            raise ValueError(f"pitch_band_hz {max_hz} leaves fewer than 2 STFT bins")
        fb = logmel.mel.mel_scale.fb[: self.n_bins].float()  # [K, M]: each linear bin's weight in each mel
        weight = fb / fb.sum(1, keepdim=True).clamp_min(1e-8)
        self.register_buffer("bin_weights", weight, persistent=False)
        self.register_buffer("covered", fb.sum(1) > 0, persistent=False)  # DC has no mel filter

    @property
    def logmel(self):
        return self._logmel[0]

    @property
    def dim(self):
        return self.stack * self.n_bins

    @torch.no_grad()
    def power(self, wav):
        """wav [B,1,T] -> the encoder STFT's power in the low bins [B, K, T // hop + 1]."""
        with torch.autocast(device_type=wav.device.type, enabled=False):
            return self.logmel.mel.spectrogram(wav[:, 0].float())[:, : self.n_bins]

    def split(self, power, share):
        """Mix power [B,K,N] and a vocal share per mel bin [B,M,N] -> (vocal power, accompaniment power)."""
        m = torch.einsum("km,bmn->bkn", self.bin_weights, share.float())
        m = torch.where(self.covered[None, :, None], m, torch.full_like(m, 0.5))
        return m * power, (1 - m) * power

    def features(self, power, frames):
        """Power [B,K,N] -> LayerNorm'd log spectra of `stack` frames each [B, stack·K, frames]."""
        x = torch.log(power.clamp_min(self.logmel.log_floor))
        b, k, n = x.shape
        f = n // self.stack
        x = x[..., : f * self.stack].reshape(b, k, f, self.stack).permute(0, 3, 1, 2).reshape(b, self.dim, f)
        x = F.layer_norm(x.transpose(1, 2), (self.dim,)).transpose(1, 2)
        if f < frames:
            x = F.pad(x, (0, frames - f), mode="replicate") if f else x.new_zeros(b, self.dim, frames)
        return x[..., :frames]


__all__ = ["LowBand"]
