"""Name -> class registries for models and datasets, imported lazily so `audiotok --help` stays fast."""

import importlib

from audiotok.errors import UserError

MODELS = {
    "bestrq": "audiotok.models.ssl:BestRQ",
    "hf_ssl": "audiotok.models.ssl_hf:HFSSLEncoder",
    "dualcodec": "audiotok.models.dualcodec:DualCodec",
    "duotok": "audiotok.models.duotok:DuoTok",
    "duotok_encoder": "audiotok.models.duotok_encoder:DuoTokEncoder",
    "ulm": "audiotok.models.ulm:UnifiedLM",
}

DATASETS = {
    "audio_segments": "audiotok.data.datasets:AudioSegmentDataset",
    "lm_tokens": "audiotok.data.lm_dataset:LMTokenDataset",
    "music_stems": "audiotok.data.stem_dataset:MusicStemDataset",
    "utterances": "audiotok.data.utterance_dataset:UtteranceDataset",
}


def _resolve(table, kind, name):
    if name not in table:
        raise UserError(f"unknown {kind} '{name}' (known: {', '.join(sorted(table))})")
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def model_class(name):
    return _resolve(MODELS, "model", name)


def dataset_class(name):
    return _resolve(DATASETS, "dataset", name)


def build_model(config):
    """Build from a resolved config dict with `model` and `model_conf`."""
    cls = model_class(config["model"])
    return cls(**model_conf_of(config))


def model_conf_of(config):
    """The `model_conf` of a config in its model's current layout (older layouts are upgraded)."""
    cls = model_class(config["model"])
    conf = config.get("model_conf") or {}
    upgrade = getattr(cls, "upgrade_conf", None)
    return upgrade(conf) if upgrade else dict(conf)
