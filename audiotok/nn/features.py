"""Log-mel spectrogram frontend shared by the SSL encoder, codec losses and metrics."""

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiotok.nn.precision import at_least_fp32


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
            x = at_least_fp32(wav)
            # reflect padding needs more than n_fft // 2 samples; zero-extend very short inputs
            # and crop back so the frame count stays T // hop + 1.
            if n <= self.n_fft // 2:
                x = F.pad(x, (0, self.n_fft // 2 + 1 - n))
            spec = self.mel(x)[..., : self.num_frames(n)]
            return torch.log(spec.clamp_min(self.log_floor))


class ConvMelSpectrogram(nn.Module):
    """A torchaudio MelSpectrogram (power 2, onesided) computed with a strided conv against the
    windowed DFT basis instead of torch.stft: the same numbers to float rounding, with only real
    tensors, so it exports to ONNX with a dynamic time axis (complex STFT outputs do not)."""

    def __init__(self, mel):
        super().__init__()
        spec = mel.spectrogram
        if spec.power != 2.0 or not spec.onesided or spec.normalized or spec.pad:
            raise ValueError("ConvMelSpectrogram covers power-2, onesided, unnormalised spectrograms")
        n_fft, win = int(spec.n_fft), spec.window.float()
        if win.numel() < n_fft:  # torch.stft centres a shorter window in the frame
            left = (n_fft - win.numel()) // 2
            win = F.pad(win, (left, n_fft - win.numel() - left))
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        t = torch.arange(n_fft, dtype=torch.float64)[None]
        angle = 2 * torch.pi * k * t / n_fft
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * win.double()
        self.register_buffer("basis", basis.float()[:, None], persistent=False)  # [2*bins, 1, n_fft]
        self.register_buffer("fb", mel.mel_scale.fb.float().t().contiguous(), persistent=False)  # [mels, bins]
        self.n_fft, self.hop, self.center, self.pad_mode = n_fft, int(spec.hop_length), spec.center, spec.pad_mode

    def forward(self, wav):
        """wav [B, T] -> power mel [B, n_mels, frames], framed as torch.stft frames it."""
        x = wav[:, None]
        if self.center:
            x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode=self.pad_mode)
        re_im = F.conv1d(x, self.basis, stride=self.hop)
        re, im = re_im.chunk(2, dim=1)
        return torch.matmul(self.fb, re * re + im * im)
