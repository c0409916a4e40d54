"""Batched beam search over an autoregressive decoder with a KV cache (ASR of the unified LM).

The caller owns the model: `step(tokens [B*W]) -> log-probs [B*W, V]` feeds one token per beam row and
`reorder(index [B*W])` makes row i continue from row index[i] (the KV cache follows the surviving beams).
Hypotheses end at `eos`; a finished one is ranked by its summed log-probability divided by
length ** length_penalty (1: the mean per token, 0: the raw sum, which favours short outputs).
"""

import torch


def _normalised(score, length, length_penalty):
    return score / max(length, 1) ** length_penalty


@torch.no_grad()
def beam_search(first_logp, step, reorder, beam_size, max_len, eos, length_penalty=1.0):
    """first_logp [B, V]: the log-probs of the first token of each utterance (after the prompt, whose
    rows the caller has not yet repeated). Returns the best token list of each utterance (without eos)."""
    B, V = first_logp.shape
    W = int(beam_size)
    dev = first_logp.device
    reorder(torch.arange(B, device=dev).repeat_interleave(W))
    logp = first_logp.repeat_interleave(W, 0)
    scores = torch.full((B, W), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # the W copies start equal: only one may expand at first
    seqs = [[[] for _ in range(W)] for _ in range(B)]
    finished = [[] for _ in range(B)]  # (normalised score, tokens)
    done = [False] * B
    for t in range(int(max_len)):
        cand = (scores[:, :, None] + logp.view(B, W, V)).view(B, W * V)
        top_s, top_i = cand.topk(min(2 * W, W * V), dim=1)
        parents, tokens = [], []
        new_scores = torch.full((B, W), float("-inf"), device=dev)
        new_seqs = [[[] for _ in range(W)] for _ in range(B)]
        for b in range(B):
            kept = 0
            candidates = [] if done[b] else zip(top_s[b].tolist(), top_i[b].tolist())  # decided: none
            for s, i in candidates:
                beam, tok = divmod(i, V)
                if s == float("-inf") or kept == W:
                    break
                if tok == eos:
                    finished[b].append((_normalised(s, t + 1, length_penalty), seqs[b][beam]))
                    continue
                new_scores[b, kept] = s
                new_seqs[b][kept] = seqs[b][beam] + [tok]
                parents.append(b * W + beam)
                tokens.append(tok)
                kept += 1
            while kept < W:  # a dead row: any parent, never chosen again (score -inf)
                parents.append(b * W)
                tokens.append(eos)
                kept += 1
            # W finished hypotheses, or none left to extend: this utterance is decided
            if len(finished[b]) >= W or (finished[b] and new_scores[b].max().item() == float("-inf")):
                done[b] = True
                new_scores[b] = float("-inf")
        if all(done):
            break
        scores, seqs = new_scores, new_seqs
        if t == max_len - 1:
            break
        index = torch.tensor(parents, device=dev)
        reorder(index)
        logp = step(torch.tensor(tokens, device=dev))
    out = []
    for b in range(B):
        if finished[b]:
            out.append(max(finished[b], key=lambda f: f[0])[1])
        else:  # nothing ended within max_len: the best unfinished hypothesis
            w = int(scores[b].argmax())
            out.append(seqs[b][w])
    return out


__all__ = ["beam_search"]
