"""Training progress: a tqdm bar on an interactive terminal (rank 0 only); otherwise nothing here,
the trainer's periodic log lines are the progress report."""

import logging
import logging.handlers
import sys
from pathlib import Path


class Progress:
    def __init__(self, total, initial=0, enabled=True, stream=None):
        stream = stream or sys.stderr
        self.bar = None
        if enabled and hasattr(stream, "isatty") and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, file=stream, dynamic_ncols=True, unit="step",
                            desc="train", leave=True)

    @property
    def active(self):
        return self.bar is not None

    def update(self, step, logs=None):
        if self.bar is None:
            return
        self.bar.n = step
        if logs:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in list(logs.items())[:4]}, refresh=False)
        self.bar.refresh()

    def write(self, line):
        """Print a line without breaking the bar."""
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.write(line, file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _ConsoleHandler(logging.Handler):
    """Log records to stderr through tqdm.write, so an active bar is redrawn below them."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never kill training
            self.handleError(record)


def setup_logging(exp_dir, rank=0, name="audiotok.train"):
    """Rank 0: INFO to EXP/train.log (appended on resume, rotated at 50 MB) and to stderr. Other
    ranks: warnings only, to stderr, tagged with the rank. Returns a function that undoes it."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handlers = []
    if rank == 0:
        fh = logging.handlers.RotatingFileHandler(Path(exp_dir) / "train.log", maxBytes=50 << 20, backupCount=3)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        handlers.append(fh)
    ch = _ConsoleHandler(logging.INFO if rank == 0 else logging.WARNING)
    ch.setFormatter(logging.Formatter(("" if rank == 0 else f"[rank {rank}] ") + "%(asctime)s %(message)s",
                                      "%H:%M:%S"))
    handlers.append(ch)
    for h in handlers:
        logger.addHandler(h)

    def undo():
        for h in handlers:
            logger.removeHandler(h)
            h.close()

    return undo
