"""What every benchmark script shares: the command-line base, thread setup, the machine record,
timing that waits for the GPU, and the result files (one JSON + its Markdown section per script).

A script's result, `<out>/<name>.json`:
    name, title, command (the line that reproduces it), started, wall_s,
    env (machine, versions, git hash), load (1-minute load average before / after),
    rows (the measurements), notes (what was skipped and why), markdown (the rendered section)
`bench/run_all.py` assembles RESULTS.md from these files.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def base_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny models and inputs (the smoke test); figures meaningless")
    p.add_argument("--out", default=str(RESULTS_DIR), help="folder for <name>.json (default: bench/results)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p


def setup(args):
    """Threads, and single runs in --quick mode."""
    global MAX_REPEATS
    setup_threads(args.threads)
    if args.quick:
        MAX_REPEATS = 1


def setup_threads(n):
    import torch

    torch.set_num_threads(int(n))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel op
        pass


def loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_bf16_flags():
    """The CPU's bfloat16 instruction sets (AVX512-BF16, AMX) as /proc/cpuinfo names them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ("avx512_bf16", "amx_bf16") if f in have]
    except OSError:
        pass
    return None


def _version(module):
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def git_hash():
    """Short commit hash, with '-dirty' when the checkout has uncommitted changes (e.g. to a config)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True,
                             text=True, cwd=REPO, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(device="cpu"):
    import torch

    env = {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_flags": _cpu_bf16_flags(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "transformers": _version("transformers"),
        "snac": _version("snac"),
        "audiotok_git": git_hash(),
        "device": device,
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def cuda_available():
    import torch

    return torch.cuda.is_available()


def sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


MAX_REPEATS = 3  # --quick sets 1


def timed(fn, device, min_total=2.0, max_repeats=None):
    """Median wall seconds of fn() (already warmed up by the caller). Runs once; repeats (up to
    `max_repeats`) only while the runs so far took less than `min_total` seconds in all, so slow
    cases cost one run. Returns (median seconds, every run, last result)."""
    runs, out = [], None
    max_repeats = max_repeats or MAX_REPEATS
    while True:
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        runs.append(time.perf_counter() - t0)
        if len(runs) >= max_repeats or sum(runs) >= min_total:
            return statistics.median(runs), runs, out


def command_line(module, argv):
    return " ".join(["python -m", module, *(shlex.quote(a) for a in argv)])


class Result:
    """Collects one script's rows and notes, then writes <out>/<name>.json atomically."""

    def __init__(self, name, title, module, argv, device="cpu"):
        if str(device).startswith("cuda"):  # CPU and GPU results live side by side
            name, title = f"{name}_cuda", f"{title} — CUDA"
        self.name, self.title = name, title
        self.command = command_line(module, argv)
        self.started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.t0 = time.perf_counter()
        self.load_before = loadavg()
        self.device = device
        self.rows, self.notes = [], []

    def add(self, **row):
        row.setdefault("load1", loadavg())
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return row

    def note(self, text):
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def write(self, out_dir, render):
        from audiotok.fileio import atomic_write_text

        data = {
            "name": self.name,
            "title": self.title,
            "command": self.command,
            "started": self.started,
            "wall_s": round(time.perf_counter() - self.t0, 1),
            "env": environment(self.device),
            "load": {"before": self.load_before, "after": loadavg()},
            "rows": self.rows,
            "notes": self.notes,
        }
        data["markdown"] = render(data)
        path = Path(out_dir) / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}", file=sys.stderr)
        return path


def md_table(headers, rows):
    def cell(v):
        if v is None:
            return "—"
        if isinstance(v, float):
            return fmt(v)
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(v, digits=3):
    """Three significant digits, no scientific notation for everyday magnitudes."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a >= 0.01:
        return f"{v:.3f}"
    return f"{v:.2g}"


def header_lines(data):
    """The provenance lines under a section title."""
    env = data["env"]
    load = data["load"]
    dev = env.get("gpu") or env["device"]
    return (f"Command: `{data['command']}` — {data['started']}, {data['wall_s']:.0f} s, on {dev}, "
            f"{env['torch_threads']} torch threads, load average (1 min) {load['before']} before / "
            f"{load['after']} after.")
