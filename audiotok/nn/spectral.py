"""Frame-rate codec backbones: a log-mel ConvNeXt encoder and a ConvNeXt decoder with an iSTFT head.

The heavy work runs on frames (Vocos / WavTokenizer style), never per sample, which is what makes
a codec cheap to train and fast on a CPU. Both nets work at two rates:

    encoder  wav -> log-mel at `hop` (fine rate) -> ConvNeXt x fine_layers -> strided conv (/up)
                 -> ConvNeXt x coarse_layers -> 1x1 -> latent [B, D, T]       (T = len / (hop*up))
    decoder  latent -> 1x1 -> ConvNeXt x coarse_layers -> transposed conv (x up)
                 -> ConvNeXt x fine_layers -> linear -> log-magnitude + phase -> iSTFT -> wav

`causal=True` makes every conv look only at the past: the encoder's STFT frames end at their
hop (left padding), the ConvNeXt kernels pad left. The iSTFT's overlap-add still needs
n_fft - hop samples after a frame (the decoder's algorithmic lookahead).
"""

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.precision import at_least_fp32


class OverlapAddISTFT(nn.Module):
    """Complex spectrum [B, n_fft//2+1, N] -> wav [B, N*hop] with "same" framing.

    Written with irfft, slicing and padding only (no fold / istft op) so it exports to ONNX;
    n_fft must be a multiple of hop. Frame j's window is centred on sample j*hop + hop/2.
    """

    def __init__(self, n_fft, hop_length):
        super().__init__()
        if n_fft % hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop_length ({hop_length})")
        self.n_fft, self.hop = int(n_fft), int(hop_length)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)

    def _overlap_add(self, frames):
        """frames [B, N, n_fft] -> [B, (N-1)*hop + n_fft] summed at hop spacing."""
        b, n, _ = frames.shape
        k = self.n_fft // self.hop
        chunks = frames.reshape(b, n, k, self.hop)
        out = frames.new_zeros(b, n + k - 1, self.hop)
        for i in range(k):  # chunk i of frame j lands in output slot j + i
            out = out + F.pad(chunks[:, :, i], (0, 0, i, k - 1 - i))
        return out.reshape(b, (n + k - 1) * self.hop)

    def frames(self, spec):
        """Complex spectrum [B, bins, N] -> windowed time frames [B, N, n_fft]."""
        return torch.fft.irfft(spec.transpose(1, 2), n=self.n_fft) * self.window

    def forward(self, spec, frames=None):
        """`frames` [B, N] bool: only these frames exist (padding adds neither sound nor window)."""
        n = spec.shape[-1]
        if frames is not None:
            spec = spec * frames[:, None].to(spec.real.dtype)
        wav = self._overlap_add(self.frames(spec))
        weight = self.window.pow(2).expand(1, n, self.n_fft)
        if frames is not None:
            weight = weight * frames[..., None].to(weight.dtype)
        envelope = self._overlap_add(weight)
        trim = (self.n_fft - self.hop) // 2
        wav, envelope = wav[:, trim:trim + n * self.hop], envelope[:, trim:trim + n * self.hop]
        return wav / envelope.clamp_min(1e-5)


class MatmulISTFT(OverlapAddISTFT):
    """OverlapAddISTFT with the inverse real DFT as a matmul against its basis instead of irfft:
    the same numbers to float rounding, and fast in runtimes whose DFT op is a plain O(n^2) loop
    (onnxruntime's, for n_fft that are not powers of two)."""

    def __init__(self, n_fft, hop_length):
        super().__init__(n_fft, hop_length)
        n = self.n_fft
        k = torch.arange(n // 2 + 1, dtype=torch.float64)[:, None]
        t = torch.arange(n, dtype=torch.float64)[None]
        scale = torch.full((n // 2 + 1, 1), 2.0, dtype=torch.float64)
        scale[0] = scale[-1] = 1.0  # DC and Nyquist appear once in a real signal's spectrum
        angle = 2 * torch.pi * k * t / n
        basis = torch.cat([torch.cos(angle) * scale, -torch.sin(angle) * scale]) / n  # [2*bins, n]
        self.register_buffer("basis", (basis * self.window.double()).float(), persistent=False)

    def frames(self, spec):
        re_im = torch.cat([spec.real, spec.imag], dim=1).transpose(1, 2)  # [B, N, 2*bins]
        return torch.matmul(re_im, self.basis)


def _convnexts(dim, n, causal, mult=3):
    return nn.Sequential(*[ConvNeXtBlock(dim, mult * dim, causal=causal) for _ in range(n)])


def masked(x, mask):
    """Zero the padded frames of x [B,C,T] (mask [B,T] bool, None = none padded)."""
    return x if mask is None else x * mask[:, None].to(x.dtype)


def run_masked(blocks, x, mask):
    """Apply blocks one by one, re-zeroing padded frames after each so none leaks into real ones."""
    x = masked(x, mask)
    for block in blocks:
        x = masked(block(x), mask)
    return x


def fine_mask(frames, up):
    return None if frames is None else frames.repeat_interleave(up, dim=1)


class SpectralEncoder(nn.Module):
    """wav [B,1,T*hop*up] -> latent [B, latent_dim, T] (see the module docstring)."""

    def __init__(self, sample_rate, latent_dim, dim=256, hop_length=320, n_fft=1024, n_mels=80, upsample=4,
                 fine_layers=2, coarse_layers=4, causal=False):
        super().__init__()
        import torchaudio

        self.hop, self.n_fft, self.up, self.causal = int(hop_length), int(n_fft), int(upsample), bool(causal)
        self.hop_length = self.hop * self.up
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=self.n_fft, hop_length=self.hop, n_mels=n_mels, center=False, power=2.0,
            norm="slaney", mel_scale="slaney")
        self.inp = nn.Conv1d(n_mels, dim, 7, padding=0)
        self.fine = _convnexts(dim, fine_layers, causal)
        self.down = nn.Conv1d(dim, dim, self.up, stride=self.up)
        self.coarse = _convnexts(dim, coarse_layers, causal)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Conv1d(dim, latent_dim, 1)

    def _pad_conv(self, x, k):
        return F.pad(x, (k - 1, 0) if self.causal else ((k - 1) // 2, k - 1 - (k - 1) // 2))

    def forward(self, wav, frames=None):
        """`frames` [B, T] bool marks real (not padded) output frames."""
        n_frames = wav.shape[-1] // self.hop
        # Frame j covers samples [j*hop - (n_fft - hop)/2, ...] when centred, [.. , (j+1)*hop) when causal.
        extra = self.n_fft - self.hop
        pad = (extra, 0) if self.causal else (extra // 2, extra - extra // 2)
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = F.pad(at_least_fp32(wav[:, 0]), pad, mode="constant")
            mel = torch.log(self.mel(x).clamp_min(1e-5))[..., :n_frames]
        fine = fine_mask(frames, self.up)
        h = run_masked(self.fine, self.inp(self._pad_conv(masked(mel, fine), 7)), fine)
        h = run_masked(self.coarse, self.down(h), frames)
        return masked(self.out(self.norm(h.transpose(1, 2)).transpose(1, 2)), frames)


class SpectralDecoder(nn.Module):
    """latent [B, latent_dim, T] -> wav [B, 1, T*hop*up] through an iSTFT head.

    `frame_gain`: one more output per frame, added to every bin's log-magnitude. The head reads
    layer-normed features, so a level shared by all bins costs it a weight direction spread over
    every bin; deep silence (a sung stem between phrases: -11.5 in natural-log magnitude) sat out of
    its reach after thousands of steps, one scalar per frame reaches it at once."""

    def __init__(self, latent_dim, dim=384, hop_length=320, n_fft=1280, upsample=4, fine_layers=6, coarse_layers=2,
                 causal=False, frame_gain=False):
        super().__init__()
        self.hop, self.up = int(hop_length), int(upsample)
        self.hop_length = self.hop * self.up
        self.causal = bool(causal)
        self.inp = nn.Conv1d(latent_dim, dim, 1)
        self.coarse = _convnexts(dim, coarse_layers, causal)
        self.upsample = nn.ConvTranspose1d(dim, dim, self.up, stride=self.up)
        self.fine = _convnexts(dim, fine_layers, causal)
        self.norm = nn.LayerNorm(dim)
        self.n_bins = int(n_fft) // 2 + 1
        self.head = nn.Linear(dim, 2 * self.n_bins)
        self.gain = None
        if frame_gain:
            self.gain = nn.Linear(dim, 1)
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.gain.bias)
        self.istft = OverlapAddISTFT(n_fft, hop_length)

    def forward(self, z, frames=None):
        """`frames` [B, T] bool marks real (not padded) latent frames."""
        fine = fine_mask(frames, self.up)
        h = run_masked(self.coarse, self.inp(masked(z, frames)), frames)
        spec = self.spectrum(run_masked(self.fine, self.upsample(h), fine))
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self.istft(spec, fine)[:, None]

    def spectrum(self, h):
        """Fine-rate features [B, dim, N] -> complex spectrum [B, bins, N], in fp32 under any autocast."""
        hn = self.norm(h.transpose(1, 2))
        h = self.head(hn).float()
        gain = self.gain(hn).float().transpose(1, 2) if self.gain is not None else None
        with torch.autocast(device_type=h.device.type, enabled=False):
            log_mag, phase = h.transpose(1, 2).chunk(2, dim=1)
            if gain is not None:
                log_mag = log_mag + gain
            mag = torch.exp(log_mag.clamp(max=6.0))  # exp(6) ~ 400: bounds early-training blow-ups
            return torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))


__all__ = ["OverlapAddISTFT", "MatmulISTFT", "SpectralEncoder", "SpectralDecoder"]
