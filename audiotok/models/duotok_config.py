"""Duo-Tok's settings, one small dataclass per part:

    model_conf:
      sample_rate: 24000
      encoder_init_dir: exp/enc/model       # the frozen stage-2 encoder (or encoder: {...}, init_dir: ...)
      train_stage: quantizer                # quantizer | separator | decoder
      layer: 7
      routing: hard                         # hard: one branch per stem | none: one mix branch (RVQ control)
      train_routing: mask
      train_targets: input                  # input | stems: what the quantizer heads rebuild
      codebooks: {kind: simvq, size: 32768, dim: 32, n_codebooks: 1, shared_map: true}   # TrackCodebooks
      branch: {dim: 512, layers: 2, intermediate_dim: 1536, pitch_band_hz: 0}           # TrackBranch
      separator: {layers: 4, dim: 192}                                                  # Separator
      decoder: {kind: flow, n_mels: 128, dim: 768, backbone: transformer}               # StemDecoder
      vocoder: {channels: 1024, rates: [8, 6, 5]}                                       # Vocoder
      vocoder_mel, discriminator, disc_start_step, loss_weights
      disc_segment_s: 0.5                   # the discriminator judges this window of each item (null: all of it)

Configs written before the groups (flat `codebook_size`, `branch_dim`, `quantizer`, ...) are rewritten
by `upgrade_conf` when a model is built, so older packed tokenizers and exp dirs keep loading.
"""

from dataclasses import dataclass, field

from audiotok.config import group_flat_keys

QUANTIZERS = ("simvq", "vq")
DECODER_KINDS = ("flow", "spectral")


@dataclass
class TrackCodebooks:
    """Each track's codebooks: `kind` simvq (frozen codes through a learned map, `shared_map` by both
    tracks) or vq; usage tracking and dead-code restarts as in every VQ."""
    kind: str = "simvq"
    size: int = 1024
    dim: int = 16
    n_codebooks: int = 1
    shared_map: bool = True
    usage_decay: float = 0.99
    dead_threshold: float = 0.01
    restarts: bool = None  # dead-code restarts (None: vq yes, simvq no, as the SimVQ paper)
    entropy_temperature: float = 0.0  # > 0: train with the soft-assignment usage loss (loss_weights.entropy)


@dataclass
class TrackBranch:
    """The ConvNeXt blocks of a track before its codebooks (None: intermediate_dim = 3 x dim);
    `pitch_band_hz` > 0: each branch also reads its track's linear spectrum below that frequency
    (audiotok.models.duotok_band: the encoder's 64 mels lose a voice's pitch)."""
    dim: int = 128
    layers: int = 1
    intermediate_dim: int = None
    pitch_band_hz: float = 0.0


@dataclass
class Separator:
    """The routing's split of a mix: `layers` 0 takes the encoder's separation head as it is; more
    refine it at the mel frame rate (audiotok.models.duotok_separator, `train_stage: separator`)."""
    layers: int = 0
    dim: int = 192
    intermediate_dim: int = None
    kernel_size: int = 7


@dataclass
class StemDecoder:
    """Tokens -> the two stems. `kind` flow: the stems' log-mels by flow matching (`steps` Euler steps,
    classifier-free `guidance`), then the Vocoder; spectral: per stem a frame-rate ConvNeXt decoder with
    an inverse-STFT head (audiotok.nn.spectral, the speech codec's), `upsample` x the token rate,
    hop = token hop / upsample, `n_fft` a multiple of that hop, `layers` fine + `coarse_layers` blocks,
    `frame_gain` a per-frame level shared by all bins."""
    kind: str = "flow"
    n_mels: int = 80
    n_fft: int = 1024
    upsample: int = 4
    mel_mean: float = -6.0
    mel_std: float = 4.0
    dim: int = 256
    layers: int = 6
    coarse_layers: int = 2
    backbone: str = "convnext"
    heads: int = 4
    intermediate_dim: int = None
    cond_dropout: float = 0.1
    steps: int = 16
    guidance: float = 1.0
    frame_gain: bool = False  # spectral: a per-frame level added to every bin (audiotok.nn.spectral)


@dataclass
class Vocoder:
    """Log-mel -> waveform (trained on `segment_frames`-frame crops)."""
    channels: int = 256
    rates: list = field(default_factory=lambda: [8, 6, 5])
    dilations: list = field(default_factory=lambda: [1, 3, 9])
    segment_frames: int = 50


FLAT_KEYS = {
    "quantizer": ("codebooks", "kind"), "codebook_size": ("codebooks", "size"), "codebook_dim": ("codebooks", "dim"),
    "n_codebooks": ("codebooks", "n_codebooks"), "shared_map": ("codebooks", "shared_map"),
    "usage_decay": ("codebooks", "usage_decay"), "dead_threshold": ("codebooks", "dead_threshold"),
    "branch_dim": ("branch", "dim"), "branch_layers": ("branch", "layers"),
    "branch_intermediate_dim": ("branch", "intermediate_dim"),
}


def upgrade_conf(conf):
    """A flat (pre-group) Duo-Tok model_conf -> the grouped one; a grouped one is returned as is."""
    return group_flat_keys(conf, FLAT_KEYS, "duotok")


__all__ = ["TrackCodebooks", "TrackBranch", "Separator", "StemDecoder", "Vocoder", "QUANTIZERS", "DECODER_KINDS",
           "upgrade_conf"]
