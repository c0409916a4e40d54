"""The separation refiner: Duo-Tok's routing split of a mix, refined at the mel frame rate.

The fine-tuned encoder's separation head is one linear layer on the 25 Hz encoder output, which must
also serve the encoder's other heads; on the mini_music test songs the vocal stem decoded from its
split lost most of what the same tokenizer reaches from the true stems (egs/mini_music/tok1/README.md).
The refiner is a small ConvNeXt stack over the 100 Hz mel frames that reads the mix's normalised
log-mel, the encoder output and the head's own logits, and adds a correction to those logits:

    logits = head logits + out(ConvNeXt^L(in([mel; hidden; head logits])))

`out` starts at zero, so an untrained refiner splits exactly as the head does, and training (Duo-Tok's
`train_stage: separator`, everything else frozen) can only start from the head's split.
"""

import torch
from torch import nn

from audiotok.nn.convnext import ConvNeXtBlock


class SeparationRefiner(nn.Module):
    def __init__(self, n_mels, hidden_size, dim=192, layers=4, intermediate_dim=None, kernel_size=7):
        super().__init__()
        self.inp = nn.Conv1d(2 * n_mels + hidden_size, dim, 1)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim, intermediate_dim, kernel_size) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Conv1d(dim, n_mels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, mel, hidden, logits):
        """mel [B,M,N] (normalised), hidden [B,D,N], logits [B,M,N] -> refined logits [B,M,N]."""
        h = self.blocks(self.inp(torch.cat([mel, hidden, logits], dim=1)))
        return logits + self.out(self.norm(h.transpose(1, 2)).transpose(1, 2))


__all__ = ["SeparationRefiner"]
