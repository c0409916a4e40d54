"""A CTC head over a frame sequence: each input frame predicts `upsample` CTC slots.

Low frame rates have fewer frames than symbols (12.5 Hz codec frames against ~12 phones/s, 5 Hz LM
positions against ~4 BPE tokens/s), so one frame emits several slots. Class 0 is the blank;
targets are ids 1 .. n_classes-1. Used by the codec's phone supervision (ContentCTC) and by the
unified LM's auxiliary CTC on its speech positions.
"""

import torch
import torch.nn.functional as F
from torch import nn


class CTCHead(nn.Module):
    def __init__(self, input_dim, n_classes, upsample=1, norm=False):
        """`n_classes` counts the blank. `norm`: a LayerNorm in front (for un-normed hidden states)."""
        super().__init__()
        self.n_classes, self.upsample = int(n_classes), int(upsample)
        self.norm = nn.LayerNorm(int(input_dim)) if norm else None
        self.proj = nn.Linear(int(input_dim), self.upsample * self.n_classes)

    def log_probs(self, h):
        """h [B,T,D] -> log-probabilities [B, T*upsample, n_classes] (float32)."""
        return self.frame_log_probs(h)

    def frame_log_probs(self, h):
        # loss and greedy call this one, so a subclass may change what log_probs takes
        b, t, _ = h.shape
        if self.norm is not None:
            h = self.norm(h)
        logits = self.proj(h).float().view(b, t * self.upsample, self.n_classes)
        return logits.log_softmax(-1)

    def loss(self, h, frame_lengths, targets):
        """Mean CTC loss (per target symbol) over the items with a non-empty target.

        h [B,T,D]; frame_lengths [B]; targets: list of B 1-D id tensors (or None / empty: skipped).
        Returns (loss, n_items); the loss is 0 (connected to h) when no item has a target."""
        keep = [i for i, t in enumerate(targets) if t is not None and len(t)]
        if not keep:
            return h.sum() * 0.0, 0
        idx = torch.tensor(keep, device=h.device)
        lp = self.frame_log_probs(h.index_select(0, idx)).transpose(0, 1)  # [T', B', V]
        tgt = [torch.as_tensor(targets[i], dtype=torch.long) for i in keep]
        target_lengths = torch.tensor([len(t) for t in tgt], dtype=torch.long)
        input_lengths = (frame_lengths.index_select(0, idx).long() * self.upsample).cpu()
        with torch.autocast(device_type=h.device.type, enabled=False):
            loss = F.ctc_loss(lp, torch.cat(tgt).to(h.device), input_lengths, target_lengths,
                              blank=0, reduction="mean", zero_infinity=True)
        return loss, len(keep)

    @torch.no_grad()
    def greedy(self, h, frame_lengths):
        """Best-path id lists per item: collapse repeats, drop blanks."""
        best = self.frame_log_probs(h).argmax(-1).cpu()
        out = []
        for row, n in zip(best, (frame_lengths.long() * self.upsample).tolist()):
            seq, prev = [], 0
            for i in row[:n].tolist():
                if i != prev and i != 0:
                    seq.append(i)
                prev = i
            out.append(seq)
        return out


__all__ = ["CTCHead"]
