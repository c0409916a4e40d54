"""Running the real `audiotok` command line in a subprocess, for the tests of what a user types."""

import subprocess
import sys


def cli(*args, check=True, timeout=600):
    """`python -m audiotok ARGS` -> CompletedProcess (text); with `check`, exit status 0 is asserted."""
    r = subprocess.run([sys.executable, "-m", "audiotok", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, r.stderr
    return r
