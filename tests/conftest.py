"""Fixtures shared across test modules."""

import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory):
    """The shipped speech codec exported to ONNX by `audiotok export` (about a minute: done once and
    used by test_onnx.py and the streaming benchmark's smoke test) -> (dir, the command's stderr)."""
    out = tmp_path_factory.mktemp("onnx") / "speech_onnx"
    r = subprocess.run([sys.executable, "-m", "audiotok", "export", "--format", "onnx", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out, r.stderr
