"""Which commit made a result: the checkout's short HEAD hash and whether tracked files differ from it.

The RESULTS.md files that recipes write while they run are left out of that check: writing results
does not make a run unreproducible, and runs that overlap (a training beside a scoring stage) would
otherwise mark each other's work as made from uncommitted code.
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILES = (":(exclude,glob)**/RESULTS.md", ":(exclude)RESULTS.md")


def git_state(root=ROOT):
    """-> (short hash, dirty) of the checkout `root` (default: the one holding this package), or
    (None, False) outside git."""
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None, False
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", *RESULTS_FILES], capture_output=True, text=True, timeout=30)
        return rev.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, False


__all__ = ["git_state"]
