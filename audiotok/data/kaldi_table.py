"""One Kaldi table file (`<id> <value>` per line): parse, check a value, read and write in C byte order."""

import re
from pathlib import Path
from typing import NamedTuple

from audiotok.errors import DataDirError
from audiotok.fileio import atomic_path

_TABLE_NAME = re.compile(r"(?:(?:utt2|spk2|reco2)[A-Za-z0-9_]+|text|phones|segments|[A-Za-z0-9_.-]+\.scp)")
_LINE = re.compile(r"([^ \t]+)(?:[ \t]+(.*?))?[ \t]*")
_UTT_SCP = {"feats.scp", "vad.scp"}  # Kaldi scp files keyed by utterance, not recording
_SPK_SCP = {"cmvn.scp"}


def c_order(s):
    """Sort key matching `LC_ALL=C sort`: raw UTF-8 bytes."""
    return s.encode("utf-8", "surrogateescape")


def table_kind(name):
    """'utt', 'spk' or 'reco' (= wav.scp's keys: utterances unless there are segments), or None if not a table."""
    if not _TABLE_NAME.fullmatch(name):
        return None
    if name in ("text", "phones", "segments") or name in _UTT_SCP or name.startswith("utt2"):
        return "utt"
    if name in _SPK_SCP or name.startswith("spk2"):
        return "spk"
    return "reco"


class Entry(NamedTuple):
    key: str
    value: str
    lineno: int


def scan_table(path):
    """Parse a table leniently: (entries in file order, problems). Malformed lines are reported and skipped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataDirError(f"{path}: cannot read ({e.strerror})") from None
    entries, problems = [], []
    if data and not data.endswith(b"\n"):
        problems.append(f"{path}: last line does not end with a newline")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, 1):
        if raw.endswith(b"\r"):
            problems.append(f"{path}: line {n} ends with a carriage return (Windows line ending)")
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{path}: line {n} is not valid UTF-8")
            line = raw.decode("utf-8", "surrogateescape")
        m = _LINE.fullmatch(line)
        if not line.strip():
            problems.append(f"{path}: line {n} is empty")
        elif m is None:
            problems.append(f"{path}: line {n} starts with whitespace")
        else:
            entries.append(Entry(m.group(1), m.group(2) or "", n))
    return entries, problems


def value_problem(name, value):
    """Why `value` is not a well-formed value of table `name`, or None."""
    if name == "text":
        return None  # an empty transcript is legal (validate warns)
    if not value:
        return "has no value"
    if name == "utt2spk" and len(value.split()) != 1:
        return "must have exactly one speaker id"
    if name == "segments":
        fields = value.split()
        if len(fields) != 3:
            return "must be '<utt> <reco> <start> <end>'"
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            return "has a non-numeric start or end time"
        if start < 0 or (end <= start and end != -1):  # Kaldi: end -1 = to the end of the recording
            return f"has start {fields[1]} and end {fields[2]} (need 0 <= start < end, or end -1)"
    return None


def read_scp(path):
    """Read a table into {id: value} (value = rest of the line). Raises DataDirError on a malformed line or a
    duplicate id; order is not checked here (validate_data_dir does)."""
    entries, problems = scan_table(path)
    if problems:
        raise DataDirError(problems[0])
    out = {}
    for e in entries:
        if e.key in out:
            raise DataDirError(f"{path}: duplicate id '{e.key}' at line {e.lineno}")
        out[e.key] = e.value
    return out


def write_scp(path, mapping):
    """Write {id: value} sorted in C byte order, atomically. A list/tuple value is joined by spaces."""
    lines = []
    for key in sorted(mapping, key=c_order):
        value = mapping[key]
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        key, value = str(key), str(value)
        if not key or any(c in key for c in " \t\n\r"):
            raise DataDirError(f"{path}: invalid id {key!r} (ids are non-empty and contain no whitespace)")
        if "\n" in value or "\r" in value:
            raise DataDirError(f"{path}: value of '{key}' contains a line break")
        lines.append(f"{key} {value}\n" if value else f"{key}\n")
    with atomic_path(path) as tmp:  # atomic_path gives the file the umask's permissions (data dirs are shared)
        tmp.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    return Path(path)
