"""Training items for the unified speech LM from a tokens data dir (registry key `lm_tokens`).

The dir holds `tokens.scp` (`<utt> <path.atok>`, written by the tokenization stage) and, for
ASR/TTS, `text` (normalized transcripts, the text the BPE model was trained on). Each `.atok`
file has the streams "semantic" [1, T] and, for the acoustic stage, "acoustic" [K, T]
(audiotok.tokfile). Every (utterance, task) pair is one item; `collate` builds the batch the
UnifiedLM documents (task, semantic, semantic_len, acoustic, text, text_len, utt).

Utterances longer than `max_frames` are skipped for ASR/TTS (their text must stay whole) and
cropped for the acoustic task (a random window per epoch in training, the start otherwise,
drawn from a generator seeded by (seed, epoch, index): independent of workers and resumes).

`text_starts` (pieces or chars): TTS items also carry their text's forced alignment (the dir's
`text_starts`, or `char_starts` for chars: `<utt> s_0 .. s_{n-1} s_end`, each text piece's or character's
first frame and the frame where speech ends, as `audiotok align-text --units` writes them) for the LM's text pointer
(audiotok.models.ulm_pointer); a TTS item without one is skipped (counted).

`task_repeat` ({task: n}) lists a task's items n times per training epoch, to give it a larger share of
the batches (e.g. {asr: 3} in a joint phase after ASR alone); validation lists every item once, utterance
by utterance (all its tasks together), so the first batches of a capped validation cover every task.
"""

import os
from pathlib import Path

import numpy as np
import torch

from audiotok.errors import DataDirError, TokenFileError, UserError

TASKS = ("asr", "tts", "acoustic")  # same order as audiotok.models.ulm.TASKS


def resolve_scp_path(path, data_dir):
    """Kaldi paths are relative to the recipe dir (the cwd); fall back to the data dir."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return str(p)
    alt = Path(data_dir) / p
    return str(alt) if alt.exists() else str(p)


def _load_vocab(vocab):
    from audiotok.models.ulm_vocab import JointVocab

    if isinstance(vocab, JointVocab):
        return vocab
    if isinstance(vocab, (str, os.PathLike)):
        return JointVocab.load(vocab)
    raise UserError("lm_tokens: vocab must be a vocab.json path or a JointVocab")


class LMTokenDataset(torch.utils.data.Dataset):
    """(utterance, task) items over a tokens data dir; see the module docstring."""

    def __init__(self, data_dir, vocab, tasks=TASKS, train=True, seed=0, max_frames=None, min_frames=1,
                 max_text_tokens=None, task_repeat=None, text_starts=False):
        self.data_dir = str(data_dir)
        self.vocab = _load_vocab(vocab)
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        bad = [t for t in tasks if t not in TASKS]
        if bad or not tasks:
            raise UserError(f"lm_tokens: unknown task(s) {', '.join(bad) or '(none)'} (known: {', '.join(TASKS)})")
        if "acoustic" in tasks and self.vocab.n_acoustic == 0:
            raise UserError("lm_tokens: task 'acoustic' needs a vocabulary with acoustic codebooks")
        self.tasks = tasks
        self.repeat = self._check_repeat(task_repeat or {}) if train else {}
        self.train, self.seed = bool(train), int(seed)
        self.max_frames = None if max_frames is None else int(max_frames)
        self.min_frames = int(min_frames)
        self.max_text_tokens = None if max_text_tokens is None else int(max_text_tokens)
        self.K = self.vocab.n_acoustic
        if text_starts not in (False, None, "pieces", "chars"):
            raise UserError(f"lm_tokens: text_starts must be pieces, chars or false, got {text_starts!r}")
        self.with_starts = text_starts or None
        self.starts = {}
        self.skipped = {}
        self._index()

    # ---- index -------------------------------------------------------------------------------
    def _index(self):
        from audiotok.data.kaldi_table import c_order, read_scp
        from audiotok.tokfile import read_header

        d = Path(self.data_dir)
        if not (d / "tokens.scp").is_file():
            raise DataDirError(f"{d}/tokens.scp: missing (run the tokenization stage first)")
        scp = read_scp(d / "tokens.scp")
        needs_text = any(t in ("asr", "tts") for t in self.tasks)
        texts = {}
        if needs_text:
            if not (d / "text").is_file():
                raise DataDirError(f"{d}/text: missing (tasks asr/tts need transcripts)")
            texts = read_scp(d / "text")
        self.utts, self.paths, self.frames, self.text_ids, self.n_codebooks = [], {}, {}, {}, {}
        for utt in sorted(scp, key=c_order):
            path = resolve_scp_path(scp[utt], d)
            header = read_header(path)
            streams = {s["name"]: s for s in header.get("streams", [])}
            self._check_streams(path, streams)
            self.utts.append(utt)
            self.paths[utt] = path
            self.frames[utt] = int(streams["semantic"]["frames"])
            self.n_codebooks[utt] = int(streams["acoustic"]["n_codebooks"]) if "acoustic" in streams else 0
            if needs_text and utt in texts:
                self.text_ids[utt] = self.vocab.encode_text(texts[utt])
        if self.with_starts and "tts" in self.tasks:
            from audiotok.models.ulm_pointer import STARTS_FILE

            self._read_starts(d / STARTS_FILE[self.with_starts])
        self.items = []
        for task in self.tasks:
            for utt in self.utts:
                why = self._skip_reason(utt, task)
                if why:
                    self.skipped[why] = self.skipped.get(why, 0) + 1
                else:
                    self.items.extend([(utt, task)] * self.repeat.get(task, 1))
        if not self.train:  # utterance by utterance: a capped validation (valid_batches) sees every task
            order = {u: i for i, u in enumerate(self.utts)}
            self.items.sort(key=lambda it: (order[it[0]], self.tasks.index(it[1])))
        if not self.items:
            raise DataDirError(f"{d}: no usable items for tasks {', '.join(self.tasks)} "
                               f"(skipped: {self.skipped or 'none'})")

    def _read_starts(self, path):
        from audiotok.data.kaldi_table import read_scp
        from audiotok.models.ulm_pointer import spell_pieces, vocab_chars

        units = None
        if self.with_starts == "chars":
            units = {c: i + 1 for i, c in enumerate(vocab_chars(self.vocab))}

        if not path.is_file():
            raise DataDirError(f"{path}: missing (text_starts: {self.with_starts} needs the alignments; run `audiotok "
                               f"align-text --units {self.with_starts}`)")
        for utt, line in read_scp(path).items():
            if utt not in self.text_ids:
                continue
            try:
                frames = [int(x) for x in line.split()]
            except ValueError:
                raise DataDirError(f"{path}: utterance {utt}: frames must be integers") from None
            n = len(self.text_ids[utt]) if units is None else len(spell_pieces(self.vocab, self.text_ids[utt], units))
            if len(frames) != n + 1:
                raise DataDirError(f"{path}: utterance {utt} has {len(frames)} frames for {n} text {self.with_starts} "
                                   f"(expected one per unit and the end of speech: aligned with other units or "
                                   f"another text model?)")
            if any(b < a for a, b in zip(frames, frames[1:])):
                raise DataDirError(f"{path}: utterance {utt}: frames must not decrease")
            self.starts[utt] = frames

    def _check_repeat(self, repeat):
        if not isinstance(repeat, dict):
            raise UserError(f"lm_tokens: task_repeat must map tasks to counts, got {repeat!r}")
        for task, n in repeat.items():
            if task not in self.tasks:
                raise UserError(f"lm_tokens: task_repeat names '{task}', which is not among the tasks "
                                f"({', '.join(self.tasks)})")
            if not isinstance(n, int) or n < 1:
                raise UserError(f"lm_tokens: task_repeat of '{task}' must be an integer >= 1, got {n!r}")
        return dict(repeat)

    def _check_streams(self, path, streams):
        v = self.vocab
        if "semantic" not in streams:
            raise TokenFileError(path, f"has no 'semantic' stream (streams: {', '.join(streams) or 'none'})")
        sem = streams["semantic"]
        if int(sem["n_codebooks"]) != 1:
            raise TokenFileError(path, f"the semantic stream has {sem['n_codebooks']} codebooks, expected 1")
        if int(sem["codebook_size"]) > v.semantic_size:
            raise TokenFileError(path, f"semantic codebook of {sem['codebook_size']} codes does not fit the "
                                       f"vocabulary's {v.semantic_size}")
        ac = streams.get("acoustic")
        if "acoustic" in self.tasks and ac is not None and int(ac["codebook_size"]) > v.acoustic_size:
            raise TokenFileError(path, f"acoustic codebooks of {ac['codebook_size']} codes do not fit the "
                                       f"vocabulary's {v.acoustic_size}")

    def _skip_reason(self, utt, task):
        n = self.frames[utt]
        if n < self.min_frames:
            return "too short"
        if task == "acoustic":
            return None if self.n_codebooks[utt] >= self.K else "too few acoustic codebooks"
        if not self.text_ids.get(utt):
            return "no text"
        if self.max_frames is not None and n > self.max_frames:
            return "too long"
        if self.max_text_tokens is not None and len(self.text_ids[utt]) > self.max_text_tokens:
            return "text too long"
        if task == "tts" and self.with_starts and utt not in self.starts:
            return "no alignment"
        return None

    # ---- items -------------------------------------------------------------------------------
    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        from audiotok.tokfile import read_tokens

        idx = int(key)
        utt, task = self.items[idx]
        tokens, _ = read_tokens(self.paths[utt])
        sem = tokens["semantic"][0].long()
        item = {"utt": utt, "task": TASKS.index(task), "semantic": sem,
                "text": torch.tensor(self.text_ids.get(utt, []) if task != "acoustic" else [], dtype=torch.long)}
        if task == "acoustic":
            ac = tokens["acoustic"][: self.K].long()
            T = sem.shape[0]
            if self.max_frames is not None and T > self.max_frames:
                off = 0
                if self.train:
                    rng = np.random.default_rng([self.seed, getattr(key, "epoch", 0), idx])
                    off = int(rng.integers(0, T - self.max_frames + 1))
                sem, ac = sem[off: off + self.max_frames], ac[:, off: off + self.max_frames]
            item["semantic"], item["acoustic"] = sem, ac
        if task == "tts" and self.with_starts:
            item["text_start"] = torch.tensor(self.starts[utt], dtype=torch.long)
        return item

    def collate(self, items):
        """Right-padded batch (pads are 0; lengths say what is real). Non-acoustic rows have
        all-zero acoustic tokens."""
        B = len(items)
        T = max(int(it["semantic"].shape[0]) for it in items)
        L = max([1] + [int(it["text"].shape[0]) for it in items])
        semantic = torch.zeros(B, T, dtype=torch.long)
        acoustic = torch.zeros(B, self.K, T, dtype=torch.long)
        text = torch.zeros(B, L, dtype=torch.long)
        for i, it in enumerate(items):
            n = it["semantic"].shape[0]
            semantic[i, :n] = it["semantic"]
            if "acoustic" in it:
                acoustic[i, :, :n] = it["acoustic"]
            text[i, : it["text"].shape[0]] = it["text"]
        batch = {
            "task": torch.tensor([it["task"] for it in items], dtype=torch.long),
            "semantic": semantic,
            "semantic_len": torch.tensor([int(it["semantic"].shape[0]) for it in items], dtype=torch.long),
            "acoustic": acoustic,
            "text": text,
            "text_len": torch.tensor([int(it["text"].shape[0]) for it in items], dtype=torch.long),
            "utt": [it["utt"] for it in items],
        }
        if self.with_starts:
            from audiotok.models.ulm_pointer import NEVER

            width = max([1] + [int(it["text_start"].shape[0]) for it in items if "text_start" in it])
            start = torch.full((B, width), NEVER, dtype=torch.long)
            for i, it in enumerate(items):
                if "text_start" in it:
                    start[i, : it["text_start"].shape[0]] = it["text_start"]
            batch["text_start"] = start
        return batch
