"""The interface shared by every codec and tokenizer: named token streams in, audio out."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class TokenStream:
    """One named stream of codes: `n_codebooks` parallel codebooks of `codebook_size` entries."""

    name: str
    codebook_size: int
    n_codebooks: int = 1

    @property
    def bits_per_code(self):
        """Bits one code takes in a token file: ceil(log2(codebook_size)) (0 for one entry)."""
        return (int(self.codebook_size) - 1).bit_length()

    def to_dict(self):
        return asdict(self)


class TokenModel(nn.Module):
    """Base class of codecs and tokenizers.

    Subclasses set `sample_rate`, `frame_rate` and `streams` (ordered: the first codebooks
    matter most, so `n_q` keeps a prefix across streams), and implement
    `encode(wav[B,1,T], n_q=None) -> {stream: LongTensor[B,K,T']}` and `decode(tokens) -> wav[B,1,T]`.
    `model_type` is the registry key; `config` the resolved `model_conf` that rebuilds it.
    """

    model_type = None
    sample_rate: int
    frame_rate: float
    streams: list

    @property
    def total_codebooks(self):
        return sum(s.n_codebooks for s in self.streams)

    def streams_for(self, n_q=None):
        """The streams (possibly truncated) that `n_q` codebooks cover, in priority order."""
        n_q = self.total_codebooks if n_q is None else int(n_q)
        if not 1 <= n_q <= self.total_codebooks:
            from audiotok.errors import UserError

            raise UserError(f"n_q must be between 1 and {self.total_codebooks}, got {n_q}")
        out, left = [], n_q
        for s in self.streams:
            k = min(left, s.n_codebooks)
            if k > 0:
                out.append(TokenStream(s.name, s.codebook_size, k))
            left -= k
        return out

    def code_rate(self, n_q=None):
        """The code rate in bits per second at `n_q` codebooks (all when None): frame rate x the
        bits the codes take packed in a token file, ceil(log2(codebook_size)) each. A whole
        .atok adds its header and block framing on top (its file rate, `audiotok info`)."""
        return self.frame_rate * sum(s.bits_per_code * s.n_codebooks for s in self.streams_for(n_q))

    # one idea, one number: `bitrate` is the code rate (older callers use this name)
    bitrate = code_rate

    def n_q_for_kbps(self, kbps):
        """The largest n_q whose code rate does not exceed `kbps` (at least 1)."""
        best = 1
        for n in range(1, self.total_codebooks + 1):
            if self.code_rate(n) <= kbps * 1000 + 1e-6:
                best = n
        return best

    def tokens_per_second(self, n_q=None):
        """Codes per second of frames at `n_q` codebooks."""
        return self.frame_rate * sum(s.n_codebooks for s in self.streams_for(n_q))

    def encode(self, wav, n_q=None):
        raise NotImplementedError

    def decode(self, tokens, **kwargs):
        raise NotImplementedError

    def describe(self):
        """What a token file header and meta.json record about this model."""
        return {
            "model_type": self.model_type,
            "sample_rate": int(self.sample_rate),
            "frame_rate": float(self.frame_rate),
            "streams": [s.to_dict() for s in self.streams],
        }

    # ---- packed model dirs -------------------------------------------------------------
    def save_pretrained(self, directory, meta=None, dtype=None):
        from audiotok.models.loading import save_model_dir

        return save_model_dir(self, directory, meta=meta, dtype=dtype)

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        from audiotok.models.loading import load_model

        model = load_model(directory, device=device)
        if not isinstance(model, cls):
            from audiotok.errors import UserError

            raise UserError(f"{directory}: holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def read_meta(directory):
    with open(Path(directory) / "meta.json") as f:
        return json.load(f)


@torch.no_grad()
def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


# ---- helpers shared by the models -----------------------------------------------------------
def check_codes(owner, name, codes, stream):
    """Raise a UserError (prefixed `owner`) unless `codes` are a [B,K,T] tensor with 1..n_codebooks
    codebooks of `stream` and every code within its codebook."""
    from audiotok.errors import UserError

    if not torch.is_tensor(codes) or codes.dim() != 3:
        raise UserError(f"{owner}: '{name}' tokens must be a tensor [B,K,T]")
    if not 1 <= codes.shape[1] <= stream.n_codebooks:
        raise UserError(f"{owner}: '{name}' has {codes.shape[1]} codebooks, expected 1..{stream.n_codebooks}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= stream.codebook_size):
        raise UserError(f"{owner}: '{name}' codes out of range 0..{stream.codebook_size - 1}")


def build_inner_model(config, key, conf, init_dir, missing):
    """The model a model is built around (an SSL encoder, ...): loaded from the packed dir `init_dir`,
    else built from `conf` ({model: ..., model_conf: {...}}); `missing` is the error without either.

    A loaded model's architecture is written into the outer `config[key]` and `config[key + "_init_dir"]`
    set to null, so the outer model, once packed with its weights, never needs that dir again."""
    import copy

    from audiotok.errors import UserError
    from audiotok.registry import build_model

    if init_dir:
        from audiotok.models.loading import load_model

        model = load_model(init_dir)
        config[key] = {"model": model.model_type, "model_conf": copy.deepcopy(model.config)}
        config[f"{key}_init_dir"] = None
        return model
    if not conf or "model" not in conf:
        raise UserError(missing)
    model = build_model(conf)
    config[key] = {"model": conf["model"], "model_conf": copy.deepcopy(model.config)}  # in the current layout
    return model
