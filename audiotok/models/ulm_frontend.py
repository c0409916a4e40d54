"""The unified LM's codec front end: semantic tokens read through the codec's own semantic decoder.

Learned from scratch, a 4096-entry embedding table gives the LM no hint that two codes sound alike;
the codec's semantic decoder (codebook lookup, then a causal ConvNeXt stack at the token rate) already
maps codes to features that its phone CTC head reads. The content probe on the 25 Hz tokens of
mini_synth measured the difference (egs/mini_synth/lm1/RESULTS.md, "Content probe"): read through
these features, 5 Hz groups reach 53 % character error rate in 0.8 CPU minutes; with learned
embeddings they are still at 82 % after 2.5. The decoder is copied from the codec's files once (`read_codec_semantic_decoder`:
config.yaml and the semantic tensors, without building the codec), stays frozen and
rides in the LM's weights, so a packed LM needs no codec to build; only a projection to the LM width
trains.

The content probe reads tokens through the same module. For the LM the stack must be causal (the LM
refuses another), so frame t depends on the `context` frames before it and none after: generating
speech group by group, the LM recomputes a new group's features from that many frames of history
(`last_features`), which gives exactly the features training saw.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from audiotok.config import config_group
from audiotok.errors import UserError
from audiotok.models.dualcodec_config import SemanticBranch
from audiotok.nn.convnext import ConvNeXtBlock
from audiotok.nn.quantize import VectorQuantizer


@dataclass
class CodecSemanticDecoder(SemanticBranch):
    """The architecture of a DualCodec's semantic decoder: its `semantic` config group and the
    ConvNeXt kernel width (read off the weights)."""
    kernel_size: int = 7


class CodecFrontend(nn.Module):
    def __init__(self, dim, decoder):
        """`dim`: the LM width; `decoder`: CodecSemanticDecoder (or its mapping)."""
        super().__init__()
        arch = config_group(CodecSemanticDecoder, decoder, "ulm: speech_frontend")
        self.arch = asdict(arch)
        self.vq = VectorQuantizer(arch.dim, arch.codebook_size, arch.codebook_dim, arch.distance)
        self.dec = nn.Sequential(*[ConvNeXtBlock(arch.dim, arch.intermediate_dim, arch.kernel_size, causal=arch.causal)
                                   for _ in range(arch.layers)])
        self.proj = nn.Linear(arch.dim, int(dim))
        # frames of history a frame's features depend on (causal stacks: `last_features` is exact)
        self.context = arch.layers * (arch.kernel_size - 1)
        for m in (self.vq, self.dec):
            m.requires_grad_(False)

    def load_codec_weights(self, tensors):
        """The codec's `sem_vq.*` and `sem_dec.*` tensors (a DualCodec state dict) -> the frozen parts."""
        for part, prefix in ((self.vq, "sem_vq."), (self.dec, "sem_dec.")):
            part.load_state_dict({k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)})

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


def read_codec_semantic_decoder(codec_dir):
    """-> (CodecSemanticDecoder mapping, {name: tensor} of its weights) of the DualCodec in `codec_dir` (a
    packed model dir, or an exp dir holding model/). Only config.yaml and the semantic decoder's tensors
    of model.safetensors are read: the codec itself is never built (nor its audio stack imported)."""
    from pathlib import Path

    from safetensors import safe_open

    from audiotok.config import load_config
    from audiotok.models.loading import dequantize

    path = Path(codec_dir)
    if not (path / "model.safetensors").is_file() and (path / "model" / "model.safetensors").is_file():
        path = path / "model"
    for name in ("config.yaml", "model.safetensors"):
        if not (path / name).is_file():
            raise UserError(f"{path}: not a codec model dir (missing {name})")
    config = load_config(path / "config.yaml")
    if config.get("model") != "dualcodec":
        raise UserError(f"{path}: the codec front end reads a DualCodec, this is '{config.get('model')}'")
    keys = CodecSemanticDecoder.__dataclass_fields__
    arch = {k: v for k, v in ((config.get("model_conf") or {}).get("semantic") or {}).items() if k in keys}
    try:
        with safe_open(str(path / "model.safetensors"), "pt") as f:
            tensors = dequantize({k: f.get_tensor(k) for k in f.keys() if k.startswith(("sem_vq.", "sem_dec."))})
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise UserError(f"{path / 'model.safetensors'}: cannot read weights ({e})") from None
    if "sem_dec.0.dwconv.weight" not in tensors:
        raise UserError(f"{path / 'model.safetensors'}: has no semantic decoder (sem_dec.*)")
    arch["kernel_size"] = int(tensors["sem_dec.0.dwconv.weight"].shape[-1])
    return arch, tensors


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
    arch, tensors = read_codec_semantic_decoder(codec_dir)
    front = CodecFrontend(dim, arch)
    front.load_codec_weights(tensors)
    return front, front.arch


__all__ = ["CodecFrontend", "CodecSemanticDecoder", "build_codec_frontend", "read_codec_semantic_decoder"]
