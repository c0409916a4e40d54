"""Kaldi data dirs: read/write tables, load a dir, validate, fix, split and subset it.

A data dir holds tables, one `<id> <value>` line each, sorted in C byte order (LC_ALL=C) and
unique by id: wav.scp, utt2spk, spk2utt, text, optional segments, per-stem scp files
(vocals.scp, accompaniment.scp) and per-utterance/speaker/recording info (utt2dur, spk2gender,
reco2dur, ...). Which id a table is keyed by follows from its name (see `table_kind`).
"""

import bisect
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from audiotok.data.kaldi_table import c_order, read_scp, scan_table, table_kind, value_problem, write_scp
from audiotok.errors import DataDirError, UserError

__all__ = ["DataDir", "Segment", "Report", "c_order", "table_kind", "read_scp", "write_scp", "load_data_dir",
           "write_data_dir", "check_data_dir", "validate_data_dir", "fix_data_dir", "split_data_dir",
           "subset_data_dir"]

SHOWN = 5  # at most this many offending entries are named one by one; the rest are counted
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".rf64", ".caf", ".sph"}


class Segment(NamedTuple):
    """A segments line; end is -1.0 when the segment runs to the end of the recording."""

    reco: str
    start: float
    end: float


@dataclass
class DataDir:
    """A loaded data dir. Tables are plain dicts; `extra` holds the other *.scp files by stem
    (`extra["vocals"]` for vocals.scp), `info` the other tables by file name (`info["utt2dur"]`)."""

    path: Path
    wav: dict
    utt2spk: dict
    spk2utt: dict
    text: dict = None
    segments: dict = None
    extra: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def utts(self):
        return sorted(self.utt2spk, key=c_order)

    @property
    def speakers(self):
        return sorted(self.spk2utt, key=c_order)

    def recording(self, utt):
        """The wav.scp id holding `utt`."""
        return self.segments[utt].reco if self.segments is not None else utt

    def __len__(self):
        return len(self.utt2spk)


def _table_names(d, extra_kinds=None):
    names = []
    for p in sorted(Path(d).iterdir()):
        if p.is_file() and not p.name.startswith(".") and (table_kind(p.name) or p.name in (extra_kinds or {})):
            names.append(p.name)
    return names


def _load_tables(d):
    """All tables of a dir, parsed strictly (any malformed line, duplicate id or bad value raises)."""
    d = Path(d)
    if not d.is_dir():
        raise DataDirError(f"{d}: not a directory")
    if not (d / "utt2spk").is_file():
        raise DataDirError(f"{d}/utt2spk: missing")
    tables = {}
    for name in _table_names(d):
        table = read_scp(d / name)
        for key, value in table.items():
            why = value_problem(name, value)
            if why:
                raise DataDirError(f"{d / name}: '{key}' {why}")
        tables[name] = table
    return tables


def _spk2utt(utt2spk):
    out = {}
    for utt in sorted(utt2spk, key=c_order):
        out.setdefault(utt2spk[utt], []).append(utt)
    return out


def load_data_dir(d):
    """Load a data dir into a DataDir (spk2utt is derived from utt2spk when the file is absent)."""
    d = Path(d)
    tables = _load_tables(d)
    segments = None
    if "segments" in tables:
        segments = {}
        for utt, value in tables["segments"].items():
            reco, start, end = value.split()
            segments[utt] = Segment(reco, float(start), float(end))
    spk2utt = {s: v.split() for s, v in tables["spk2utt"].items()} if "spk2utt" in tables else None
    core = {"wav.scp", "utt2spk", "spk2utt", "text", "segments"}
    return DataDir(
        path=d,
        wav=tables.get("wav.scp", {}),
        utt2spk=tables["utt2spk"],
        spk2utt=spk2utt if spk2utt is not None else _spk2utt(tables["utt2spk"]),
        text=tables.get("text"),
        segments=segments,
        extra={n[: -len(".scp")]: t for n, t in tables.items() if n.endswith(".scp") and n not in core},
        info={n: t for n, t in tables.items() if n not in core and not n.endswith(".scp")},
    )


def _remove_stale_tables(d, keep):
    if Path(d).is_dir():
        for name in _table_names(d):
            if name not in keep:
                (Path(d) / name).unlink()


def write_data_dir(d, wav, utt2spk, text=None, extra=None, segments=None, info=None):
    """Write a data dir: wav.scp, utt2spk, spk2utt (derived), text, segments, extra scp files
    ({"vocals": {...}} -> vocals.scp) and info tables ({"utt2dur": {...}}). Segments values may be
    Segment/tuples or 'reco start end' strings. Tables of an older content of `d` not written now are removed."""
    d = Path(d)
    files = {"wav.scp": wav, "utt2spk": utt2spk, "spk2utt": _spk2utt(utt2spk)}
    if text is not None:
        files["text"] = text
    if segments is not None:
        files["segments"] = {u: " ".join(str(x) for x in s) if isinstance(s, tuple) else s for u, s in segments.items()}
    for stem, table in (extra or {}).items():
        files[stem if stem.endswith(".scp") else f"{stem}.scp"] = table
    for name, table in (info or {}).items():
        if table_kind(name) is None:
            raise UserError(f"{d / name}: not a data-dir table name (use utt2*, spk2*, reco2* or *.scp)")
        files[name] = table
    for name, table in files.items():
        for key, value in table.items():
            why = value_problem(name, " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
            if why:
                raise DataDirError(f"{d / name}: '{key}' {why}")
    d.mkdir(parents=True, exist_ok=True)
    _remove_stale_tables(d, files)
    for name, table in files.items():
        write_scp(d / name, table)
    return d


# ---------------------------------------------------------------- validation


@dataclass
class Report:
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    num_utts: int = 0
    num_spks: int = 0

    @property
    def ok(self):
        return not self.problems


def _first(ids):
    return repr(min(ids, key=c_order))


def _compare_keys(rep, path, have, want, ref):
    missing, unknown = want - have, have - want
    if missing:
        rep.problems.append(f"{path}: {len(missing)} id(s) of {ref} missing (first: {_first(missing)})")
    if unknown:
        rep.problems.append(f"{path}: {len(unknown)} id(s) not in {ref} (first: {_first(unknown)})")


def _check_table(rep, path, entries):
    """Order, uniqueness and value format of one table; returns {id: value} (first occurrence wins)."""
    table, seen, dups, bad = {}, {}, [], []
    prev, unsorted = None, False
    for e in entries:
        if prev is not None and not unsorted and c_order(e.key) < c_order(prev.key):
            unsorted = True  # name the first misplaced line only
            rep.problems.append(f"{path}: not sorted in C byte order (line {e.lineno}: '{e.key}' after '{prev.key}')")
        prev = e
        if e.key in seen:
            dups.append(e)
            continue
        seen[e.key] = e.lineno
        why = value_problem(path.name, e.value)
        if why:
            bad.append(f"{path}: line {e.lineno}: '{e.key}' {why}")
            continue
        table[e.key] = e.value
    if dups:
        e = dups[0]
        rep.problems.append(f"{path}: {len(dups)} duplicate id(s) (first: '{e.key}' at lines {seen[e.key]} and {e.lineno})")
    rep.problems.extend(bad[:SHOWN])
    if len(bad) > SHOWN:
        rep.problems.append(f"{path}: ... and {len(bad) - SHOWN} more malformed lines")
    return table


def _audio_problem(value):
    """Why the audio named by a wav.scp value is unusable, or None. Pipes and ark offsets are not checked.
    The value is the rest of the line, so a path may hold spaces (encode reads such files)."""
    from audiotok.audio import audio_info
    from audiotok.errors import AudioError

    if value.endswith("|") or re.search(r"\.ark:\d+$", value):
        return None
    if not os.path.isfile(value):
        if os.path.exists(value):
            return "not a regular file"
        if any(c.isspace() for c in value):
            return "file not found (a path with whitespace is read whole; only a command ends in '|')"
        return "file not found"
    if not os.access(value, os.R_OK):
        return "file not readable (permissions)"
    try:
        audio_info(value)  # also scans float samples for NaN/inf, which no model survives
    except AudioError as e:
        return e.problem if e.problem.startswith(("holds", "sample rate")) else f"not readable audio ({e.problem})"
    return None


def _check_audio(rep, path, table, only_audio_exts):
    bad, pipes = [], 0
    for key, value in table.items():
        if value.endswith("|"):
            pipes += 1
            continue
        if only_audio_exts and os.path.splitext(value)[1].lower() not in AUDIO_EXTS:
            continue
        why = _audio_problem(value)
        if why:
            bad.append(f"{path}: '{key}': {value}: {why}")
    rep.problems.extend(bad[:SHOWN])
    if len(bad) > SHOWN:
        rep.problems.append(f"{path}: ... and {len(bad) - SHOWN} more entries with unusable audio")
    if pipes:
        rep.warnings.append(f"{path}: {pipes} entries are commands ending in '|'; their audio was not checked")


def _non_printable(text):
    return any(unicodedata.category(c) in ("Cc", "Cs") and c != "\t" for c in text)


def check_data_dir(d, no_text=False, no_wav=False, no_spk_sort=False, check_audio=True, non_print=False):
    """Full check of a data dir -> Report(problems, warnings, num_utts, num_spks). Each problem is one line
    naming the file. `non_print=True` allows non-printable characters in text (Kaldi's --non-print)."""
    d = Path(d)
    rep = Report()
    if not d.is_dir():
        rep.problems.append(f"{d}: not a directory")
        return rep
    names = _table_names(d)
    for req in ["utt2spk", "spk2utt"] + ([] if no_wav else ["wav.scp"]) + ([] if no_text else ["text"]):
        if req not in names:
            rep.problems.append(f"{d / req}: missing")
    tables = {}
    for name in names:
        entries, problems = scan_table(d / name)
        rep.problems.extend(problems)
        tables[name] = _check_table(rep, d / name, entries)
    if "utt2spk" not in tables:
        return rep
    utt2spk = tables["utt2spk"]
    utts, spks = set(utt2spk), set(utt2spk.values())
    rep.num_utts, rep.num_spks = len(utts), len(spks)
    if not utts:
        rep.problems.append(f"{d / 'utt2spk'}: no utterances")
        return rep

    if "spk2utt" in tables:
        _check_spk2utt(rep, d / "spk2utt", tables["spk2utt"], utt2spk)
    if not no_spk_sort:
        by_utt = sorted(utts, key=c_order)
        by_spk = sorted(utts, key=lambda u: (c_order(utt2spk[u]), c_order(u)))
        if by_utt != by_spk:
            bad = next(u for u, v in zip(by_utt, by_spk) if u != v)
            rep.problems.append(f"{d / 'utt2spk'}: order differs when sorted by speaker (at '{bad}'); "
                                "make speaker ids prefixes of utterance ids, or pass --no-spk-sort")
        unprefixed = [u for u in utts if not u.startswith(utt2spk[u])]
        if unprefixed:
            rep.warnings.append(f"{d / 'utt2spk'}: {len(unprefixed)} utterance id(s) do not start with their "
                                f"speaker id (first: {_first(unprefixed)})")
    if len(spks) == 1 and len(utts) > 1:
        rep.warnings.append(f"{d / 'utt2spk'}: only one speaker")

    if "text" in tables:
        text = tables["text"]
        empty = [u for u, t in text.items() if not t]
        if empty:
            rep.warnings.append(f"{d / 'text'}: {len(empty)} empty transcript(s) (first: {_first(empty)})")
        if not non_print:
            odd = [u for u, t in text.items() if _non_printable(t)]
            if odd:
                rep.problems.append(f"{d / 'text'}: {len(odd)} line(s) with non-printable characters "
                                    f"(first: {_first(odd)})")

    recos = set(tables["wav.scp"]) if "wav.scp" in tables else None
    if "segments" in tables:
        segs = tables["segments"]
        if recos is not None:
            seg_recos = {v.split()[0] for v in segs.values()}
            unknown = seg_recos - recos
            if unknown:
                rep.problems.append(f"{d / 'segments'}: {len(unknown)} recording id(s) not in wav.scp "
                                    f"(first: {_first(unknown)})")
            unused = recos - seg_recos
            if unused:
                rep.warnings.append(f"{d / 'wav.scp'}: {len(unused)} recording(s) have no segment "
                                    f"(first: {_first(unused)})")
    elif recos is not None:
        _compare_keys(rep, d / "wav.scp", recos, utts, "utt2spk")
    if "wav.scp" in tables and any("~" in v for v in tables["wav.scp"].values()):
        rep.problems.append(f"{d / 'wav.scp'}: contains '~' (write paths out in full)")

    for name, table in tables.items():
        kind, path = table_kind(name), d / name
        if name in ("utt2spk", "spk2utt", "wav.scp"):
            continue
        if kind == "utt":
            _compare_keys(rep, path, set(table), utts, "utt2spk")
        elif kind == "spk":
            _compare_keys(rep, path, set(table), spks, "utt2spk's speakers")
        elif kind == "reco" and recos is not None:
            _compare_keys(rep, path, set(table), recos, "wav.scp")

    if check_audio:
        for name, table in tables.items():
            if name == "wav.scp":
                _check_audio(rep, d / name, table, only_audio_exts=False)
            elif name.endswith(".scp") and table_kind(name) == "reco":
                _check_audio(rep, d / name, table, only_audio_exts=True)
    return rep


def _check_spk2utt(rep, path, spk2utt, utt2spk):
    derived = _spk2utt(utt2spk)
    owner = {}
    for spk, value in spk2utt.items():
        for utt in value.split():
            if utt in owner:
                rep.problems.append(f"{path}: utterance '{utt}' listed under both '{owner[utt]}' and '{spk}'")
                return
            owner[utt] = spk
    _compare_keys(rep, path, set(spk2utt), set(derived), "utt2spk's speakers")
    wrong = [s for s in spk2utt if s in derived and set(spk2utt[s].split()) != set(derived[s])]
    if wrong:
        rep.problems.append(f"{path}: {len(wrong)} speaker(s) list other utterances than utt2spk says "
                            f"(first: {_first(wrong)}); regenerate it from utt2spk")


def validate_data_dir(d, no_text=False, no_wav=False, check_audio=True, no_spk_sort=False, non_print=False):
    """Problems of a data dir, one line each; empty when it is valid (warnings are in check_data_dir)."""
    return check_data_dir(d, no_text=no_text, no_wav=no_wav, no_spk_sort=no_spk_sort,
                          check_audio=check_audio, non_print=non_print).problems


# ---------------------------------------------------------------- fix, subset, split


def _count_lines(path):
    return sum(1 for line in Path(path).read_bytes().split(b"\n") if line.strip())


def fix_data_dir(d, check_audio=True, utt_extra_files=(), spk_extra_files=()):
    """Keep only the utterances present (and well formed) in every table and whose audio is readable,
    re-sort, regenerate spk2utt; originals go to `d/.backup/`. Returns {file: {"kept": n, "removed": m}}
    plus an "utterances" entry and "duplicates": one line per dropped duplicate id (the first line wins). `*_extra_files` name extra per-utterance/per-speaker tables."""
    d = Path(d)
    extra_kinds = {**{n: "utt" for n in utt_extra_files}, **{n: "spk" for n in spk_extra_files}}
    if not (d / "utt2spk").is_file():
        raise DataDirError(f"{d / 'utt2spk'}: missing; cannot fix a data dir without it")
    names = _table_names(d, extra_kinds)
    kinds = {n: extra_kinds.get(n) or table_kind(n) for n in names}
    tables, duplicates = {}, []
    for name in names:
        entries, _ = scan_table(d / name)
        table, line_of = {}, {}
        for e in entries:
            if e.key in table:
                duplicates.append(f"{d / name}: duplicate id '{e.key}': kept line {line_of[e.key]} "
                                  f"({table[e.key]}), dropped line {e.lineno} ({e.value})")
            elif value_problem(name, e.value) is None:
                table[e.key], line_of[e.key] = e.value, e.lineno
        tables[name] = table
    utt2spk = tables["utt2spk"]
    utts = set(utt2spk)
    for name, kind in kinds.items():
        if kind == "utt" and name != "utt2spk":
            utts &= set(tables[name])
        elif kind == "spk" and name != "spk2utt":
            utts = {u for u in utts if utt2spk[u] in tables[name]}
    reco_tables = [n for n, k in kinds.items() if k == "reco"]
    recos = None
    for name in reco_tables:
        recos = set(tables[name]) if recos is None else recos & set(tables[name])
    segs = tables.get("segments")
    if segs is not None:
        utts = {u for u in utts if recos is None or segs[u].split()[0] in recos}
        recos = {segs[u].split()[0] for u in utts}
    elif recos is not None:
        utts &= recos
        recos = set(utts)
    if check_audio and recos:
        bad = set()
        for name in reco_tables:
            if name == "wav.scp" or name.endswith(".scp"):
                only_ext = name != "wav.scp"
                for r in recos:
                    v = tables[name][r]
                    if v.endswith("|") or (only_ext and os.path.splitext(v)[1].lower() not in AUDIO_EXTS):
                        continue
                    if _audio_problem(v):
                        bad.add(r)
        recos -= bad
        utts = {u for u in utts if (segs[u].split()[0] if segs is not None else u) in recos}
    if not utts:
        raise DataDirError(f"{d}: no utterance is present and well formed in every table; nothing changed")

    counts = {"utterances": {"kept": len(utts), "removed": _count_lines(d / "utt2spk") - len(utts)},
              "duplicates": duplicates}
    backup = d / ".backup"
    backup.mkdir(exist_ok=True)
    for name in names:
        shutil.copy2(d / name, backup / name)
    keep_utt2spk = {u: utt2spk[u] for u in utts}
    speakers = set(keep_utt2spk.values())
    keep = {"utt": utts, "spk": speakers, "reco": recos if recos is not None else utts}
    for name in names:
        if name == "spk2utt":
            continue
        out = {k: v for k, v in tables[name].items() if k in keep[kinds[name]]}
        write_scp(d / name, out)
        counts[name] = {"kept": len(out), "removed": _count_lines(backup / name) - len(out)}
    spk2utt = _spk2utt(keep_utt2spk)
    write_scp(d / "spk2utt", spk2utt)
    before = _count_lines(backup / "spk2utt") if "spk2utt" in names else 0
    counts["spk2utt"] = {"kept": len(spk2utt), "removed": max(0, before - len(spk2utt))}
    return counts


def _write_subset(tables, utts, out):
    """Write the part of `tables` that belongs to `utts` into dir `out` (spk2utt regenerated)."""
    utt2spk = {u: tables["utt2spk"][u] for u in utts}
    segs = tables.get("segments")
    keep = {"utt": set(utts), "spk": set(utt2spk.values()),
            "reco": {segs[u].split()[0] for u in utts} if segs is not None else set(utts)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_tables(out, tables)
    for name, table in tables.items():
        if name != "spk2utt":
            write_scp(out / name, {k: v for k, v in table.items() if k in keep[table_kind(name)]})
    write_scp(out / "spk2utt", _spk2utt(utt2spk))
    return out


def _read_ids(ids):
    if isinstance(ids, (str, os.PathLike)):
        return {line.split()[0] for line in Path(ids).read_text(encoding="utf-8").splitlines() if line.strip()}
    return set(ids)


def subset_data_dir(d, out, first=None, last=None, utt_list=None, spk_list=None):
    """Write a subset of data dir `d` into `out`: the first/last N utterances in sorted order, the utterances
    of a list, or all utterances of the speakers of a list (a list is a file of ids, first field, or an
    iterable of ids). Ids of a list that `d` lacks are ignored. Returns the output path."""
    if sum(x is not None for x in (first, last, utt_list, spk_list)) != 1:
        raise UserError("subset_data_dir: give exactly one of first, last, utt_list, spk_list")
    d, out = Path(d), Path(out)
    if out.resolve() == d.resolve():
        raise UserError(f"{out}: the subset must go to another directory than its source")
    tables = _load_tables(d)
    utt2spk = tables["utt2spk"]
    utts = sorted(utt2spk, key=c_order)
    if first is not None or last is not None:
        n = first if first is not None else last
        if int(n) < 1:
            raise UserError(f"subset_data_dir: need a positive number of utterances, got {n}")
        chosen = utts[: int(n)] if first is not None else utts[-int(n):]
    elif utt_list is not None:
        wanted = _read_ids(utt_list)
        chosen = [u for u in utts if u in wanted]
    else:
        wanted = _read_ids(spk_list)
        chosen = [u for u in utts if utt2spk[u] in wanted]
    if not chosen:
        raise DataDirError(f"{d}: the subset selects no utterance")
    return _write_subset(tables, chosen, out)


def _balanced_runs(sizes, n):
    """Cut consecutive items with these sizes into n non-empty runs of near-equal total size -> [(lo, hi)]."""
    cum = list(accumulate(sizes))
    cuts, prev = [0], 0
    for i in range(1, n):
        target = cum[-1] * i / n
        j = bisect.bisect_left(cum, target)  # cum[j] >= target: cut after item j, or before it
        cut = j + 1 if cum[j] - target <= target - (cum[j - 1] if j else 0) else j
        cut = min(max(cut, prev + 1), len(sizes) - (n - i))  # every run keeps at least one item
        cuts.append(cut)
        prev = cut
    cuts.append(len(sizes))
    return list(zip(cuts[:-1], cuts[1:]))


def split_data_dir(d, n, per_utt=False):
    """Split `d` into nj = min(n, #utterances) parts `d/split{nj}/{1..nj}` (`split{nj}utt` with per_utt), keeping
    each speaker in one part when there are at least nj speakers, parts balanced by utterance count (Kaldi's
    split_data.sh). Returns the part dirs; their number is the nj to use in JOB=1:nj."""
    d = Path(d)
    if int(n) < 1:
        raise UserError(f"split_data_dir: need a positive number of parts, got {n}")
    tables = _load_tables(d)
    utts = sorted(tables["utt2spk"], key=c_order)
    if not utts:
        raise DataDirError(f"{d / 'utt2spk'}: no utterances to split")
    nj = min(int(n), len(utts))
    spk2utt = _spk2utt(tables["utt2spk"])
    if not per_utt and len(spk2utt) >= nj:
        groups = [spk2utt[s] for s in sorted(spk2utt, key=c_order)]
    else:
        groups = [[u] for u in utts]
    out = d / (f"split{nj}utt" if per_utt else f"split{nj}")
    shutil.rmtree(out, ignore_errors=True)
    parts = []
    for i, (lo, hi) in enumerate(_balanced_runs([len(g) for g in groups], nj), 1):
        parts.append(_write_subset(tables, [u for g in groups[lo:hi] for u in g], out / str(i)))
    return parts
