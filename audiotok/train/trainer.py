"""The one training loop of audiotok: plain and GAN steps, data parallel, AMP, checkpoints, resume.

A step (see audiotok/train/interface.py for what the model provides):
    out = model.forward_train(batch, step)                              (autocast)
    if the model has a discriminator and model.uses_discriminator(step):
        loss_d = model.discriminator_loss(batch, out, step); backward; sync; clip; opt_d.step()
    loss_g = model.generator_loss(batch, out, step)   discriminator weights frozen; backward;
                                                       sync; clip; opt.step()
    schedulers step (both, every global step); model.on_train_step_end(step)
`step` counts optimizer steps already taken (0 for the first). A step whose gradient norm is not
finite is skipped (and logged); `trainer.max_nonfinite` in a row stop training with an error.

Resume is exact: the checkpoint holds model, optimizers, schedulers, scaler, step, the sampler
position (epoch, batches done) and each rank's python/numpy/torch/cuda RNG state; data crops
depend only on (seed, epoch, index) and validation runs on a forked, fixed-seed RNG.
"""

import contextlib
import json
import logging
import math
import signal
import threading
import time
import warnings
from pathlib import Path

import torch

from audiotok.errors import UserError
from audiotok.train import distributed as D
from audiotok.train.checkpoint import CheckpointManager, get_rng_state, seed_everything, set_rng_state
from audiotok.train.faults import fault_point
from audiotok.train.optim import build_optimizer, build_scheduler
from audiotok.train.partial import freeze_outside
from audiotok.train.progress import Progress

log = logging.getLogger("audiotok.train")

TRAINER_DEFAULTS = {
    "max_steps": 1000,
    "log_interval": 50,
    "valid_interval": 1000,
    "valid_batches": None,  # None: the whole valid set
    "save_interval": 1000,
    "grad_clip": None,  # max global L2 norm of the generator gradients; None/0: no clipping
    "grad_clip_d": None,  # same for the discriminator; defaults to grad_clip
    "amp": "none",  # none | bf16 | fp16 on CUDA (the CPU follows cpu_amp)
    "cpu_amp": "none",  # none | bf16: bf16 autocast when training on the CPU (faster on CPUs with bf16 units)
    "max_cpu_hours": None,  # stop (as at max_steps) once training used this much process CPU time, all segments
    "best_metric": "loss",  # a key of the validation logs, or "step" (with best_mode max: the last validated)
    "best_mode": "min",  # min | max
    "keep_nbest": 3,
    "average_nbest": 1,  # EXP/model gets the mean weights of this many best checkpoints (at most keep_nbest)
    "seed": 0,
    "max_nonfinite": 20,
    "train_only": None,  # list of module names (e.g. [decoder]): train those, freeze the rest (train/partial.py)
}


def trainer_config(config):
    t = dict(config.get("trainer") or {})
    unknown = set(t) - set(TRAINER_DEFAULTS)
    if unknown:
        raise UserError(f"trainer: unknown keys {sorted(unknown)} (known: {', '.join(TRAINER_DEFAULTS)})")
    out = {**TRAINER_DEFAULTS, **t}
    if int(out["max_steps"]) < 1:
        raise UserError(f"trainer.max_steps must be >= 1, got {out['max_steps']}")
    if not 1 <= int(out["average_nbest"]) <= int(out["keep_nbest"]):
        raise UserError(f"trainer.average_nbest must be between 1 and keep_nbest ({out['keep_nbest']}), "
                        f"got {out['average_nbest']}")
    for key in ("log_interval", "valid_interval", "save_interval"):
        if int(out[key]) < 1:
            raise UserError(f"trainer.{key} must be >= 1, got {out[key]}")
    out["amp"] = str(out["amp"] or "none").lower()
    if out["amp"] in ("false", "fp32", "no"):
        out["amp"] = "none"
    if out["amp"] not in ("none", "bf16", "fp16"):
        raise UserError(f"trainer.amp must be none, bf16 or fp16, got '{out['amp']}'")
    out["cpu_amp"] = str(out["cpu_amp"] or "none").lower()
    if out["cpu_amp"] not in ("none", "bf16"):
        raise UserError(f"trainer.cpu_amp must be none or bf16, got '{out['cpu_amp']}'")
    if out["max_cpu_hours"] is not None and float(out["max_cpu_hours"]) <= 0:
        raise UserError(f"trainer.max_cpu_hours must be positive, got {out['max_cpu_hours']}")
    return out


def to_device(obj, device):
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def _batch_size(batch):
    for v in (batch.values() if isinstance(batch, dict) else [batch]):
        if torch.is_tensor(v) and v.dim() > 0:
            return v.shape[0]
    return 1


@contextlib.contextmanager
def forked_rng(seed):
    """Run with a fixed seed and give the training RNG streams back untouched afterwards."""
    state = get_rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        set_rng_state(state)


@contextlib.contextmanager
def frozen(params):
    """Stop weight gradients (not input gradients) for `params`, e.g. the discriminator in the
    generator step: the adversarial loss still reaches the generator through it."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


class Trainer:
    """Drives `model` over `train_set` until trainer.max_steps; see module docstring.

    config: the resolved training config (trainer, optim*, scheduler*, batch_size, num_workers...).
    exp_dir: checkpoints go to exp_dir/checkpoints, TensorBoard scalars to exp_dir/tensorboard.
    """

    def __init__(self, config, model, train_set, valid_set, exp_dir, info=None, resume=False, segment=None):
        self.config = config
        self.t = trainer_config(config)
        self.info = info or D.DistInfo()
        self.device = self.info.device
        self.exp_dir = exp_dir = Path(exp_dir)
        self.seed = int(self.t["seed"])
        self.max_steps = int(self.t["max_steps"])
        self.batch_size = int(config.get("batch_size", 8))
        self.valid_batch_size = int(config.get("valid_batch_size") or self.batch_size)
        self.num_workers = int(config.get("num_workers", 0))
        self.model = model.to(self.device)
        self.train_set, self.valid_set = train_set, valid_set
        only = self.t["train_only"]
        self.frozen_modules = freeze_outside(self.model, [only] if isinstance(only, str) else only) if only else []

        self._build_optimizers()
        self._setup_amp()
        self.sync = D.GradSync(self.info)
        D.broadcast_module(self.model)  # every rank starts from rank 0's weights

        self.sampler = self._make_sampler(train_set)
        self.train_loader = self._make_loader(train_set, self.sampler, self.seed)
        self.ckpt = CheckpointManager(exp_dir / "checkpoints", self.t["best_metric"], self.t["keep_nbest"],
                                      self.t["best_mode"])
        self.segment_note = dict(segment or {})  # e.g. the command line, for this run's segment record
        self.step = self.epoch = self.batches_in_epoch = 0
        self.nonfinite_streak = 0
        self.last_valid = None
        # process CPU seconds spent training, summed over every resumed segment (all ranks)
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.segments = []  # one entry per start/resume: step, git hash, time (model cards cite them)
        self.resumed = False
        self._rng_to_restore = None
        if resume and self.ckpt.has_latest():
            self._load(self.ckpt.load_latest(map_location="cpu", cleanup=self.info.is_main))
        elif not resume and self.ckpt.has_latest():
            raise UserError(f"{exp_dir}: already holds a checkpoint; pass --resume to continue it, "
                            "or choose another --exp-dir")
        elif self.info.is_main:
            self.ckpt.discard_unfinished()
        self._stop_signal = None
        self.writer = None

    # ---- construction ----------------------------------------------------------------------
    def _train_mode(self):
        self.model.train()
        for m in self.frozen_modules:  # trainer.train_only: the frozen parts stay in eval mode
            m.eval()

    def _build_optimizers(self):
        c, model = self.config, self.model
        disc = getattr(model, "discriminator", None)
        self.d_params = [p for p in disc.parameters() if p.requires_grad] if disc is not None else []
        d_ids = {id(p) for p in disc.parameters()} if disc is not None else set()
        g_named = [(n, p) for n, p in model.named_parameters() if id(p) not in d_ids and p.requires_grad]
        self.g_params = [p for _, p in g_named]
        self.opt = build_optimizer(g_named, c.get("optim", "adamw"), c.get("optim_conf"), "optim")
        self.sched = build_scheduler(self.opt, c.get("scheduler", "constant"), c.get("scheduler_conf"),
                                     self.max_steps, "scheduler")
        self.opt_d = self.sched_d = None
        if self.d_params:
            self.opt_d = build_optimizer(disc.named_parameters(), c.get("optim_d", c.get("optim", "adamw")),
                                         c.get("optim_d_conf", c.get("optim_conf")), "optim_d")
            self.sched_d = build_scheduler(
                self.opt_d, c.get("scheduler_d", c.get("scheduler", "constant")),
                c.get("scheduler_d_conf", c.get("scheduler_conf")), self.max_steps, "scheduler_d")

    def _setup_amp(self):
        amp = self.t["amp"]
        self.amp_dtype = None
        self.scaler = None
        if self.device.type == "cpu" and self.t["cpu_amp"] == "bf16":
            self.amp_dtype, self.amp_note = torch.bfloat16, "bf16 autocast on the CPU (trainer.cpu_amp)"
        elif amp != "none" and self.device.type != "cuda":
            self.amp_note = f"trainer.amp={amp} applies to CUDA; on {self.device.type}: fp32 (see trainer.cpu_amp)"
        elif amp == "bf16":
            self.amp_dtype, self.amp_note = torch.bfloat16, "bf16 autocast on CUDA"
        elif amp == "fp16":
            self.amp_dtype, self.amp_note = torch.float16, "fp16 autocast on CUDA with a GradScaler"
            self.scaler = torch.amp.GradScaler("cuda")
        else:
            self.amp_note = "fp32 (trainer.amp: none)"

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _make_sampler(self, dataset):
        from audiotok.data.datasets import ResumableBatchSampler

        if hasattr(dataset, "make_batch_sampler"):  # datasets with their own (e.g. length-bucketed) batching
            return dataset.make_batch_sampler(self.batch_size, self.info.rank, self.info.world_size, self.seed)
        return ResumableBatchSampler(len(dataset), self.batch_size, self.info.rank, self.info.world_size, self.seed)

    def _make_loader(self, dataset, batch_sampler, seed):
        # an own generator: building a loader iterator must not draw from the global torch RNG
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=batch_sampler, num_workers=self.num_workers,
            collate_fn=getattr(dataset, "collate", None), pin_memory=self.device.type == "cuda",
            persistent_workers=self.num_workers > 0, generator=torch.Generator().manual_seed(seed))

    def _valid_loader(self):
        n = len(self.valid_set)
        batches = [list(range(i, min(i + self.valid_batch_size, n))) for i in range(0, n, self.valid_batch_size)]
        if self.t["valid_batches"]:
            batches = batches[:int(self.t["valid_batches"])]
        mine = batches[self.info.rank::self.info.world_size]
        return torch.utils.data.DataLoader(
            self.valid_set, batch_sampler=mine, num_workers=min(self.num_workers, len(mine)),
            collate_fn=getattr(self.valid_set, "collate", None), pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.seed))

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self):
        """The full training state. Collective (gathers every rank's RNG state): call on all ranks."""
        rngs = D.gather_objects(get_rng_state(), self.info)
        return {
            "step": self.step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch,
            "nonfinite_streak": self.nonfinite_streak, "world_size": self.info.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "optimizer_d": self.opt_d.state_dict() if self.opt_d else None,
            "scheduler_d": self.sched_d.state_dict() if self.sched_d else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rngs, "last_valid": self.last_valid,
            "cpu_seconds": self._cpu_total(), "wall_seconds": self._wall_total(), "segments": self.segments,
        }

    def _load(self, state):
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(f"{self.ckpt.latest}: does not fit the model/optimizer of this config "
                            f"({str(e).strip().splitlines()[0][:200]}); use another --exp-dir") from None
        self.sched.load_state_dict(state["scheduler"])
        if self.opt_d is not None:
            if state.get("optimizer_d") is None:
                raise UserError(f"{self.ckpt.latest}: has no discriminator optimizer but the model has a discriminator")
            self.opt_d.load_state_dict(state["optimizer_d"])
            self.sched_d.load_state_dict(state["scheduler_d"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batches_in_epoch = int(state["batches_in_epoch"])
        self.nonfinite_streak = int(state.get("nonfinite_streak", 0))
        self.last_valid = state.get("last_valid")
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.wall_seconds = float(state.get("wall_seconds", 0.0))
        self.segments = list(state.get("segments") or [])
        rngs = state.get("rng") or []
        if len(rngs) == self.info.world_size:
            self._rng_to_restore = rngs[self.info.rank]
        else:
            self._rng_to_restore = None
            log.warning("checkpoint was written by %d process(es), now %d: RNG streams reseeded, "
                        "resume is not bit-for-bit", len(rngs), self.info.world_size)
        self.resumed = True

    def _cpu_total(self):
        """CPU seconds of all segments so far, summed over ranks (this segment counted from its start)."""
        mine = time.process_time() - getattr(self, "_cpu_start", time.process_time())
        return self.cpu_seconds + sum(D.gather_objects(mine, self.info))

    def _wall_total(self):
        return self.wall_seconds + time.perf_counter() - getattr(self, "_wall_start", time.perf_counter())

    def _out_of_cpu_budget(self):
        budget = self.t["max_cpu_hours"]
        return budget is not None and self._cpu_total() >= float(budget) * 3600

    def save(self):
        state = self.state_dict()  # collective
        if self.info.is_main:
            self.ckpt.save_latest(state)
        D.barrier(self.info)

    # ---- one optimizer step ----------------------------------------------------------------
    def _backward(self, loss):
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def _clip_and_step(self, opt, params, clip):
        """Returns the gradient norm (before clipping); skips the update when it is not finite."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        grads = [p for p in params if p.grad is not None]
        if not grads:
            return 0.0
        norm = torch.nn.utils.clip_grad_norm_(grads, float(clip) if clip else math.inf)
        norm = float(norm)
        if self.scaler is not None:
            self.scaler.step(opt)  # skips by itself on inf/nan
        elif math.isfinite(norm):
            opt.step()
        return norm

    def train_step(self, batch):
        model, step = self.model, self.step
        self._train_mode()
        uses_d = self.opt_d is not None and bool(
            model.uses_discriminator(step) if hasattr(model, "uses_discriminator") else True)
        logs = {}
        with self.autocast():
            out = model.forward_train(batch, step)
        if uses_d:
            self.opt_d.zero_grad(set_to_none=True)
            with self.autocast():
                loss_d, logs_d = model.discriminator_loss(batch, out, step)
            self._backward(loss_d)
            self.sync.all_reduce(self.d_params)
            logs.update({k: float(v) for k, v in logs_d.items()})
            logs["grad_norm_d"] = self._clip_and_step(
                self.opt_d, self.d_params, self.t["grad_clip_d"] if self.t["grad_clip_d"] is not None
                else self.t["grad_clip"])
        self.opt.zero_grad(set_to_none=True)
        with frozen(self.d_params), self.autocast():
            loss, logs_g = model.generator_loss(batch, out, step)
        self._backward(loss)
        fault_point("step")
        self.sync.all_reduce(self.g_params)
        norm = self._clip_and_step(self.opt, self.g_params, self.t["grad_clip"])
        if self.scaler is not None:
            self.scaler.update()
        with warnings.catch_warnings():  # schedules follow the global step, also when an update was skipped
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.sched.step()
            if self.sched_d is not None:
                self.sched_d.step()
        logs.update({k: float(v) for k, v in logs_g.items()})
        loss_value = float(loss.detach())
        logs.setdefault("loss", loss_value)
        logs["grad_norm"] = norm
        # with an fp16 GradScaler overflowing gradients are routine (it skips and rescales): only a
        # non-finite loss counts then
        finite = math.isfinite(loss_value) and (self.scaler is not None or (
            math.isfinite(norm) and math.isfinite(logs.get("grad_norm_d", 0.0))))
        self.nonfinite_streak = 0 if finite else self.nonfinite_streak + 1
        if not finite:
            log.warning("step %d: non-finite loss or gradients (loss %s, grad norm %s): update skipped",
                        step + 1, loss_value, norm)
            if self.nonfinite_streak >= int(self.t["max_nonfinite"]):
                raise UserError(f"non-finite gradients for {self.nonfinite_streak} steps in a row at step "
                                f"{step + 1}: lower optim_conf.lr, set trainer.grad_clip or use trainer.amp: none")
        self._after_step(step)
        return logs

    def _after_step(self, step):
        hook = getattr(self.model, "on_train_step_end", None)
        changed = hook(step) if hook is not None else False
        if self.info.distributed:
            # hooks may change weights from local data (codebook restarts): a hook that does not
            # return False is assumed to have, and rank 0's state is copied everywhere
            if D.any_rank(changed is not False, self.info):
                D.broadcast_module(self.model)
            else:
                D.broadcast_buffers(self.model)  # EMA statistics etc.: rank 0's, as DDP does

    # ---- validation ------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self):
        """Averaged generator_loss logs over the valid set (weighted by batch size, all ranks)."""
        sums, counts = {}, {}
        self.model.eval()
        with forked_rng(self.seed + 7919):
            for batch in self._valid_loader():
                batch = to_device(batch, self.device)
                with self.autocast():
                    out = self.model.forward_train(batch, self.step)
                    loss, logs = self.model.generator_loss(batch, out, self.step)
                logs = {k: float(v) for k, v in logs.items()}
                logs.setdefault("loss", float(loss))
                n = _batch_size(batch)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v * n
                    counts[k] = counts.get(k, 0) + n
        self._train_mode()
        merged_s, merged_c = {}, {}
        for s, c in D.gather_objects((sums, counts), self.info):
            for k in s:
                merged_s[k] = merged_s.get(k, 0.0) + s[k]
                merged_c[k] = merged_c.get(k, 0) + c[k]
        return {k: merged_s[k] / merged_c[k] for k in sorted(merged_s)}

    def _run_validation(self):
        results = self.validate()
        self.last_valid = results
        metric = self.t["best_metric"]
        # "step": rank checkpoints by recency, for runs whose losses do not rank them (adversarial terms)
        ranked = {**results, "step": float(self.step)} if metric == "step" else results
        if metric not in ranked:
            raise UserError(f"trainer.best_metric '{metric}' is not among the validation logs "
                            f"({', '.join(results) or 'none: empty valid set'})")
        is_best = False
        cpu_h, wall_h = self._cpu_total() / 3600, self._wall_total() / 3600
        if self.info.is_main:
            is_best = self.ckpt.update_best(self.step, ranked[metric], self.model.state_dict())
            self._scalars("valid", {**results, "cpu_hours": cpu_h})
            # one line per validation: the quality-against-compute curve that RESULTS.md plots
            row = {"step": self.step, "cpu_hours": round(cpu_h, 7), "wall_hours": round(wall_h, 7),
                   "device": self.device.type, **{k: round(v, 5) for k, v in results.items()}}
            with open(self.exp_dir / "valid_history.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
        line = " | ".join(f"{k} {v:.4g}" for k, v in results.items())
        log.info("valid step %d | %s%s", self.step, line, " | new best" if is_best else "")
        D.barrier(self.info)
        return results

    # ---- logging ---------------------------------------------------------------------------
    def _scalars(self, prefix, values):
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{prefix}/{k}", v, self.step)

    def _open_writer(self):
        if not self.info.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed: no TensorBoard scalars")
            return
        self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=self.step if self.resumed else None)

    # ---- signals ---------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        first = self._stop_signal is None
        self._stop_signal = self._stop_signal or signum
        if signum == signal.SIGINT:  # a second Ctrl-C aborts at once
            signal.signal(signum, self._old_handlers.get(signum, signal.SIG_DFL))
        if first:  # repeated SIGTERMs (launcher + scheduler both sending one) change nothing
            log.warning("received %s: stopping after this step and saving a checkpoint%s",
                        signal.Signals(signum).name, " (Ctrl-C again to abort)" if signum == signal.SIGINT else "")

    def _install_signals(self):
        self._old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old_handlers[s] = signal.signal(s, self._on_signal)

    def _restore_signals(self):
        for s, h in self._old_handlers.items():
            signal.signal(s, h)

    # ---- the loop --------------------------------------------------------------------------
    def _batches(self):
        while True:
            self.sampler.set_state(self.epoch, self.batches_in_epoch)
            for batch in self.train_loader:
                yield batch
            self.epoch += 1
            self.batches_in_epoch = 0

    def train(self):
        """Train until max_steps or a SIGTERM/SIGINT. Returns {"step", "stopped_by", "best", "last_valid"}."""
        t = self.t
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
        elif not self.resumed:
            seed_everything(self.seed + self.info.rank)  # ranks differ in dropout/masking draws
        log.info("%s from step %d of %d | %s | %d process(es) on %s | batch %d per process",
                 "resuming" if self.resumed else "training", self.step, self.max_steps, self.amp_note,
                 self.info.world_size, self.device, self.batch_size)
        self._open_writer()
        progress = Progress(self.max_steps, self.step, enabled=self.info.is_main)
        self._install_signals()
        self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()
        from audiotok.models.loading import git_hash

        self.segments.append({"from_step": self.step, "git": git_hash(), "device": self.device.type,
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **self.segment_note})
        log.info("segment %d from step %d at git %s", len(self.segments), self.step, self.segments[-1]["git"])
        sums, counts = {}, {}
        t0, n0 = time.perf_counter(), self.step
        batches = self._batches()
        try:
            while self.step < self.max_steps:
                batch = to_device(next(batches), self.device)
                logs = self.train_step(batch)
                self.step += 1
                self.batches_in_epoch += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                progress.update(self.step, logs)
                budget_spent = self.step % t["log_interval"] == 0 and D.any_rank(self._out_of_cpu_budget(), self.info)
                if budget_spent:
                    log.info("step %d: trainer.max_cpu_hours (%s) spent: finishing", self.step, t["max_cpu_hours"])
                    self.max_steps = self.step
                last = self.step == self.max_steps
                if self.step % t["log_interval"] == 0 or last:
                    dt = max(time.perf_counter() - t0, 1e-9)
                    self._log_train({k: sums[k] / counts[k] for k in sums}, (self.step - n0) / dt)
                    sums, counts, t0, n0 = {}, {}, time.perf_counter(), self.step
                if self.step % t["valid_interval"] == 0 or last:
                    self._run_validation()
                stop = D.any_rank(self._stop_signal is not None, self.info)
                if self.step % t["save_interval"] == 0 or last or stop:
                    self.save()
                if stop:
                    self._stop_signal = self._stop_signal or signal.SIGTERM  # another rank was signalled
                    log.info("stopped at step %d; checkpoint saved to %s (continue with --resume)",
                             self.step, self.ckpt.latest)
                    break
        finally:
            self._restore_signals()
            progress.close()
            if self.writer is not None:
                self.writer.close()
        return {"step": self.step, "stopped_by": self._stop_signal if self.step < self.max_steps else None,
                "best": self.ckpt.best[0] if self.ckpt.best else None, "last_valid": self.last_valid}

    def _log_train(self, avg, steps_per_s):
        lrs = {"lr": self.sched.get_last_lr()[0]}
        if self.sched_d is not None:
            lrs["lr_d"] = self.sched_d.get_last_lr()[0]
        speed = {"steps_per_s": steps_per_s,
                 "samples_per_s": steps_per_s * self.batch_size * self.info.world_size}
        if self.info.is_main:
            self._scalars("train", {**avg, **lrs, **speed})
        parts = [f"{k} {v:.4g}" for k, v in avg.items()] + [f"{k} {v:.3g}" for k, v in lrs.items()]
        log.info("step %d/%d epoch %d | %s | %.3g steps/s %.4g samples/s", self.step, self.max_steps,
                 self.epoch, " | ".join(parts), speed["steps_per_s"], speed["samples_per_s"])
