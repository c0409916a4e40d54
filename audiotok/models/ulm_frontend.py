"""The unified LM's codec front end: semantic tokens read through the codec's own semantic decoder.

Learned from scratch, a 4096-entry embedding table gives the LM no hint that two codes sound alike;
the codec's semantic decoder (codebook lookup, then a causal ConvNeXt stack at the token rate) already
maps codes to features that its phone CTC head reads. The content probe on the 25 Hz tokens of
mini_synth measured the difference (egs/mini_synth/lm1/RESULTS.md, "content probe"): read through
these features, 5 Hz groups reach a lower character error rate in one CPU minute than learned
embeddings do in five. The decoder is copied from the codec once (`from_codec`), stays frozen and
rides in the LM's weights, so a packed LM needs no codec to build; only a projection to the LM width
trains.

The stack is causal, so frame t depends on the `context` frames before it and none after: generating
speech group by group, the LM recomputes a new group's features from that many frames of history
(`features(seq, last)`), which gives exactly the features training saw.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from audiotok.config import config_group
from audiotok.errors import UserError
from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.quantize import VectorQuantizer


@dataclass
class CodecSemanticDecoder:
    """The architecture of a DualCodec's semantic decoder (its `semantic` config group)."""
    dim: int = 768
    intermediate_dim: int = 2048
    layers: int = 4
    causal: bool = True
    codebook_size: int = 16384
    codebook_dim: int = 8
    distance: str = "euclidean"
    kernel_size: int = 7


class CodecFrontend(nn.Module):
    def __init__(self, dim, decoder):
        """`dim`: the LM width; `decoder`: CodecSemanticDecoder (or its mapping)."""
        super().__init__()
        arch = config_group(CodecSemanticDecoder, decoder, "ulm: speech_frontend")
        if not arch.causal:
            raise UserError("ulm: the codec front end needs a causal codec (a centred semantic decoder looks ahead, "
                            "which speech generated group by group cannot give it)")
        self.arch = asdict(arch)
        self.vq = VectorQuantizer(arch.dim, arch.codebook_size, arch.codebook_dim, arch.distance)
        self.dec = nn.Sequential(*[ConvNeXtBlock(arch.dim, arch.intermediate_dim, arch.kernel_size, causal=True)
                                   for _ in range(arch.layers)])
        self.proj = nn.Linear(arch.dim, int(dim))
        self.context = arch.layers * (arch.kernel_size - 1)  # frames of history a frame's features depend on
        for m in (self.vq, self.dec):
            m.requires_grad_(False)

    @staticmethod
    def architecture(codec):
        """The CodecSemanticDecoder mapping of a DualCodec."""
        sem = dict(codec.config.get("semantic") or {})
        if not hasattr(codec, "sem_vq") or not sem:
            raise UserError(f"ulm: the codec front end needs a DualCodec (got '{getattr(codec, 'model_type', '?')}')")
        keys = CodecSemanticDecoder.__dataclass_fields__
        return {**{k: v for k, v in sem.items() if k in keys}, "kernel_size": codec.sem_dec[0].dwconv.kernel_size[0]}

    def copy_from(self, codec):
        self.vq.load_state_dict(codec.sem_vq.state_dict())
        self.dec.load_state_dict(codec.sem_dec.state_dict())

    def train(self, mode=True):
        super().train(mode)
        self.vq.eval()  # frozen: never the training-mode codebook updates
        self.dec.eval()
        return self

    def forward(self, codes):
        """Semantic codes [B,T] (0 .. codebook_size-1) -> LM-width features [B,T,dim]."""
        with torch.no_grad():
            feats = self.dec(self.vq.decode(codes))
        return self.proj(feats.transpose(1, 2).to(self.proj.weight.dtype))

    def last_features(self, seqs, n):
        """The features of the last n frames of each 1-D code sequence in `seqs` -> [B,n,dim], computed
        from the `context` frames before them (the features a whole-sequence pass gives)."""
        rows = [self(s[-(n + self.context):][None].to(self.proj.weight.device))[0, -n:] for s in seqs]
        return torch.stack(rows)


def build_codec_frontend(dim, speech_frontend=None, codec_dir=None):
    """-> (CodecFrontend, its architecture mapping for config.yaml). From `speech_frontend` (a packed
    LM's stored architecture; weights come with the LM) or, at the start of training, from the codec
    in `codec_dir` (architecture and weights copied)."""
    if speech_frontend:
        front = CodecFrontend(dim, speech_frontend)
        return front, front.arch
    if not codec_dir:
        raise UserError("ulm: grouping.frontend 'codec' needs the codec: model_conf.codec_dir (the LM recipe "
                        "passes its codec)")
    from audiotok.models.loading import load_model

    codec = load_model(codec_dir)
    front = CodecFrontend(dim, CodecFrontend.architecture(codec))
    front.copy_from(codec)
    return front, front.arch


__all__ = ["CodecFrontend", "CodecSemanticDecoder", "build_codec_frontend"]
