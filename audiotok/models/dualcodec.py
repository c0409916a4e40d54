"""DualCodec: a low-frame-rate speech codec whose first codebook codes frozen SSL features.

    wav ─► frozen SSL (16 kHz) ─► layer `ssl_features.layer` ─► normalise ─► pool to frame rate ─► s
    s ─► 1x1 conv ─► ConvNeXt×N ─► VQ (large, low-dim)  ==> "semantic" codes [B,1,T]
      ─► ConvNeXt×N ─► 1x1 conv ─► s_hat                  (decoded semantic latent)
    wav ─► DAC-style encoder ─► z_ac;  residual = z_ac - s_hat
    residual ─► ResidualVQ                                ==> "acoustic" codes [B,n_q-1,T]
    s_hat + Q(residual) ─► DAC-style decoder ─► tanh ─► wav

Decoding "semantic" alone gives decoder(s_hat). With n_q=1, encode returns only the
"semantic" key (a token file needs at least one codebook per stream).

Settings come in groups (dataclasses in dualcodec_config.py). SSL feature normalisation
(`ssl_features.norm`):
    running    per-channel mean/var buffers accumulated over the first `ssl_features.stats_batches`
               training batches, then frozen and saved with the weights (default)
    utterance  per-utterance, per-channel mean/var over the frames (no state)
    none       raw features
`discriminator`: kwargs of audiotok.nn.discriminators.Discriminator ({} or null = full size),
or false for none (mel-only training).
Frame count: T = ceil(len / hop); the input is right-padded to T*hop and the pooled SSL
features are cut or edge-padded to T frames, so decode() returns T*hop samples; pass
`length=` to trim.

`ssl_init_dir` (a packed SSL model dir) is read once at construction: the SSL architecture comes
from its config.yaml and the weights from its safetensors. `self.config` then records that
architecture under `ssl` with `ssl_init_dir: null`, so a packed codec (whose own safetensors
hold the SSL weights) never needs the SSL dir again.
"""

import contextlib
import copy

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiotok.config import config_group, plain_config
from audiotok.errors import UserError
from audiotok.models.base import TokenModel, TokenStream, build_inner_model, check_codes
from audiotok.models.dualcodec_config import (
    BACKBONES, SSL_NORMS, AcousticRVQ, CodebookUpkeep, CodecTraining, SemanticBranch, SSLFeatures, WaveBackbone,
    upgrade_conf,
)
from audiotok.nn.conv import WaveDecoder, WaveEncoder, WNConv1d
from audiotok.nn.content_ctc import ContentCTC
from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.discriminators import Discriminator
from audiotok.nn.losses import (
    MultiScaleMelLoss,
    add_gan_generator_loss,
    gan_discriminator_loss,
    ssl_reconstruction_loss,
)
from audiotok.nn.precision import at_least_fp32
from audiotok.nn.quantize import ResidualVQ, VectorQuantizer
from audiotok.nn.spectral import SpectralDecoder, SpectralEncoder, masked, run_masked

LOSS_WEIGHTS = {
    "mel": 15.0,
    "adv": 1.0,
    "fm": 2.0,
    "commit": 0.25,
    "codebook": 1.0,
    "ssl": 15.0,
    "semantic_commit": 0.25,
    "semantic_codebook": 1.0,
    "semantic_mel": 15.0,
    "ctc": 1.0,
}
SEMANTIC_MEL = {"n_mels": [80, 160, 320], "window_lengths": [512, 1024, 2048], "band": [0.0, 0.1], "distance": "mse"}


@contextlib.contextmanager
def _one_thread():
    """fp64 CPU kernels split into many small parallel regions; with passive OpenMP waits (set for every
    entry point) one thread is faster: 10 s of speech encoded in 0.18 s instead of 0.29 s on 2 threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class DualCodec(TokenModel):
    model_type = "dualcodec"
    # the discriminator and BEST-RQ's pre-training head and targets are never used to code audio
    training_only_prefixes = ("discriminator.", "ssl.head.", "ssl.quantizer.")

    upgrade_conf = staticmethod(upgrade_conf)  # older flat configs -> the groups (registry.build_model)

    def __init__(self, sample_rate=24000, ssl=None, ssl_init_dir=None, ssl_features=None, latent_dim=1024,
                 backbone="wave", wave=None, spectral_encoder=None, spectral_decoder=None, semantic=None,
                 acoustic=None, codebooks=None, content_ctc=None, mel=None, semantic_mel=None, loss_weights=None,
                 discriminator=None, training=None):
        """The groups (ssl_features, wave, semantic, acoustic, codebooks, training) are the dataclasses
        of audiotok.models.dualcodec_config, or their mappings from YAML."""
        super().__init__()
        ssl_features = config_group(SSLFeatures, ssl_features, "dualcodec: ssl_features")
        semantic = config_group(SemanticBranch, semantic, "dualcodec: semantic")
        acoustic = config_group(AcousticRVQ, acoustic, "dualcodec: acoustic")
        codebooks = config_group(CodebookUpkeep, codebooks, "dualcodec: codebooks")
        training = config_group(CodecTraining, training, "dualcodec: training")
        if backbone not in BACKBONES:
            raise UserError(f"dualcodec: backbone must be one of {', '.join(BACKBONES)}, got '{backbone}'")
        if backbone == "wave":
            wave = config_group(WaveBackbone, wave, "dualcodec: wave")
            if spectral_encoder is not None or spectral_decoder is not None:
                raise UserError("dualcodec: spectral_encoder/spectral_decoder configure backbone: spectral, "
                                "but backbone is wave")
        elif wave is not None:
            raise UserError(f"dualcodec: `wave` configures backbone: wave, but backbone is {backbone}")
        if ssl_features.norm not in SSL_NORMS:
            raise UserError(f"dualcodec: ssl_features.norm must be one of {', '.join(SSL_NORMS)}, "
                            f"got '{ssl_features.norm}'")
        if int(acoustic.n_codebooks) < 1:
            raise UserError(f"dualcodec: acoustic.n_codebooks must be at least 1, got {acoustic.n_codebooks}")
        self.config = plain_config(locals())
        self.sample_rate = int(sample_rate)

        # ---- frozen SSL encoder --------------------------------------------------------------
        self.ssl = build_inner_model(self.config, "ssl", ssl, ssl_init_dir,
                                     "dualcodec: needs `ssl: {model: ..., model_conf: {...}}` or `ssl_init_dir`")
        for p in self.ssl.parameters():
            p.requires_grad_(False)
        self.ssl.eval()
        self.ssl_layer = int(ssl_features.layer)
        self.ssl_norm = ssl_features.norm
        self.ssl_stats_batches = int(ssl_features.stats_batches)
        h = int(self.ssl.hidden_size)
        self.register_buffer("ssl_mean", torch.zeros(h))
        self.register_buffer("ssl_var", torch.ones(h))
        self.register_buffer("ssl_frames", torch.zeros(()))
        self.register_buffer("ssl_batches", torch.zeros(()))

        # ---- acoustic encoder / decoder ------------------------------------------------------
        self.backbone = backbone
        if backbone == "wave":  # DAC-style: per-sample strided convs (the paper's, for GPUs)
            self.encoder = WaveEncoder(wave.encoder_dim, wave.encoder_strides, latent_dim, wave.residual_dilations)
            rates = list(wave.decoder_rates) if wave.decoder_rates is not None else list(wave.encoder_strides)[::-1]
            self.decoder = WaveDecoder(latent_dim, wave.decoder_dim, rates, dilations=wave.residual_dilations)
        else:  # frame-rate ConvNeXt nets with an iSTFT head (cheap on a CPU)
            self.encoder = SpectralEncoder(self.sample_rate, latent_dim, **(spectral_encoder or {}))
            self.decoder = SpectralDecoder(latent_dim, **(spectral_decoder or {}))
        self.hop_length = self.encoder.hop_length
        if self.decoder.hop_length != self.hop_length:
            raise UserError(f"dualcodec: the decoder's hop {self.decoder.hop_length} differs from the "
                            f"encoder's {self.hop_length}")
        self.frame_rate = self.sample_rate / self.hop_length
        self.pool = float(self.ssl.feature_rate) / self.frame_rate

        # ---- semantic branch -----------------------------------------------------------------
        self.sem_in = WNConv1d(h, semantic.dim, 1)
        def convnexts():
            return nn.Sequential(
                *[ConvNeXtBlock(semantic.dim, semantic.intermediate_dim, causal=semantic.causal)
                  for _ in range(semantic.layers)]
            )

        vq_opts = {"usage_decay": codebooks.usage_decay, "dead_threshold": codebooks.dead_threshold}
        self.sem_enc = convnexts()
        self.sem_vq = VectorQuantizer(
            semantic.dim, semantic.codebook_size, semantic.codebook_dim, semantic.distance, **vq_opts
        )
        self.sem_dec = convnexts()
        self.sem_out = WNConv1d(semantic.dim, latent_dim, 1)
        # The SSL-reconstruction loss compares s_hat with s through a 1x1 head, whatever the
        # widths (an Identity when they matched made the architecture depend on the SSL model).
        self.ssl_head = WNConv1d(latent_dim, h, 1)
        # Optional supervised content objective (S3Tokenizer-like): CTC on phones, read from the
        # semantic path after its VQ, so codebook 1 alone must carry what was said.
        self.content_ctc = ContentCTC(semantic.dim, **content_ctc) if content_ctc else None
        if self.content_ctc is not None:
            self.config["content_ctc"] = self.content_ctc.config

        # ---- acoustic residual VQ ------------------------------------------------------------
        self.rvq = ResidualVQ(
            acoustic.n_codebooks, latent_dim, acoustic.codebook_size, acoustic.codebook_dim, acoustic.dropout,
            distance=acoustic.distance, **vq_opts,
        )
        self.streams = [
            TokenStream("semantic", int(semantic.codebook_size), 1),
            TokenStream("acoustic", int(acoustic.codebook_size), int(acoustic.n_codebooks)),
        ]

        # ---- training ------------------------------------------------------------------------
        self.semantic_only_prob = float(training.semantic_only_prob)
        self.passthrough_prob = float(training.passthrough_prob)
        self.quantize_warmup_steps = int(training.quantize_warmup_steps)
        self.loss_weights = {**LOSS_WEIGHTS, **(loss_weights or {})}
        unknown = set(self.loss_weights) - set(LOSS_WEIGHTS)
        if unknown:
            raise UserError(f"dualcodec: unknown loss_weights {sorted(unknown)} (known: {sorted(LOSS_WEIGHTS)})")
        self.mel_loss = MultiScaleMelLoss(self.sample_rate, **(mel or {}))
        self.semantic_mel_loss = MultiScaleMelLoss(self.sample_rate, **{**SEMANTIC_MEL, **(semantic_mel or {})})
        self.discriminator = (
            None if discriminator is False else Discriminator(self.sample_rate, **(discriminator or {}))
        )
        self.disc_start_step = int(training.disc_start_step)
        # PESQ-WB and STOI of every validation utterance (seconds of CPU per checkpoint), so a
        # long run records quality, not only losses, against its CPU hours.
        self.valid_quality = bool(training.valid_quality)

    def train(self, mode=True):
        super().train(mode)
        self.ssl.eval()  # frozen: no dropout, ever
        return self

    # ---- SSL features -------------------------------------------------------------------------
    def num_frames(self, num_samples):
        return -(-int(num_samples) // self.hop_length)

    def _pad(self, wav):
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise UserError(f"dualcodec: expected mono audio [B,1,T], got shape {tuple(wav.shape)}")
        t = self.num_frames(wav.shape[-1])
        return F.pad(wav, (0, t * self.hop_length - wav.shape[-1])), t

    def frame_mask(self, lengths, frames, device):
        """[B, frames] bool: frames holding any real sample (all True without lengths)."""
        if lengths is None:
            return None
        n = -(-lengths.to(device).long() // self.hop_length)
        return torch.arange(frames, device=device)[None] < n[:, None]

    @torch.no_grad()
    def ssl_features(self, wav, frames, update_stats=False, lengths=None):
        """Padded wav [B,1,T*hop] -> normalised SSL features pooled to [B, hidden, frames].

        `lengths` (valid samples per item) keeps padding out of the SSL's own normalisation and
        of the running statistics."""
        x = at_least_fp32(wav)
        ssl_sr = int(self.ssl.sample_rate)
        if ssl_sr != self.sample_rate:
            x = torchaudio.functional.resample(x, self.sample_rate, ssl_sr)
        ssl_lengths = None if lengths is None else (lengths.long() * ssl_sr) // self.sample_rate
        feats = self.ssl.extract_features(x, self.ssl_layer, lengths=ssl_lengths)
        feats = at_least_fp32(feats).transpose(1, 2)  # [B,H,F]
        valid = None
        if ssl_lengths is not None:
            n = torch.ceil(ssl_lengths.float() * float(self.ssl.feature_rate) / ssl_sr).long()
            valid = torch.arange(feats.shape[-1], device=feats.device)[None] < n.to(feats.device)[:, None]
        if self.ssl_norm == "running":
            if update_stats and self.ssl_batches.item() < self.ssl_stats_batches:
                self._update_stats(feats, valid)
            feats = self.running_norm(feats)
        elif self.ssl_norm == "utterance":
            w = torch.ones_like(feats[:, :1]) if valid is None else valid[:, None].float()
            count = w.sum(-1, keepdim=True).clamp_min(1)
            mean = (feats * w).sum(-1, keepdim=True) / count
            var = ((feats - mean).square() * w).sum(-1, keepdim=True) / count
            feats = (feats - mean) * torch.rsqrt(var + 1e-5)
        return self._pool(feats, frames)

    def running_norm(self, feats):
        """[B, H, F] SSL features normalised by the frozen running statistics."""
        return (feats - self.ssl_mean[:, None]) * torch.rsqrt(self.ssl_var[:, None] + 1e-5)

    def _pool(self, feats, frames):
        factor = round(self.pool)
        if abs(self.pool - factor) < 1e-6 and factor >= 1:
            if factor > 1:
                feats = F.avg_pool1d(feats, factor, factor, ceil_mode=True)
        elif feats.shape[-1] >= frames:
            feats = F.adaptive_avg_pool1d(feats, frames)
        else:
            feats = F.interpolate(feats, size=frames, mode="linear", align_corners=False)
        if feats.shape[-1] < frames:  # the SSL front-end may drop a partial last frame
            feats = F.pad(feats, (0, frames - feats.shape[-1]), mode="replicate")
        return feats[..., :frames]

    @torch.no_grad()
    def _update_stats(self, feats, valid=None):
        """Merge this batch's per-channel mean/var (valid frames only) into the running buffers (Chan et al.)."""
        x = feats.transpose(1, 2)[valid] if valid is not None else feats.transpose(1, 2).reshape(-1, feats.shape[1])
        x = x.t().double()
        if x.shape[1] == 0:
            return
        n_b = float(x.shape[1])
        mean_b, var_b = x.mean(1), x.var(1, unbiased=False)
        n_a = float(self.ssl_frames)
        mean_a, var_a = self.ssl_mean.double(), self.ssl_var.double()
        n = n_a + n_b
        delta = mean_b - mean_a
        mean = mean_a + delta * (n_b / n)
        var = (var_a * n_a + var_b * n_b + delta.pow(2) * (n_a * n_b / n)) / n
        self.ssl_mean.copy_(mean.float())
        self.ssl_var.copy_(var.float())
        self.ssl_frames.fill_(n)
        self.ssl_batches.add_(1)

    # ---- semantic branch ----------------------------------------------------------------------
    def semantic_latent(self, codes):
        """Semantic codes [B,T] -> s_hat [B,latent_dim,T]."""
        return self.sem_out(self.sem_dec(self.sem_vq.decode(codes)))

    # ---- TokenModel API -----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, wav, n_q=None):
        exact = self.exact_encoder()
        if exact is not self:
            with _one_thread():
                return exact.encode_direct(wav.to(torch.float64), n_q)
        return self.encode_direct(wav, n_q)

    @torch.no_grad()
    def encode_direct(self, wav, n_q=None):
        """Encode with this model's own weights and dtype, no float64 twin (what ONNX export traces)."""
        n_total = sum(s.n_codebooks for s in self.streams_for(n_q))
        wav, t = self._pad(wav)
        s = self.ssl_features(wav, t)
        sem = self.sem_vq.encode(self.sem_enc(self.sem_in(s)))
        tokens = {"semantic": sem[:, None]}
        if n_total > 1:
            residual = self.encoder(wav)[..., :t] - self.semantic_latent(sem)
            tokens["acoustic"] = self.rvq.encode(residual, n_total - 1)
        return tokens

    @torch.no_grad()
    def decode(self, tokens, length=None, acoustic_probs=None):
        """{"semantic": [B,1,T], optional "acoustic": [B,K,T]} -> wav [B,1,T*hop] (or `length`).
        `acoustic_probs` [B,K,T,C] (instead of acoustic codes): a distribution over each acoustic code,
        decoded as the expected latent (audiotok.nn.quantize: decode_expected)."""
        known = {s.name: s for s in self.streams}
        unknown = set(tokens) - set(known)
        if unknown or "semantic" not in tokens:
            raise UserError(f"dualcodec: decode needs 'semantic' (and optionally 'acoustic'), got {sorted(tokens)}")
        for name, codes in tokens.items():
            check_codes("dualcodec", name, codes, known[name])
        dev = self.sem_out.weight.device
        z = self.semantic_latent(tokens["semantic"][:, 0].long().to(dev))
        if "acoustic" in tokens:
            ac = tokens["acoustic"].long().to(dev)
            if ac.shape[-1] != z.shape[-1]:
                raise UserError(f"dualcodec: semantic has {z.shape[-1]} frames but acoustic {ac.shape[-1]}")
            z = z + self.rvq.decode(ac)
        elif acoustic_probs is not None:
            probs = acoustic_probs.to(dev)
            if probs.shape[2] != z.shape[-1] or probs.shape[-1] != self.rvq.quantizers[0].codebook_size:
                raise UserError(f"dualcodec: acoustic_probs {list(probs.shape)} do not fit {z.shape[-1]} frames of "
                                f"{self.rvq.quantizers[0].codebook_size} codes")
            z = z + self.rvq.decode_expected(probs)
        wav = self.decoder(z)
        return wav[..., :length] if length is not None else wav

    # ---- streaming (causal spectral configs) ----------------------------------------------------
    def exact_encoder(self):
        """The model that encodes: a float64 twin of a streamable (causal) model in inference, else self.

        A stream meets its audio in other chunks than a whole-file pass, and in fp32 the different
        rounding flipped near-tie nearest-code choices (11 of 82,978 codes on the speech test set);
        in fp64 both passes give the same codes (all of them there). Encoding costs about 2x, decoding
        stays fp32. The twin is rebuilt whenever a weight or buffer changes (tensor versions)."""
        from audiotok.models.dualcodec_stream import is_streamable

        params = self.state_dict(keep_vars=True).values()
        if self.training or self.ssl_mean.dtype == torch.float64 or not is_streamable(self):
            return self
        key = tuple((t.data_ptr(), t._version, t.device) for t in params)
        cached = self.__dict__.get("_exact")
        if cached is None or cached[0] != key:
            self.__dict__.pop("_exact", None)
            twin = copy.deepcopy(self).to(torch.float64).eval()
            twin.discriminator = None  # training only
            self.__dict__["_exact"] = cached = (key, twin)
        return cached[1]

    def stream_encoder(self, n_q=None):
        """A StreamEncoder: push PCM chunks, get the codes of a whole-file pass frame by frame."""
        from audiotok.models.dualcodec_stream import StreamEncoder

        return StreamEncoder(self, n_q)

    def stream_decoder(self):
        """A StreamDecoder: push codes, get the audio of a whole-file decode as it becomes final."""
        from audiotok.models.dualcodec_stream import StreamDecoder

        return StreamDecoder(self)

    # ---- training -----------------------------------------------------------------------------
    def forward_train(self, batch, step=0):
        wav = batch["wav"]
        n = wav.shape[-1]
        padded, t = self._pad(wav)
        lengths = batch.get("lengths")
        frames = self.frame_mask(lengths, t, wav.device)  # None = every frame real
        # the semantic path frozen (trainer.train_only) freezes the statistics that feed it too
        update = self.training and self.sem_in.training
        s = masked(self.ssl_features(padded, t, update_stats=update, lengths=lengths), frames)
        x_q, sem_codes, sem_commit, sem_cb = self.sem_vq(
            run_masked(self.sem_enc, self.sem_in(s), frames), frame_mask=frames)
        h_sem = run_masked(self.sem_dec, x_q, frames)
        s_hat = masked(self.sem_out(h_sem), frames)
        z_ac = self._encode_acoustic(padded, frames)[..., :t]
        residual = z_ac - s_hat
        q = self.rvq(residual, frame_mask=frames)
        b = wav.shape[0]
        if self.training:
            warm = step < self.quantize_warmup_steps
            passthrough = torch.rand(b, device=wav.device) < (1.0 if warm else self.passthrough_prob)
            semantic_only = torch.rand(b, device=wav.device) < self.semantic_only_prob
        else:  # validation: every sample fully quantised with all codebooks
            passthrough = semantic_only = torch.zeros(b, dtype=torch.bool, device=wav.device)
        # torch.where keeps the RVQ in the graph for every sample, so all weights get gradients.
        z_res = torch.where(passthrough[:, None, None], residual, q["z_q"])
        z_res = torch.where(semantic_only[:, None, None], torch.zeros_like(z_res), z_res)
        recon = self._decode_latent(s_hat + z_res, frames)[..., :n]
        if lengths is not None:  # padding is silence on both sides of every loss
            keep = torch.arange(n, device=wav.device)[None] < lengths.to(wav.device)[:, None]
            recon = recon * keep[:, None].to(recon.dtype)
        out = {
            "wav": wav,
            "recon": recon,
            "ssl": s,
            "s_hat": s_hat,
            "h_semantic": h_sem,
            "frames": frames,
            "n_frames": frames.sum(1) if frames is not None else torch.full((b,), t, device=wav.device),
            "semantic_codes": sem_codes,
            "acoustic_codes": q["codes"],
            "n_q": q["n_q"],
            "semantic_commit": sem_commit.mean(),
            "semantic_codebook": sem_cb.mean(),
            "commit": q["commitment"],
            "codebook": q["codebook"],
            "semantic_only": semantic_only,
            "passthrough": passthrough,
        }
        return out

    def _encode_acoustic(self, wav, frames=None):
        if self.backbone == "spectral":
            return self.encoder(wav, frames)
        return self.encoder(wav)  # the DAC-style convs see padding (full-size configs train on fixed crops)

    def _decode_latent(self, z, frames=None):
        return self.decoder(z, frames) if self.backbone == "spectral" else self.decoder(z)

    def _ssl_loss(self, out):
        pred, target = self.ssl_head(out["s_hat"]).float(), out["ssl"]
        frames = out["frames"]
        if frames is None:
            return ssl_reconstruction_loss(pred, target)
        err = (pred - target.detach()).pow(2).mean(1)  # [B,T]
        return (err * frames).sum() / frames.sum().clamp_min(1)

    @torch.no_grad()
    def _quality(self, batch, out):
        """Mean PESQ-WB and STOI of the batch's reconstructions (each item at its own length), and the STOI
        of the semantic codebook decoded alone (`stoi_semantic`: what a TTS that predicts only it can reach)."""
        from audiotok.metrics.quality import pesq_wb, stoi

        lengths = batch.get("lengths")
        semantic = self._decode_latent(out["s_hat"], out["frames"])
        scores = {"pesq": [], "stoi": [], "stoi_semantic": []}
        for i in range(out["wav"].shape[0]):
            n = int(lengths[i]) if lengths is not None else out["wav"].shape[-1]
            ref = out["wav"][i, 0, :n].float().cpu().numpy()
            for name, fn, est in (("pesq", pesq_wb, out["recon"]), ("stoi", stoi, out["recon"]),
                                  ("stoi_semantic", stoi, semantic)):
                v = fn(ref, est[i, 0, :n].float().cpu().numpy(), self.sample_rate)
                if v is not None and v == v:
                    scores[name].append(float(v))
        return {k: sum(v) / len(v) for k, v in scores.items() if v}

    def uses_discriminator(self, step):
        return self.discriminator is not None and step >= self.disc_start_step

    def generator_loss(self, batch, out, step=0):
        w = self.loss_weights
        wav, recon = out["wav"], out["recon"]
        lengths = batch.get("lengths")
        mel = self.mel_loss(recon, wav, lengths=lengths)
        ssl_mse = self._ssl_loss(out)
        loss = (
            w["mel"] * mel
            + w["ssl"] * ssl_mse
            + w["commit"] * out["commit"]
            + w["codebook"] * out["codebook"]
            + w["semantic_commit"] * out["semantic_commit"]
            + w["semantic_codebook"] * out["semantic_codebook"]
        )
        logs = {k: float(v.detach()) for k, v in (("mel", mel), ("ssl_mse", ssl_mse), ("commit", out["commit"]),
                ("codebook", out["codebook"]), ("semantic_commit", out["semantic_commit"]))}
        if self.content_ctc is not None:
            ctc, n_ctc = self.content_ctc.loss(out["h_semantic"], out["n_frames"], batch.get("phones") or [])
            if n_ctc:
                loss = loss + w["ctc"] * ctc
                logs["ctc"] = float(ctc.detach())
            if not self.training and batch.get("phones"):
                from audiotok.nn.content_ctc import phone_error_rate

                per = phone_error_rate(self.content_ctc.greedy(out["h_semantic"], out["n_frames"]), batch["phones"])
                if per is not None:
                    logs["per"] = per
        sem_only = out["semantic_only"]
        if bool(sem_only.any()):
            # Only the semantic-only samples, averaged over the batch (p * loss in expectation).
            low = self.semantic_mel_loss(recon[sem_only], wav[sem_only], reduction="none",
                                         lengths=None if lengths is None else lengths[sem_only]).sum() / wav.shape[0]
            loss = loss + w["semantic_mel"] * low
            logs["semantic_mel"] = float(low.detach())
        if self.uses_discriminator(step):
            loss = add_gan_generator_loss(loss, logs, self.discriminator, recon, wav, w)
        if self.valid_quality and not self.training:
            logs.update(self._quality(batch, out))
        logs["usage_semantic"] = self.sem_vq.usage_fraction()
        logs["usage_acoustic"] = self.rvq.usage_fraction()
        logs["loss"] = float(loss.detach())
        return loss, logs

    def discriminator_loss(self, batch, out, step=0):
        return gan_discriminator_loss(self.discriminator, out["recon"], out["wav"])

    def on_train_step_end(self, step):
        """Restart dead codes; returns the number restarted (False when none, for the trainer)."""
        n = self.sem_vq.restart_dead_codes() + self.rvq.restart_dead_codes()
        return n if n else False

    def describe(self):
        info = super().describe()
        info["hop_length"] = self.hop_length
        info["ssl"] = {"model_type": getattr(self.ssl, "model_type", None), "layer": self.ssl_layer,
                       "feature_rate": float(self.ssl.feature_rate)}
        return info


__all__ = ["DualCodec", "LOSS_WEIGHTS"]
