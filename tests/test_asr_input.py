"""How `asr` prepares a recording (audiotok.asr_input): cuts at pauses, no piece over the limit, and the
corpus's edge silence, on signals whose sounds and pauses are known."""

import numpy as np
import pytest

from audiotok.asr_input import EDGE_SECONDS, asr_pieces, corpus_edges, pause_cuts

SR = 16000


def tone(seconds, hz=220.0, level=0.5):
    t = np.arange(int(seconds * SR)) / SR
    # a syllable-like envelope: never silent inside, so only real pauses are pauses
    return (level * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def silence(seconds):
    return np.zeros(int(seconds * SR), dtype=np.float32)


def test_every_long_pause_ends_a_piece_and_short_ones_do_not():
    parts = [tone(2.0), silence(0.5), tone(1.5), silence(0.1), tone(1.5), silence(0.4), tone(2.5)]
    x = np.concatenate(parts)
    spans = pause_cuts(x, SR)
    starts = np.cumsum([0] + [len(p) for p in parts])
    gap1, gap3 = (starts[1] + starts[2]) / 2, (starts[5] + starts[6]) / 2
    assert [s for s, _ in spans] == [0, pytest.approx(gap1, abs=0.02 * SR), pytest.approx(gap3, abs=0.02 * SR)]
    assert spans[-1][1] == len(x) and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_a_long_stretch_is_cut_at_its_longest_pause_then_at_its_quietest_frame():
    # 9 s of sound with two short pauses (0.12 s after 3 s, 0.2 s after 5.62 s): over 6 s, so cut once, at
    # the middle of the longer one
    x = np.concatenate([tone(3.0), silence(0.12), tone(2.5), silence(0.2), tone(3.2)])
    spans = pause_cuts(x, SR)
    assert len(spans) == 2 and spans[0][1] == pytest.approx(5.72 * SR, abs=0.02 * SR)
    # 14 s with no pause at all: halved where it is quietest near the middle, and the halves again
    y = tone(14.0)
    spans = pause_cuts(y, SR)
    lengths = [(b - a) / SR for a, b in spans]
    assert len(spans) == 4 and 2.5 <= min(lengths) and max(lengths) <= 4.5 and spans[-1][1] == len(y)
    assert pause_cuts(tone(0.5), SR) == [(0, int(0.5 * SR))]  # too short to cut
    with pytest.raises(ValueError, match="twice min_seconds"):
        pause_cuts(y, SR, max_seconds=1.5, min_seconds=1.0)


def test_edges_become_the_corpus_edges_and_pieces_carry_them():
    core = tone(1.0)
    x = np.concatenate([silence(0.7), core, silence(1.3)])
    y = corpus_edges(x, SR)
    pad = int(round(EDGE_SECONDS * SR))
    assert not y[:pad].any() and not y[-pad:].any()
    assert abs(len(y) - (len(core) + 2 * pad)) <= 0.04 * SR  # the sound kept, to a frame or two
    # however much silence surrounds it, the same samples come out (pads in whole 8 ms analysis hops)
    hops = [silence(0.008 * k) for k in (40, 120)]
    assert np.array_equal(corpus_edges(np.concatenate([hops[0], core, hops[1]]), SR),
                          corpus_edges(np.concatenate([hops[1], core, hops[0]]), SR))
    near = np.concatenate([silence(EDGE_SECONDS + 0.02), core, silence(EDGE_SECONDS - 0.01)])
    assert np.array_equal(corpus_edges(near, SR), near)  # corpus-like edges are left as they are
    assert np.array_equal(corpus_edges(silence(0.5), SR), silence(0.5))  # nothing to trim against
    pieces = asr_pieces(np.concatenate([x, tone(1.2), silence(0.2)]), SR)
    assert len(pieces) == 2 and all(not p[:pad].any() and not p[-pad:].any() for p in pieces)
