"""Packed model dirs: model.safetensors + config.yaml + meta.json. No pickle anywhere."""

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from audiotok import __version__
from audiotok.config import load_config, save_config
from audiotok.errors import UserError
from audiotok.fileio import atomic_open, atomic_path
from audiotok.provenance import git_state
from audiotok.registry import build_model


def git_hash():
    """Short hash of the checkout's HEAD, with "-dirty" when tracked files other than RESULTS.md have
    uncommitted changes (models made from such a tree cannot be reproduced from the hash alone)."""
    rev, dirty = git_state()
    return "unknown" if rev is None else rev + ("-dirty" if dirty else "")


def _file_digest(path, n=12):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n]


INT8_SCALE = ".int8_scale"  # suffix of the per-row scales stored next to an int8 tensor
INT8_MIN_SIZE = 1024        # smaller tensors (and every vector: norms, biases) stay float16


def quantize_int8(v):
    """Symmetric int8 per output row (dim 0): -> (int8 tensor, float16 scales [rows, 1, ...])."""
    rows = v.float().reshape(v.shape[0], -1)
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127.0
    q = torch.round(rows / scale).clamp_(-127, 127).to(torch.int8).reshape(v.shape)
    return q, scale.reshape((v.shape[0],) + (1,) * (v.dim() - 1)).to(torch.float16)


def dequantize(state):
    """A state dict read from model.safetensors with int8 tensors turned back into float32."""
    out = {}
    for k, v in state.items():
        if k.endswith(INT8_SCALE):
            continue
        scale = state.get(k + INT8_SCALE)
        out[k] = v.float() * scale.float() if scale is not None else v
    return out


def read_weights(path):
    """{name: tensor} of a model.safetensors file, int8-stored matrices dequantized to float32."""
    try:
        return dequantize(load_file(str(path)))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise UserError(f"{path}: cannot read weights ({e})") from None


def _inference_state_dict(model, dtype=None):
    """Weights needed at inference: trainable-only parts (e.g. discriminators) are dropped.
    `dtype` (e.g. torch.float16) stores floating tensors smaller; loading casts them back.
    "int8" stores every floating matrix of at least INT8_MIN_SIZE values as int8 with one float16
    scale per row (a quarter of float32; loading dequantizes), the rest as float16."""
    drop = tuple(getattr(model, "training_only_prefixes", ("discriminator.",)))
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith(drop):
            continue
        v = v.detach().cpu()
        if dtype == "int8" and v.is_floating_point() and v.dim() >= 2 and v.numel() >= INT8_MIN_SIZE:
            v, out[k + INT8_SCALE] = quantize_int8(v)
        elif dtype is not None and v.is_floating_point():
            v = v.to(torch.float16 if dtype == "int8" else dtype)
        out[k] = v.contiguous()
    return out


def save_model_dir(model, directory, meta=None, dtype=None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"model": model.model_type, "model_conf": model.config}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(_inference_state_dict(model, dtype), str(tmp))
    save_config(config, directory / "config.yaml")
    info = {"audiotok_version": __version__, "git_hash": git_hash(), **model.describe(), **(meta or {})}
    # The id ties token files to the exact weights that made them.
    info["model_id"] = f"{model.model_type}-{_file_digest(directory / 'model.safetensors')}"
    with atomic_open(directory / "meta.json") as f:
        json.dump(info, f, indent=2)
    return directory


def load_model(path, device="cpu"):
    """Load a packed model dir; an exp dir is accepted when it holds a packed `model/` subdir."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: model dir not found")
    if not (path / "model.safetensors").is_file() and (path / "model" / "model.safetensors").is_file():
        path = path / "model"
    for name in ("model.safetensors", "config.yaml", "meta.json"):
        if not (path / name).is_file():
            raise UserError(f"{path}: not a model dir (missing {name})")
    config = load_config(path / "config.yaml")
    model = build_model(config)
    state = read_weights(path / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    drop = tuple(getattr(model, "training_only_prefixes", ("discriminator.",)))
    missing = [k for k in missing if not k.startswith(drop)]
    if missing or unexpected:
        raise UserError(
            f"{path}: weights do not match config.yaml "
            f"(missing {len(missing)}: {missing[:3]}, unexpected {len(unexpected)}: {unexpected[:3]})"
        )
    model.eval()
    model.model_dir = str(path)
    try:
        with open(path / "meta.json") as f:
            model.meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path / 'meta.json'}: cannot read ({e})") from None
    model.model_id = model.meta.get("model_id")
    return model.to(torch.device(device))
