"""audiotok: speech and music tokenizers, codecs and a unified speech LM."""

__version__ = "0.1.0"


def load_model(path, device="cpu"):
    """Load a packed model dir (model.safetensors + config.yaml + meta.json) or a recipe exp dir."""
    from audiotok.models.loading import load_model as _load

    return _load(path, device=device)


__all__ = ["__version__", "load_model"]
