"""Run per-file work over N processes, each holding its own model; failures are counted, not hidden."""

import multiprocessing as mp
import sys

from tqdm import tqdm

from audiotok.errors import UserError

_STATE = {}


def _init(load_fn, load_args):
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # the onnxruntime backend runs without torch
        pass
    _STATE["model"] = load_fn(*load_args)


def _call(args):
    """(key, error message or None, what fn returned). Any failure of one file is that file's error,
    whichever file it is, so a batch never stops at a bad file."""
    fn, job = args
    try:
        return job[0], None, fn(_STATE["model"], job)
    except UserError as e:
        return job[0], str(e), None
    except Exception as e:  # an unexpected failure on one file: report it with the file, go on
        msg = str(e).splitlines()[0] if str(e) else ""
        return job[0], f"{job[1]}: {type(e).__name__}{': ' + msg if msg else ''}", None


def run_jobs(jobs, fn, load_fn, load_args, nj=1, desc="files", model=None, warnings=None):
    """fn(model, job) for every job (job[0] is its key). Returns {key: error message} of failures.
    With nj=1 a `model` already loaded by the caller is used as is (not loaded again). When fn returns
    a string it is a warning about that job: printed on stderr and kept in `warnings` {key: message}."""
    failures = {}
    nj = max(1, min(int(nj), len(jobs)))
    bar = tqdm(total=len(jobs), desc=desc, unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)
    if nj == 1:
        if model is not None:
            _STATE["model"] = model
        else:
            _init(load_fn, load_args)
        results = (_call((fn, job)) for job in jobs)
        pool = None
    else:
        # spawn: a forked torch process can deadlock in its thread pools
        pool = mp.get_context("spawn").Pool(nj, initializer=_init, initargs=(load_fn, load_args))
        results = pool.imap_unordered(_call, [(fn, job) for job in jobs])
    try:
        for key, err, result in results:
            if err:
                failures[key] = err
                print(f"error: {err}", file=sys.stderr)
            elif isinstance(result, str):
                if warnings is not None:
                    warnings[key] = result
                print(f"warning: {result}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        _STATE.pop("model", None)
        if pool is not None:
            pool.close()
            pool.join()
    return failures


def report_failures(failures, total, what):
    if failures:
        raise UserError(f"{len(failures)} of {total} {what} failed (see the errors above)")
