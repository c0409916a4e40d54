"""UnifiedLM's settings, one small dataclass per part:

    model_conf:
      vocab: data/lang_bpe/vocab.json
      frame_rate: 25.0                      # the codec's token rate
      lm: {dim: 768, n_layers: 12, n_heads: 12, n_kv_heads: 4}   # TransformerConf
      grouping: {size: 5, mode: mean, srh_context: group, frontend: embed}   # Grouping: 25 Hz frames per LM position
      srh: {dim: 512, n_layers: 4, n_heads: 8}                   # TransformerConf of the refined head
      loss_weights: {end: 0.5}              # TaskWeights (ctc > 0: the auxiliary CTC head)
      ctc_layer: -1                         # which LM block feeds that head (-1: the last)
      speech_augment: {mask_prob: 0.0, mask_span: 5, substitute: 0.0}   # SpeechAugment of ASR rows (training)
      prompt_frames: 75
      init_from_hf: null

Configs written before the groups (flat `dim`, `group_size`, `srh_dim`, `end_weight`, ...) are
rewritten by `upgrade_conf` when a model is built, so older packed LMs and exp dirs keep loading.
"""

from dataclasses import dataclass

from audiotok.config import group_flat_keys
from audiotok.errors import UserError

LM_DEFAULTS = {"dim": 512, "n_layers": 8, "n_heads": 8}
SRH_DEFAULTS = {"dim": 256, "n_layers": 2, "n_heads": 4}


@dataclass
class Grouping:
    """How the LM reads speech: `size` codec frames per LM position (DrVoice's g: 5 turns 25 Hz tokens
    into 5 Hz positions), their embeddings joined by `mode` (mean, or concat and project); `frontend`
    says where a frame's vector comes from (`embed`: a learned embedding of its code; `codec`: the
    codec's own semantic decoder, frozen, then a learned projection: audiotok.models.ulm_frontend); the refined
    head that writes them sees one group (`srh_context: group`) or the whole 25 Hz sequence so far
    (`sequence`, as DrVoice)."""
    size: int = 5
    mode: str = "mean"
    srh_context: str = "group"
    frontend: str = "embed"  # `codec`: tokens read through the codec's frozen semantic decoder (ulm_frontend)


@dataclass
class TaskWeights:
    """Loss weight of each task head: text (ASR), speech (TTS, the refined head), the end-of-speech
    head, the acoustic (MaskGIT) stage, the ASR rows' auxiliary CTC (0: no CTC head), and the same CTC
    head on the TTS rows (`tts_ctc`: the hidden that predicts each group must spell that group's text,
    a dense signal of where in the text the speech is; needs ctc > 0), and the text pointer's head (a
    share of the TTS weight; only with `tts_pointer`)."""
    asr: float = 1.0
    tts: float = 1.0
    end: float = 0.1
    acoustic: float = 1.0
    ctc: float = 0.0
    tts_ctc: float = 0.0
    pointer: float = 1.0


@dataclass
class SpeechAugment:
    """Noise on the speech tokens of ASR rows while training, against memorising the training voices
    (SpecAugment's time masks, on tokens): each 25 Hz frame starts a masked span of `mask_span` frames
    with probability `mask_prob` (masked frames read the <mask> embedding), and each remaining frame's
    code is replaced by a random one with probability `substitute` (the token errors an unfamiliar voice
    causes). Zero everywhere (the default): no augmentation. Never applied in eval mode."""
    mask_prob: float = 0.0
    mask_span: int = 5
    substitute: float = 0.0

    def __post_init__(self):
        if not (0 <= self.mask_prob < 1 and 0 <= self.substitute < 1):
            raise UserError(f"ulm: speech_augment mask_prob and substitute must be in [0, 1), got "
                            f"{self.mask_prob} and {self.substitute}")
        if self.mask_span < 1:
            raise UserError(f"ulm: speech_augment mask_span must be >= 1, got {self.mask_span}")

    @property
    def active(self):
        return self.mask_prob > 0 or self.substitute > 0


FLAT_KEYS = {
    **{k: ("lm", k) for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "dropout", "rope_base",
                              "norm_eps", "qkv_bias", "grad_checkpoint")},
    "group_size": ("grouping", "size"),
    "srh_dim": ("srh", "dim"), "srh_layers": ("srh", "n_layers"), "srh_heads": ("srh", "n_heads"),
    "srh_kv_heads": ("srh", "n_kv_heads"), "srh_ffn_dim": ("srh", "ffn_dim"),
    "asr_weight": ("loss_weights", "asr"), "tts_weight": ("loss_weights", "tts"),
    "end_weight": ("loss_weights", "end"), "acoustic_weight": ("loss_weights", "acoustic"),
}


def upgrade_conf(conf):
    """A flat (pre-group) UnifiedLM model_conf -> the grouped one; a grouped one is returned as is."""
    conf = dict(conf or {})
    if isinstance(conf.get("grouping"), str):  # the flat key named the mode
        conf["grouping"] = {"mode": conf["grouping"]}
    if any(k in conf for k in FLAT_KEYS):
        # the flat layout's refined head shared the LM's dropout and rotary base
        conf["srh"] = {**{k: conf[k] for k in ("dropout", "rope_base") if k in conf}, **(conf.get("srh") or {})}
    return group_flat_keys(conf, FLAT_KEYS, "ulm")


__all__ = ["Grouping", "SpeechAugment", "TaskWeights", "LM_DEFAULTS", "SRH_DEFAULTS", "upgrade_conf"]
