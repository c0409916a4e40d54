"""A CTC phone head: supervises a latent sequence to carry what was said.

Used on the semantic path of a codec (after its VQ), the way supervised semantic tokenizers
(CosyVoice's S3Tokenizer) train a quantized ASR encoder. Low frame rates have fewer frames
than phones (12.5 Hz against ~12 phones/s), so each frame predicts `upsample` CTC slots.

Phones come as lists of symbols (strings); the inventory is part of the config (`phones`),
read once from `phones_file` (one symbol per line) when given, so a packed model needs no file.
"""

from pathlib import Path

import torch

from audiotok.errors import UserError
from audiotok.nn.ctc import CTCHead

BLANK = "<blank>"


def read_phone_inventory(path):
    try:
        symbols = [ln.split()[0] for ln in Path(path).read_text().splitlines() if ln.strip()]
    except OSError as e:
        raise UserError(f"{path}: cannot read the phone inventory ({e.strerror})") from None
    if not symbols or len(set(symbols)) != len(symbols):
        raise UserError(f"{path}: a phone inventory needs distinct symbols, one per line")
    return symbols


class ContentCTC(CTCHead):
    """Phone CTC on a channels-first latent [B,C,T]; the inventory rides in the config."""

    def __init__(self, input_dim, phones=None, phones_file=None, upsample=2):
        if phones_file:
            phones = read_phone_inventory(phones_file)
        if not phones:
            raise UserError("content_ctc: needs `phones` (a list) or `phones_file`")
        phones = [BLANK] + [str(p) for p in phones]
        super().__init__(input_dim, len(phones), upsample)
        self.phones = phones
        self.index = {p: i for i, p in enumerate(self.phones)}
        self.config = {"phones": list(self.phones[1:]), "upsample": self.upsample}

    def log_probs(self, h):
        """h [B,C,T] -> log-probabilities [B, T*upsample, V]."""
        return super().log_probs(h.transpose(1, 2))

    def ids(self, symbols):
        try:
            return [self.index[s] for s in symbols]
        except KeyError as e:
            raise UserError(f"content_ctc: phone {e.args[0]!r} is not in the model's inventory") from None

    def loss(self, h, frame_lengths, phones):
        """Mean CTC loss (per phone) over items whose phones are known (None = unknown, skipped).

        Returns (loss, n_items); loss is 0 when no item has phones."""
        targets = [torch.tensor(self.ids(p), dtype=torch.long) if p else None for p in phones]
        return super().loss(h.transpose(1, 2), frame_lengths, targets)

    @torch.no_grad()
    def greedy(self, h, frame_lengths):
        """Best-path phone strings per item: collapse repeats, drop blanks."""
        return [[self.phones[i] for i in seq] for seq in super().greedy(h.transpose(1, 2), frame_lengths)]


def phone_error_rate(hyps, refs):
    """Edit distance / reference length over lists of symbol lists (None refs skipped)."""
    import jiwer

    pairs = [(" ".join(r), " ".join(h)) for h, r in zip(hyps, refs) if r]
    if not pairs:
        return None
    # symbols are whitespace-free tokens, so word error rate over them is the phone error rate
    return float(jiwer.wer([r for r, _ in pairs], [h if h else "<empty>" for _, h in pairs]))


__all__ = ["ContentCTC", "read_phone_inventory", "phone_error_rate", "BLANK"]
