"""Tiny real models (random weights) packed into model dirs, shared by CLI, demo and recipe tests."""

import torch

from audiotok.models.dualcodec import DualCodec
from audiotok.models.loading import save_model_dir

TINY_SSL = {
    "model": "bestrq",
    "model_conf": {"encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0}, "targets": {"codebook_size": 64}},
}


def merged(cfg, kw):
    """cfg with kw on top, config groups (dicts) merged key by key."""
    return {**cfg, **{k: {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
                      for k, v in kw.items()}}


def tiny_dualcodec(seed=0, strides=(4, 5, 6, 8, 2), **kw):
    torch.manual_seed(seed)
    cfg = dict(
        ssl=TINY_SSL,
        ssl_features={"layer": 1},
        latent_dim=32,
        wave={"encoder_dim": 4, "encoder_strides": list(strides), "decoder_dim": 64, "residual_dilations": [1]},
        semantic={"dim": 32, "intermediate_dim": 64, "layers": 1, "codebook_size": 64},
        acoustic={"n_codebooks": 3, "codebook_size": 32},
        mel={"n_mels": [20, 40], "window_lengths": [256, 512]},
        semantic_mel={"n_mels": [40], "window_lengths": [512]},
        discriminator=False,
    )
    return DualCodec(**merged(cfg, kw)).eval()


def packed_tiny_dualcodec(directory, seed=0, **kw):
    """A tiny DualCodec with random weights saved as a model dir; returns the dir."""
    save_model_dir(tiny_dualcodec(seed, **kw), directory, meta={"training_data": "none (random weights, test)"})
    return directory
