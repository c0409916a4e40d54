"""DualCodec's settings, one small dataclass per part of the model, so a config reads part by part:

    model_conf:
      sample_rate: 16000
      ssl: {model: bestrq, model_conf: {...}}      # or ssl_init_dir: a packed SSL model
      ssl_features: {layer: -1, norm: running}     # SSLFeatures: what codebook 1 quantizes
      latent_dim: 256
      backbone: spectral                           # spectral_encoder / spectral_decoder, or wave: {...}
      semantic: {dim: 256, layers: 2, codebook_size: 4096}     # SemanticBranch
      acoustic: {n_codebooks: 6, codebook_size: 1024}          # AcousticRVQ
      codebooks: {usage_decay: 0.99}               # CodebookUpkeep, every VQ
      training: {semantic_only_prob: 0.1}          # CodecTraining
      mel, semantic_mel, loss_weights, discriminator, content_ctc: the losses and heads

Configs written before the groups (flat keys such as `semantic_dim`, `n_acoustic`) are rewritten
by `upgrade_conf` when a model is built, so older packed models and exp dirs keep loading.
"""

from dataclasses import dataclass

from audiotok.config import group_flat_keys

SSL_NORMS = ("running", "utterance", "none")
BACKBONES = ("wave", "spectral")


@dataclass
class SSLFeatures:
    """How the frozen SSL encoder's output becomes codebook 1's input. `norm`: running (per-channel
    mean/var over the first `stats_batches` training batches, then frozen and saved with the
    weights), utterance (per utterance, no state) or none."""
    layer: int = -1
    norm: str = "running"
    stats_batches: int = 200


@dataclass
class WaveBackbone:
    """The DAC-style per-sample convolution backbone of the paper (for GPUs)."""
    encoder_dim: int = 32
    encoder_strides: tuple = (4, 5, 6, 8, 2)
    decoder_dim: int = 1536
    decoder_rates: tuple = None  # default: the encoder strides reversed
    residual_dilations: tuple = (1, 3, 9)


@dataclass
class SemanticBranch:
    """Codebook 1: ConvNeXt blocks around one large, low-dimensional VQ of the SSL features."""
    dim: int = 768
    intermediate_dim: int = 2048
    layers: int = 4
    causal: bool = True
    codebook_size: int = 16384
    codebook_dim: int = 8
    distance: str = "euclidean"


@dataclass
class AcousticRVQ:
    """Codebooks 2..N: a residual VQ of what the semantic latent leaves out. `dropout`: the share of
    training samples that use a random number of its codebooks."""
    n_codebooks: int = 7
    codebook_size: int = 4096
    codebook_dim: int = 8
    distance: str = "euclidean"
    dropout: float = 1.0


@dataclass
class CodebookUpkeep:
    """Usage tracking and dead-code restarts of every VQ."""
    usage_decay: float = 0.99
    dead_threshold: float = 0.01


@dataclass
class CodecTraining:
    """What training does beyond the losses: the share of samples decoded from codebook 1 alone,
    of samples that skip quantization (all of them for the first `quantize_warmup_steps`), when
    the discriminator starts, and whether validation measures PESQ-WB and STOI."""
    semantic_only_prob: float = 0.125
    passthrough_prob: float = 0.0
    quantize_warmup_steps: int = 0
    disc_start_step: int = 0
    valid_quality: bool = False


FLAT_KEYS = {
    "ssl_layer": ("ssl_features", "layer"), "ssl_norm": ("ssl_features", "norm"),
    "ssl_stats_batches": ("ssl_features", "stats_batches"),
    "encoder_dim": ("wave", "encoder_dim"), "encoder_strides": ("wave", "encoder_strides"),
    "decoder_dim": ("wave", "decoder_dim"), "decoder_rates": ("wave", "decoder_rates"),
    "residual_dilations": ("wave", "residual_dilations"),
    "semantic_dim": ("semantic", "dim"), "semantic_intermediate_dim": ("semantic", "intermediate_dim"),
    "semantic_layers": ("semantic", "layers"), "semantic_causal": ("semantic", "causal"),
    "semantic_codebook_size": ("semantic", "codebook_size"), "semantic_codebook_dim": ("semantic", "codebook_dim"),
    "semantic_distance": ("semantic", "distance"),
    "n_acoustic": ("acoustic", "n_codebooks"), "acoustic_codebook_size": ("acoustic", "codebook_size"),
    "acoustic_codebook_dim": ("acoustic", "codebook_dim"), "acoustic_distance": ("acoustic", "distance"),
    "quantizer_dropout": ("acoustic", "dropout"),
    "usage_decay": ("codebooks", "usage_decay"), "dead_threshold": ("codebooks", "dead_threshold"),
    "semantic_only_prob": ("training", "semantic_only_prob"), "passthrough_prob": ("training", "passthrough_prob"),
    "quantize_warmup_steps": ("training", "quantize_warmup_steps"),
    "disc_start_step": ("training", "disc_start_step"), "valid_quality": ("training", "valid_quality"),
}
WAVE_FLAT_KEYS = [k for k, (group, _) in FLAT_KEYS.items() if group == "wave"]


def upgrade_conf(conf):
    """A flat (pre-group) DualCodec model_conf -> the grouped one; a grouped one is returned as is."""
    conf = dict(conf or {})
    if conf.get("backbone", "wave") != "wave":
        for key in WAVE_FLAT_KEYS:  # flat dumps listed them for every backbone; only wave read them
            conf.pop(key, None)
    return group_flat_keys(conf, FLAT_KEYS, "dualcodec")


__all__ = ["SSLFeatures", "WaveBackbone", "SemanticBranch", "AcousticRVQ", "CodebookUpkeep", "CodecTraining",
           "SSL_NORMS", "BACKBONES", "upgrade_conf"]
