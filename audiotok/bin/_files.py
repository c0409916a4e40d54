"""Turning CLI inputs (files, folders, Kaldi data dirs) into (key, input, output) jobs, and the checks
that keep outputs from replacing inputs."""

import os
from pathlib import Path

from audiotok.errors import UserError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aac"}


def expand_inputs(inputs, suffixes):
    """Files as given; folders searched recursively for `suffixes`. Returns [(key, path, root)]."""
    out = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not found:
                raise UserError(f"{p}: folder holds no {'/'.join(sorted(suffixes))} files")
            out += [(str(f.relative_to(p).with_suffix("")), f, p) for f in found]
        else:
            out.append((p.stem, p, None))
    keys = [k for k, _, _ in out]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise UserError(f"several inputs map to the same output name: {', '.join(dup[:5])}")
    return out


def plan_outputs(items, out, suffix, file_suffixes=None, command=None):
    """One input + OUT with a file suffix -> that file; otherwise OUT is a folder of <key><suffix>.
    `file_suffixes` are the suffixes the command can write (default: `suffix`); one input with an
    OUT named like another audio or token file is refused instead of becoming a folder of that name."""
    out = Path(out)
    file_suffixes = {s.lower() for s in (file_suffixes or {suffix})}
    one = len(items) == 1 and items[0][2] is None
    if one and out.suffix.lower() in file_suffixes:
        return [(items[0][0], items[0][1], out)]
    if one and out.suffix.lower() in AUDIO_SUFFIXES | {".atok"} and not out.is_dir():
        what = f"{command} writes" if command else "the output is"
        raise UserError(f"{out}: {what} {'/'.join(sorted(file_suffixes))} files, not {out.suffix}; "
                        f"name the output {out.with_suffix(suffix).name}")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder (several inputs need an output folder)")
    return [(key, src, out / f"{key}{suffix}") for key, src, _ in items]


def refuse_overwriting_inputs(outputs, inputs):
    """Raise a UserError naming the first output that would replace one of `inputs`."""
    ins = {}
    for p in inputs:
        if p is None or str(p).rstrip().endswith("|"):
            continue  # a Kaldi pipe is a command, not a file
        try:
            st = os.stat(p)
        except OSError:
            ins.setdefault(("path", str(Path(p).resolve())), p)
            continue
        ins[(st.st_dev, st.st_ino)] = p
        ins[("path", str(Path(p).resolve()))] = p
    for o in outputs:
        try:
            st = os.stat(o)
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = None
        hit = ins.get(key) if key is not None else None
        hit = hit or ins.get(("path", str(Path(o).resolve())))
        if hit is not None:
            raise UserError(f"{o}: is also an input ({hit}); refusing to overwrite it (choose another output)")


def prepare_outputs(outputs):
    """Before any work: every output can become a file and its folder exists (made here) and is writable,
    so an unwritable output is one error line up front, not one failure per file."""
    from audiotok.fileio import OutputError, check_output_file, make_dirs

    for o in outputs:
        check_output_file(o)
    for folder in sorted({Path(o).parent for o in outputs}):
        make_dirs(folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(folder, "folder is not writable (permission denied)")
