"""RESULTS.md writer: named sections, each with an Environment block, the results table and
codebook usage, so that several stages or runs fill one file. A section lies between
`<!-- section: TITLE -->` and `<!-- end section: TITLE -->`; writing a title again replaces its
section in place, a new title is appended, and text outside the markers is kept as it is.
"""

import contextlib
import datetime
import fcntl
import math
import os
import platform
import socket
import sys
from pathlib import Path

from audiotok import __version__
from audiotok.errors import UserError
from audiotok.fileio import atomic_write_text

# (header, row key, format): the table every scorer writes
COLUMNS = (
    ("system", "system", "{}"),
    ("kbps", "kbps", "{:.3f}"),
    ("frame rate", "frame_rate", "{:g}"),
    ("tokens/s", "tokens_per_s", "{:g}"),
    ("PESQ-WB", "pesq", "{:.2f}"),
    ("STOI", "stoi", "{:.3f}"),
    ("mel dist", "mel", "{:.3f}"),
    ("SI-SDR", "sisdr", "{:.1f}"),
    ("WER %", "wer", "{:.1f}"),
    ("CER %", "cer", "{:.1f}"),
    ("utts", "utts", "{}"),
)
# columns shown only when some row has a value (so speech tables keep their layout)
OPTIONAL_COLUMNS = {"f0": ("F0 err cents", "f0", "{:.0f}"), "leak": ("leak dB", "leak", "{:.1f}")}
EMPTY = "—"


def _git_hash():
    from audiotok.provenance import git_state

    rev, dirty = git_state()
    if rev is None:
        return "unknown (not a git checkout)"
    return rev + (" **(UNCOMMITTED CHANGES: these results cannot be reproduced from this hash)**" if dirty else "")


def _cpu_name():
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(command=None):
    """What produced a result: date, host, CPU, python, torch, audiotok, git hash, command line."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": socket.gethostname(),
        "cpu": f"{_cpu_name()} ({os.cpu_count()} logical cores)",
        "python": platform.python_version(),
        "torch": torch_version,
        "audiotok": __version__,
        "git": _git_hash(),
        "command": command or " ".join(sys.argv),
    }


def environment_block(env):
    lines = ["### Environment", ""]
    for key in ("date", "host", "cpu", "python", "torch", "audiotok", "git"):
        lines.append(f"- {key}: {env[key]}")
    lines += ["- command:", "", "```sh", env["command"], "```"]
    return "\n".join(lines)


def _cell(value, fmt):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    return fmt.format(value).replace("|", "\\|")


def json_safe(v):
    """JSON has no NaN/inf: null for them, in nested dicts and lists too."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v


def table_columns(rows):
    """COLUMNS plus the OPTIONAL_COLUMNS that some row fills, each after SI-SDR."""
    extra = [c for key, c in OPTIONAL_COLUMNS.items()
             if any(isinstance(r.get(key), (int, float)) and math.isfinite(r[key]) for r in rows)]
    i = [k for _, k, _ in COLUMNS].index("sisdr") + 1
    return COLUMNS[:i] + tuple(extra) + COLUMNS[i:]


def results_table(rows):
    """Markdown table of rows (dicts keyed as in COLUMNS; a missing key or NaN prints as —)."""
    cols = table_columns(rows)
    out = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        out.append("| " + " | ".join(_cell(row.get(k), f) for _, k, f in cols) + " |")
    return "\n".join(out)


def codebook_table(per_system):
    """per_system: {system: [dict(stream?, codebook, size, usage, perplexity)]} -> Markdown table."""
    out = ["| system | stream | codebook | size | usage % | perplexity |", "|---|---|---|---|---|---|"]
    for system, books in per_system.items():
        for b in books:
            out.append(f"| {system} | {b.get('stream', EMPTY)} | {b['codebook']} | {b['size']} "
                       f"| {_cell(100 * b['usage'], '{:.1f}')} | {_cell(b['perplexity'], '{:.1f}')} |")
    return "\n".join(out)


def render_section(title, rows, env=None, codebooks=None, notes=(), extra=()):
    """Body of one section: heading, Environment, results table, notes, optional codebook and
    extra (heading, markdown) blocks."""
    parts = [f"## {title}", "", environment_block(env or environment()), "", "### Results", "", results_table(rows)]
    if notes:
        parts += [""] + [f"- {n}" for n in notes]
    if codebooks:
        parts += ["", "### Codebook usage", "", codebook_table(codebooks)]
    for heading, text in extra:
        parts += ["", f"### {heading}", "", text]
    return "\n".join(parts)


def _markers(title):
    if not title or "\n" in title or "-->" in title:
        raise UserError(f"section title {title!r}: must be one non-empty line without '-->'")
    return f"<!-- section: {title} -->", f"<!-- end section: {title} -->"


def _header():
    return (f"<!-- Generated by audiotok {__version__} (audiotok.metrics.report). Sections between 'section' "
            "markers are rewritten by `audiotok score --results-md ... --section TITLE`; text outside them "
            "is kept. -->\n# RESULTS\n")


@contextlib.contextmanager
def _dir_lock(folder):
    """Serialise writers of files in one folder (two runs filling one RESULTS.md at once)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_section(path, title, body):
    """Add or replace section `title` of Markdown file `path` (created with a header when absent),
    atomically. Returns the path."""
    path = Path(path)
    begin, end = _markers(title)
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _dir_lock(path.parent):
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else _header()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read it to add a section: {e}") from None
        i = text.find(begin)
        if i >= 0:
            j = text.find(end, i)
            if j < 0:
                raise UserError(f"{path}: section '{title}' has a begin marker but no '{end}'")
            j += len(end)
            if text[j:j + 1] == "\n":
                j += 1
            text = text[:i] + block + text[j:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
        atomic_write_text(path, text)
    return path
