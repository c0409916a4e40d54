"""Training throughput of the codec trainer (audiotok.train.trainer.Trainer, called directly):
steps/s and samples/s of DualCodec 12.5 Hz at two sizes, fp32 vs bf16 autocast.

  debug  egs/mini_synth/codec1/conf/dualcodec_12hz_debug.yaml as is (batch 4 x 1 s)
  mid    dualcodec_12hz.yaml at a quarter of its widths, a small discriminator and a 6 x 256
         BEST-RQ (batch 4 x 2 s); see MID below
Both run the GAN step (discriminator update + generator update, disc_start_step 0), which is
what most of a training run does. The trainer itself trains in fp32 on the CPU (bf16 only on
CUDA); for the CPU bf16 row a subclass turns on CPU bf16 autocast in the same place the trainer
sets up CUDA autocast. Timed: train_step on batches already loaded (data loading excluded),
after two warm-up steps.

    python -m bench.bench_train [--quick] [--device cuda] [--steps N]
"""

import contextlib
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import common
from bench.zoo import dualcodec_config

NAME = "train"
TITLE = "Codec training throughput (trainer steps)"

MID = {
    "model_conf": dict(latent_dim=256, wave=dict(encoder_dim=16, decoder_dim=384), ssl_features=dict(layer=4),
                       semantic=dict(dim=256, intermediate_dim=768, layers=2),
                       discriminator=dict(channels=8, stft_channels=16)),
    "ssl": dict(dim=256, n_layers=6, n_heads=4),  # the SSL's encoder group
    "batch_size": 4,
    "segment_seconds": 2.0,
}


def config(size):
    """(training config dict, label) with the SSL built in place (random weights)."""
    if size == "debug":
        model_cfg, full = dualcodec_config("12hz", "debug", discriminator=None)
        cfg = copy.deepcopy(full)
    else:
        model_cfg, full = dualcodec_config("12hz", "full", discriminator=None)
        cfg = copy.deepcopy(full)
        for key, value in copy.deepcopy(MID["model_conf"]).items():  # config groups merge key by key
            group = key in ("wave", "semantic", "ssl_features")
            model_cfg["model_conf"][key] = {**model_cfg["model_conf"].get(key, {}), **value} if group else value
        model_cfg["model_conf"]["ssl"]["model_conf"]["encoder"].update(MID["ssl"])
        cfg["batch_size"] = MID["batch_size"]
        cfg["dataset_conf"]["segment_seconds"] = MID["segment_seconds"]
    cfg["model"], cfg["model_conf"] = model_cfg["model"], model_cfg["model_conf"]
    cfg["model_conf"].setdefault("training", {})["disc_start_step"] = 0
    cfg["num_workers"] = 0
    cfg["trainer"] = {**cfg.get("trainer", {}), "amp": "none", "max_steps": 10**6}
    return cfg


def make_trainer(cfg, data_dir, exp_dir, device, amp):
    from audiotok.registry import build_model, dataset_class
    from audiotok.train.distributed import DistInfo
    from audiotok.train.trainer import Trainer

    class CPUAutocastTrainer(Trainer):
        """The trainer with CPU bf16 autocast allowed (the stock trainer keeps the CPU in fp32)."""

        def _setup_amp(self):
            super()._setup_amp()
            if amp == "bf16" and self.device.type == "cpu":
                self.amp_dtype, self.amp_note = torch.bfloat16, "bf16 autocast on CPU (benchmark)"

        def autocast(self):
            if self.amp_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    cfg = copy.deepcopy(cfg)
    cfg["trainer"]["amp"] = amp if str(device).startswith("cuda") else "none"
    torch.manual_seed(0)
    model = build_model(cfg)
    ds = dataset_class(cfg["dataset"])(str(data_dir), train=True, seed=0, **cfg["dataset_conf"])
    info = DistInfo(device=torch.device(device))
    return CPUAutocastTrainer(cfg, model, ds, ds, exp_dir, info), model


def throughput(trainer, n_steps, warmup, device):
    from audiotok.train.trainer import to_device

    batches = []
    for batch in trainer.train_loader:
        batches.append(to_device(batch, trainer.device))
        if len(batches) == warmup + n_steps:
            break
    while len(batches) < warmup + n_steps:  # tiny data dirs: reuse batches
        batches.append(batches[len(batches) % max(1, len(batches))])
    t0 = None
    for i, batch in enumerate(batches):
        if i == warmup:
            common.sync(device)
            t0 = time.perf_counter()
        trainer.train_step(batch)
        trainer.step += 1
    common.sync(device)
    return (time.perf_counter() - t0) / n_steps


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per row (default 8 for debug, 4 for mid; --quick 2)")
    p.add_argument("--sizes", default=None, help="debug,mid (default; --quick: debug)")
    p.add_argument("--amps", default="none,bf16")
    args = p.parse_args(argv)
    common.setup(args)
    from bench.data import make_data_dir

    device = args.device
    warmup = 1 if args.quick else 2
    res = common.Result(NAME, TITLE, "bench.bench_train", argv, device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_data_dir(tmp / "data", n_utts=8, seconds=3.0)
        for size in (args.sizes or ("debug" if args.quick else "debug,mid")).split(","):
            cfg = config(size)
            if args.quick:
                cfg["batch_size"] = 2
                cfg["dataset_conf"]["segment_seconds"] = 0.5
                ssl = cfg["model_conf"]["ssl"]["model_conf"]
                ssl["encoder"] = {**ssl["encoder"], "dim": 32, "n_layers": 1, "n_heads": 2}
                cfg["model_conf"].setdefault("ssl_features", {})["layer"] = 1
            for amp in args.amps.split(","):
                trainer, model = make_trainer(cfg, data, tmp / f"exp_{size}_{amp}", device, amp)
                disc = sum(q.numel() for q in model.discriminator.parameters()) / 1e6
                ssl = sum(q.numel() for q in model.ssl.parameters()) / 1e6
                gen = sum(q.numel() for q in model.parameters()) / 1e6 - disc - ssl
                steps = args.steps or (2 if args.quick else {"debug": 8}.get(size, 4))
                sec = throughput(trainer, steps, warmup, device)
                b, seg = int(cfg["batch_size"]), float(cfg["dataset_conf"]["segment_seconds"])
                res.add(size=size, amp=amp, amp_note=trainer.amp_note, batch=b, segment_s=seg, gen_params_m=gen,
                        disc_params_m=disc, ssl_params_m=ssl, steps=steps, s_per_step=sec, steps_per_s=1 / sec,
                        samples_per_s=b / sec, audio_s_per_s=b * seg / sec)
                del trainer, model
    if args.quick:
        res.note("--quick: toy SSL, batch 2 x 0.5 s, 2 steps; the figures mean nothing")
    res.write(args.out, render)
    return 0


def render(data):
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    out += ["DualCodec 12.5 Hz, GAN step (discriminator + generator update), random init, synthetic audio; "
            "`Trainer.train_step` on preloaded batches after warm-up.", ""]
    rows = data["rows"]
    out.append(common.md_table(
        ["config", "precision", "batch", "generator / disc / frozen SSL (M params)", "s per step", "steps/s",
         "samples/s", "audio s per s"],
        [[r["size"], "fp32" if r["amp"] == "none" else f"{r['amp']} autocast", f"{r['batch']} x {r['segment_s']:g} s",
          f"{common.fmt(r['gen_params_m'])} / {common.fmt(r['disc_params_m'])} / {common.fmt(r['ssl_params_m'])}",
          r["s_per_step"], r["steps_per_s"], r["samples_per_s"], r["audio_s_per_s"]] for r in rows]))
    by = {(r["size"], r["amp"]): r for r in rows}
    lines = []
    for size in dict.fromkeys(r["size"] for r in rows):
        if (size, "none") in by and (size, "bf16") in by:
            ratio = by[(size, "none")]["s_per_step"] / by[(size, "bf16")]["s_per_step"]
            lines.append(f"{size}: bf16 is {ratio:.2f}x the speed of fp32")
    if lines:
        flags = data["env"].get("cpu_flags")
        out += ["", "; ".join(lines) + (f" (CPU bf16 instructions here: {', '.join(flags) or 'none'})."
                                        if data["env"]["device"] == "cpu" and flags is not None else ".")]
    out.append("")
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
