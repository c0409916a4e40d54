"""ContentProbe: how much spoken content do a tokenizer's codes carry, and how fast can a small model
read it? A measuring tool (the `content-probe` command), never shipped.

A small bidirectional transformer learns character CTC from token frames. What goes in front of it is
the question being asked:
  input     `embed`: a learned embedding per codebook (summed over the codebooks read), from scratch,
            as the unified LM starts; `codec`: the unified LM's codec front end (the codec's own
            semantic decoder, frozen, then a learned projection: audiotok.models.ulm_frontend);
            `feature_dim`: continuous features [B, D, T] through a learned projection (what a codec
            holds before its quantizer, or its SSL teacher's states: where content is lost)
  grouping  g frames per position, joined by the unified LM's own GroupEmbed (mean or concat), each
            position emitting g CTC slots: the 5 Hz view the LM reads (g = 1: one frame per position)
Its character error rate on held-out speakers after a fixed number of steps compares tokenizers, and
ways of reading them, in minutes instead of LM hours.
"""

import torch
from torch import nn

from audiotok.models.srh import GroupEmbed
from audiotok.models.ulm_frontend import CodecFrontend
from audiotok.nn.ctc import CTCHead
from audiotok.nn.transformer import Transformer, padding_mask


class ContentProbe(nn.Module):
    def __init__(self, codebook_sizes, n_chars, dim=256, layers=4, heads=4, group=1, group_mode="mean",
                 codec_decoder=None, feature_dim=None):
        """`codebook_sizes`: one per codebook read; `n_chars` counts the characters (the blank is
        added); `codec_decoder`: (architecture, tensors) of a codec's semantic decoder, as
        ulm_frontend.read_codec_semantic_decoder returns them: read the first codebook through it (the
        LM's codec front end) instead of learned embeddings; `feature_dim`: read float features of that
        size instead of codes (`codebook_sizes` is then unused)."""
        super().__init__()
        self.codebook_sizes = [int(k) for k in codebook_sizes]
        self.g = int(group)
        self.frontend = None
        self.features_in = None
        self.embeds = nn.ModuleList()
        if feature_dim:
            self.features_in = nn.Linear(int(feature_dim), dim)
        elif codec_decoder is None:
            self.embeds.extend(nn.Embedding(k, dim) for k in self.codebook_sizes)
        else:
            arch, tensors = codec_decoder
            self.frontend = CodecFrontend(dim, arch)
            self.frontend.load_codec_weights(tensors)
        self.group_embed = GroupEmbed(dim, self.g, group_mode)
        self.net = Transformer(dim, layers, heads)
        self.head = CTCHead(dim, n_chars + 1, upsample=self.g)

    def positions(self, lengths):
        """Frame lengths -> LM-position lengths (whole groups, the last one padded)."""
        return (lengths + self.g - 1) // self.g

    def hidden(self, codes, lengths):
        """codes [B,C,T] (padding anywhere past `lengths`; float features [B,D,T] with `feature_dim`) ->
        (hidden [B,N,dim], positions [B])."""
        if self.features_in is not None:
            x = self.features_in(codes.transpose(1, 2).float())
        elif self.frontend is not None:
            x = self.frontend(codes[:, 0].clamp(min=0))
        else:
            x = sum(emb(codes[:, i].clamp(min=0)) for i, emb in enumerate(self.embeds))
        b, t, d = x.shape
        n = (t + self.g - 1) // self.g
        x = nn.functional.pad(x, (0, 0, 0, n * self.g - t)).view(b, n, self.g, d)
        pos = self.positions(lengths)
        h = self.net(self.group_embed(x), mask=padding_mask(pos, n))
        return h, pos

    def loss(self, codes, lengths, targets):
        """Mean CTC loss per character; targets: list of 1-D char-id tensors (ids from 1)."""
        h, pos = self.hidden(codes, lengths)
        return self.head.loss(h, pos, targets)[0]

    @torch.no_grad()
    def transcribe(self, codes, lengths):
        """Greedy CTC char-id lists per item."""
        h, pos = self.hidden(codes, lengths)
        return self.head.greedy(h, pos)


__all__ = ["ContentProbe"]
