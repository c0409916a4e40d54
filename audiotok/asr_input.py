"""What `asr` does to a recording before the LM reads it: cut at its pauses into pieces the LM can read,
each with the edge silence the LM's training corpus has.

The unified LM learned utterances of up to about 7 s (the mini_synth corpus: median 2.9 s, 99 % under 6 s),
each trimmed by sox and padded with 0.15 s of silence at both ends. Speech-lm-v1 release 5 on 108 test_9perspk
utterances (egs/mini_synth/lm1/RESULTS.md): 14.3 % WER as they are, 28.3 % with 0.1 s more silence at each end
and 42.5 % with 0.25 s more; on those utterances joined into 36 paragraphs, 71.5 %.
"""

import numpy as np

from audiotok.data.corpora.mini_synth import PAD_SECONDS as EDGE_SECONDS  # the corpus's edge silence

MAX_SECONDS = 6.0   # no piece is longer (99 % of the corpus's utterances are shorter)
MIN_SECONDS = 1.0   # no cut leaves a piece shorter than this
PAUSE_SECONDS = 0.3  # a pause this long ends a piece at any length (the corpus's sentences hold none over 0.2 s)
TOP_DB = 40.0       # quieter than the loudest frame by this much: a pause (librosa.effects.split)
FRAME, HOP = 0.032, 0.008  # seconds
EDGE_TOLERANCE = 0.05  # edges this close to the corpus's are left alone


def pause_cuts(wav, sr, max_seconds=MAX_SECONDS, min_seconds=MIN_SECONDS, pause_seconds=PAUSE_SECONDS,
               top_db=TOP_DB):
    """Spans [(start, end)] in samples covering `wav` (1-D): cut at the middle of every pause of at least
    `pause_seconds` (librosa.effects.split's gaps between sounds), then a span still longer than
    `max_seconds` in two at its longest pause (with no pause, at its quietest frame within `min_seconds`
    of its middle), and so on. No cut leaves a side shorter than `min_seconds`."""
    import librosa

    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    n, limit, least = len(x), int(max_seconds * sr), int(min_seconds * sr)
    if limit < 2 * least:
        raise ValueError(f"max_seconds ({max_seconds}) must be at least twice min_seconds ({min_seconds})")
    if n < 2 * least:
        return [(0, n)]
    frame, hop = int(FRAME * sr), int(HOP * sr)
    sounds = librosa.effects.split(x, top_db=top_db, frame_length=frame, hop_length=hop)
    gaps = [(int(b) - int(a), (int(a) + int(b)) // 2) for (_, a), (b, _) in zip(sounds[:-1], sounds[1:]) if b > a]
    rms = librosa.feature.rms(y=x, frame_length=frame, hop_length=hop, center=True)[0]

    def cut(start, end):
        if end - start <= limit:
            return [(start, end)]
        lo, hi = start + least, end - least
        fits = [g for g in gaps if lo <= g[1] <= hi]
        if fits:
            at = max(fits)[1]
        else:  # no pause in reach: the quietest frame within a second of the middle (balanced halves)
            mid = (start + end) // 2
            f_lo = -(-max(lo, mid - least) // hop)
            f_hi = max(f_lo + 1, min(min(hi, mid + least) // hop + 1, len(rms)))
            quiet = rms[f_lo:f_hi]
            near = np.flatnonzero(quiet <= 1.05 * quiet.min()) + f_lo  # as quiet: the one nearest the middle
            at = min(max(lo, int(near[np.argmin(np.abs(near * hop - mid))]) * hop), hi)
        return cut(start, at) + cut(at, end)

    bounds = [0]
    for _, at in sorted((g for g in gaps if g[0] >= pause_seconds * sr), key=lambda g: g[1]):
        if at - bounds[-1] >= least and n - at >= least:
            bounds.append(at)
    bounds.append(n)
    return [span for a, b in zip(bounds[:-1], bounds[1:]) for span in cut(a, b)]


def corpus_edges(x, sr, edge_seconds=EDGE_SECONDS, top_db=TOP_DB, tolerance=EDGE_TOLERANCE):
    """`x` (1-D) with its leading and trailing silence (quieter than the loudest frame by `top_db`)
    replaced by `edge_seconds` of zeros at each end. A silent `x`, or one whose edges are already within
    `tolerance` of `edge_seconds` (as the corpus's own utterances are), is returned as it is: a trim a few
    milliseconds off theirs changes what the LM reads (release 6 on 108 test utterances: 45 transcripts
    changed, 13.6 % WER against 12.9 %)."""
    import librosa

    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if not np.any(x):
        return x
    _, (a, b) = librosa.effects.trim(x, top_db=top_db, frame_length=int(FRAME * sr), hop_length=int(HOP * sr))
    if b <= a or max(abs(a / sr - edge_seconds), abs((len(x) - b) / sr - edge_seconds)) <= tolerance:
        return x
    pad = np.zeros(int(round(edge_seconds * sr)), dtype=np.float32)
    return np.concatenate([pad, x[a:b], pad])


def asr_pieces(x, sr, **cuts):
    """The pieces of a recording (1-D) the LM reads: pause_cuts' spans with the corpus's edges."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    return [corpus_edges(x[a:b], sr) for a, b in pause_cuts(x, sr, **cuts)]


__all__ = ["asr_pieces", "corpus_edges", "pause_cuts", "EDGE_SECONDS", "MAX_SECONDS", "MIN_SECONDS", "PAUSE_SECONDS", "TOP_DB"]
