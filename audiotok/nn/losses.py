"""Codec training losses: multi-scale mel, LSGAN (and its wiring to a discriminator), feature matching,
SI-SDR, SSL-feature MSE, cross-stem leakage."""

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn


class MultiScaleMelLoss(nn.Module):
    """Distance between mel spectrograms of `est` and `ref` [B,1,T] at several STFT scales.

    Per scale: log_weight * dist(log10(clamp(mel,eps)^pow)) + mag_weight * dist(mel), with mel
    computed on the STFT magnitude. `band=(lo, hi)` keeps only that fraction of the mel bins
    (DualCodec's semantic-only loss uses the lowest 10 %). `distance` is "l1" or "mse".
    forward(..., reduction="none") returns one value per sample [B].
    """

    def __init__(
        self,
        sample_rate=24000,
        n_mels=(40, 80, 160, 320),
        window_lengths=(256, 512, 1024, 2048),
        hop_factor=0.25,
        f_min=0.0,
        f_max=None,
        log_weight=1.0,
        mag_weight=1.0,
        pow=2.0,
        clamp_eps=1e-5,
        distance="l1",
        band=(0.0, 1.0),
    ):
        super().__init__()
        if len(n_mels) != len(window_lengths):
            raise ValueError("n_mels and window_lengths must have the same length")
        if distance not in ("l1", "mse"):
            raise ValueError(f"distance must be l1 or mse, got {distance!r}")
        self.sample_rate = int(sample_rate)
        self.scales = [(int(m), int(w), max(1, int(w * hop_factor))) for m, w in zip(n_mels, window_lengths)]
        self.log_weight, self.mag_weight = float(log_weight), float(mag_weight)
        self.pow, self.clamp_eps = float(pow), float(clamp_eps)
        self.distance = distance
        self.band = (float(band[0]), float(band[1]))
        f_max = f_max or sample_rate / 2
        for i, (m, w, _) in enumerate(self.scales):
            fb = torchaudio.functional.melscale_fbanks(
                w // 2 + 1, f_min, f_max, m, self.sample_rate, norm="slaney", mel_scale="slaney"
            )
            # Not persistent: derived from the config, so never stored in a model file.
            self.register_buffer(f"fb{i}", fb, persistent=False)
            self.register_buffer(f"win{i}", torch.hann_window(w), persistent=False)

    def mel(self, wav, i):
        m, w, hop = self.scales[i]
        spec = torch.stft(
            wav.reshape(-1, wav.shape[-1]).float(), w, hop, window=getattr(self, f"win{i}"), center=True,
            pad_mode="constant", return_complex=True,  # zeros past the end, as padding is (never a reflection)
        ).abs()
        mel = torch.einsum("bft,fm->bmt", spec, getattr(self, f"fb{i}"))
        lo, hi = int(self.band[0] * m), max(int(self.band[0] * m) + 1, int(round(self.band[1] * m)))
        return mel[:, lo:hi]

    def _dist(self, a, b, frames=None):
        d = (a - b).abs() if self.distance == "l1" else (a - b).pow(2)
        if frames is None:
            return d.mean(dim=(1, 2))
        w = frames[:, None].to(d.dtype)  # padded frames count neither as error nor as frames
        return (d * w).sum(dim=(1, 2)) / (w.sum(dim=(1, 2)) * d.shape[1]).clamp_min(1)

    def forward(self, est, ref, reduction="mean", lengths=None):
        """`lengths` [B] (valid samples): average over the STFT frames that hold real audio only."""
        # Spectra in float32 whatever the autocast: power spectra underflow in bf16/fp16.
        with torch.autocast(device_type=est.device.type, enabled=False):
            return self._forward(est.float(), ref.float(), reduction, lengths)

    def _forward(self, est, ref, reduction, lengths=None):
        total = est.new_zeros(est.shape[0], dtype=torch.float32)
        for i in range(len(self.scales)):
            x, y = self.mel(est, i), self.mel(ref, i)
            frames = None
            if lengths is not None:
                hop = self.scales[i][2]
                n = lengths.to(x.device).long() // hop + 1  # centred frames whose centre is real audio
                frames = torch.arange(x.shape[-1], device=x.device)[None] < n[:, None]
            if self.log_weight:
                lx = torch.log10(x.clamp_min(self.clamp_eps).pow(self.pow))
                ly = torch.log10(y.clamp_min(self.clamp_eps).pow(self.pow))
                total = total + self.log_weight * self._dist(lx, ly, frames)
            if self.mag_weight:
                total = total + self.mag_weight * self._dist(x, y, frames)
        return total.mean() if reduction == "mean" else total


def lsgan_generator_loss(fake_outputs):
    """sum over sub-discriminators of mean((1 - D(fake))^2); outputs = [(logits, fmaps), ...]."""
    return sum(torch.mean((1 - logits) ** 2) for logits, _ in fake_outputs)


def lsgan_discriminator_loss(real_outputs, fake_outputs):
    """sum over sub-discriminators of mean(D(fake)^2) + mean((1 - D(real))^2)."""
    loss = 0
    for (real, _), (fake, _) in zip(real_outputs, fake_outputs):
        loss = loss + torch.mean(fake**2) + torch.mean((1 - real) ** 2)
    return loss


def feature_matching_loss(real_outputs, fake_outputs):
    """sum of L1(fmap(fake), fmap(real).detach()) over all sub-discriminators and layers."""
    loss = 0
    for (_, real_maps), (_, fake_maps) in zip(real_outputs, fake_outputs):
        for r, f in zip(real_maps, fake_maps):
            loss = loss + F.l1_loss(f, r.detach())
    return loss


def si_sdr(est, ref, eps=1e-8):
    """Scale-invariant SDR in dB per sample; est, ref [..., T]."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * ref
    noise = est - target
    return 10 * torch.log10(target.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps) + eps)


def si_sdr_loss(est, ref):
    return -si_sdr(est, ref).mean()


def ssl_reconstruction_loss(pred, target):
    """MSE between (normalised, pooled) SSL features and their reconstruction after the VQ."""
    return F.mse_loss(pred, target.detach())


def add_gan_generator_loss(loss, logs, discriminator, fake_wav, real_wav, weights):
    """The generator's GAN terms added to `loss`: weights["adv"] x LSGAN + weights["fm"] x feature
    matching (the real side is only a target: no graph). Logs "adv" and "fm"; returns the new loss."""
    fake = discriminator(fake_wav)
    with torch.no_grad():
        real = discriminator(real_wav)
    adv, fm = lsgan_generator_loss(fake), feature_matching_loss(real, fake)
    logs.update(adv=float(adv.detach()), fm=float(fm.detach()))
    return loss + weights["adv"] * adv + weights["fm"] * fm


def gan_discriminator_loss(discriminator, fake_wav, real_wav):
    """The discriminator's LSGAN loss on detached generator output -> (loss, {"disc": value})."""
    fake = discriminator(fake_wav.detach())
    real = discriminator(real_wav)
    loss = lsgan_discriminator_loss(real, fake)
    return loss, {"disc": float(loss.detach())}


def stem_bins(p_own, p_other, floor_db=-60.0):
    """Bins of two stems' power spectrograms [B, F, frames] (stft_power): (own_bins, other_bins), boolean.
    other_bins are where `other` is louder than `own`; bins more than -floor_db below the item's loudest
    are in neither. The leakage metric (audiotok.metrics.quality.stem_leakage) and loss share these bins."""
    total = p_own + p_other
    active = total > total.amax((-2, -1), keepdim=True) * 10 ** (floor_db / 10)
    other_bins = active & (p_other > p_own)
    return active & ~other_bins, other_bins


def stft_power(x, n_fft=1024):
    """|STFT|^2 of [..., T] with a Hann window and hop n_fft / 4 -> [..., F, frames]."""
    shape = x.shape[:-1]
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, n_fft // 4, window=torch.hann_window(n_fft, device=x.device),
                      return_complex=True)
    return spec.abs().pow(2).reshape(*shape, *spec.shape[-2:])


def cross_stem_leakage_loss(est, own, other, n_fft=1024, floor_db=-60.0, eps=1e-8):
    """Energy of a decoded stem `est` [B, T] in the bins where the `other` true stem is louder, relative to
    the energy of both true stems (a crop where the own stem is silent still has a scale): what leaks, per
    item [B]. Only lowering that energy lowers it (unlike a ratio to the estimate's own-bin energy, which
    turning the output up would also lower)."""
    with torch.no_grad():
        p_own, p_other = stft_power(torch.stack([own, other]), n_fft)
        _, other_bins = stem_bins(p_own, p_other, floor_db)
        scale = (p_own + p_other).sum((-2, -1)) + eps
    return (stft_power(est, n_fft) * other_bins).sum((-2, -1)) / scale
