"""`audiotok train`: train any registered model from a YAML config on Kaldi data dirs.

    audiotok train --config C --train-data DIR --valid-data DIR --exp-dir EXP
                   [--resume] [--ngpu N | --ddp-cpu N] [--seed S] [key.sub=value ...]

EXP/config.yaml     the resolved config (after base_config and overrides)
EXP/train.log       the log (rank 0; appended to on resume)
EXP/tensorboard/    TensorBoard scalars (train/*, valid/*)
EXP/checkpoints/    latest.pt, best.step<N>.pt, best.json (see audiotok/train/checkpoint.py)
EXP/model/          the best weights packed as a model dir (EXP is then loadable by load_model)

Config keys (YAML; `base_config:` include; `key.sub=value` overrides on the command line):
    model, model_conf               registry key and constructor kwargs
    dataset, dataset_conf           registry key; built as cls(data_dir, train=, seed=, **dataset_conf)
    valid_dataset_conf              merged over dataset_conf for the valid set (e.g. segment_seconds)
    batch_size, valid_batch_size    per process (global batch = batch_size x processes)
    num_workers                     DataLoader workers per process
    optim, optim_conf, optim_d, optim_d_conf, scheduler, scheduler_conf, scheduler_d, scheduler_d_conf
                                    see audiotok/train/optim.py
    trainer: max_steps, log_interval, valid_interval, valid_batches, save_interval, grad_clip,
             grad_clip_d, amp (none|bf16|fp16), best_metric, best_mode (min|max), keep_nbest, average_nbest, seed,
             max_nonfinite          see TRAINER_DEFAULTS in audiotok/train/trainer.py

With --ngpu N > 1 (or --ddp-cpu N > 1 on the CPU) the command re-launches itself through
torchrun with N processes; under torchrun it reads RANK / LOCAL_RANK / WORLD_SIZE.
A SIGTERM or Ctrl-C saves a checkpoint and exits with 128 + the signal number.
"""

import json
import logging
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = "Train a model from a YAML config on Kaldi data dirs (one trainer for every model)."

log = logging.getLogger("audiotok.train")


def add_arguments(p):
    p.add_argument("--config", required=True, help="training config YAML")
    p.add_argument("--train-data", "--train_data", dest="train_data", required=True, help="training data dir")
    p.add_argument("--valid-data", "--valid_data", dest="valid_data", required=True, help="validation data dir")
    p.add_argument("--exp-dir", "--exp_dir", dest="exp_dir", required=True, help="experiment dir (outputs)")
    p.add_argument("--resume", action="store_true",
                   help="continue from EXP/checkpoints/latest.pt (starts fresh when there is none)")
    p.add_argument("--ngpu", type=int, default=0, help="CUDA devices, one process each; 0 = CPU (default)")
    p.add_argument("--ddp-cpu", "--ddp_cpu", dest="ddp_cpu", type=int, default=0, metavar="N",
                   help="with --ngpu 0: train data-parallel in N CPU processes (gloo)")
    p.add_argument("--allow-config-change", "--allow_config_change", dest="allow_config_change",
                   action="store_true",
                   help="with --resume: continue although the config differs from the one the exp dir "
                        "started with (the old one is kept as config.before_resumeN.yaml)")
    p.add_argument("--init-from", "--init_from", dest="init_from", default=None, metavar="MODEL_DIR",
                   help="start a new run from the weights of a packed model or exp dir of the same architecture "
                        "(e.g. a shipped model, when the exp dir of its long run is gone); ignored when --resume "
                        "finds a checkpoint")
    p.add_argument("--init-partial", "--init_partial", dest="init_partial", action="store_true",
                   help="with --init-from: copy only the tensors whose name and shape match (e.g. a 25 Hz codec "
                        "from a 12.5 Hz one); the rest keep their fresh init, and the log counts both")
    p.add_argument("--init-skip", "--init_skip", dest="init_skip", action="append", default=[], metavar="PREFIX",
                   help="with --init-from: tensors whose name starts with PREFIX are not copied and keep their "
                        "new values (e.g. 'ssl': a codec on a new SSL encoder); repeatable")
    p.add_argument("--seed", type=int, default=None, help="overrides trainer.seed")
    p.add_argument("--print-config", "--print_config", dest="print_config", action="store_true",
                   help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")


def _argv(args):
    """The command line that reproduces `args` (for the torchrun re-launch)."""
    out = ["--config", args.config, "--train-data", args.train_data, "--valid-data", args.valid_data,
           "--exp-dir", args.exp_dir, "--ngpu", str(args.ngpu), "--ddp-cpu", str(args.ddp_cpu)]
    if args.resume:
        out.append("--resume")
    if args.allow_config_change:
        out.append("--allow-config-change")
    if args.init_from:
        out += ["--init-from", args.init_from]
    if args.init_partial:
        out.append("--init-partial")
    for prefix in args.init_skip:
        out += ["--init-skip", prefix]
    if args.seed is not None:
        out += ["--seed", str(args.seed)]
    return out + list(args.overrides)


def resolve_config(args):
    from audiotok.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.seed is not None:
        cfg.setdefault("trainer", {})["seed"] = int(args.seed)
    for key in ("model", "dataset"):
        if not cfg.get(key):
            raise UserError(f"{args.config}: missing '{key}' (a registry key)")
    for flag, d in (("--train-data", args.train_data), ("--valid-data", args.valid_data)):
        if not Path(d).is_dir():
            raise UserError(f"{d}: {flag} is not a directory")
        if not (Path(d) / "wav.scp").is_file() and cfg["dataset"] == "audio_segments":
            raise UserError(f"{d}/wav.scp: missing ({flag} must be a Kaldi data dir)")
    from audiotok.train.trainer import trainer_config

    trainer_config(cfg)  # unknown trainer keys are reported before anything starts
    return cfg


def _relaunch(args, nproc):
    """Run this command again under torchrun with `nproc` processes; wait for it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "audiotok.bin.train", *_argv(args)]
    print("launching: " + " ".join(cmd), file=sys.stderr, flush=True)
    child = subprocess.Popen(cmd)
    # Ctrl-C reaches the workers through the terminal; a SIGTERM sent to us is passed on
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, lambda s, f: child.send_signal(signal.SIGTERM))
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _diff_keys(old, new, prefix=""):
    keys = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _diff_keys(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(f"{prefix}{k}")
    return keys


# Changing these only extends or shortens a run; every other key changes what the checkpoints mean.
RESUMABLE_CHANGES = ("trainer.max_steps", "trainer.max_cpu_hours")


def check_config_change(cfg, exp_dir, resume, allow=False):
    """Refuse to resume `exp_dir` with a config other than the one it trained with (unless `allow`).
    Returns the changed keys."""
    from audiotok.config import load_config

    path = Path(exp_dir) / "config.yaml"
    if not (resume and path.is_file()):
        return []
    changed = _diff_keys(_current_layout(load_config(path)), _current_layout(cfg))
    serious = [k for k in changed if k not in RESUMABLE_CHANGES]
    if serious and not allow:
        raise UserError(f"{path}: the config differs from the one this experiment trained with "
                        f"({', '.join(serious)}); resume with the same config, use another --exp-dir, "
                        "or pass --allow-config-change")
    return changed


def _current_layout(cfg):
    """Compare configs as the model reads them: a flat pre-group model_conf equals its grouped form."""
    from audiotok.registry import model_conf_of

    if "model" not in cfg:
        return cfg
    return {**cfg, "model_conf": model_conf_of(cfg)}


def _write_config(cfg, exp_dir, changed):
    from audiotok.config import save_config

    path = exp_dir / "config.yaml"
    if changed and path.is_file():
        n = len(list(exp_dir.glob("config.before_resume*.yaml"))) + 1
        path.replace(exp_dir / f"config.before_resume{n}.yaml")
        log.warning("config changed on resume (%s); the previous one is kept as config.before_resume%d.yaml",
                    ", ".join(changed), n)
    save_config(cfg, path)


def init_weights(model, model_dir, partial=False, skip=()):
    """Copy the weights of a packed model (or exp dir) into `model`: every tensor must exist there with
    the same shape, except the training-only parts a packed model leaves out. From an exp dir those
    (e.g. an auxiliary CTC head) come from its best checkpoint, the one it packed; else they keep their init.
    `partial`: copy only the tensors whose name and shape match, and say how many did not.
    `skip`: name prefixes that are neither copied nor expected (they keep the model's values).
    Returns a description of what was copied, for the log."""
    from audiotok.models.loading import read_weights

    d = init_dir(model_dir)
    state = read_weights(d / "model.safetensors")
    own = model.state_dict()
    skip = tuple(skip)  # str.startswith(()) is False: no prefixes skip nothing
    n_skipped = sum(k.startswith(skip) for k in own)
    if skip and not n_skipped:
        raise UserError(f"--init-skip {' '.join(skip)}: no tensor of this model has such a name")
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    training_only = tuple(getattr(model, "training_only_prefixes", ("discriminator.",)))
    drop = training_only + skip
    missing = [k for k in own if k not in state and not k.startswith(drop)]
    bad = [k for k in state if k not in own or own[k].shape != state[k].shape]
    if partial:
        state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not state:
            raise UserError(f"{d}: --init-partial: no tensor of it has a name and shape of this model")
    elif missing or bad:
        raise UserError(f"{d}: --init-from weights do not fit this config (missing {len(missing)}: {missing[:3]}, "
                        f"unexpected or reshaped {len(bad)}: {bad[:3]}); --init-partial copies what fits")
    model.load_state_dict(state, strict=False)  # float16 storage is cast to the parameters' dtype
    heads = _training_only_from_best(d.parent / "checkpoints", own, training_only) if d.name == "model" else {}
    heads = {k: v for k, v in heads.items() if not k.startswith(skip)}
    if heads:
        model.load_state_dict(heads, strict=False)
    kept = f", {n_skipped} skipped (--init-skip {' '.join(skip)})" if skip else ""
    if not partial:
        return f"{d}{kept}"
    fresh = len(own) - len(state) - len(heads) - n_skipped
    return (f"{d}: {len(state) + len(heads)} of {len(own)} tensors copied, {fresh} fresh{kept} "
            f"({len(bad)} of its tensors absent here or reshaped)")


def init_dir(model_dir):
    """The packed weights --init-from names: a packed dir, an exp dir's model/, or a shipped name's dir."""
    from audiotok.pretrained import resolve_model

    d = Path(resolve_model(model_dir))
    if not (d / "model.safetensors").is_file() and (d / "model" / "model.safetensors").is_file():
        d = d / "model"
    if not (d / "model.safetensors").is_file():
        raise UserError(f"{model_dir}: --init-from needs a packed model dir or exp dir (no model.safetensors)")
    return d


def record_init_origin(exp_dir, model_dir, partial):
    """Write EXP/init_from.json (once): the weights this run started from and the CPU hours behind them, for
    the model card. A resumed run whose command names --init-from records it too if it did not yet."""
    from audiotok.fileio import atomic_write_text
    from audiotok.train.checkpoint import INIT_FROM_FILE, init_origin

    path = Path(exp_dir) / INIT_FROM_FILE
    if not path.is_file():
        atomic_write_text(path, json.dumps(init_origin(init_dir(model_dir), partial), indent=2) + "\n")


def _training_only_from_best(ckpt_dir, own, prefixes):
    """The training-only tensors (`prefixes`) of an exp dir's best checkpoint that fit `own` ({} if none)."""
    from audiotok.train.checkpoint import CheckpointManager

    manager = CheckpointManager(ckpt_dir)
    best = manager.read_index()
    if not best or not (ckpt_dir / best[0]["file"]).is_file():
        return {}
    state, _ = manager.best_weights()
    return {k: v for k, v in state.items() if k.startswith(prefixes) and k in own and own[k].shape == v.shape}


def train(cfg, train_data, valid_data, exp_dir, ngpu=0, resume=False, allow_config_change=False, init_from=None,
          init_partial=False, init_skip=(), command=None):
    """Set up this process (distributed or not), train, and pack the best model into EXP/model/.
    `command`: the command line, kept with the training segment (the model card shows how each resume ran).
    Returns the trainer's summary dict."""
    from audiotok.registry import build_model, dataset_class
    from audiotok.train import distributed as D
    from audiotok.train.checkpoint import export_model, seed_everything
    from audiotok.train.progress import setup_logging
    from audiotok.train.trainer import Trainer, trainer_config

    exp_dir = Path(exp_dir)
    changed = check_config_change(cfg, exp_dir, resume, allow_config_change)  # before anything is written
    info = D.init_distributed(ngpu)
    undo_logging = None
    try:
        if info.is_main:
            exp_dir.mkdir(parents=True, exist_ok=True)
        D.barrier(info)
        undo_logging = setup_logging(exp_dir, info.rank)
        if info.is_main:
            _write_config(cfg, exp_dir, changed)
        seed = int(trainer_config(cfg)["seed"])
        seed_everything(seed)  # identical initial weights on every rank
        model = build_model(cfg)
        if init_from and not (resume and (exp_dir / "checkpoints" / "latest.pt").is_file()):
            log.info("initial weights from %s", init_weights(model, init_from, init_partial, init_skip))
        if init_from and info.is_main:
            record_init_origin(exp_dir, init_from, init_partial)
        n_all = sum(p.numel() for p in model.parameters())
        disc = getattr(model, "discriminator", None)
        n_d = sum(p.numel() for p in disc.parameters()) if disc is not None else 0
        log.info("model %s: %.3fM parameters%s", cfg["model"], n_all / 1e6,
                 f" ({n_d / 1e6:.3f}M in the discriminator)" if n_d else "")
        cls = dataset_class(cfg["dataset"])
        conf = dict(cfg.get("dataset_conf") or {})
        train_set = cls(str(train_data), train=True, seed=seed, **conf)
        valid_set = cls(str(valid_data), train=False, seed=seed, **{**conf, **(cfg.get("valid_dataset_conf") or {})})
        log.info("data: %d training items from %s, %d validation items from %s",
                 len(train_set), train_data, len(valid_set), valid_data)
        segment = {"command": command} if command else {}
        if changed:
            segment["config_changed"] = list(changed)
        trainer = Trainer(cfg, model, train_set, valid_set, exp_dir, info, resume=resume, segment=segment)
        summary = trainer.train()
        # a finished run packs its best weights; a stopped one too once it has validated, so a long
        # run stopped at the end of a session can be scored and packed before it is resumed
        if info.is_main and (summary["stopped_by"] is None or trainer.ckpt.best):
            meta = {"training_data": str(train_data), "valid_data": str(valid_data), "steps": summary["step"],
                    "exp_dir": str(exp_dir)}
            out, best = export_model(trainer.ckpt, trainer.model, exp_dir / "model", meta,
                                     average=trainer_config(cfg)["average_nbest"])
            what = "final"
            if best and best.get("averaged_steps"):
                steps = ", ".join(map(str, best["averaged_steps"]))
                what = f"the mean of the best (steps {steps}, by {best['metric']})"
            elif best and best["metric"] == "step":
                what = f"the last validated (step {best['step']})"
            elif best:
                what = f"best (step {best['step']}, {best['metric']} {best['value']:.4g})"
            log.info("packed %s weights into %s", what, out)
        D.barrier(info)
        return summary
    finally:
        if undo_logging:
            undo_logging()
        D.cleanup()


def run(args):
    cfg = resolve_config(args)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        return 0
    if (args.init_partial or args.init_skip) and not args.init_from:
        raise UserError(f"{'--init-partial' if args.init_partial else '--init-skip'} needs --init-from")
    if args.ngpu < 0 or args.ddp_cpu < 0:
        raise UserError("--ngpu and --ddp-cpu must be >= 0")
    if args.ngpu > 0 and args.ddp_cpu > 0:
        raise UserError("--ddp-cpu is for CPU training: use it with --ngpu 0")
    nproc = args.ngpu if args.ngpu > 0 else max(1, args.ddp_cpu)
    from audiotok.train.distributed import under_torchrun

    if nproc > 1 and not under_torchrun():
        return _relaunch(args, nproc)
    summary = train(cfg, args.train_data, args.valid_data, args.exp_dir, args.ngpu, args.resume,
                    args.allow_config_change, args.init_from, args.init_partial, args.init_skip,
                    command=shlex.join(["audiotok", "train", *_argv(args)]))
    code = 0 if summary["stopped_by"] is None else 128 + int(summary["stopped_by"])
    if under_torchrun():
        from audiotok.train.distributed import leave_worker

        leave_worker(code)  # all is written and the group is gone: no interpreter teardown
    return code


if __name__ == "__main__":
    sys.exit(entry(__name__))
