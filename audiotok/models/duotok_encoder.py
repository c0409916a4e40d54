"""Duo-Tok stage 2: multi-task fine-tuning of a BEST-RQ music encoder (registry key `duotok_encoder`).

The encoder is the stage-1 BestRQ (built from `ssl` or loaded from the packed `ssl_init_dir`).
Training keeps BEST-RQ's corruption, Gaussian replacement noise: spans of the normalised stacked
log-mel input are replaced by N(0, mask_noise_std^2) (span_mask of audiotok.models.ssl), and adds
heads on the final encoder output that guard what the frames must keep ("semantic guardrails"):

    mlm     BEST-RQ's own masked prediction of the random-projection targets (CE, masked frames)
    mel     the clean (un-noised) normalised log-mel of the mix, all 10 ms frames (L1)
    chroma  12-bin chroma of the mix at the encoder rate (MSE on a sigmoid)
    sep     the vocal ratio mask P_vocals / (P_vocals + P_accompaniment) per mel bin and 10 ms frame
            (MSE weighted by the mix's compressed power), when the batch carries the stems
    ctc     lyrics as characters (CTC), optional: only when `ctc: true` and the batch has "text"
            (whole songs, `segment_seconds: null`, since a crop's words are unknown)

`freeze_schedule` [[step, n], ...] freezes the input projection and the bottom n blocks from
`step` on (progressive freezing); frozen weights get no gradient, so the optimizer skips them.

At inference `separation_mask(mel)` is what Duo-Tok's hard routing uses to split a mix into its
vocal and accompaniment parts; `hidden_from_mel(mel, layer)` gives the features of any (edited)
log-mel. The packed model is self-contained: `config` records the BestRQ architecture and
`ssl_init_dir: null`.
"""


import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiotok.config import config_group, group_flat_keys, plain_config
from audiotok.errors import UserError
from audiotok.models.base import build_inner_model
from audiotok.models.duotok_targets import CHARS, Chroma, ratio_mask, separation_loss, text_to_ids
from audiotok.models.ssl import span_mask
from audiotok.models.ssl_config import SpanMasking
from audiotok.nn.transformer import padding_mask

LOSS_WEIGHTS = {"mlm": 1.0, "mel": 1.0, "chroma": 1.0, "sep": 1.0, "ctc": 0.1}
CHROMA = {"n_fft": 4096, "fmin": 65.0, "fmax": 2100.0}


class DuoTokEncoder(nn.Module):
    model_type = "duotok_encoder"

    @staticmethod
    def upgrade_conf(conf):
        """Flat `mask_prob`/`mask_span`/`mask_noise_std` (before the groups) -> `masking`."""
        moves = {f"mask_{k}": ("masking", k) for k in ("prob", "span", "noise_std")}
        return group_flat_keys({k: v for k, v in (conf or {}).items() if k not in moves or v is not None}, moves,
                               "duotok_encoder")

    def __init__(self, ssl=None, ssl_init_dir=None, masking=None, loss_weights=None, chroma=None, freeze_schedule=None,
                 ctc=False):
        """`masking`: SpanMasking settings for fine-tuning; each one left out keeps the SSL's."""
        super().__init__()
        self.config = plain_config(locals())
        self.ssl = self._build_ssl(ssl, ssl_init_dir)
        s = self.ssl
        self.sample_rate = int(s.sample_rate)
        self.input_sample_rate = int(s.input_sample_rate)
        self.feature_rate = float(s.feature_rate)
        self.hidden_size, self.num_layers, self.stack = int(s.hidden_size), int(s.num_layers), int(s.stack)
        self.hop_length, self.n_mels = int(s.hop_length), int(s.logmel.n_mels)
        ssl_masking = {"prob": s.mask_prob, "span": s.mask_span, "noise_std": s.mask_noise_std}
        masking = config_group(SpanMasking, masking, "duotok_encoder: masking", ssl_masking)
        self.mask_prob, self.mask_span, self.mask_noise_std = float(masking.prob), int(masking.span), float(masking.noise_std)
        self.loss_weights = {**LOSS_WEIGHTS, **(loss_weights or {})}
        unknown = set(self.loss_weights) - set(LOSS_WEIGHTS)
        if unknown:
            raise UserError(f"duotok_encoder: unknown loss_weights {sorted(unknown)} (known: {sorted(LOSS_WEIGHTS)})")
        self.freeze_schedule = sorted((int(a), int(b)) for a, b in (freeze_schedule or []))
        if any(not 0 <= n <= self.num_layers for _, n in self.freeze_schedule):
            raise UserError(f"duotok_encoder: freeze_schedule layer counts must be in 0..{self.num_layers}")
        d, m = self.hidden_size, self.n_mels
        self.mel_head = nn.Linear(d, self.stack * m)
        self.chroma_head = nn.Linear(d, 12)
        self.sep_head = nn.Linear(d, self.stack * m)
        self.ctc_head = nn.Linear(d, len(CHARS) + 1) if ctc else None
        self.chroma = Chroma(self.sample_rate, hop_length=self.hop_length, pool=self.stack,
                             **{**CHROMA, **(chroma or {})})
        self.frozen_layers = 0

    def _build_ssl(self, ssl, ssl_init_dir):
        model = build_inner_model(self.config, "ssl", ssl, ssl_init_dir,
                                  "duotok_encoder: needs `ssl: {model: bestrq, model_conf: {...}}` or `ssl_init_dir`")
        if ssl_init_dir and getattr(model, "model_type", None) != "bestrq":
            raise UserError(f"{ssl_init_dir}: duotok_encoder starts from a bestrq model, found "
                            f"{getattr(model, 'model_type', None)}")
        return model

    # ---- features ------------------------------------------------------------------------
    def to_model_rate(self, wav):
        if self.input_sample_rate != self.sample_rate:
            wav = torchaudio.functional.resample(wav.float(), self.input_sample_rate, self.sample_rate)
        return wav

    def logmel(self, wav):
        """wav [B,1,T] at sample_rate -> log-power mel [B, n_mels, T // hop + 1]."""
        return self.ssl.logmel(wav)

    def num_frames(self, num_samples):
        return self.ssl.num_frames(num_samples)

    def _run(self, x, num_layers=None, valid=None):
        """Stacked features [B,F,stack*M] -> (final normed output [B,F,D], hidden states).
        `valid` [B,F] (real frames) keeps padded frames out of attention and the conv modules."""
        h = self.ssl.input_drop(self.ssl.input_proj(x))
        mask = None if valid is None else padding_mask(valid.sum(1), x.shape[1])
        return self.ssl.encoder(h, mask=mask, valid=valid, return_hidden_states=True, num_layers=num_layers)

    def hidden_from_mel(self, mel, layer=-1):
        """Log-mel [B,M,N] -> features [B, N // stack, hidden_size] of block `layer` (-1: the last)."""
        layer = int(layer)
        if layer < 0:
            layer += self.num_layers + 1
        if not 0 <= layer <= self.num_layers:
            raise UserError(f"duotok_encoder: layer must be in 0..{self.num_layers} (or negative), got {layer}")
        x, _ = self.ssl.mel_features(mel)
        return self._run(x, num_layers=layer)[1][layer]

    def extract_features(self, wav, layer=-1, lengths=None):
        """The SSL-encoder interface (as BestRQ): wav [B,1,T] -> [B, frames, hidden_size]."""
        return self.hidden_from_mel(self.logmel(wav), layer)

    def _mel_frames(self, y, n_mel_frames):
        """Per-frame head output [B,F,stack*M] -> [B, M, n_mel_frames] (last frame repeated)."""
        b, f, _ = y.shape
        z = y.reshape(b, f, self.stack, self.n_mels).reshape(b, f * self.stack, self.n_mels).transpose(1, 2)
        if z.shape[-1] < n_mel_frames:
            z = F.pad(z, (0, n_mel_frames - z.shape[-1]), mode="replicate")
        return z[..., :n_mel_frames]

    def separation_mask(self, mel):
        """Log-mel of a mix [B,M,N] -> vocal share per mel bin and frame [B,M,N] in (0, 1)."""
        x, _ = self.ssl.mel_features(mel)
        y, _ = self._run(x)
        return torch.sigmoid(self._mel_frames(self.sep_head(y).float(), mel.shape[-1]))

    def separation_inputs(self, mel):
        """Log-mel of a mix [B,M,N] -> what the separation head sees and says, at the mel frames:
        "mel" the normalised log-mel [B,M,N], "hidden" the final encoder output [B,D,N] (each 25 Hz
        frame repeated over its stacked mel frames), "logits" the head's vocal share before the sigmoid."""
        n = mel.shape[-1]
        x, _ = self.ssl.mel_features(mel)
        y, _ = self._run(x)
        hidden = y.float().repeat_interleave(self.stack, dim=1)[:, :n].transpose(1, 2)
        if hidden.shape[-1] < n:
            hidden = F.pad(hidden, (0, n - hidden.shape[-1]), mode="replicate")
        return {"mel": self._mel_frames(x.float(), n), "hidden": hidden,
                "logits": self._mel_frames(self.sep_head(y).float(), n)}

    # ---- training --------------------------------------------------------------------------
    def train(self, mode=True):
        super().train(mode)
        self.chroma.eval()
        return self

    def _apply_freezing(self, step):
        n = 0
        for start, count in self.freeze_schedule:
            if step >= start:
                n = count
        if n != self.frozen_layers:
            parts = [self.ssl.input_proj] + list(self.ssl.encoder.layers)
            for i, module in enumerate(parts):
                for p in module.parameters():
                    p.requires_grad_(i > n or n == 0)
            self.frozen_layers = n

    def forward_train(self, batch, step=0):
        if self.training and self.freeze_schedule:
            self._apply_freezing(step)
        wav = self.to_model_rate(batch["wav"])
        lengths = batch.get("lengths")
        if lengths is not None and self.input_sample_rate != self.sample_rate:
            lengths = (lengths.long() * self.sample_rate) // self.input_sample_rate
        mel = self.logmel(wav)
        # with lengths, padding is left out of the normalisation, attention, losses and CTC lengths
        x, valid = self.ssl.mel_features(mel, lengths)
        b, f, _ = x.shape
        targets = self.ssl.quantizer(x)
        mask = span_mask(b, f, self.mask_prob, self.mask_span, valid=valid, device=x.device)
        x_in = torch.where(mask[..., None], torch.randn_like(x) * self.mask_noise_std, x)
        y, _ = self._run(x_in, valid=valid if lengths is not None else None)
        out = {"x": x, "y": y, "mask": mask, "targets": targets, "mel_mix": mel, "valid": valid,
               "chroma": self.chroma(wav)[:, :f]}
        if "vocals" in batch and "accompaniment" in batch:
            lv = self.logmel(self.to_model_rate(batch["vocals"]))
            la = self.logmel(self.to_model_rate(batch["accompaniment"]))
            out["mask_target"] = ratio_mask(lv, la)[..., : f * self.stack]
        return out

    def generator_loss(self, batch, out, step=0):
        w = self.loss_weights
        y, x, mask = out["y"].float(), out["x"], out["mask"]
        logs = {}
        total = y.new_zeros(())
        if mask.any():
            logits = self.ssl.head(out["y"][mask]).float().view(-1, self.ssl.num_codebooks, self.ssl.codebook_size)
            tgt = out["targets"][mask]
            mlm = F.cross_entropy(logits.reshape(-1, self.ssl.codebook_size), tgt.reshape(-1))
            total = total + w["mlm"] * mlm
            logs["mlm"] = float(mlm.detach())
            logs["acc"] = float((logits.argmax(-1) == tgt).float().mean())
        frames = out["valid"][..., None].float()  # [B,F,1]: real frames only
        n = frames.sum().clamp_min(1)
        mel = ((self.mel_head(y) - x).abs() * frames).sum() / (n * x.shape[-1])
        err = (torch.sigmoid(self.chroma_head(y)) - out["chroma"]).pow(2)
        chroma = (err * frames).sum() / (n * err.shape[-1])
        total = total + w["mel"] * mel + w["chroma"] * chroma
        logs.update(mel=float(mel.detach()), chroma=float(chroma.detach()))
        if "mask_target" in out:
            target = out["mask_target"]
            pred = self._mel_frames(torch.sigmoid(self.sep_head(y)), target.shape[-1])
            sep = separation_loss(pred, target, out["mel_mix"])
            total = total + w["sep"] * sep
            logs["sep"] = float(sep.detach())
        if self.ctc_head is not None and "text" in batch:
            ctc = self._ctc_loss(y, batch["text"], out["valid"].sum(1))
            total = total + w["ctc"] * ctc
            logs["ctc"] = float(ctc.detach())
        logs["frozen_layers"] = float(self.frozen_layers)
        logs["loss"] = float(total.detach())
        return total, logs

    def _ctc_loss(self, y, texts, in_len):
        ids = [text_to_ids(t) for t in texts]
        targets = torch.tensor([i for seq in ids for i in seq], dtype=torch.long, device=y.device)
        logp = self.ctc_head(y).float().log_softmax(-1).transpose(0, 1)  # [F, B, V]
        in_len = in_len.to(device=y.device, dtype=torch.long)  # real frames, never the padding
        tgt_len = torch.tensor([len(s) for s in ids], dtype=torch.long, device=y.device)
        return F.ctc_loss(logp, targets, in_len, tgt_len, blank=0, zero_infinity=True)

    def describe(self):
        return {"model_type": self.model_type, "sample_rate": self.sample_rate, "feature_rate": self.feature_rate,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers}

    def save_pretrained(self, directory, meta=None):
        from audiotok.models.loading import save_model_dir

        return save_model_dir(self, directory, meta=meta)


__all__ = ["DuoTokEncoder", "LOSS_WEIGHTS"]
