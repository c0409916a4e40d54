"""Next-token choice from logits: greedy, or sampling with temperature, top-k and nucleus (top-p)."""

import torch


def filter_logits(logits, top_k=0, top_p=1.0):
    """Set to -inf every logit outside the top-k and outside the smallest set whose probability
    reaches top_p (the most likely token always survives). logits: [..., V]."""
    logits = logits.clone()
    if top_k and 0 < top_k < logits.shape[-1]:
        kth = logits.topk(int(top_k), dim=-1).values[..., -1:]
        logits[logits < kth] = float("-inf")
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the mass before it already reaches top_p
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


def sample_logits(logits, greedy=True, temperature=1.0, top_k=0, top_p=1.0, generator=None):
    """logits [..., V] -> ids [...]. `greedy` (or temperature 0) takes the argmax."""
    if greedy or temperature <= 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / float(temperature), top_k, top_p)
    probs = logits.softmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    ids = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return ids.reshape(probs.shape[:-1])


class Sampler:
    """The sampling settings of one decoding call, applied to every step."""

    def __init__(self, greedy=True, temperature=1.0, top_k=0, top_p=1.0, generator=None):
        self.greedy, self.temperature, self.top_k, self.top_p = bool(greedy), float(temperature), int(top_k), top_p
        self.generator = generator

    def __call__(self, logits):
        return sample_logits(logits, self.greedy, self.temperature, self.top_k, self.top_p, self.generator)
