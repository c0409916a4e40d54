"""The models that ship inside the package, and the one place that resolves model names.

A shipped model is a packed model dir under this folder (model.safetensors, config.yaml,
meta.json, MODEL_CARD.md) whose meta.json `name` is its folder name. Short names point at the
current version of each kind, so `--model speech` keeps working when v2 replaces v1:

    speech  -> speech-12hz-v1     the 12.5 Hz DualCodec (16 kHz speech), default of encode/decode
               speech-25hz-v1     its 25 Hz twin (random-projection SSL encoder)
               speech-25hz-v2     the 25 Hz codec on an encoder distilled from Whisper tiny.en, the one
                                  the unified LM reads (no alias: LM recipes and token files name
                                  25 Hz codecs in full)
    music   -> music-v1           the Duo-Tok dual-track music tokenizer (24 kHz songs: vocals and
                                  accompaniment streams), default of the demo's music tab
    lm      -> speech-lm-v1       the unified speech LM (ASR + TTS), reading speech-25hz-v2 (named in its
                                  meta.json), default of asr, tts and the demo's ASR and TTS tabs

`resolve_model(x)` turns what a user typed into a model dir: an existing path is used as is, a
shipped name or alias gives its folder here, None gives the default of the kind. Nothing is
ever downloaded.
"""

from pathlib import Path

from audiotok.errors import UserError

HERE = Path(__file__).resolve().parent
ALIASES = {"speech": "speech-12hz-v1", "music": "music-v1", "lm": "speech-lm-v1"}
DEFAULTS = {"speech": "speech", "lm": "lm", "music": "music"}  # kind -> alias used when no --model is given


def shipped_names():
    """Names of the model dirs shipped in this install (sorted)."""
    return sorted(p.name for p in HERE.iterdir() if (p / "model.safetensors").is_file() and (p / "meta.json").is_file())


def shipped_dir(name):
    """The packed dir of a shipped name or alias, or None when this install has no such model."""
    name = ALIASES.get(name, name)
    d = HERE / name
    return d if (d / "model.safetensors").is_file() else None


def resolve_model(model=None, kind="speech"):
    """A model dir for `model` (a path, a shipped name or alias, or None for the default of `kind`)."""
    if model is None:
        alias = DEFAULTS.get(kind)
        d = shipped_dir(alias) if alias else None
        if d is None:
            raise UserError(f"no {kind} model ships with this install; pass --model DIR (a packed or exp dir)")
        return d
    model = str(model)
    path = Path(model).expanduser()
    if path.exists():
        return path
    d = shipped_dir(model)
    if d is not None:
        return d
    known = sorted({a for a in ALIASES if shipped_dir(a)} | set(shipped_names()))
    raise UserError(f"{model}: no such model dir, and not a shipped model name (shipped: {', '.join(known) or 'none'})")


__all__ = ["resolve_model", "shipped_dir", "shipped_names", "ALIASES", "DEFAULTS"]
