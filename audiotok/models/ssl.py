"""BEST-RQ self-supervised speech/music encoder (Chiu et al., 2022).

Pipeline: wav -> 10 ms log-mel -> per-utterance normalisation -> stack `stack` frames
(features.stack; 4 -> 40 ms, 25 Hz) -> linear -> bidirectional conformer-style Transformer.

Targets come from a random-projection quantizer that is never trained: a Xavier-initialised
projection of the normalised stacked features to `codebook_dim` and a standard-normal codebook,
both l2-normalised; the label is the nearest codeword in cosine. Both are generated from
`targets.seed` and kept as buffers (saved with the weights, never touched by the optimizer).

Masking: each stacked frame starts a span of `masking.span` frames with probability `masking.prob`
(expected masked fraction about 1 - (1 - prob) ** span; 0.01 x 10 -> 9.6 %,
0.05 x 10 -> 40 %); masked input frames are replaced by N(0, masking.noise_std^2) noise; the loss
is the cross-entropy of a linear head on masked frames only.

Normalisation (`features.norm`): "utterance" (default) = per mel bin, mean/std over the valid
frames of each utterance (no state, so targets never drift); "global" = fixed scalars
`features.global_mean` / `global_std` (MusicFM style, pre-computed on the data).

Distillation (`teacher.kind: whisper`): the same encoder regresses Whisper's encoder states
(audiotok.models.whisper_teacher) on every valid frame, through a linear head, with an L1 + cosine
loss on layer-normalised targets; the span masks stay as input noise. The codec reads the encoder's
last block either way.

Settings come in groups: audiotok.models.ssl_config.
"""

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiotok.config import config_group, plain_config
from audiotok.errors import UserError
from audiotok.models.ssl_config import (
    ENCODER_DEFAULTS, FEATURE_NORMS, TEACHER_KINDS, DistillationTeacher, LogMelFeatures, ProjectionTargets,
    SpanMasking, upgrade_conf,
)
from audiotok.nn.features import LogMel
from audiotok.nn.transformer import TransformerConf, causal_mask, padding_mask


class RandomProjectionQuantizer(nn.Module):
    """Frozen random projection + random codebook(s); `forward(x [..., in_dim]) -> ids [..., num_codebooks]`."""

    def __init__(self, in_dim, codebook_size=8192, codebook_dim=16, num_codebooks=1, seed=142):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        bound = math.sqrt(6.0 / (in_dim + codebook_dim))  # Xavier uniform
        proj = (torch.rand(num_codebooks, in_dim, codebook_dim, generator=g) * 2 - 1) * bound
        codebooks = F.normalize(torch.randn(num_codebooks, codebook_size, codebook_dim, generator=g), dim=-1)
        self.register_buffer("proj", proj)
        self.register_buffer("codebooks", codebooks)

    @torch.no_grad()
    def forward(self, x):
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = F.normalize(torch.einsum("...i,kid->...kd", x.float(), self.proj), dim=-1)
            # both sides unit norm: max cosine == min euclidean distance
            return torch.einsum("...kd,kcd->...kc", z, self.codebooks).argmax(-1)


def span_mask(batch, frames, prob, span, valid=None, generator=None, device=None):
    """Bool [batch, frames]: every frame starts a `span`-long masked run with probability `prob`.

    Starts are drawn only where a whole span fits inside the valid frames; a row that got no
    start receives one at random, so every utterance contributes to the loss.
    """
    lengths = valid.sum(1) if valid is not None else torch.full((batch,), frames, device=device)
    last_start = (lengths - span).clamp_min(0)  # inclusive
    pos = torch.arange(frames, device=device)[None]
    allowed = pos <= last_start[:, None]
    starts = (torch.rand(batch, frames, generator=generator, device=device) < prob) & allowed
    none = ~starts.any(1)
    if none.any():
        pick = (torch.rand(batch, generator=generator, device=device) * (last_start + 1)).long()
        starts[none, pick[none]] = True
    # frame t is masked when a start lies in (t - span, t]
    padded = F.pad(starts.float()[:, None], (span - 1, 0))
    mask = F.max_pool1d(padded, span, stride=1)[:, 0] > 0
    if valid is not None:
        mask &= valid
    return mask


class BestRQ(nn.Module):
    model_type = "bestrq"

    upgrade_conf = staticmethod(upgrade_conf)  # older flat configs -> the groups (registry.build_model)

    def __init__(self, sample_rate=16000, input_sample_rate=None, causal=False, features=None, encoder=None,
                 targets=None, masking=None, teacher=None):
        """`features`: LogMelFeatures, `encoder`: TransformerConf, `targets`: ProjectionTargets, `masking`:
        SpanMasking, `teacher`: DistillationTeacher (audiotok.models.ssl_config), or their mappings from YAML."""
        super().__init__()
        features = config_group(LogMelFeatures, features, "bestrq: features")
        encoder = config_group(TransformerConf, encoder, "bestrq: encoder", ENCODER_DEFAULTS)
        targets = config_group(ProjectionTargets, targets, "bestrq: targets")
        masking = config_group(SpanMasking, masking, "bestrq: masking")
        teacher = config_group(DistillationTeacher, teacher, "bestrq: teacher")
        self.config = plain_config(locals())
        if teacher.kind not in TEACHER_KINDS:
            raise UserError(f"bestrq: teacher.kind must be one of {', '.join(TEACHER_KINDS)}, got '{teacher.kind}'")
        if teacher.kind == "whisper" and int(sample_rate) != 16000:
            raise UserError(f"bestrq: the whisper teacher hears 16 kHz; set sample_rate: 16000 (got {sample_rate})")
        if features.norm not in FEATURE_NORMS:
            raise UserError(f"bestrq: features.norm must be 'utterance' or 'global', got '{features.norm}'")
        if causal and features.norm == "utterance":
            raise UserError("bestrq: a causal encoder needs features.norm: global (utterance statistics see the future)")
        if features.stack < 1 or masking.span < 1 or not 0 < masking.prob < 1:
            raise UserError("bestrq: need features.stack >= 1, masking.span >= 1 and 0 < masking.prob < 1")
        self.causal = bool(causal)
        self.sample_rate = int(sample_rate)
        self.input_sample_rate = int(input_sample_rate or sample_rate)
        self.stack = int(features.stack)
        self.hop_length = int(features.hop_length)
        self.feature_rate = self.sample_rate / (self.hop_length * self.stack)
        self.hidden_size = int(encoder.dim)
        self.num_layers = int(encoder.n_layers)
        self.feat_norm = features.norm
        self.global_mean, self.global_std = float(features.global_mean), float(features.global_std)
        self.mask_prob, self.mask_span, self.mask_noise_std = float(masking.prob), int(masking.span), float(masking.noise_std)
        self.num_codebooks, self.codebook_size = int(targets.num_codebooks), int(targets.codebook_size)

        # zeros past the ends (not a reflection), as batch padding is: a padded utterance's
        # features then equal those of the utterance alone
        self.logmel = LogMel(self.sample_rate, features.n_fft, self.hop_length, features.n_mels, pad_mode="constant")
        in_dim = features.n_mels * self.stack
        self.quantizer = RandomProjectionQuantizer(in_dim, targets.codebook_size, targets.codebook_dim,
                                                   targets.num_codebooks, targets.seed)
        self.input_proj = nn.Linear(in_dim, encoder.dim)
        self.input_drop = nn.Dropout(encoder.dropout)
        self.encoder = encoder.build(conv_causal=bool(causal))
        self.teacher_kind = teacher.kind
        self._teacher = None  # built on the first training step: packed students never need it
        self._teacher_conf = teacher
        out_dim = teacher.dim if teacher.kind != "none" else targets.num_codebooks * targets.codebook_size
        self.head = nn.Linear(encoder.dim, out_dim)

    # ---- frontend ------------------------------------------------------------------------
    def num_frames(self, num_samples):
        """Encoder frames for `num_samples` at `sample_rate`: (T // hop + 1) // stack."""
        return self.logmel.num_frames(num_samples) // self.stack

    def features(self, wav, lengths=None):
        """wav [B,1,T] at sample_rate -> (normalised stacked log-mel [B,F,n_mels*stack], valid [B,F] bool)."""
        if lengths is not None:
            # zero the padding so its content cannot reach the valid frames' STFT windows
            keep = torch.arange(wav.shape[-1], device=wav.device)[None] < lengths.to(wav.device)[:, None]
            wav = wav * keep[:, None].to(wav.dtype)
        return self.mel_features(self.logmel(wav), lengths)

    def mel_features(self, mel, lengths=None):
        """Log-mel [B, n_mels, N] (as self.logmel gives it) -> the same (x, valid) as features().

        Lets a caller edit the spectrogram first (Duo-Tok masks a mix into stems)."""
        B, M, N = mel.shape
        F_ = N // self.stack
        if lengths is None:
            valid_mel = torch.ones(B, N, dtype=torch.bool, device=mel.device)
            valid = torch.ones(B, F_, dtype=torch.bool, device=mel.device)
        else:
            n_mel = lengths.to(mel.device) // self.hop_length + 1
            valid_mel = torch.arange(N, device=mel.device)[None] < n_mel[:, None]
            valid = torch.arange(F_, device=mel.device)[None] < (n_mel // self.stack)[:, None]
        if self.feat_norm == "utterance":
            w = valid_mel[:, None].float()
            count = w.sum(-1, keepdim=True).clamp_min(1)
            mean = (mel * w).sum(-1, keepdim=True) / count
            var = ((mel - mean).square() * w).sum(-1, keepdim=True) / count
            mel = (mel - mean) * torch.rsqrt(var + 1e-5)
        else:
            mel = (mel - self.global_mean) / self.global_std
        mel = mel * valid_mel[:, None]
        # [B, M, F*stack] -> [B, F, stack*M]: consecutive 10 ms frames side by side
        x = mel[..., : F_ * self.stack].transpose(1, 2).reshape(B, F_, self.stack * M)
        return x, valid

    def _to_model_rate(self, wav, sr):
        if sr != self.sample_rate:
            wav = torchaudio.functional.resample(wav.float(), sr, self.sample_rate)
        return wav

    def _encode(self, x, valid, padded, **kwargs):
        h = self.input_drop(self.input_proj(x))
        mask = padding_mask(valid.sum(1), x.shape[1]) if padded else None
        if self.causal:
            causal = causal_mask(x.shape[1], device=x.device)
            mask = causal if mask is None else mask & causal
        return self.encoder(h, mask=mask, valid=valid if padded else None, **kwargs)

    # ---- training ------------------------------------------------------------------------
    def forward_train(self, batch, step=0):
        """batch {"wav": [B,1,T] at the dataset rate, optional "lengths" [B] samples, optional "sample_rate"}."""
        wav = batch["wav"]
        sr = batch.get("sample_rate")
        # a collated batch may carry one rate per item; they are equal within a batch
        sr = int(torch.as_tensor(sr).flatten()[0]) if sr is not None else self.input_sample_rate
        wav = self._to_model_rate(wav, sr)
        lengths = batch.get("lengths")
        if lengths is not None and sr != self.sample_rate:
            lengths = (lengths.float() * self.sample_rate / sr).long()
        x, valid = self.features(wav, lengths)
        if self.teacher_kind != "none":
            return self._distill_forward(wav, lengths, x, valid)
        targets = self.quantizer(x)  # [B, F, K], no grad
        mask, x_in = self._masked_input(x, valid)
        h = self._encode(x_in, valid, padded=lengths is not None)
        logits = self.head(h[mask]).view(-1, self.num_codebooks, self.codebook_size)
        return {"logits": logits, "targets": targets[mask], "mask": mask, "valid": valid}

    def _masked_input(self, x, valid):
        """Span masks over the valid frames, and x with the masked frames replaced by noise."""
        mask = span_mask(x.shape[0], x.shape[1], self.mask_prob, self.mask_span, valid=valid, device=x.device)
        return mask, torch.where(mask[..., None], torch.randn_like(x) * self.mask_noise_std, x)

    def teacher(self):
        if self._teacher is None:
            from audiotok.models.whisper_teacher import WhisperTeacher

            conf = self._teacher_conf
            self._teacher = WhisperTeacher(conf.model_dir, threads=conf.threads)
            if self._teacher.dim != self.head.out_features:
                raise UserError(f"bestrq: teacher.dim is {self.head.out_features} but the Whisper model's states "
                                f"have {self._teacher.dim} channels; set model_conf.teacher.dim")
        return self._teacher

    def _distill_forward(self, wav, lengths, x, valid):
        target = self.teacher()(wav, self.feature_rate)  # [B, F', dim], no grad
        frames = min(target.shape[1], x.shape[1])
        x, valid, target = x[:, :frames], valid[:, :frames], target[:, :frames]
        mask, x_in = self._masked_input(x, valid)
        h = self._encode(x_in, valid, padded=lengths is not None)
        return {"pred": self.head(h[valid]), "teacher": target[valid], "mask": mask, "valid": valid}

    def generator_loss(self, batch, out, step=0):
        if "teacher" in out:
            return self._distill_loss(out)
        logits, targets = out["logits"].float(), out["targets"]
        loss = F.cross_entropy(logits.reshape(-1, self.codebook_size), targets.reshape(-1))
        with torch.no_grad():
            acc = (logits.argmax(-1) == targets).float().mean()
            mask, valid = out["mask"], out["valid"]
            mask_frac = mask.sum() / valid.sum().clamp_min(1)
            # distinct target ids in the batch: a collapsing quantizer shows up here first
            used = torch.unique(targets[:, 0]).numel()
        logs = {"loss": loss.item(), "acc": acc.item(), "mask_frac": mask_frac.item(), "targets_used": float(used)}
        return loss, logs

    def _distill_loss(self, out):
        from audiotok.models.whisper_teacher import normalised_targets

        pred, target = out["pred"].float(), normalised_targets(out["teacher"])
        l1 = F.l1_loss(pred, target)
        cos = F.cosine_similarity(pred, target, dim=-1).mean()
        loss = l1 + (1 - cos)
        mask_frac = out["mask"].sum() / out["valid"].sum().clamp_min(1)
        return loss, {"loss": loss.item(), "l1": l1.item(), "cos": cos.item(), "mask_frac": mask_frac.item()}

    # ---- inference -----------------------------------------------------------------------
    def extract_features(self, wav, layer=-1, lengths=None):
        """wav [B,1,T] at sample_rate -> [B, frames, hidden_size], frames = num_frames(T), at feature_rate Hz.

        layer 0 = the input of the first block, layer i = the (un-normed) output of block i,
        -1 (or num_layers) = the last block. No masking. Dropout follows the module's mode: call
        .eval() first (load_model does). Gradients follow the caller's grad mode.
        """
        layer = int(layer)
        if layer < 0:
            layer += self.num_layers + 1
        if not 0 <= layer <= self.num_layers:
            raise UserError(f"bestrq: layer must be in 0..{self.num_layers} (or negative), got {layer}")
        x, valid = self.features(wav, lengths)
        _, hidden = self._encode(x, valid, padded=lengths is not None, return_hidden_states=True, num_layers=layer)
        return hidden[layer]

    def describe(self):
        return {
            "model_type": self.model_type,
            "sample_rate": self.sample_rate,
            "feature_rate": float(self.feature_rate),
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
        }

    def save_pretrained(self, directory, meta=None, dtype=None):
        from audiotok.models.loading import save_model_dir

        return save_model_dir(self, directory, meta=meta, dtype=dtype)
