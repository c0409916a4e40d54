"""Run every benchmark script (each in its own process) and assemble bench/RESULTS.md.

    python -m bench.run_all                       # everything, CPU (+ CUDA rows when a GPU is there)
    python -m bench.run_all --only speed          # rerun one section; the others are kept
    python -m bench.run_all --assemble-only       # rebuild RESULTS.md from bench/results/*.json (re-rendered)

Each script writes <out>/<name>.json (rows + its Markdown section); RESULTS.md is written
atomically from whatever JSON files are in <out>, in a fixed order.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import common

BENCHES = ["speech_codec", "speed", "memory", "latency", "streaming", "lm", "speechlm", "train", "scale"]
CUDA_BENCHES = ["speed", "lm", "train"]  # the ones with GPU rows
ORDER = ["speech_codec", "speed", "speed_cuda", "memory", "latency", "streaming", "lm", "lm_cuda", "speechlm", "train",
         "train_cuda", "scale"]


def _shown(path):
    """A path inside the repo as the relative path a reader can reuse; others as given."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(common.REPO))
    except ValueError:
        return str(path)


def run_bench(name, out, threads, quick, device="cpu"):
    """Run one script from the repo root; its output goes to ours."""
    args = ["--out", _shown(out), "--threads", str(threads)] + (["--quick"] if quick else [])
    if device != "cpu":
        args += ["--device", device]
    cmd = [sys.executable, "-m", f"bench.bench_{name}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    Path(out).mkdir(parents=True, exist_ok=True)
    print(f"== {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=common.REPO, env=env)
    print(f"== {name}{' (cuda)' if device != 'cpu' else ''}: exit {rc} after {time.perf_counter() - t0:.0f} s",
          flush=True)
    return rc


def rerender(data):
    """The section again from its recorded rows, with the script's current render()."""
    import importlib

    base = data["name"].removesuffix("_cuda")
    if base in BENCHES:
        data["markdown"] = importlib.import_module(f"bench.bench_{base}").render(data)
    return data


def load_results(out, render=False):
    found = {}
    for path in sorted(Path(out).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "markdown" in data and "name" in data:
            found[data["name"]] = rerender(data) if render else data
    return [found[n] for n in ORDER if n in found] + [found[n] for n in sorted(found) if n not in ORDER]


def assemble(results):
    if not results:
        return "# audiotok benchmarks\n\nNo results yet: run `make bench`.\n"
    env = results[0]["env"]
    lines = [
        "# audiotok benchmarks",
        "",
        f"Assembled by `bench/run_all.py` on {datetime.date.today().isoformat()} from the JSON files in "
        "`bench/results/`. `make bench` installs the `bench` extra and runs `python -m bench.run_all`, which runs "
        "every `bench/bench_*.py` script in its own process; `python -m bench.run_all --only NAME` reruns one "
        "section. Every figure below comes from a run of these committed scripts; the exact command of each "
        "section is under its title. Models run with random weights (speed and memory do not depend on the "
        "weights), but for the shipped speech LM's end-to-end section, whose output lengths do. Nothing here "
        "is a test; no test asserts a time.",
        "",
        f"Machine: {env['cpu']}, {env['cpu_cores']} cores, {env['memory_gb']} GB; Python {env['python']}, "
        f"torch {env['torch']}, transformers {env['transformers']}, snac {env['snac']}; audiotok git "
        f"{env['audiotok_git']}.",
        "",
        "This machine is shared with other jobs, so wall-clock figures carry their noise. The 1-minute load "
        f"average is recorded for every section (and every row in the JSON files); with {env['cpu_cores']} cores a "
        f"load above {env['cpu_cores']} means the benchmark competed for the CPU and its times are pessimistic. "
        f"OpenMP threads wait passively (OMP_WAIT_POLICY={env.get('omp_wait_policy', 'default')}, set by "
        "`bench/__init__.py`): with libgomp's default spinning, two torch threads competing with other jobs made "
        "every model here 5-10x slower (EnCodec 10 s encode: 19.6 s spinning vs 2.3 s passive at load 10).",
        "",
        common.md_table(["section", "started", "wall (s)", "load before", "load after", "max load during rows"],
                        [[r["title"], r["started"], r["wall_s"], r["load"]["before"], r["load"]["after"],
                          max((x.get("load1") or 0 for x in r["rows"]), default=None)] for r in results]),
        "",
    ]
    for r in results:
        lines += [r["markdown"].rstrip(), ""]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, help="comma list of " + ", ".join(BENCHES))
    p.add_argument("--skip", default="", help="comma list of benchmarks to leave out")
    p.add_argument("--quick", action="store_true", help="tiny runs (smoke test)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(common.RESULTS_DIR), help="folder of the per-script JSON files")
    p.add_argument("--results", default=str(common.BENCH_DIR / "RESULTS.md"), help="the Markdown file to write")
    p.add_argument("--no-cuda", action="store_true", help="CPU rows only, even with a GPU")
    p.add_argument("--assemble-only", action="store_true",
                   help="only rebuild RESULTS.md, re-rendering each section from its recorded rows")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHES)
    names = [n for n in names if n and n not in args.skip.split(",")]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHES)}")
    failed = []
    if not args.assemble_only:
        cuda = not args.no_cuda and common.cuda_available()
        for name in names:
            if run_bench(name, args.out, args.threads, args.quick):
                failed.append(name)
            if cuda and name in CUDA_BENCHES and run_bench(name, args.out, args.threads, args.quick, "cuda"):
                failed.append(f"{name} (cuda)")
    from audiotok.fileio import atomic_write_text

    text = assemble(load_results(args.out, render=args.assemble_only))
    atomic_write_text(args.results, text)
    print(f"wrote {args.results}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)} (their output is above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
