"""Which trained models the demo shows: finding model dirs, naming them, loading them lazily,
and pairing a unified LM with the codec whose tokens it was trained on.

A model dir is what `audiotok.load_model` accepts: a packed dir (model.safetensors +
config.yaml + meta.json) or a recipe exp dir holding one as `model/`. Its kind is the
`model:` key of its config.yaml; only the kinds below have a place in the demo.
"""

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from audiotok.config import load_config
from audiotok.errors import UserError

CODEC_KINDS = ("dualcodec", "duotok")  # TokenModels: audio <-> tokens
LM_KINDS = ("ulm",)
MUSIC_KINDS = ("duotok",)
KINDS = CODEC_KINDS + LM_KINDS

# where the recipes leave their models, relative to the repo root
DEFAULT_PATTERNS = ("egs/*/*/exp/packed/*", "egs/*/*/exp/*/model")
MAKE_MODELS_HINT = "run `make mini` (or egs/mini_synth/codec1/run.sh) to train one, then start the demo again"


def _model_dir(path):
    """The packed dir inside `path` (itself or its `model/`), or None."""
    path = Path(path)
    for d in (path, path / "model"):
        if all((d / n).is_file() for n in ("model.safetensors", "config.yaml", "meta.json")):
            return d
    return None


@dataclass
class ModelEntry:
    """One model dir the demo offers; the weights load on first use and stay loaded."""

    name: str
    path: Path
    kind: str
    meta: dict
    _model: object = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_id(self):
        return self.meta.get("model_id")

    def load(self, device="cpu"):
        with self._lock:
            if self._model is None:
                from audiotok import load_model

                self._model = load_model(self.path, device=device)
            return self._model


def read_entry(path, name=None):
    """ModelEntry for a model dir (packed or exp dir); UserError when it is none."""
    d = _model_dir(path)
    if d is None:
        raise UserError(f"{path}: not a model dir (needs model.safetensors, config.yaml and meta.json, "
                        "or a model/ subdir with them)")
    kind = load_config(d / "config.yaml").get("model")
    try:
        with open(d / "meta.json") as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{d / 'meta.json'}: cannot read ({e})") from None
    return ModelEntry(name or default_name(d), d, str(kind), meta)


def default_name(d):
    """A short readable name: `<corpus>/<recipe>:<exp>` for recipe dirs, else the dir name."""
    d = Path(d).resolve()
    leaf = d.parent if d.name == "model" else d
    parts = leaf.parts
    if "exp" in parts:
        i = len(parts) - 1 - parts[::-1].index("exp")
        if i >= 2:
            return f"{parts[i - 2]}/{parts[i - 1]}:{leaf.name}"
    return leaf.name


def find_default_dirs(root):
    """The model dirs the recipes under `root` produced (packed dirs first)."""
    root = Path(root)
    out = []
    for pattern in DEFAULT_PATTERNS:
        out += sorted(p for p in root.glob(pattern) if _model_dir(p) is not None)
    return out


def _candidates(path):
    """A dir given on the command line: a model dir, or a recipe/exp dir holding some."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such directory")
    if _model_dir(path) is not None:
        return [path]
    found = find_default_dirs(path)
    for pattern in ("packed/*", "*/model", "exp/packed/*", "exp/*/model", "*"):
        found += sorted(p for p in path.glob(pattern) if p.is_dir() and _model_dir(p) is not None)
    if not found:
        raise UserError(f"{path}: no model dir found (needs model.safetensors, config.yaml and meta.json, "
                        "or a model/ subdir with them)")
    return list(dict.fromkeys(p.resolve() for p in found))


def _lm_codec(path):
    """[(codec dir, False, "<LM name> codec")] for an LM dir with a codec/ beside it, else []."""
    from audiotok.speechlm import find_codec_dir

    d = _model_dir(path)
    if d is None or load_config(d / "config.yaml").get("model") not in LM_KINDS:
        return []
    c = find_codec_dir(d)
    return [(Path(c), False, f"{default_name(d)} codec")] if c is not None and _model_dir(c) is not None else []


class ModelStore:
    """The models the demo serves, grouped by what the tabs need."""

    def __init__(self, entries, device="cpu", skipped=()):
        self.entries = list(entries)
        self.device = device
        self.skipped = list(skipped)  # (dir, kind) of model dirs the demo has no tab for
        self._by_name = {e.name: e for e in self.entries}
        self._slm = {}  # LM name -> SpeechLM (LM + its codec)
        self._lock = threading.Lock()

    @classmethod
    def from_dirs(cls, dirs=None, root=".", device="cpu", shipped=False):
        """Models from the given dirs, or (None/empty) from the recipe outputs under `root`;
        with `shipped`, the models that ship inside the package come first (a fresh install has
        those only). A model dir named directly must be of a kind the demo shows; dirs found by a
        search that hold other kinds (e.g. the SSL encoder) are skipped and listed in `skipped`."""
        from audiotok.pretrained import ALIASES, shipped_dir, shipped_names

        # the default speech codec first: it is what the codec and live tabs open with
        names = sorted(shipped_names(), key=lambda n: n != ALIASES["speech"]) if shipped else []
        first = [(shipped_dir(n), False, f"{n} (shipped)") for n in names]
        paths = []  # (dir, named directly on the command line, display name or None)
        for d in (dirs or []):
            paths += [(p, _model_dir(d) is not None, None) for p in _candidates(d)]
        if not dirs:
            paths = [(p, False, None) for p in find_default_dirs(root)]
        paths = first + paths
        # an LM's own codec (its codec/ entry) goes on the codec tab too, after the LM
        paths = [x for p, direct, name in paths for x in [(p, direct, name)] + _lm_codec(p)]
        entries, skipped, seen_ids, names = [], [], set(), set()
        for p, direct, name in paths:
            e = read_entry(p, name=name)
            if e.kind not in KINDS:
                if direct:
                    raise UserError(f"{p}: a '{e.kind}' model; the demo shows {', '.join(KINDS)} models")
                skipped.append((str(p), e.kind))
                continue
            if e.model_id and e.model_id in seen_ids:  # the same weights packed and in exp/: show once
                continue
            seen_ids.add(e.model_id)
            base, i = e.name, 2
            while e.name in names:
                e.name, i = f"{base} ({i})", i + 1
            names.add(e.name)
            entries.append(e)
        return cls(entries, device=device, skipped=skipped)

    def get(self, name):
        if name not in self._by_name:
            raise UserError(f"no model named '{name}' is loaded")
        return self._by_name[name]

    def model(self, name):
        return self.get(name).load(self.device)

    def names(self, kinds):
        return [e.name for e in self.entries if e.kind in kinds]

    @property
    def codecs(self):
        return self.names(CODEC_KINDS)

    @property
    def lms(self):
        return self.names(LM_KINDS)

    @property
    def music(self):
        return self.names(MUSIC_KINDS)

    def codec_for_lm(self, lm_name):
        """The codec dir an LM reads and writes tokens with: the `codec/` its recipe put next to
        it (audiotok.speechlm.find_codec_dir), else the first loaded codec whose semantic and
        acoustic codebooks and frame rate fit the LM's vocabulary. UserError when none fits."""
        from audiotok.speechlm import find_codec_dir

        lm = self.get(lm_name)
        own = find_codec_dir(lm.path)
        if own is not None:
            return Path(own)
        vocab = lm.meta.get("vocab") or {}
        for name in self.names(("dualcodec",)):
            c = self.get(name)
            if _fits(c.meta, vocab, lm.meta.get("frame_rate")):
                return c.path
        raise UserError(f"LM '{lm_name}' has no usable codec/ beside it and none of the loaded codecs fits its tokens "
                        f"(semantic {vocab.get('semantic_size')} codes at {lm.meta.get('frame_rate')} Hz): "
                        "pass the codec it was trained with by --exp")

    def speech_lm(self, lm_name):
        """audiotok.speechlm.SpeechLM of an LM and its codec (checked to fit), built once. A codec
        that is also on the codec tab (same model_id) is shared, not loaded twice."""
        with self._lock:
            if lm_name in self._slm:
                return self._slm[lm_name]
        from audiotok.speechlm import SpeechLM, check_pair

        lm = self.model(lm_name)
        codec_dir = self.codec_for_lm(lm_name)
        codec_entry = read_entry(codec_dir)
        same = [e for e in self.entries if e.model_id and e.model_id == codec_entry.model_id]
        codec = (same[0] if same else codec_entry).load(self.device)
        check_pair(lm, codec, self.get(lm_name).path, codec_dir)
        slm = SpeechLM(lm, codec, device=self.device)
        with self._lock:
            return self._slm.setdefault(lm_name, slm)


def _fits(codec_meta, vocab, frame_rate):
    """Whether a codec (its meta.json) makes the tokens of an LM vocabulary (its spec dict)."""
    streams = {s["name"]: s for s in codec_meta.get("streams", [])}
    sem, ac = streams.get("semantic"), streams.get("acoustic")
    if sem is None or int(sem["codebook_size"]) != int(vocab.get("semantic_size", -1)):
        return False
    if frame_rate is not None and abs(float(codec_meta.get("frame_rate", 0)) - float(frame_rate)) > 1e-6:
        return False
    k = int(vocab.get("n_acoustic", 0))
    if k:
        return ac is not None and int(ac["codebook_size"]) == int(vocab["acoustic_size"]) and ac["n_codebooks"] >= k
    return True
