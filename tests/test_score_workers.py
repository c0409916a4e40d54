"""audiotok score's worker pool: results from every job, and a worker that dies (as a native library's
segfault kills it) ends the run with one error instead of waiting for it forever."""

import os
import signal

import numpy as np
import pytest

from audiotok.bin.score import _map
from audiotok.errors import UserError


def square(x):
    return x * x


def crash_on_three(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGSEGV)
    return x


def test_every_job_comes_back_in_two_processes():
    assert sorted(_map(square, list(range(7)), 2, "test")) == [x * x for x in range(7)]


def test_a_worker_that_dies_is_an_error_not_a_hang():
    def hung(*_):
        raise AssertionError("no answer after 120 s: the pool waits for the dead worker")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        with pytest.raises(UserError, match="a worker process died"):
            list(_map(crash_on_three, list(range(6)), 2, "test"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_pitch_warm_up_runs_and_pitch_error_still_measures_a_fifth():
    from audiotok.metrics.quality import PITCH_SR, pitch_error, warm_up_pitch

    warm_up_pitch()
    t = np.arange(PITCH_SR) / PITCH_SR
    tone = 0.5 * np.sin(2 * np.pi * 220.0 * t)
    fifth = 0.5 * np.sin(2 * np.pi * 330.0 * t)
    assert pitch_error(tone, tone, PITCH_SR) < 5
    assert pitch_error(tone, fifth, PITCH_SR) == pytest.approx(702, abs=30)  # a fifth is 702 cents
