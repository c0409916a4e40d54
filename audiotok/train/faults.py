"""Fault injection for the crash tests: AUDIOTOK_FAULT="point:N" kills this process with SIGKILL
(no handler, no clean-up: what a power cut or the OOM killer does) the N-th time it reaches `point`.

Points: "step" (mid-step: gradients computed, weights not yet updated) and "checkpoint_write"
(a checkpoint fully written to its temp file, not yet renamed). Unset, a point costs one dict lookup.
"""

import os
import signal

ENV = "AUDIOTOK_FAULT"
_seen = {}


def fault_point(name):
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
