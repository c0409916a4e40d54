"""`audiotok --help` and every subcommand's help render: argparse %-formats help strings, so a literal
"%" in a command's description must not break the listing of all commands."""

import os
import subprocess
import sys
from pathlib import Path

from audiotok.cli import _available, build_parser

REPO = Path(__file__).resolve().parents[1]


def test_the_command_listing_names_every_command():
    out = subprocess.run([sys.executable, "-m", "audiotok.cli", "--help"], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    names = [name for name, _ in _available()]
    assert "score-compare" in names  # its description has "95 %"
    for name in names:
        assert name in out.stdout


def test_every_subcommand_help_renders():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "_subcommand").choices
    assert set(subparsers) == {name for name, _ in _available()}
    for name, sub in subparsers.items():
        text = sub.format_help()
        assert text.startswith(f"usage: audiotok {name}"), name
