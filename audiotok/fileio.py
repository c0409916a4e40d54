"""Atomic file writes: write to a temp file beside the target, then rename, so readers never see half a file."""

import contextlib
import os
import tempfile
from pathlib import Path

from audiotok.errors import UserError



def _umask():
    """The process's umask now (not at import: a caller may set it later). Read from /proc where it
    can be, since os.umask(0) + restore briefly gives other threads' new files a 0 umask."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputError(UserError, OSError):
    """An output that cannot be written (its folder is a file, read-only, the target is a folder, ...).
    Still an OSError for callers that catch those; the CLI prints it as one line like any UserError."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: cannot write: {problem}")


def _problem(e):
    return e.strerror or type(e).__name__


def temp_pattern(name):
    """Glob pattern of the temp files atomic_path makes for target file name `name` (a glob itself
    is allowed): what a write killed before its rename leaves behind."""
    return f".{name}.*.tmp"


def check_output_file(path):
    """Raise OutputError if `path` cannot become a file: it is a folder, or a parent is not one."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder, expected a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(path, f"{parent} is not a folder")
            break


def make_dirs(path):
    """mkdir -p that names the path and the problem in one line instead of an OSError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(path, "exists and is not a folder") from None
    except OSError as e:
        raise OutputError(path, f"cannot create the folder ({_problem(e)})") from None
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path in the target's folder; on success it is renamed onto `path`, on error removed.
    A target that cannot be written raises OutputError (a UserError: one line, never a traceback)."""
    path = Path(path)
    check_output_file(path)
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(path, _problem(e)) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        try:
            yield Path(tmp)
        except OSError as e:
            if e.filename not in (None, tmp, str(tmp)):
                raise
            raise OutputError(path, _problem(e)) from None  # e.g. no space left while writing
        try:
            # again: a writer may have replaced the temp file by one of its own (safetensors does, 0600)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as e:
            raise OutputError(path, _problem(e)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path, replaceable, what="an output dir"):
    """Yield a temp dir beside `path`; on success it takes the place of `path` (an old one is
    replaced only when `replaceable(path)` says it is one of ours), on error it is removed.
    Readers never see a half-written dir and nothing we did not make is deleted."""
    import shutil

    path = Path(path)
    if path.exists() and not (path.is_dir() and replaceable(path)):
        raise UserError(f"{path}: exists and is not {what}; choose another output")
    make_dirs(path.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    except OSError as e:
        raise OutputError(path, _problem(e)) from None
    try:
        yield tmp
        for f in tmp.iterdir():  # mkdtemp makes 0700: a release is readable as the umask allows
            f.chmod(0o666 & ~_umask())
        tmp.chmod(0o777 & ~_umask())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def atomic_write_text(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)
