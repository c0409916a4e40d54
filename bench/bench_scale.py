"""Scaling over processes on the CPU, through the real commands:

  * `audiotok encode --data-dir D --nj 1` vs `--nj 2` (each job one process with one thread;
    wall time of the whole command, start-up and model loading included);
  * `audiotok train` in one process vs `--ddp-cpu 2` (two gloo processes, one thread each, same
    per-process batch, so the global batch doubles); steps/s and samples/s as the trainer logs
    them (the first log interval, which holds the warm-up, is left out). One process with two
    threads is the fair single-process baseline on a 2-core machine.
Model: the debug DualCodec 12.5 Hz (random weights; training runs the GAN step from step 0).

    python -m bench.bench_scale [--quick]
"""

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common

NAME = "scale"
TITLE = "Scaling over processes (CPU)"
RATE = re.compile(r"step (\d+)/\d+ .*\| ([0-9.eE+-]+) steps/s ([0-9.eE+-]+) samples/s")


def cli(*args):
    return [sys.executable, "-m", "audiotok.cli", *args]


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, threads, cwd=None):
    """Run a command; returns (wall s, CPU s of it and every process it waited for)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cpu0, t0 = _children_cpu(), time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    return wall, cpu


def train_rates(log_path):
    """(steps/s, samples/s) averaged over the logged intervals after the first."""
    found = [(int(m.group(1)), float(m.group(2)), float(m.group(3)))
             for m in map(RATE.search, Path(log_path).read_text().splitlines()) if m]
    if not found:
        raise RuntimeError(f"{log_path}: no steps/s lines")
    later = found[1:] or found
    return statistics.mean(r[1] for r in later), statistics.mean(r[2] for r in later), len(later)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--utts", type=int, default=None,
                   help="utterances of 10 s to encode (default 24 with the debug model, 8 with the full-size one)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default 24, logged every 6)")
    args = p.parse_args(argv)
    common.setup(args)
    from audiotok.config import save_config
    from audiotok.registry import build_model
    from bench.bench_train import config as train_config
    from bench.data import make_data_dir
    from bench.zoo import pack_dualcodec

    steps = args.steps or (3 if args.quick else 24)
    log_every = max(1, steps // 4)
    # (model size, utterances, seconds each): the debug model shows the fixed costs (start-up, model
    # loading in every worker), the full-size one how the encoding itself scales
    plan = [("debug", args.utts or 2, 1.0)] if args.quick else [("debug", args.utts or 24, 10.0),
                                                                ("full", args.utts or 8, 10.0)]
    res = common.Result(NAME, TITLE, "bench.bench_scale", argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size, n_utts, utt_s in plan:
            data = make_data_dir(tmp / f"data_{size}", n_utts=n_utts, seconds=utt_s)
            model_dir = pack_dualcodec(tmp / f"model_{size}", "12hz", size)
            audio = n_utts * utt_s
            for nj in (1, 2):
                out = tmp / f"tok_{size}_nj{nj}"
                wall, cpu = run(cli("encode", "--data-dir", str(data), "-o", str(out), "--model", str(model_dir),
                                  "--nj", str(nj)), threads=1)
                n_files = len(list(out.glob("*.atok")))
                if n_files != n_utts:
                    raise RuntimeError(f"{out}: {n_files} token files for {n_utts} utterances")
                res.add(kind="encode", model=f"DualCodec 12.5 Hz {size}", nj=nj, threads_per_job=1, utts=n_utts,
                        audio_s=audio, wall_s=wall, cpu_s=cpu, xrt=audio / wall)
            shutil.rmtree(model_dir)

        cfg = train_config("debug")
        if args.quick:
            cfg["batch_size"] = 2
            cfg["dataset_conf"]["segment_seconds"] = 0.5
        cfg["trainer"].update(max_steps=steps, log_interval=log_every, valid_interval=10**6, save_interval=10**6,
                              valid_batches=1)
        build_model(cfg)  # fail here, not inside torchrun, if the config does not build
        conf_path = tmp / "train.yaml"
        save_config(cfg, conf_path)
        for procs, threads in ((1, 1), (2, 1)) if args.quick else ((1, 1), (1, 2), (2, 1)):
            exp = tmp / f"exp_p{procs}_t{threads}"
            extra = ["--ddp-cpu", str(procs)] if procs > 1 else []
            data = tmp / "data_debug"
            wall, cpu = run(cli("train", "--config", str(conf_path), "--train-data", str(data), "--valid-data",
                              str(data), "--exp-dir", str(exp), *extra), threads=threads)
            sps, samples, n_logs = train_rates(exp / "train.log")
            res.add(kind="train", processes=procs, threads_per_process=threads, batch_per_process=cfg["batch_size"],
                    segment_s=cfg["dataset_conf"]["segment_seconds"], steps=steps, logged_intervals=n_logs,
                    steps_per_s=sps, samples_per_s=samples, wall_s=wall, cpu_s=cpu)
    if args.quick:
        res.note("--quick: few short utterances and steps; the figures mean nothing")
    res.write(args.out, render)
    return 0


def render(data):
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    enc = [r for r in data["rows"] if r["kind"] == "encode"]
    if enc:
        out += ["`audiotok encode --data-dir D -o OUT --model M --nj N` (random-weight DualCodec 12.5 Hz packed "
                "with save_model_dir; wall time of the whole command incl. start-up and model loading):", ""]
        first = {}
        for r in enc:
            first.setdefault(r["model"], r)
        out.append(common.md_table(
            ["model", "utterances", "audio (s)", "--nj", "threads per job", "wall (s)", "CPU (s)", "x real time",
             "speed-up"],
            [[r["model"], r["utts"], r["audio_s"], r["nj"], r["threads_per_job"], r["wall_s"], r["cpu_s"], r["xrt"],
              f"{first[r['model']]['wall_s'] / r['wall_s']:.2f}x"] for r in enc]))
        out += ["", "CPU = user + system seconds of the command and all its processes. When CPU is well below "
                "wall x processes, the command waited for a core held by other jobs."]
    tr = [r for r in data["rows"] if r["kind"] == "train"]
    if tr:
        base = tr[0]
        out += ["", f"`audiotok train` on the debug DualCodec (GAN step, batch {base['batch_per_process']} x "
                f"{base['segment_s']:g} s per process, {base['steps']} steps; rates as logged by the trainer):", ""]
        out.append(common.md_table(
            ["processes", "threads each", "global batch", "steps/s", "samples/s", "samples/s vs 1 process x 1 thread",
             "command wall (s)", "command CPU (s)"],
            [[("2 (`--ddp-cpu 2`, gloo)" if r["processes"] > 1 else "1"), r["threads_per_process"],
              r["processes"] * r["batch_per_process"], r["steps_per_s"], r["samples_per_s"],
              f"{r['samples_per_s'] / base['samples_per_s']:.2f}x", r["wall_s"], r["cpu_s"]] for r in tr]))
    out.append("")
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
