"""Fixtures shared across test modules."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from filelock import FileLock

# Before torch is imported: under pytest-xdist the workers share the cores, so one torch thread each;
# and threads wait passively, since spinning ones steal time from the other worker (5-10x slower
# steps under load, bench/__init__.py). Subprocesses inherit both.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Each xdist worker (and the subprocesses it starts) keeps its own numba cache: two workers compiling
# librosa's kernels (pyin, resemblyzer's mel) at once can write a mixed cache that segfaults every later
# process (numba issue #10128; `audiotok score` warms pyin before its own pool for the same reason).
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"numba-{os.environ['PYTEST_XDIST_WORKER']}-")
    atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory):
    """The shipped speech codec exported to ONNX by `audiotok export` (about a minute: done once and
    used by test_onnx.py and the streaming benchmark's smoke test) -> (dir, the command's stderr).
    Under pytest-xdist the workers share one export: the first makes it under a lock, the rest read it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _export_onnx(tmp_path_factory.mktemp("onnx"))
    shared = tmp_path_factory.getbasetemp().parent  # this session's, common to its workers
    with FileLock(str(shared / "onnx.lock")):
        return _export_onnx(shared / "onnx")


def _export_onnx(d):
    out, log = d / "speech_onnx", d / "export.stderr"
    if not log.is_file():
        d.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "audiotok", "export", "--format", "onnx", "-o", str(out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        log.write_text(r.stderr)
    return out, log.read_text()
