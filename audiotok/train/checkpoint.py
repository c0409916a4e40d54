"""Training checkpoints: atomic writes, resume state, RNG capture and n-best bookkeeping.

Layout under `EXP/checkpoints/`:
    latest.pt                  full state for --resume (model, optimizers, schedulers, scaler,
                               step, epoch + batch position, RNG states of every rank, n-best list)
    best.step<N>.pt            model weights at a validation step among the `keep_nbest` best
    best.json                  the n-best list: [{"step", "metric", "value", "file"}], best first

Every file is written to a temp file in the same folder and renamed, so a crash mid-save
leaves the previous file intact and no partial file behind. Files are loaded with
`torch.load(weights_only=True)`: only tensors and plain containers, no arbitrary pickle.
"""

import json
import logging
import random
from pathlib import Path

import numpy as np
import torch

from audiotok.errors import UserError
from audiotok.fileio import atomic_open, atomic_path, temp_pattern
from audiotok.train.faults import fault_point

log = logging.getLogger("audiotok.train")

FORMAT = "audiotok-train-checkpoint"
VERSION = 1


def save_atomic(obj, path):
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        fault_point("checkpoint_write")


def load_checkpoint(path, map_location="cpu"):
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: checkpoint not found") from None
    except Exception as e:  # damaged or foreign file
        raise UserError(f"{path}: cannot read checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path}: not an audiotok training checkpoint")
    if state.get("version", 0) > VERSION:
        raise UserError(f"{path}: checkpoint version {state['version']} is newer than this audiotok ({VERSION})")
    return state


# ---- random number generators -------------------------------------------------------------

def get_rng_state():
    """Every RNG a training step may draw from, as tensors and plain containers."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state):
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state({
        "bit_generator": n["bit_generator"],
        "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
        "has_gauss": n["has_gauss"],
        "gauss": n["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:  # a different machine: at least restore the current device
            torch.cuda.set_rng_state(cuda[min(torch.cuda.current_device(), len(cuda) - 1)])


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too


# ---- directory of checkpoints ---------------------------------------------------------------

class CheckpointManager:
    """`latest.pt` plus the `keep_nbest` best weight files by a validation metric (lower is better
    unless mode='max')."""

    def __init__(self, directory, metric="loss", keep_nbest=3, mode="min"):
        self.dir = Path(directory)
        self.metric = metric
        self.keep_nbest = max(1, int(keep_nbest))
        if mode not in ("min", "max"):
            raise UserError(f"trainer.best_mode must be 'min' or 'max', got '{mode}'")
        self.mode = mode
        self.best = []  # [{"step", "metric", "value", "file"}], best first

    @property
    def latest(self):
        return self.dir / "latest.pt"

    def has_latest(self):
        return self.latest.is_file()

    def save_latest(self, state):
        state = {"format": FORMAT, "version": VERSION, **state, "best": list(self.best)}
        save_atomic(state, self.latest)

    def load_latest(self, map_location="cpu", cleanup=True):
        """The resume state; `cleanup` (rank 0 only) removes best files the state does not know."""
        state = load_checkpoint(self.latest, map_location)
        self.best = [dict(b) for b in state.get("best", [])]
        other = [b for b in self.best if b.get("metric", self.metric) != self.metric]
        if other:  # a resume with another trainer.best_metric: values of two metrics cannot be ranked together
            log.warning("best checkpoints ranked by %s (steps %s) are dropped: this run ranks by %s",
                        other[0]["metric"], ", ".join(str(b["step"]) for b in other), self.metric)
            self.best = [b for b in self.best if b not in other]
        if cleanup:
            self._drop_orphans()
            self._drop_temp_files()
        return state

    def discard_unfinished(self):
        """Starting with no latest.pt (a run killed before its first save): its best files and temp
        files belong to no state we can resume; remove them so they are not mistaken for ours."""
        if self.dir.is_dir():
            self.best = []
            self._drop_orphans()
            self._drop_temp_files()

    def _better(self, a, b):
        return a < b if self.mode == "min" else a > b

    def would_keep(self, value):
        if len(self.best) < self.keep_nbest:
            return True
        return self._better(value, self.best[-1]["value"])

    def update_best(self, step, value, model_state):
        """Record a validation result; save the weights if they rank among the n best. True if new best."""
        value = float(value)
        if value != value:  # NaN never ranks
            return False
        if not self.would_keep(value):
            return False
        name = f"best.step{step}.pt"
        save_atomic({"format": FORMAT, "version": VERSION, "step": step, "metric": self.metric,
                     "value": value, "model": model_state}, self.dir / name)
        self.best = [b for b in self.best if b["step"] != step]
        self.best.append({"step": int(step), "metric": self.metric, "value": value, "file": name})
        self.best.sort(key=lambda b: (b["value"] if self.mode == "min" else -b["value"], b["step"]))
        dropped, self.best = self.best[self.keep_nbest:], self.best[:self.keep_nbest]
        for b in dropped:
            (self.dir / b["file"]).unlink(missing_ok=True)
        self._write_index()
        return self.best[0]["step"] == step

    def read_index(self):
        """The n-best list as best.json has it ([] when none was written or it cannot be read): for
        readers of a finished or stopped exp dir (packing, --init-from), not for resuming."""
        try:
            self.best = list(json.loads((self.dir / "best.json").read_text()))
        except (OSError, ValueError):
            self.best = []
        return self.best

    def _write_index(self):
        with atomic_open(self.dir / "best.json") as f:
            json.dump(self.best, f, indent=2)

    def _drop_orphans(self):
        """Best files newer than the resumed state are not in its list: remove them (they will be
        re-created identically when training passes that step again)."""
        keep = {b["file"] for b in self.best}
        for f in self.dir.glob("best.step*.pt"):
            if f.name not in keep:
                f.unlink()
        if self.dir.is_dir():
            self._write_index()

    def _drop_temp_files(self):
        """A save killed before its rename (kill -9, power loss) leaves its temp file, up to a whole
        checkpoint in size; nothing else ever removes it. Only rank 0 saves, and it is resuming, so
        no save is under way: every such file is an orphan."""
        for name in ("latest.pt", "best.step*.pt", "best.json"):
            for f in self.dir.glob(temp_pattern(name)):
                f.unlink(missing_ok=True)

    def best_weights(self, map_location="cpu", average=1):
        """(state_dict, info) of the best checkpoint, or (None, None) if no validation ran. `average` > 1:
        the mean of the weights of that many best checkpoints (fewer if fewer are kept; ESPnet's
        valid.loss.ave), with their steps in info["averaged_steps"]."""
        if not self.best:
            return None, None
        info = dict(self.best[0])
        chosen = self.best[:max(1, int(average))]
        states = [load_checkpoint(self.dir / b["file"], map_location)["model"] for b in chosen]
        if len(states) == 1:
            return states[0], info
        info["averaged_steps"] = [int(b["step"]) for b in chosen]
        return average_weights(states), info


def average_weights(states):
    """The element-wise mean of model state dicts with the same keys and shapes; tensors that are not
    floating point (counters, code indices) are taken from the first, which must be the best."""
    first = states[0]
    for other in states[1:]:
        if other.keys() != first.keys() or any(other[k].shape != v.shape for k, v in first.items()):
            raise UserError("cannot average checkpoints of different models (their weights differ in names or shapes)")
    out = {}
    for k, v in first.items():
        if torch.is_floating_point(v):
            out[k] = (sum(s[k].double() for s in states) / len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def export_model(manager, model, out_dir, meta=None, average=1):
    """Pack the best validated weights (the current ones when no validation ran; with `average` > 1 the
    mean of that many best) into a model dir loadable by audiotok.load_model. Returns (dir, info of the
    exported checkpoint or None). A `steps` entry of meta (the run's last step) becomes `steps_run`, and
    `steps` the step of the best weights packed, so reports and model cards never credit best-step weights
    with the steps that came after them."""
    from audiotok.models.loading import save_model_dir

    state, info = manager.best_weights(average=average)
    if state is not None:
        model.load_state_dict(state)
    meta = dict(meta or {})
    if info is not None:
        meta["best_metric"] = {"name": info["metric"], "value": info["value"], "step": info["step"]}
        if info.get("averaged_steps"):
            meta["best_metric"]["averaged_steps"] = info["averaged_steps"]
        if "steps" in meta:
            meta["steps_run"], meta["steps"] = meta["steps"], int(info["step"])
    return save_model_dir(model, out_dir, meta=meta), info


INIT_FROM_FILE = "init_from.json"  # in an exp dir started from other weights (train --init-from)


def training_state(exp):
    """Steps, CPU/wall hours, the git hash of every training segment (from the exp's latest checkpoint) and
    the weights it started from (INIT_FROM_FILE), or None without a checkpoint."""
    latest = Path(exp) / "checkpoints" / "latest.pt"
    if not latest.is_file():
        return None
    state = torch.load(latest, map_location="cpu", weights_only=False)
    out = {"steps": int(state.get("step", 0)), "cpu_hours": round(float(state.get("cpu_seconds", 0.0)) / 3600, 3),
           "wall_hours": round(float(state.get("wall_seconds", 0.0)) / 3600, 3),
           "segments": state.get("segments") or []}
    best = CheckpointManager(Path(exp) / "checkpoints").read_index()
    if best:
        out["best_step"] = int(best[0]["step"])
    origin = Path(exp) / INIT_FROM_FILE
    if origin.is_file():
        out["started_from"] = json.loads(origin.read_text())
    return out


def weights_step(meta):
    """The training step of a packed model's weights: its best validation step when it has one (packs
    made before `steps_run` existed recorded the run's last step as `steps`)."""
    best = meta.get("best_metric") or {}
    return best.get("step", meta.get("steps"))


def init_origin(model_dir, partial=False):
    """Where the weights of a run started by --init-from come from: the model dir `model_dir` (packed, or an
    exp dir's model/), its name, version and weights' step, and the CPU hours behind them (with their own
    origin, so a chain of runs adds up)."""
    d = Path(model_dir)
    meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").is_file() else {}
    training = meta.get("training") or (training_state(d.parent) if d.name == "model" else None) or {}
    origin = {"model": meta.get("name") or str(d), "version": meta.get("version"), "model_id": meta.get("model_id"),
              "step": weights_step(meta), "cpu_hours": training.get("cpu_hours"), "partial": bool(partial)}
    if training.get("started_from"):
        origin["started_from"] = training["started_from"]
    return {k: v for k, v in origin.items() if v is not None}
