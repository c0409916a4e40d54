"""The joint vocabulary of the unified speech LM: special/task tokens, text BPE, semantic speech
tokens and the acoustic codebooks, laid out as consecutive id ranges of one embedding table.

    [specials][text BPE (V)][semantic (S)][acoustic layer 1 (A)] ... [acoustic layer K (A)]

`token_bias[range]` is the first joint id of each range, so a stream-local id `i` (a
sentencepiece id, a codebook index) becomes the joint id `token_bias[range] + i`. The text
tokenizer is a sentencepiece model (BPE, trained by a recipe stage); its serialized proto is
kept in memory so a model can carry it inside its weights file (no side files to lose).

On disk a vocabulary is a JSON file with the sizes and specials; the sentencepiece model sits
next to it and is named by the JSON's `text_model` (a path relative to the JSON file).
"""

import json
from pathlib import Path

from audiotok.errors import UserError
from audiotok.fileio import atomic_path, atomic_write_text

DEFAULT_SPECIALS = (
    "<pad>", "<bos>", "<eos>", "<asr>", "<tts>", "<acoustic>",
    "<sos_text>", "<sos_speech>", "<eos_speech>", "<mask>", "<sil>", "<unk>",
)
REQUIRED_SPECIALS = ("<pad>", "<bos>", "<eos>", "<asr>", "<tts>", "<acoustic>",
                     "<sos_text>", "<sos_speech>", "<eos_speech>", "<mask>")


def _sp():
    import sentencepiece

    return sentencepiece


def train_text_model(sentences, model_path, vocab_size, model_type="bpe", character_coverage=1.0):
    """Train a sentencepiece model on an iterable of sentences; writes `model_path` (a .model
    file) atomically and returns its path. Identity normalization keeps the model small and
    the text round trip exact (the recipe normalizes transcripts before)."""
    import io

    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise UserError(f"{model_path}: no text to train the text tokenizer on")
    buf = io.BytesIO()
    _sp().SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buf, vocab_size=int(vocab_size), model_type=model_type,
        character_coverage=character_coverage, normalization_rule_name="identity",
        bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1, hard_vocab_limit=False, minloglevel=2,
    )
    with atomic_path(model_path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return Path(model_path)


class JointVocab:
    """Id layout of the unified LM plus the text tokenizer.

    text_size       number of sentencepiece pieces (0: no text)
    semantic_size   S, the semantic codebook size (the codec's RVQ-1 / a semantic tokenizer)
    acoustic_size   A, the size of each acoustic codebook; n_acoustic K of them (0: no acoustic stage)
    specials        names of the special/task tokens, first in the table
    text_model      serialized sentencepiece proto (bytes) or None
    """

    def __init__(self, text_size, semantic_size, acoustic_size=0, n_acoustic=0, specials=DEFAULT_SPECIALS,
                 text_model=None):
        self.specials = list(specials)
        missing = [s for s in REQUIRED_SPECIALS if s not in self.specials]
        if missing:
            raise UserError(f"vocab: specials lack {', '.join(missing)}")
        if len(set(self.specials)) != len(self.specials):
            raise UserError("vocab: duplicate special token names")
        self.text_size = int(text_size)
        self.semantic_size = int(semantic_size)
        self.acoustic_size = int(acoustic_size)
        self.n_acoustic = int(n_acoustic)
        if self.semantic_size < 1 or self.text_size < 0 or self.acoustic_size < 0 or self.n_acoustic < 0:
            raise UserError("vocab: need semantic_size >= 1 and non-negative text/acoustic sizes")
        if self.n_acoustic and not self.acoustic_size:
            raise UserError("vocab: n_acoustic > 0 needs an acoustic_size")
        self._special_ids = {name: i for i, name in enumerate(self.specials)}
        n_sp = len(self.specials)
        self.token_bias = {
            "special": 0,
            "text": n_sp,
            "semantic": n_sp + self.text_size,
            "acoustic": [n_sp + self.text_size + self.semantic_size + k * self.acoustic_size
                         for k in range(self.n_acoustic)],
        }
        self.size = n_sp + self.text_size + self.semantic_size + self.n_acoustic * self.acoustic_size
        self._proc = None
        self.text_model = None
        if text_model is not None:
            self.attach_text_model(text_model)

    # ---- construction / files ----------------------------------------------------------------
    @classmethod
    def from_text_model(cls, path, semantic_size, acoustic_size=0, n_acoustic=0, specials=DEFAULT_SPECIALS):
        """Sizes from a sentencepiece .model file (text_size = its piece count)."""
        data = _read_bytes(path, "text model")
        vocab = cls(0, semantic_size, acoustic_size, n_acoustic, specials)
        size = vocab._parse(data, path).get_piece_size()
        return cls(size, semantic_size, acoustic_size, n_acoustic, specials, text_model=data)

    def to_dict(self):
        """JSON-able spec (everything but the tokenizer bytes); from_dict(to_dict()) rebuilds the layout."""
        return {
            "specials": list(self.specials),
            "text_size": self.text_size,
            "semantic_size": self.semantic_size,
            "acoustic_size": self.acoustic_size,
            "n_acoustic": self.n_acoustic,
            "size": self.size,
            "token_bias": {k: (list(v) if isinstance(v, list) else v) for k, v in self.token_bias.items()},
        }

    @classmethod
    def from_dict(cls, d, text_model=None):
        try:
            vocab = cls(d["text_size"], d["semantic_size"], d.get("acoustic_size", 0), d.get("n_acoustic", 0),
                        d.get("specials", DEFAULT_SPECIALS), text_model=text_model)
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"vocab: malformed spec ({e!r})") from None
        if "size" in d and int(d["size"]) != vocab.size:
            raise UserError(f"vocab: spec says size {d['size']} but its ranges add up to {vocab.size}")
        return vocab

    def save(self, json_path, text_model_name=None):
        """Write the JSON spec and, when a tokenizer is attached, the .model file next to it."""
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        spec = self.to_dict()
        if self.text_model is not None:
            name = text_model_name or json_path.with_suffix(".model").name
            with atomic_path(json_path.parent / name) as tmp:
                Path(tmp).write_bytes(self.text_model)
            spec["text_model"] = name
        atomic_write_text(json_path, json.dumps(spec, indent=2) + "\n")
        return json_path

    @classmethod
    def load(cls, json_path):
        json_path = Path(json_path)
        try:
            spec = json.loads(json_path.read_text())
        except OSError as e:
            raise UserError(f"{json_path}: cannot read vocabulary ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise UserError(f"{json_path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(spec, dict):
            raise UserError(f"{json_path}: a vocabulary must be a JSON object")
        text_model = None
        if spec.get("text_model"):
            text_model = _read_bytes(json_path.parent / spec["text_model"], "text model")
        try:
            return cls.from_dict(spec, text_model=text_model)
        except UserError as e:
            raise UserError(f"{json_path}: {e}") from None

    # ---- text tokenizer ----------------------------------------------------------------------
    def _parse(self, data, where="text model"):
        try:
            return _sp().SentencePieceProcessor(model_proto=bytes(data))
        except Exception as e:  # sentencepiece raises RuntimeError/OSError variants
            why = str(e).splitlines()[0] if str(e) else repr(e)
            raise UserError(f"{where}: not a sentencepiece model ({why})") from None

    def attach_text_model(self, data):
        data = bytes(data)
        proc = self._parse(data)
        if self.text_size and proc.get_piece_size() != self.text_size:
            raise UserError(f"text model has {proc.get_piece_size()} pieces, the vocabulary expects {self.text_size}")
        self.text_model, self._proc = data, proc

    @property
    def has_text_model(self):
        return self._proc is not None

    def _need_text(self):
        if self._proc is None:
            raise UserError("vocab: no text model (sentencepiece) attached; build the vocabulary from a .model file")
        return self._proc

    def encode_text(self, text):
        """str -> list of sentencepiece ids (text-local, add token_bias['text'] for joint ids)."""
        return list(self._need_text().encode(text, out_type=int))

    def decode_text(self, ids):
        ids = [int(i) for i in ids if 0 <= int(i) < self.text_size]
        return self._need_text().decode(ids)

    # ---- ids ---------------------------------------------------------------------------------
    def special(self, name):
        try:
            return self._special_ids[name]
        except KeyError:
            raise UserError(f"vocab: no special token {name}") from None

    def __len__(self):
        return self.size

    def __repr__(self):
        return (f"JointVocab(specials={len(self.specials)}, text={self.text_size}, semantic={self.semantic_size}, "
                f"acoustic={self.n_acoustic}x{self.acoustic_size}, size={self.size})")


def _read_bytes(path, what):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read {what} ({e.strerror})") from None


__all__ = ["JointVocab", "DEFAULT_SPECIALS", "REQUIRED_SPECIALS", "train_text_model"]
