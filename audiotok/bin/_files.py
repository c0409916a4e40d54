"""Turning CLI inputs (files, folders, Kaldi data dirs) into (key, input, output) jobs."""

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


def plan_outputs(items, out, suffix):
    """One input + OUT with `suffix` -> that file; otherwise OUT is a folder of <key><suffix>."""
    out = Path(out)
    if len(items) == 1 and items[0][2] is None and out.suffix == suffix:
        return [(items[0][0], items[0][1], out)]
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder (several inputs need an output folder)")
    return [(key, src, out / f"{key}{suffix}") for key, src, _ in items]
