"""Optimizers and learning-rate schedules built from the training config.

    optim: adamw                 # adamw | adam
    optim_conf: {lr: 2.0e-4, betas: [0.8, 0.99], weight_decay: 0.01, eps: 1.0e-8,
                 decay_1d: false}  # decay_1d: also decay biases / norm gains (off by default)
    optim_d: adamw               # discriminator; defaults to `optim`
    optim_d_conf: {...}          # defaults to optim_conf
    scheduler: warmup_cosine     # warmup_cosine | constant | exponential
    scheduler_conf: {warmup_steps: 1000, total_steps: <trainer.max_steps>, min_lr: 1.0e-6}
    scheduler_d / scheduler_d_conf   # default to the generator's

Schedules are LambdaLR over the global step (one `.step()` per optimizer step), so their
state is just the step counter and resumes exactly.
"""

import math

import torch

from audiotok.errors import UserError

OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
_OPTIM_KEYS = {"lr", "betas", "weight_decay", "eps", "amsgrad", "decay_1d", "fused", "foreach"}


def build_optimizer(named_params, name="adamw", conf=None, what="optim"):
    """`named_params`: iterable of (name, Parameter). 1-D tensors (biases, norm gains) skip weight
    decay unless `decay_1d: true`, as decaying them only hurts."""
    conf = dict(conf or {})
    name = (name or "adamw").lower()
    if name not in OPTIMIZERS:
        raise UserError(f"{what}: unknown optimizer '{name}' (known: {', '.join(sorted(OPTIMIZERS))})")
    unknown = set(conf) - _OPTIM_KEYS
    if unknown:
        raise UserError(f"{what}_conf: unknown keys {sorted(unknown)} (known: {sorted(_OPTIM_KEYS)})")
    params = [p for _, p in named_params if p.requires_grad]
    if not params:
        raise UserError(f"{what}: the model has no trainable parameters")
    conf.setdefault("lr", 1e-3)
    if "betas" in conf:
        conf["betas"] = tuple(float(b) for b in conf["betas"])
    for key in ("lr", "weight_decay", "eps"):
        if key in conf:
            conf[key] = float(conf[key])
    decay_1d = bool(conf.pop("decay_1d", False))
    wd = conf.pop("weight_decay", 0.01 if name == "adamw" else 0.0)
    decay = [p for p in params if decay_1d or p.ndim >= 2]
    no_decay = [p for p in params if not (decay_1d or p.ndim >= 2)]
    groups = [g for g in ({"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    return OPTIMIZERS[name](groups, **conf)


def _warmup(step, warmup_steps):
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _lr_lambda(name, conf, base_lr, max_steps, what):
    conf = dict(conf or {})
    warmup = int(conf.pop("warmup_steps", 0))
    if name in ("constant", "none"):
        _check_empty(conf, what)
        return lambda step: _warmup(step, warmup)
    if name == "warmup_cosine":
        total = int(conf.pop("total_steps", max_steps))
        if "min_lr" in conf and "min_lr_ratio" in conf:
            raise UserError(f"{what}_conf: give min_lr or min_lr_ratio, not both")
        floor = float(conf.pop("min_lr_ratio", float(conf.pop("min_lr", 0.0)) / base_lr))
        _check_empty(conf, what)

        def cosine(step):  # (a debug run shorter than the warm-up just warms up)
            if step < warmup:
                return _warmup(step, warmup)
            t = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return cosine
    if name == "exponential":
        gamma = float(conf.pop("gamma", 0.999996))
        _check_empty(conf, what)
        return lambda step: _warmup(step, warmup) * gamma ** max(0, step - warmup)
    raise UserError(f"{what}: unknown scheduler '{name}' (known: constant, exponential, warmup_cosine)")


def _check_empty(conf, what):
    if conf:
        raise UserError(f"{what}_conf: unknown keys {sorted(conf)}")


def build_scheduler(optimizer, name="constant", conf=None, max_steps=1, what="scheduler"):
    """A LambdaLR whose factor at global step s multiplies each group's initial lr."""
    base_lr = optimizer.param_groups[0]["lr"]
    fn = _lr_lambda((name or "constant").lower(), conf, base_lr, max_steps, what)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
