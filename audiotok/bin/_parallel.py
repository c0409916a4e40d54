"""Run per-file work over N processes, each holding its own model; failures are counted, not hidden."""

import multiprocessing as mp
import sys

from tqdm import tqdm

from audiotok.errors import UserError

_STATE = {}


def _init(load_fn, load_args):
    import torch

    torch.set_num_threads(1)
    _STATE["model"] = load_fn(*load_args)


def _call(args):
    fn, job = args
    try:
        fn(_STATE["model"], job)
        return job[0], None
    except UserError as e:
        return job[0], str(e)


def run_jobs(jobs, fn, load_fn, load_args, nj=1, desc="files"):
    """fn(model, job) for every job (job[0] is its key). Returns {key: error message} of failures."""
    failures = {}
    nj = max(1, min(int(nj), len(jobs)))
    bar = tqdm(total=len(jobs), desc=desc, unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)
    if nj == 1:
        _init(load_fn, load_args)
        results = (_call((fn, job)) for job in jobs)
        pool = None
    else:
        # spawn: a forked torch process can deadlock in its thread pools
        pool = mp.get_context("spawn").Pool(nj, initializer=_init, initargs=(load_fn, load_args))
        results = pool.imap_unordered(_call, [(fn, job) for job in jobs])
    try:
        for key, err in results:
            if err:
                failures[key] = err
                print(f"error: {err}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    return failures


def report_failures(failures, total, what):
    if failures:
        raise UserError(f"{len(failures)} of {total} {what} failed (see the errors above)")
