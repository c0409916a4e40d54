"""Forced alignment of a transcript's text pieces or characters to codec frames, for the unified LM's
text pointer (audiotok.models.ulm_pointer).

A character CTC reader (audiotok.models.content_probe) gives per-frame log-probabilities; the best CTC
path that spells the transcript exactly (Viterbi) gives each character's frames. A character starts where
its path first emits it; a text piece at its first character that is not a space (a piece that is only a
space starts where the space is); speech ends one frame after the last character. The characters are
those of the sentencepiece pieces themselves ("▁" read as a space), so the alignment fits the LM's
pieces, and its character units, one to one.

torchaudio's forced_align does the same but is deprecated and leaves torchaudio after 2.9; this Viterbi is
a few lines of numpy.
"""

import numpy as np

from audiotok.errors import UserError
from audiotok.models.ulm_pointer import piece_strings, vocab_chars


class PieceChars:
    """Character ids (from 1; 0 is the CTC blank) over every character of the text vocabulary's pieces
    (the LM's character units use the same inventory), with the content probe's Chars interface (encode
    a transcript, decode ids)."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.chars = list(vocab_chars(vocab))
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}

    def spell(self, ids, units="pieces"):
        """Piece ids -> (character ids, for each unit the index of its first character in them: each
        piece's first non-space character, or with units `chars` every character)."""
        out, firsts = [], []
        for p in piece_strings(self.vocab, ids):
            p = [c for c in p if c in self.index]  # as the LM spells its character units
            if not p and units == "pieces":
                raise UserError("a text piece has no character of the vocabulary (<unk>?)")
            solid = [len(out) + k for k, c in enumerate(p) if c != " "]
            firsts.extend(range(len(out), len(out) + len(p)) if units == "chars" else (solid or [len(out)])[:1])
            out.extend(self.index[c] for c in p)
        return out, firsts

    def encode(self, text):
        return self.spell(self.vocab.encode_text(text))[0]

    def decode(self, ids):
        return "".join(self.chars[i - 1] for i in ids).strip()


def ctc_viterbi(log_probs, targets, blank=0):
    """log_probs [T, C] (numpy), targets (ids >= 1) -> (first, last) [L]: for each target the first and the
    last frame its best path emits it on. Raises UserError when T frames cannot spell the targets."""
    lp = np.asarray(log_probs, dtype=np.float64)
    T, L = lp.shape[0], len(targets)
    if L == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ext = np.full(2 * L + 1, blank, dtype=np.int64)
    ext[1::2] = targets
    S = ext.shape[0]
    # a state may skip the blank before it when it is a symbol unlike the one two states back
    skip = np.zeros(S, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    need = L + int(np.sum(np.asarray(targets[1:]) == np.asarray(targets[:-1])))
    if T < need:
        raise UserError(f"{T} frames cannot spell {L} characters ({need} CTC slots needed)")
    score = np.full(S, -np.inf)
    score[:2] = lp[0, ext[:2]]
    back = np.zeros((T, S), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, T):
        stay, one = score, np.concatenate([[-np.inf], score[:-1]])
        two = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        cand = np.stack([stay, one, two])
        back[t] = np.argmax(cand, 0)
        score = cand[back[t], np.arange(S)] + lp[t, ext]
    s = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    if not np.isfinite(score[s]):
        raise UserError(f"no CTC path spells the {L} characters in {T} frames")
    first, last = np.zeros(L, dtype=np.int64), np.full(L, -1, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        if s % 2:
            first[s // 2] = t  # walking back: the last write is the earliest frame of the symbol
            if last[s // 2] < 0:
                last[s // 2] = t
        if t:
            s -= int(back[t, s])
    return first, last


def unit_starts(first, last, firsts, n_frames):
    """From the characters' first and last frames (ctc_viterbi): each unit's first frame (the frame of its
    character `firsts` names) plus the end of speech (one frame after the last character's last frame, at
    most n_frames)."""
    starts = [int(first[i]) for i in firsts]
    end = min(int(last[-1]) + 1, int(n_frames))
    return [int(x) for x in np.maximum.accumulate(starts + [end])]


__all__ = ["PieceChars", "ctc_viterbi", "unit_starts"]
