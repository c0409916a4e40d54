"""The text pointer of the unified LM's TTS rows (`model_conf.tts_pointer`): which text piece each 5 Hz
group speaks.

Plain and paced rows leave the LM to find, by attention alone, the piece a group should speak; after
seven thousand joint steps on 30 hours of speech, speech-lm-v1 still spoke fluent babble. With the
pointer the LM keeps an explicit place in its text, as ELLA-V interleaves phonemes with the codes
they label and duration models do in non-autoregressive TTS:

    units    what the pointer steps through: the text pieces (their LM embeddings), or their characters
             (`units: chars`, "▁" read as a space), read by a small bidirectional character encoder, so
             a word the LM rarely saw is still spelled out to it, letter by letter.
    ptr_i    the last unit that has started by the end of group i; -1 before the first one, n (the <eos>
             slot) once speech is over. Training reads it off a forced alignment (`text_starts`: each
             unit's first 25 Hz frame and the frame where speech ends, `audiotok align-text`).
    a_i      = ptr_i - ptr_{i-1} (ptr_{-1} = -1): how many units start in group i. The pointer head
             predicts it from the hidden that predicts group i; at inference it is drawn, then used.
    c_i      the units group i speaks (the mean vector of ptr_{i-1} .. ptr_i) and the unit after them,
             projected: added to the hidden the Speech Refined Head writes group i from, and to the LM
             input of group i, so the next steps know where speech stands.

A voice prompt's groups carry one learned vector instead of c_i (their alignment is unknown at
inference), all but the last, which carries the prompt transcript's last piece: where its speech ends.
"""

from dataclasses import dataclass

import torch
from torch import nn

from audiotok.errors import UserError
from audiotok.nn.transformer import Transformer, padding_mask

NEVER = 1 << 30  # text_starts padding: a unit that never starts
SPACE = "\u2581"  # sentencepiece's word-boundary mark
UNITS = ("pieces", "chars")
STARTS_FILE = {"pieces": "text_starts", "chars": "char_starts"}  # in a tokens data dir, by unit


@dataclass
class TextPointer:
    """`max_advance`: the most units one group may start (the pointer head's classes are 0 .. it);
    0 turns the pointer off. `units`: pieces or chars (see the module docstring)."""
    max_advance: int = 0
    units: str = "pieces"
    chars: str = ""  # the character inventory (units: chars; filled from the vocabulary when empty)

    def __post_init__(self):
        if not 0 <= self.max_advance <= 32:
            raise UserError(f"ulm: tts_pointer.max_advance must be 0 (off) .. 32, got {self.max_advance}")
        if self.units not in UNITS:
            raise UserError(f"ulm: tts_pointer.units must be one of {', '.join(UNITS)}, got '{self.units}'")
        if self.max_advance == 0 and (self.units != "pieces" or self.chars):
            # a pointer configured but left off would train silently without it
            raise UserError("ulm: tts_pointer.units and .chars need max_advance > 0 (0 turns the pointer off)")

    @property
    def active(self):
        return self.max_advance > 0


def piece_strings(vocab, ids):
    """Text-local piece ids -> their strings, the word-boundary mark read as a space."""
    proc = vocab._need_text()
    return [proc.id_to_piece(int(i)).replace(SPACE, " ") for i in ids]


def vocab_chars(vocab):
    """Every character of the text vocabulary's pieces (not of <unk> and the control pieces), sorted: the
    inventory character units use."""
    proc = vocab._need_text()
    ids = [i for i in range(vocab.text_size) if not (proc.is_unknown(i) or proc.is_control(i))]
    return "".join(sorted({c for p in piece_strings(vocab, ids) for c in p}))


def spell_pieces(vocab, ids, index):
    """Piece ids -> the ids (from 1) of their characters in `index` ({char: id}), in order."""
    return [index[c] for p in piece_strings(vocab, ids) for c in p if c in index]


def pointers(starts, n_groups, g):
    """starts [B, L+1] (each row: its n pieces' first frames, then the end-of-speech frame, then NEVER
    padding) -> ptr [B, n_groups] in -1 .. n: the last piece started by the end of each group."""
    ends = (torch.arange(n_groups, device=starts.device) + 1) * g  # [N] first frame after group i
    return (starts[:, None, :] < ends[None, :, None]).sum(-1) - 1


def advances(ptr, max_advance):
    """ptr [B, N] -> (a [B, N] clipped to max_advance, how many were clipped)."""
    prev = torch.cat([ptr.new_full((ptr.shape[0], 1), -1), ptr[:, :-1]], 1)
    a = ptr - prev
    if bool((a < 0).any()):
        raise UserError("ulm: text_starts must not decrease along an utterance")
    return a.clamp(max=max_advance), int((a > max_advance).sum())


class CharEncoder(nn.Module):
    """Character ids [B, C] (0: padding) -> contextual vectors [B, C, dim]: an embedding and a small
    bidirectional transformer, so each letter knows its neighbours (how "gh" sounds depends on them)."""

    def __init__(self, n_chars, dim, layers=2, heads=4):
        super().__init__()
        self.embed = nn.Embedding(n_chars + 1, dim, padding_idx=0)
        self.net = Transformer(dim, layers, heads)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, chars, lengths):
        return self.net(self.embed(chars), mask=padding_mask(lengths, chars.shape[1]))


class PointerCond(nn.Module):
    """c_i from the pointer, and the pointer head. Zero-initialised projections: an LM trained without
    the pointer starts out exactly as it was. `n_chars` > 0: character units, read by a CharEncoder."""

    def __init__(self, dim, max_advance, n_chars=0, char_heads=4):
        super().__init__()
        self.max_advance = int(max_advance)
        self.chars = CharEncoder(n_chars, dim, heads=char_heads) if n_chars else None
        self.head = nn.Linear(dim, self.max_advance + 1)
        self.span = nn.Linear(dim, dim, bias=False)
        self.next = nn.Linear(dim, dim, bias=False)
        self.prompt = nn.Parameter(torch.zeros(dim))
        for m in (self.span, self.next):
            nn.init.zeros_(m.weight)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @staticmethod
    def bank(before, text_emb, text_len, after):
        """Per row, the slots a pointer indexes: before [B,D] (slot 0, ptr -1), the n pieces [B,L,D]
        (slots 1..n), after [B,D] (slot n+1, and the padding past it) -> [B, L+2, D]."""
        B, L, D = text_emb.shape
        full = torch.cat([before[:, None], text_emb, after[:, None]], 1)
        j = torch.arange(L + 2, device=text_emb.device)[None].expand(B, -1)
        index = torch.where(j <= text_len[:, None], j, torch.full_like(j, L + 1))
        return full.gather(1, index[..., None].expand(-1, -1, D))

    def forward(self, bank, text_len, prev, ptr):
        """bank [B, L+2, D] (from `bank`), prev / ptr [B, N] pointers before and after each group
        -> c [B, N, D]."""
        D = bank.shape[-1]
        lo = prev.clamp(-1) + 1  # slot indices
        hi = torch.minimum(ptr, text_len[:, None]) + 1
        lo = torch.minimum(lo, hi)
        csum = torch.cat([bank.new_zeros(bank.shape[0], 1, D), bank.cumsum(1)], 1)
        take = lambda idx: csum.gather(1, idx[..., None].expand(-1, -1, D))  # noqa: E731
        spoken = (take(hi + 1) - take(lo)) / (hi - lo + 1)[..., None].to(bank.dtype)
        nxt = torch.minimum(hi + 1, text_len[:, None] + 1)
        upcoming = bank.gather(1, nxt[..., None].expand(-1, -1, D))
        return self.span(spoken) + self.next(upcoming)


__all__ = ["NEVER", "PointerCond", "TextPointer", "advances", "pointers"]
