"""Duo-Tok: a dual-track music tokenizer (vocal and accompaniment codebooks, hard routing), stages 3-4.

    mix ─► log-mel ─► frozen fine-tuned encoder (duotok_encoder) ─► separation-mask head: m = vocal share
           per mel bin and 10 ms frame;  vocal mel = log(m · P_mix),  accompaniment mel = log((1 - m) · P_mix)
    each part ─► the same frozen encoder ─► block `layer` (25 Hz) ─► LayerNorm
    vocal features (+ low band) ─► vocal branch (1x1 conv, ConvNeXt) ─► SimVQ (frozen C_v · W)  ==> "vocals"
    accompaniment ─► accompaniment branch ──────────► SimVQ (C_a · W)               ==> "accompaniment"

Hard routing: a track's frames go only through its own branch and codebook; the two vocabularies are
disjoint (two streams, each `codebooks.n_codebooks` x `codebooks.size`). The codebooks are SimVQ as its paper
trains it (PaperSimVQ below); with `codebooks.shared_map` both share one learned linear map W (SimVQ's point: every
update moves all codes, so a codebook does not split into used and dead codes); `codebooks.restarts`
adds dead-code restarts through that map, which small data and short runs need (egs/mini_music).
At encode time only the mix exists, so the split above (the stage-2 separation head) does the routing;
`separator.layers` > 0 refines that head's split at the mel frame rate first (SeparationRefiner,
trained in its own stage, or taken from another tokenizer on the same encoder by `separator_init_dir`).
`branch.pitch_band_hz` > 0 gives each branch its track's low linear band too, split by the same share
(duotok_band: the encoder's mels lose the voice's pitch), with a head that rebuilds it from the codes.
`encode_stems()` routes known stems (e.g. from a separator model) directly. `train_routing` picks the
features the quantizers and decoder are trained on: "mask" (default: exactly the encode-time path),
"stems" (the true stems, as Duo-Tok does with pre-separated stems) or "mixed" (each training batch
takes one of the two at random; validation takes the encode-time path), so that the codes are
placed where the encode-time latents fall too and held-out songs reach all of them.
`train_targets: stems` (quantizer stage, hard routing) keeps the branch inputs of `train_routing` but
makes the feature and low-band targets the true stems' own: a vocal branch that reads the split mix,
with the chords' partials the split keeps, learns codes for the voice alone.

`routing: none` is the single-track control: the mix's features go through one branch and a plain
residual VQ (`codebooks: {kind: vq, n_codebooks: 2}`: the same bitrate as two 1-codebook tracks),
stream "mix". Both variants decode to vocals, accompaniment and their sum, so the dual-track claim
is measured by the same decoder and scorer.

Stages (one `audiotok train` run each; `train_stage` picks what is trained, the rest is frozen):
  quantizer   branches + codebooks: MSE to the encoder features (and the low band), VQ commitment/codebook
              losses, and auxiliary heads on the quantized codes: the track's normalised log-mel (L1) and
              chroma (MSE)
  separator   the separation refiner alone, with the encoder head's loss (power-weighted squared error
              of the vocal share); `init_dir` may be a tokenizer without one (its decoders are kept)
  decoder     `decoder.kind: flow`: conditional flow matching on the two stems' normalised log-mels
              given the token embeddings (FlowMelDecoder), and a mel vocoder (MelVocoder, multi-scale
              mel loss, optional GAN) trained on ground-truth stem mels;
              `decoder.kind: spectral`: per stem a frame-rate ConvNeXt decoder with an inverse-STFT head
              (SpectralStemDecoder, the speech codec's), multi-scale mel loss (optional GAN) on both
              stems; with hard routing each stem's decoder reads only its own stream.
              Tokens come from the frozen encode path in both.
Settings come in groups: audiotok.models.duotok_config.
Decoding (flow): tokens ─► embeddings ─► `decoder.steps` Euler steps of the flow (seeded) ─► stem mels ─►
vocoder; a stream that is not given (n_q below the total) is replaced by the null condition the flow
was trained with (condition dropout). Decoding (spectral): embeddings ─► each stem's decoder; a stem
whose stream is not given is silent. `track` = vocals | accompaniment | mix (= vocals + accompaniment).

Init dirs are read once at construction: `encoder_init_dir` (a packed duotok_encoder, stage 3, or a
packed duotok whose frozen encoder is taken, so a control trains on a shipped release's encoder) or
`init_dir` (a packed duotok, stage 4: encoder, branches and codebooks; its tokenizer keys must equal
this config's, but for `separator` when that stage trains it). `config` then records the encoder
architecture with both dirs null: a packed model never needs them again.
"""

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.config import config_group, plain_config
from audiotok.errors import UserError
from audiotok.models.base import TokenModel, TokenStream, build_inner_model, check_codes
from audiotok.models.duotok_config import (
    DECODER_KINDS, QUANTIZERS, Separator, StemDecoder, TrackBranch, TrackCodebooks, Vocoder, upgrade_conf,
)
from audiotok.models.duotok_band import LowBand
from audiotok.models.duotok_decoder import FlowMelDecoder, MelVocoder, SpectralStemDecoder
from audiotok.models.duotok_separator import SeparationRefiner
from audiotok.models.duotok_targets import apply_mask, ratio_mask, separation_loss
from audiotok.nn.conv import WNConv1d
from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.discriminators import Discriminator
from audiotok.nn.features import LogMel
from audiotok.nn.losses import (MultiScaleMelLoss, add_gan_generator_loss, cross_stem_leakage_loss,
                                 gan_discriminator_loss)
from audiotok.nn.quantize import ResidualVQ, SimVQ

STEMS = ("vocals", "accompaniment")
TRACKS = ("vocals", "accompaniment", "mix")
ROUTINGS = ("hard", "none")
STAGES = ("quantizer", "separator", "decoder")
TRAIN_ROUTINGS = ("mask", "stems", "mixed")
TRAIN_TARGETS = ("input", "stems")
TOKENIZER_KEYS = ("sample_rate", "layer", "routing", "codebooks", "branch", "separator")
DECODER_PREFIXES = ("flow.", "vocoder.", "stem_decoder.", "discriminator.")
LOSS_WEIGHTS = {"feat": 1.0, "band": 1.0, "commit": 0.25, "codebook": 1.0, "entropy": 0.1, "aux_mel": 1.0,
                "aux_chroma": 1.0, "flow": 1.0, "vocoder_mel": 1.0, "adv": 1.0, "fm": 2.0, "leak": 0.0}


class PaperSimVQ(SimVQ):
    """SimVQ as its paper trains it: the latent is used as it is (no LayerNorm before the lookup),
    the frozen codes are N(0, 1/d) and W starts from nn.Linear's default init.

    Measured on this recipe's encoder features (1024 codes, 16 dims, 150 steps): the LayerNorm'd
    lookup with unit-variance codes and W = I of audiotok.nn.quantize.SimVQ collapsed to 1-12 codes,
    this variant kept 130-280 in use."""

    def _init_codebook(self):
        super()._init_codebook()
        self.frozen_codebook.mul_(self.codebook_dim ** -0.5)
        self.codebook_map.reset_parameters()

    def project(self, x):
        return self.in_proj(x)


class SharedMapSimVQ(PaperSimVQ):
    """PaperSimVQ whose linear map W belongs to the caller and is shared with other codebooks.

    The map is held in a tuple, not as a submodule, so its owner saves it once."""

    def attach(self, shared_map):
        if "codebook_map" in self._modules:
            del self.codebook_map
        self._shared = (shared_map,)
        return self

    def code_vectors(self):
        return self._shared[0](self.frozen_codebook)

    def map_weight(self):
        return self._shared[0].weight


class Branch(nn.Module):
    """One track: features [B,D,F] (and its low band [B,D',F]) ─► 1x1 conv ─► ConvNeXt ─► ResidualVQ ─►
    ConvNeXt = token embedding [B,dim,F], with heads back to the features, the low band, the track's
    log-mel and its chroma."""

    def __init__(self, feat_dim, dim, layers, intermediate_dim, n_codebooks, codebook_size, codebook_dim, kind,
                 mel_dim, band_dim=0, **vq_opts):
        super().__init__()
        self.inp = WNConv1d(feat_dim + band_dim, dim, 1)
        self.pre = nn.Sequential(*[ConvNeXtBlock(dim, intermediate_dim) for _ in range(layers)])
        self.rvq = ResidualVQ(n_codebooks, dim, codebook_size, codebook_dim, quantizer_dropout=0.0, kind=kind,
                              **vq_opts)
        if kind == "simvq":
            for i in range(n_codebooks):
                self.rvq.quantizers[i] = PaperSimVQ(dim, codebook_size, codebook_dim, **vq_opts)
        self.post = nn.Sequential(*[ConvNeXtBlock(dim, intermediate_dim) for _ in range(layers)])
        self.feat_out = WNConv1d(dim, feat_dim, 1)
        self.mel_out = WNConv1d(dim, mel_dim, 1)
        self.chroma_out = WNConv1d(dim, 12, 1)
        self.band_out = WNConv1d(dim, band_dim, 1) if band_dim else None

    def forward(self, feats):
        q = self.rvq(self.pre(self.inp(feats)))
        return self.post(q["z_q"]), q

    @torch.no_grad()
    def encode(self, feats, n_codebooks=None):
        return self.rvq.encode(self.pre(self.inp(feats)), n_codebooks)

    def embed(self, codes):
        return self.post(self.rvq.decode(codes))


class DuoTok(TokenModel):
    model_type = "duotok"
    training_only_prefixes = ("discriminator.",)
    decoder_prefixes = DECODER_PREFIXES  # all else makes the tokens (audiotok pack --tokens-of)

    upgrade_conf = staticmethod(upgrade_conf)  # older flat configs -> the groups (registry.build_model)

    def __init__(self, sample_rate=24000, encoder=None, encoder_init_dir=None, init_dir=None, separator_init_dir=None,
                 train_stage="quantizer", layer=-1, routing="hard", train_routing="mask", train_targets="input",
                 codebooks=None, branch=None, separator=None,
                 decoder=None, vocoder=None, vocoder_mel=None, discriminator=False, disc_start_step=0,
                 disc_segment_s=None, loss_weights=None):
        """`codebooks`: TrackCodebooks, `branch`: TrackBranch, `separator`: Separator, `decoder`: StemDecoder,
        `vocoder`: Vocoder (audiotok.models.duotok_config), or their mappings from YAML."""
        super().__init__()
        codebooks = config_group(TrackCodebooks, codebooks, "duotok: codebooks")
        branch = config_group(TrackBranch, branch, "duotok: branch")
        separator = config_group(Separator, separator, "duotok: separator")
        decoder = config_group(StemDecoder, decoder, "duotok: decoder")
        vocoder = config_group(Vocoder, vocoder, "duotok: vocoder")
        self.config = plain_config(locals())
        for name, value, allowed in (("routing", routing, ROUTINGS), ("train_stage", train_stage, STAGES),
                                     ("train_routing", train_routing, TRAIN_ROUTINGS),
                                     ("train_targets", train_targets, TRAIN_TARGETS),
                                     ("codebooks.kind", codebooks.kind, QUANTIZERS),
                                     ("decoder.kind", decoder.kind, DECODER_KINDS)):
            if value not in allowed:
                raise UserError(f"duotok: {name} must be one of {', '.join(allowed)}, got '{value}'")
        self.routing, self.train_stage, self.train_routing = routing, train_stage, train_routing
        if train_targets == "stems" and routing != "hard":
            raise UserError("duotok: train_targets: stems needs routing: hard (the control's one track is the mix)")
        self.train_targets = train_targets
        if routing != "hard" and (separator.layers > 0 or train_stage == "separator"):
            raise UserError("duotok: a separator (separator.layers, train_stage: separator) needs routing: hard")
        self.sample_rate = int(sample_rate)
        init_state = None
        if init_dir:
            encoder, init_state = self._read_init_dir(init_dir)

        # ---- frozen encoder ----------------------------------------------------------------
        self.encoder = self._build_encoder(encoder, encoder_init_dir)
        enc = self.encoder
        if int(enc.sample_rate) != self.sample_rate:
            raise UserError(f"duotok: the encoder runs at {enc.sample_rate} Hz but sample_rate is {self.sample_rate}")
        self.frame_rate = float(enc.feature_rate)
        hop = self.sample_rate / self.frame_rate
        if abs(hop - round(hop)) > 1e-6:
            raise UserError(f"duotok: encoder frame rate {self.frame_rate} Hz does not divide {self.sample_rate} Hz")
        self.hop_length = int(round(hop))
        self.layer = int(layer)

        # ---- branches and codebooks ----------------------------------------------------------
        self.in_tracks = list(STEMS) if routing == "hard" else ["mix"]
        self.band = LowBand(enc.ssl.logmel, branch.pitch_band_hz, enc.stack) if branch.pitch_band_hz > 0 else None
        cb = codebooks
        vq_opts = {"usage_decay": cb.usage_decay, "dead_threshold": cb.dead_threshold, "restarts": cb.restarts,
                   "entropy_temperature": cb.entropy_temperature}
        self.branches = nn.ModuleDict({
            t: Branch(enc.hidden_size, branch.dim, branch.layers, branch.intermediate_dim, cb.n_codebooks, cb.size,
                      cb.dim, cb.kind, enc.stack * enc.n_mels, self.band.dim if self.band else 0, **vq_opts)
            for t in self.in_tracks
        })
        self.shared_map = None
        if cb.shared_map and cb.kind == "simvq" and len(self.in_tracks) > 1:
            self.shared_map = nn.ModuleList(nn.Linear(cb.dim, cb.dim, bias=False) for _ in range(cb.n_codebooks))
            for i, m in enumerate(self.shared_map):
                for br in self.branches.values():
                    br.rvq.quantizers[i] = SharedMapSimVQ(branch.dim, cb.size, cb.dim, **vq_opts).attach(m)
        self.streams = [TokenStream(t, int(cb.size), int(cb.n_codebooks)) for t in self.in_tracks]
        self.separator = None
        if separator.layers > 0:
            self.separator = SeparationRefiner(enc.n_mels, enc.hidden_size, separator.dim, separator.layers,
                                               separator.intermediate_dim, separator.kernel_size)
        elif train_stage == "separator":
            raise UserError("duotok: train_stage: separator needs separator.layers > 0")

        # ---- decoder: flow matching on stem mels + vocoder, or spectral decoders per stem -------
        self.dec_conf, self.voc_conf = d, v = decoder, vocoder
        self.upsample = int(d.upsample)
        if self.hop_length % self.upsample:
            raise UserError(f"duotok: decoder.upsample {self.upsample} does not divide the hop {self.hop_length}")
        self.mel_hop = self.hop_length // self.upsample
        self.flow = self.vocoder = self.stem_decoder = None
        if d.kind == "spectral":
            if d.n_fft % self.mel_hop:
                raise UserError(f"duotok: decoder.n_fft {d.n_fft} must be a multiple of the decoder hop {self.mel_hop} "
                                f"(= {self.hop_length} / upsample {self.upsample})")
            sources = {s: [s] if routing == "hard" else ["mix"] for s in STEMS}
            self.stem_decoder = SpectralStemDecoder(sources, branch.dim, self.mel_hop, d.n_fft, self.upsample, d.dim,
                                                    d.layers, d.coarse_layers, d.frame_gain)
        else:
            self.dec_mel = LogMel(self.sample_rate, d.n_fft, self.mel_hop, d.n_mels)
            self.flow = FlowMelDecoder(len(STEMS), d.n_mels, len(self.in_tracks), branch.dim, self.upsample, d.dim,
                                       d.layers, d.backbone, d.heads, d.intermediate_dim, d.cond_dropout)
            self.vocoder = MelVocoder(d.n_mels, v.channels, v.rates, v.dilations)
            if self.vocoder.hop_length != self.mel_hop:
                raise UserError(f"duotok: vocoder.rates {v.rates} give hop {self.vocoder.hop_length}, the decoder "
                                f"mels have hop {self.mel_hop} (= {self.hop_length} / upsample {self.upsample})")
        self.vocoder_loss = MultiScaleMelLoss(self.sample_rate, **(vocoder_mel or {}))
        use_disc = train_stage == "decoder" and discriminator not in (None, False)
        self.discriminator = Discriminator(self.sample_rate, **(discriminator or {})) if use_disc else None
        self.disc_start_step = int(disc_start_step)
        # the discriminator's cost grows with the audio it judges; the mel loss keeps the whole crop
        self.disc_segment = int(round(float(disc_segment_s) * self.sample_rate)) if disc_segment_s else 0
        self.loss_weights = {**LOSS_WEIGHTS, **(loss_weights or {})}
        if set(self.loss_weights) - set(LOSS_WEIGHTS):
            raise UserError(f"duotok: unknown loss_weights {sorted(set(self.loss_weights) - set(LOSS_WEIGHTS))} "
                            f"(known: {sorted(LOSS_WEIGHTS)})")
        if self.loss_weights["leak"] and self.stem_decoder is None:
            raise UserError("duotok: loss_weights.leak needs the spectral stem decoders (decoder.kind: spectral)")

        if init_state is not None:
            self._load_tokenizer(init_state, init_dir)
        if separator_init_dir:
            self._load_separator(separator_init_dir)
        self._set_trainable()

    # ---- construction helpers -----------------------------------------------------------------
    def _read_init_dir(self, init_dir):
        from audiotok.config import load_config
        from audiotok.models.loading import read_weights

        path = Path(init_dir)
        if not (path / "model.safetensors").is_file() and (path / "model" / "model.safetensors").is_file():
            path = path / "model"
        if not (path / "model.safetensors").is_file() or not (path / "config.yaml").is_file():
            raise UserError(f"{init_dir}: init_dir is not a packed duotok model dir")
        cfg = load_config(path / "config.yaml")
        if cfg.get("model") != "duotok":
            raise UserError(f"{init_dir}: init_dir holds a '{cfg.get('model')}' model, not duotok")
        conf = upgrade_conf(cfg.get("model_conf"))
        self._init_separator = _group(conf, "separator")
        for key in TOKENIZER_KEYS:
            if key == "separator" and self.train_stage == "separator":  # trained by its own stage
                continue
            if _group(conf, key) != _group(self.config, key):
                raise UserError(f"{init_dir}: was trained with {key}={conf.get(key)!r} but this config has "
                                f"{key}={self.config.get(key)!r}")
        self.config.update(init_dir=None, encoder=conf["encoder"], encoder_init_dir=None)
        return conf["encoder"], read_weights(path / "model.safetensors")

    def _load_separator(self, separator_init_dir):
        """A trained refiner from another packed duotok: its loss reads only the frozen encoder, so it
        fits any branches on the same encoder (the encoder weights must be equal)."""
        from audiotok.models.loading import load_model

        if self.separator is None:
            raise UserError("duotok: separator_init_dir needs separator.layers > 0")
        other = load_model(separator_init_dir)
        if getattr(other, "model_type", None) != "duotok" or other.separator is None:
            raise UserError(f"{separator_init_dir}: separator_init_dir is not a duotok with a separation refiner")
        if _group(other.config, "separator") != _group(self.config, "separator"):
            raise UserError(f"{separator_init_dir}: its refiner has settings {other.config['separator']}, "
                            f"this config {self.config['separator']}")
        # a float16 pack of the same encoder differs by its rounding only; another encoder by far more
        mine, theirs = self.encoder.state_dict(), other.encoder.state_dict()
        if mine.keys() != theirs.keys() or not all(
                torch.allclose(mine[k].float(), theirs[k].float(), rtol=2e-3, atol=1e-5) for k in mine):
            raise UserError(f"{separator_init_dir}: its refiner was trained on another encoder")
        self.separator.load_state_dict(other.separator.state_dict())
        self.config["separator_init_dir"] = None  # the weights are this model's own from now on

    def _build_encoder(self, encoder, encoder_init_dir):
        model = build_inner_model(self.config, "encoder", encoder, encoder_init_dir,
                                  "duotok: needs `encoder_init_dir` (a packed duotok_encoder), `init_dir` or "
                                  "`encoder: {model: duotok_encoder, model_conf: {...}}`")
        if getattr(model, "model_type", None) == "duotok":  # a packed tokenizer: its frozen stage-2 encoder
            model = model.encoder
            self.config["encoder"] = {"model": model.model_type, "model_conf": copy.deepcopy(model.config)}
        if getattr(model, "model_type", None) != "duotok_encoder":
            raise UserError(f"duotok: the encoder must be a duotok_encoder (stage 2), got {model.model_type}")
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()

    def _load_tokenizer(self, state, init_dir):
        """The tokenizer's weights from `state`; the separator stage takes the decoders too (the model it
        writes decodes as its init did) and starts a separator the init lacks."""
        left_out = ("discriminator.",) if self.train_stage == "separator" else DECODER_PREFIXES
        if self.train_stage == "separator" and self._init_separator != _group(self.config, "separator"):
            left_out += ("separator.",)  # another refiner's weights: this one starts afresh
        mine = {k: v for k, v in state.items() if not k.startswith(left_out)}
        try:
            missing, unexpected = self.load_state_dict(mine, strict=False)
        except RuntimeError as e:  # a tensor of another shape
            raise UserError(f"{init_dir}: weights do not fit this duotok config ({str(e).splitlines()[-1].strip()})")
        may_miss = DECODER_PREFIXES + (("separator.",) if self.train_stage == "separator" else ())
        missing = [k for k in missing if not k.startswith(may_miss)]
        if missing or unexpected:
            raise UserError(f"{init_dir}: weights do not fit this duotok config (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]})")

    def _set_trainable(self):
        decoder = [m for m in (self.flow, self.vocoder, self.stem_decoder) if m is not None]
        parts = {"quantizer": [self.branches] + ([self.shared_map] if self.shared_map is not None else []),
                 "separator": [self.separator], "decoder": decoder}[self.train_stage]
        for p in self.parameters():
            p.requires_grad_(False)
        for m in parts:
            for p in m.parameters():
                p.requires_grad_(True)
        if self.discriminator is not None:
            for p in self.discriminator.parameters():
                p.requires_grad_(True)

    def train(self, mode=True):
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout, ever
        if self.train_stage != "quantizer":
            self.branches.eval()  # the tokens the decoder learns from are the encode-time ones
        return self

    # ---- routing and features -------------------------------------------------------------------
    def num_frames(self, num_samples):
        return -(-int(num_samples) // self.hop_length)

    def _pad(self, wav):
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise UserError(f"duotok: expected mono audio [B,1,T], got shape {tuple(wav.shape)}")
        t = max(1, self.num_frames(wav.shape[-1]))
        return F.pad(wav.float(), (0, t * self.hop_length - wav.shape[-1])), t

    @torch.no_grad()
    def track_mels(self, wav, stems=None):
        """Padded mix [B,1,T] -> {input track: log-mel [B,M,N]}: the routing.

        hard: the separation head's vocal share m splits the mix's mel power into m·P and (1-m)·P
        (or `stems` {"vocals", "accompaniment"} give each track's mel directly); none: {"mix": mel}."""
        return self._route(wav, stems)[0]

    def _route(self, wav, stems=None):
        """track_mels, and the vocal share it split by (None when nothing was split)."""
        enc = self.encoder
        if self.routing == "none":
            return {"mix": enc.logmel(wav)}, None
        if stems is not None:
            return {t: enc.logmel(stems[t]) for t in STEMS}, None
        mel = enc.logmel(wav)
        share = self.separation_mask(mel)
        vocals, accompaniment = apply_mask(mel, share, enc.ssl.logmel.log_floor)
        return {"vocals": vocals, "accompaniment": accompaniment}, share

    @torch.no_grad()
    def track_inputs(self, wav, frames, stems=None):
        """Padded mix [B,1,T] -> {input track: what its branch reads [B, D (+ low band), frames]}: the
        routing, the encoder features and, with `branch.pitch_band_hz`, the track's low band split the
        same way (a known stem's own)."""
        mels, share = self._route(wav, stems)
        feats = self.track_features(mels, frames)
        if self.band is None:
            return feats
        if self.routing == "none":
            power = {"mix": self.band.power(wav)}
        elif stems is not None:
            power = {t: self.band.power(stems[t]) for t in STEMS}
        else:
            power = dict(zip(STEMS, self.band.split(self.band.power(wav), share)))
        return {t: torch.cat([feats[t], self.band.features(power[t], frames)], 1) for t in feats}

    def separation_mask(self, mel):
        """Log-mel of a mix [B,M,N] -> the vocal share the routing splits it by: the encoder head's,
        refined by the separator when there is one."""
        if self.separator is None:
            return self.encoder.separation_mask(mel)
        return torch.sigmoid(self.separator(**self.encoder.separation_inputs(mel)))

    @torch.no_grad()
    def track_features(self, mels, frames):
        """{track: log-mel} -> {track: LayerNorm'd encoder features [B, D, frames]} (one encoder call)."""
        names = list(mels)
        h = self.encoder.hidden_from_mel(torch.cat([mels[n] for n in names]), self.layer).float()
        h = F.layer_norm(h, h.shape[-1:]).transpose(1, 2)
        if h.shape[-1] < frames:
            h = F.pad(h, (0, frames - h.shape[-1]), mode="replicate")
        return dict(zip(names, h[..., :frames].chunk(len(names))))

    # ---- TokenModel API ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, wav, n_q=None):
        """Mix [B,1,T] -> {"vocals": [B,K,T'], "accompaniment": [B,K,T']} (routing none: {"mix": ...})."""
        streams = self.streams_for(n_q)
        wav, t = self._pad(wav)
        feats = self.track_inputs(wav, t)
        return {s.name: self.branches[s.name].encode(feats[s.name], s.n_codebooks) for s in streams}

    @torch.no_grad()
    def encode_stems(self, vocals, accompaniment, n_q=None):
        """Known stems [B,1,T] each -> tokens: each stem into its own codebook (hard routing only)."""
        if self.routing != "hard":
            raise UserError("duotok: encode_stems needs routing: hard")
        streams = self.streams_for(n_q)
        v, t = self._pad(vocals)
        a, _ = self._pad(accompaniment)
        feats = self.track_inputs(v + a, t, {"vocals": v, "accompaniment": a})
        return {s.name: self.branches[s.name].encode(feats[s.name], s.n_codebooks) for s in streams}

    def _embeddings(self, tokens):
        """{stream: codes [B,K,T]} (checked) -> {stream: token embedding [B, branch dim, T]}."""
        known = {s.name: s for s in self.streams}
        if not tokens or set(tokens) - set(known):
            raise UserError(f"duotok: decode takes the streams {', '.join(known)}, got {sorted(tokens)}")
        shapes = set()
        for name, codes in tokens.items():
            check_codes("duotok", name, codes, known[name])
            shapes.add((codes.shape[0], codes.shape[-1]))
        if len(shapes) > 1:
            raise UserError(f"duotok: the streams differ in batch size or frame count: {sorted(shapes)}")
        dev = next(self.branches.parameters()).device
        return {name: self.branches[name].embed(codes.long().to(dev)) for name, codes in tokens.items()}

    def _conditions(self, embeddings):
        """Embeddings of the given streams -> the flow's condition [B, tracks, C, T] and `present` [B, tracks]."""
        b, c, t = next(iter(embeddings.values())).shape
        dev = self.flow.null.device
        cond = torch.zeros(b, len(self.in_tracks), c, t, device=dev)
        present = torch.zeros(b, len(self.in_tracks), dtype=torch.bool, device=dev)
        for i, name in enumerate(self.in_tracks):
            if name in embeddings:
                cond[:, i] = embeddings[name]
                present[:, i] = True
        return cond, present

    def _render(self, mels, track):
        """Normalised stem mels [B, 2, M, N] -> wav [B,1,N*mel_hop] of `track`."""
        if track == "vocals":
            return self.vocoder(mels[:, 0])
        if track == "accompaniment":
            return self.vocoder(mels[:, 1])
        b = mels.shape[0]
        both = self.vocoder(torch.cat([mels[:, 0], mels[:, 1]]))  # [vocals of the batch; accompaniments]
        return both[:b] + both[b:]

    @torch.no_grad()
    def decode(self, tokens, track="mix", length=None, steps=None, guidance=None, seed=0):
        """{stream: [B,K,T]} -> wav [B,1,T*hop] of `track` (vocals | accompaniment | mix), or `length` samples."""
        if track not in TRACKS:
            raise UserError(f"duotok: track must be one of {', '.join(TRACKS)}, got '{track}'")
        embeddings = self._embeddings(tokens)
        if self.stem_decoder is not None:
            wav = self._decode_stems(embeddings, track)
            return wav[..., :length] if length is not None else wav
        cond, present = self._conditions(embeddings)
        n = cond.shape[-1] * self.upsample
        g = torch.Generator().manual_seed(int(seed))
        steps = int(steps or self.dec_conf.steps)
        guidance = float(self.dec_conf.guidance if guidance is None else guidance)
        x = self.flow.sample(cond, n, steps, guidance, present, g)
        wav = self._render(x.view(x.shape[0], len(STEMS), -1, n), track)
        return wav[..., :length] if length is not None else wav

    def _decode_stems(self, embeddings, track):
        """Spectral decoders: the stems of `track` whose streams are given; a stem whose stream is not
        given is silent (with hard routing only its own tokens could have told what it holds)."""
        wanted = list(STEMS) if track == "mix" else [track]
        wavs = self.stem_decoder(embeddings, wanted)
        some = next(iter(embeddings.values()))
        silence = some.new_zeros(some.shape[0], 1, some.shape[-1] * self.hop_length)
        return sum(wavs.get(stem, silence) for stem in wanted)

    # ---- training -----------------------------------------------------------------------------------
    def _norm_mel(self, wav, frames):
        """Decoder target: normalised log-mel [B, M, frames] of wav [B,1,T]."""
        d = self.dec_conf
        return ((self.dec_mel(wav) - d.mel_mean) / d.mel_std)[..., :frames]

    def forward_train(self, batch, step=0):
        wav, t = self._pad(batch["wav"])
        stems = {k: self._pad(batch[k])[0] for k in STEMS if k in batch}
        if len(stems) != len(STEMS) and (self.routing == "hard" or self.train_stage == "decoder"):
            raise UserError("duotok: training needs the 'vocals' and 'accompaniment' stems (dataset: music_stems)")
        if self.train_stage == "separator":
            return self._forward_separator(wav, stems)
        by_stems = self.train_routing == "stems" or (
            self.train_routing == "mixed" and self.training and bool(torch.rand(()) < 0.5))
        use_stems = stems if by_stems and self.routing == "hard" else None
        feats = self.track_inputs(wav, t, use_stems)
        if self.train_stage == "quantizer":
            clean = self.train_targets == "stems" and use_stems is None
            targets = self.track_inputs(wav, t, stems) if clean else feats
            return self._forward_quantizer(wav, stems, feats, t, targets)
        return self._forward_decoder(stems, feats, t)

    def _forward_quantizer(self, wav, stems, feats, t, targets):
        """`feats`: what each branch reads; `targets`: what its heads rebuild (the same, or the true stems')."""
        enc = self.encoder
        out, hidden = {}, enc.hidden_size  # a branch's input: encoder features, then the low band
        for name in self.in_tracks:
            audio = wav if name == "mix" else stems[name]
            with torch.no_grad():
                mel_target, _ = enc.ssl.mel_features(enc.logmel(audio))
                chroma = enc.chroma(audio)
            h, q = self.branches[name](feats[name])
            out[name] = {"h": h, "feats": targets[name][:, :hidden], "band": targets[name][:, hidden:],
                         "commit": q["commitment"], "codebook": q["codebook"], "entropy": q["entropy"],
                         "codes": q["codes"], "mel": mel_target[:, :t].transpose(1, 2),
                         "chroma": chroma[:, :t].transpose(1, 2)}
        return out

    def _forward_separator(self, wav, stems):
        enc = self.encoder
        with torch.no_grad():
            mel = enc.logmel(wav)
            inputs = enc.separation_inputs(mel)
            target = ratio_mask(enc.logmel(stems["vocals"]), enc.logmel(stems["accompaniment"]))
        return {"mask": torch.sigmoid(self.separator(**inputs)), "head_mask": torch.sigmoid(inputs["logits"]),
                "target": target, "mel": mel}

    def _forward_decoder(self, stems, feats, t):
        with torch.no_grad():  # the encode-time tokens' embeddings: the decoders' input
            emb = {n: self.branches[n].embed(self.branches[n].encode(feats[n])) for n in self.in_tracks}
        if self.stem_decoder is not None:  # both stems of every item, against the true stems
            wavs = self.stem_decoder(emb)
            n = t * self.hop_length
            return {"voc": torch.cat([wavs[s][..., :n] for s in STEMS]),
                    "voc_ref": torch.cat([stems[s][..., :n] for s in STEMS])}
        cond = torch.stack([emb[n] for n in self.in_tracks], 1)
        n = t * self.upsample
        x1 = torch.cat([self._norm_mel(stems[s], n) for s in STEMS], 1)
        flow = self.flow.loss(x1, cond)
        # the vocoder learns on a window of ground-truth mels of one stem per item (vocals or
        # accompaniment at random; alternating in validation): half the cost of both
        b, m = x1.shape[0], self.dec_conf.n_mels
        seg = min(int(self.voc_conf.segment_frames), n)
        if self.training:
            start = int(torch.randint(0, n - seg + 1, (1,)))
            vocal = torch.rand(b, device=x1.device) < 0.5
        else:
            start, vocal = (n - seg) // 2, torch.arange(b, device=x1.device) % 2 == 0
        mels = torch.where(vocal[:, None, None], x1[:, :m], x1[:, m:])[..., start:start + seg]
        ref = torch.where(vocal[:, None, None], stems["vocals"], stems["accompaniment"])
        ref = ref[..., start * self.mel_hop:(start + seg) * self.mel_hop]
        return {"flow": flow, "voc": self.vocoder(mels), "voc_ref": ref}

    def uses_discriminator(self, step):
        return self.discriminator is not None and step >= self.disc_start_step

    def generator_loss(self, batch, out, step=0):
        w = self.loss_weights
        if self.train_stage == "quantizer":
            return self._quantizer_loss(out, w)
        if self.train_stage == "separator":
            sep = separation_loss(out["mask"], out["target"], out["mel"])
            # the encoder head's own split on the same crops: what the refiner has to beat
            head = separation_loss(out["head_mask"], out["target"], out["mel"])
            return sep, {"sep": float(sep.detach()), "sep_head": float(head), "loss": float(sep.detach())}
        voc = self.vocoder_loss(out["voc"], out["voc_ref"])
        loss = w["vocoder_mel"] * voc
        logs = {"vocoder_mel": float(voc.detach())}
        if w["leak"] and self.stem_decoder is not None:  # its output: both stems of each item, vocals first
            leak = self._leak_loss(out["voc"], out["voc_ref"])
            loss = loss + w["leak"] * leak
            logs["leak"] = float(leak.detach())
        if "flow" in out:
            loss = loss + w["flow"] * out["flow"]
            logs["flow"] = float(out["flow"].detach())
        if self.uses_discriminator(step):
            loss = add_gan_generator_loss(loss, logs, self.discriminator, *self._disc_window(out), w)
        logs["loss"] = float(loss.detach())
        return loss, logs

    @staticmethod
    def _leak_loss(voc, ref):
        """Each decoded stem's energy where the other true stem is louder, relative to both true stems' energy
        (cross_stem_leakage_loss, the score's leakage bins): what keeps bass and chords out of the vocals and back."""
        b = voc.shape[0] // 2
        other = torch.cat([ref[b:], ref[:b]])  # vocals' other stem is the accompaniment, and back
        return cross_stem_leakage_loss(voc[:, 0], ref[:, 0], other[:, 0]).mean()

    def _quantizer_loss(self, out, w):
        total, logs = 0.0, {}
        sums = {"feat": 0.0, "aux_mel": 0.0, "aux_chroma": 0.0, **({"band": 0.0} if self.band else {})}
        for name in self.in_tracks:
            o, br = out[name], self.branches[name]
            losses = {"feat": F.mse_loss(br.feat_out(o["h"]), o["feats"]),
                      "aux_mel": (br.mel_out(o["h"]) - o["mel"]).abs().mean(),
                      "aux_chroma": F.mse_loss(torch.sigmoid(br.chroma_out(o["h"])), o["chroma"])}
            if self.band is not None:  # the low band back from the codes: what keeps the pitch in them
                losses["band"] = F.mse_loss(br.band_out(o["h"]), o["band"])
            total = total + (sum(w[k] * v for k, v in losses.items()) + w["commit"] * o["commit"]
                             + w["codebook"] * o["codebook"] + w["entropy"] * o["entropy"])
            for k, v in losses.items():
                sums[k] += float(v.detach()) / len(self.in_tracks)
            logs[f"feat_{name}"] = float(losses["feat"].detach())
            logs[f"usage_{name}"] = br.rvq.usage_fraction()
            if br.rvq.quantizers[0].entropy_temperature > 0:
                logs[f"entropy_{name}"] = float(o["entropy"].detach())
            logs[f"codes_used_{name}"] = float(torch.unique(o["codes"]).numel())
        logs.update(sums)
        logs["loss"] = float(total.detach())
        return total, logs

    def discriminator_loss(self, batch, out, step=0):
        return gan_discriminator_loss(self.discriminator, *self._disc_window(out))

    def _disc_window(self, out):
        """(decoded, true) audio the discriminator judges: `disc_segment_s` of every item at one offset (random
        in training, the middle in validation), drawn once per step so both GAN losses see the same window."""
        if "disc_window" not in out:
            fake, real = out["voc"], out["voc_ref"]
            n, total = self.disc_segment, fake.shape[-1]
            if n and n < total:
                start = int(torch.randint(0, total - n + 1, (1,))) if self.training else (total - n) // 2
                fake, real = fake[..., start:start + n], real[..., start:start + n]
            out["disc_window"] = (fake, real)
        return out["disc_window"]

    def on_train_step_end(self, step):
        """Restart dead codes (plain VQ always, SimVQ with `codebooks.restarts`); False when nothing changed."""
        if self.train_stage != "quantizer":
            return False
        n = sum(br.rvq.restart_dead_codes() for br in self.branches.values())
        return n if n else False

    def describe(self):
        info = super().describe()
        info.update(hop_length=self.hop_length, routing=self.routing, tracks=list(TRACKS), layer=self.layer,
                    separator_layers=self.config["separator"]["layers"],
                    encoder={"model_type": self.encoder.model_type, "feature_rate": float(self.encoder.feature_rate)})
        return info


GROUPS = {"codebooks": TrackCodebooks, "branch": TrackBranch, "separator": Separator}


def _group(conf, key):
    """A model_conf's value of a tokenizer key, a group's defaults filled in (a tokenizer from before a
    setting or a group has none)."""
    if key not in GROUPS:
        return conf.get(key)
    return config_group(GROUPS[key], conf.get(key), f"duotok: {key}")


def bitrate_note(model):
    """'2 x 25 Hz x 10 bit = 500 bps' style summary of a model's streams."""
    bits = [s.n_codebooks * math.log2(s.codebook_size) for s in model.streams]
    return (f"{len(model.streams)} stream(s) x {model.frame_rate:g} Hz, {' + '.join(f'{b:g}' for b in bits)} "
            f"bit/frame = {model.bitrate():g} bps")


__all__ = ["DuoTok", "PaperSimVQ", "SharedMapSimVQ", "Branch", "TOKENIZER_KEYS", "bitrate_note"]
