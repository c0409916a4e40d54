"""Speaker similarity with Resemblyzer's pretrained speaker encoder (its PyPI wheel carries the
weights, so nothing downloads): cosine of utterance embeddings (256-d, L2-normalised).

Resemblyzer resamples to 16 kHz, trims long silences (webrtcvad) and averages d-vectors over
1.6 s windows. Same-speaker utterances of a trained voice usually score 0.8-0.95 and different
speakers lower, so a number only means something next to the baselines that `voice_cloning`
reports with it: the prompt against other utterances of its own speaker (the ceiling) and against
other speakers (the floor a clone must rise above).
"""

import functools
import itertools

import numpy as np

from audiotok.errors import UserError

INSTALL = "pip install webrtcvad-wheels && pip install --no-deps Resemblyzer==0.1.4 (scripts/setup_env.sh does)"


@functools.lru_cache(maxsize=1)
def encoder():
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        raise UserError(f"speaker similarity needs Resemblyzer: {INSTALL}") from None
    import torch

    with torch.inference_mode():
        return VoiceEncoder("cpu", verbose=False)


def embed(wav, sr):
    """Mono float audio at `sr` -> unit speaker embedding [256] (NaN when no speech is found)."""
    from resemblyzer import preprocess_wav

    x = preprocess_wav(np.asarray(wav, dtype=np.float32).reshape(-1), source_sr=sr)
    if x.size < 1600:  # under 0.1 s of speech after trimming: nothing to embed
        return np.full(256, np.nan, dtype=np.float32)
    return encoder().embed_utterance(x)


def embed_file(path):
    from audiotok.audio import read_audio

    wav, sr = read_audio(path)
    return embed(wav[0].numpy(), sr)


def cosine(a, b):
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def _mean(values):
    v = [x for x in values if np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def voice_cloning(outputs, utt2prompt, prompt_spk, embeddings):
    """Similarity of each output to its prompt next to the baselines.

    outputs: {utt: embedding of the synthesized utterance}; utt2prompt: {utt: prompt utt};
    prompt_spk: {prompt utt: speaker} of every utterance of the prompt set; embeddings: {prompt utt:
    embedding} for all of them. Returns per-utterance rows and the summary means."""
    spk_utts = {}
    for u, s in prompt_spk.items():
        spk_utts.setdefault(s, []).append(u)
    rows = {}
    for utt, emb in outputs.items():
        p = utt2prompt[utt]
        others = [u for u in prompt_spk if prompt_spk[u] != prompt_spk[p]]
        to_others = [cosine(emb, embeddings[u]) for u in others]
        rows[utt] = {"prompt": p, "to_prompt": cosine(emb, embeddings[p]), "to_other_speakers": _mean(to_others),
                     "nearest_other_speaker": max(to_others) if to_others else float("nan")}
    same = [cosine(embeddings[a], embeddings[b])
            for utts in spk_utts.values() for a, b in itertools.combinations(utts, 2)]
    diff = [cosine(embeddings[a], embeddings[b]) for a, b in itertools.combinations(sorted(prompt_spk), 2)
            if prompt_spk[a] != prompt_spk[b]]
    ok = [r for r in rows.values() if np.isfinite(r["to_prompt"])]
    summary = {
        "utts": len(rows),
        "to_prompt": _mean([r["to_prompt"] for r in rows.values()]),
        "to_other_speakers": _mean([r["to_other_speakers"] for r in rows.values()]),
        "nearer_prompt_than_others_mean": sum(r["to_prompt"] > r["to_other_speakers"] for r in ok),
        "nearer_prompt_than_every_other": sum(r["to_prompt"] > r["nearest_other_speaker"] for r in ok),
        "same_speaker_ceiling": _mean(same),
        "other_speaker_floor": _mean(diff),
        "prompt_speakers": len(spk_utts),
    }
    return rows, summary


__all__ = ["embed", "embed_file", "cosine", "voice_cloning", "encoder", "INSTALL"]
