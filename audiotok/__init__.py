"""audiotok: speech and music tokenizers, codecs and a unified speech LM."""

__version__ = "0.1.0"


def load_model(path=None, device="cpu"):
    """Load a model: a packed model dir (model.safetensors + config.yaml + meta.json), a recipe exp
    dir, a shipped model name ("speech" = "speech-12hz-v1"), or None for the shipped speech codec."""
    from audiotok.models.loading import load_model as _load
    from audiotok.pretrained import resolve_model

    return _load(resolve_model(path), device=device)


__all__ = ["__version__", "load_model"]
