"""Log-mel spectrogram frontend shared by the SSL encoder, codec losses and metrics."""

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn


class LogMel(nn.Module):
    """wav [B,1,T] (or [B,T]) -> natural-log power mel spectrogram [B, n_mels, T // hop_length + 1].

    Frames are centred (torchaudio `center=True`, reflect padding), so frame i covers sample
    i * hop_length; there are T // hop_length + 1 of them. Always computed in float32 with
    autocast disabled: the power spectrum underflows in bf16/fp16.
    """

    def __init__(self, sample_rate, n_fft, hop_length, n_mels, f_min=0.0, f_max=None, log_floor=1e-5, win_length=None,
                 pad_mode="reflect"):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.log_floor = float(log_floor)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            win_length=win_length,
            hop_length=self.hop_length,
            f_min=float(f_min),
            f_max=None if f_max is None else float(f_max),
            n_mels=self.n_mels,
            power=2.0,
            center=True,
            pad_mode=pad_mode,
            norm="slaney",
            mel_scale="slaney",
        )

    def num_frames(self, num_samples):
        return int(num_samples) // self.hop_length + 1

    def forward(self, wav):
        if wav.dim() == 3:
            if wav.shape[1] != 1:
                raise ValueError(f"LogMel expects mono wav [B,1,T], got {tuple(wav.shape)}")
            wav = wav[:, 0]
        n = wav.shape[-1]
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = wav.float()
            # reflect padding needs more than n_fft // 2 samples; zero-extend very short inputs
            # and crop back so the frame count stays T // hop + 1.
            if n <= self.n_fft // 2:
                x = F.pad(x, (0, self.n_fft // 2 + 1 - n))
            spec = self.mel(x)[..., : self.num_frames(n)]
            return torch.log(spec.clamp_min(self.log_floor))
