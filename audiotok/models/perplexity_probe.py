"""PerplexityProbe: a small causal LM over parallel token streams that measures how predictable a
tokenizer's codes are (Duo-Tok's vocabulary-normalised perplexity); a measuring tool, never shipped.

The protocol of the Codec-Evaluation harness that Duo-Tok reports (PPL@1024): a frame holds one code
per codebook (e.g. vocals + accompaniment, or the two levels of a residual VQ); each codebook has its
own embedding table (plus a BOS entry) and its own output head; a frame's embeddings are concatenated
and projected to the model width; a causal Transformer (audiotok.nn.transformer) reads the frames
before t and every head predicts its codebook's code at frame t. Per codebook, PPL = exp(mean CE) and
PPL@1024 = PPL x 1024 / K, which removes the advantage a small codebook has by construction.
"""

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.nn.transformer import Transformer, causal_mask


class PerplexityProbe(nn.Module):
    def __init__(self, codebook_sizes, dim=128, layers=4, heads=4, dropout=0.0):
        super().__init__()
        self.codebook_sizes = [int(k) for k in codebook_sizes]
        self.embeds = nn.ModuleList(nn.Embedding(k + 1, dim) for k in self.codebook_sizes)  # id k = BOS
        self.proj = nn.Linear(len(self.codebook_sizes) * dim, dim)
        self.net = Transformer(dim, layers, heads, dropout=dropout)
        self.heads = nn.ModuleList(nn.Linear(dim, k) for k in self.codebook_sizes)
        for e in self.embeds:
            nn.init.normal_(e.weight, std=0.02)

    def forward(self, codes):
        """codes [B, C, T] -> list of C logits [B, T, K_c]; position t only sees frames < t."""
        b, c, t = codes.shape
        bos = torch.tensor(self.codebook_sizes, device=codes.device)[None, :, None].expand(b, c, 1)
        inp = torch.cat([bos, codes[..., :-1]], dim=-1)
        x = self.proj(torch.cat([emb(inp[:, i]) for i, emb in enumerate(self.embeds)], dim=-1))
        h = self.net(x, mask=causal_mask(t, device=codes.device))
        return [head(h) for head in self.heads]

    def nll(self, codes):
        """Summed cross-entropy per codebook [C] (nats) over the B*T predicted codes."""
        logits = self(codes)
        return torch.stack([F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), codes[:, i].reshape(-1),
                                            reduction="sum") for i, lg in enumerate(logits)])


def normalised_ppl(ppl, codebook_size, reference=1024):
    """Duo-Tok's vocabulary-normalised perplexity: PPL x reference / K."""
    return float(ppl) * reference / float(codebook_size)


__all__ = ["PerplexityProbe", "normalised_ppl"]
