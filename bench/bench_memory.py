"""Memory: peak resident memory of the real `audiotok encode` command (a subprocess) against the
input length, with a packed debug DualCodec (random weights, saved with save_model_dir).

Long files are encoded chunk by chunk (read from disk per chunk), so the peak must stay flat
from 1 to 60 minutes. For contrast the same command with `--chunk-seconds` larger than the file
(one window over the whole input) shows how memory grows without chunking.

Peak RSS comes from the kernel (wait4's ru_maxrss of the child, exact) and from psutil polling of
the whole process tree every 20 ms (the sum over processes; equal here, as encode runs in one).

    python -m bench.bench_memory [--quick] [--minutes 1,10,60] [--unchunked-minutes 1,5,10]
"""

import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench import common
from bench.zoo import pack_dualcodec

NAME = "memory"
TITLE = "Memory of `audiotok encode` against input length"
SR = 24000


def write_long_wav(path, minutes, sr=SR):
    """A `minutes`-long 16-bit mono WAV written block by block: tones and noise."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    n = int(round(minutes * 60 * sr))
    block = 60 * sr
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for start in range(0, n, block):
            t = np.arange(start, min(n, start + block)) / sr
            x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1375 * t)
            x += 0.05 * rng.standard_normal(len(t))
            f.write(x.astype(np.float32))
    return path


class TreePeak:
    """Polls the summed RSS of a process and its descendants until stopped; keeps the maximum."""

    def __init__(self, pid, interval=0.02):
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.peak


def run_measured(cmd, env=None, cwd=None):
    """Run `cmd`; returns (exit code, wall s, kernel peak RSS bytes, polled tree peak bytes, stderr)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        poll = TreePeak(p.pid)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
        tree = poll.stop()
        wall = time.perf_counter() - t0
        err.seek(0)
        text = err.read().decode(errors="replace")
    return p.returncode, wall, usage.ru_maxrss * 1024, tree, text


def encode_cmd(wav, out, model_dir, chunk_seconds=None):
    cmd = [sys.executable, "-m", "audiotok.cli", "encode", str(wav), "-o", str(out), "--model", str(model_dir)]
    if chunk_seconds is not None:
        cmd += ["--chunk-seconds", f"{chunk_seconds:g}"]
    return cmd


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--minutes", default=None, help="input lengths for chunked encoding (default 1,10,60)")
    p.add_argument("--unchunked-minutes", default=None, help="input lengths encoded in one window (default 1,5,10)")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="--chunk-seconds of the chunked runs (default: the CLI's own, 30; --quick: 5)")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir, removed after)")
    args = p.parse_args(argv)
    common.setup(args)
    chunked = [float(x) for x in (args.minutes or ("0.1,0.3" if args.quick else "1,10,60")).split(",")]
    unchunked = [float(x) for x in (args.unchunked_minutes or ("0.1" if args.quick else "1,5,10")).split(",") if x]
    res = common.Result(NAME, TITLE, "bench.bench_memory", argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        model_dir = pack_dualcodec(tmp / "model", "12hz", "debug")
        from audiotok.models.loading import load_model
        from audiotok.tokfile import read_tokens

        model = load_model(model_dir)
        info = dict(model=f"DualCodec 12.5 Hz debug ({sum(q.numel() for q in model.parameters()) / 1e6:.2f} M "
                          "parameters, random weights)")
        hop = round(model.sample_rate / model.frame_rate)
        chunk_s = args.chunk_seconds or (5.0 if args.quick else None)
        plan = [(m, chunk_s, True) for m in chunked] + [(m, m * 60 + 60, False) for m in unchunked]
        for minutes, chunk, is_chunked in plan:
            wav = write_long_wav(tmp / f"in_{minutes:g}min.wav", minutes)
            out = tmp / f"out_{minutes:g}min_{chunk}.atok"
            rc, wall, kernel_peak, tree_peak, err = run_measured(encode_cmd(wav, out, model_dir, chunk), env=env)
            if rc != 0:
                raise RuntimeError(f"audiotok encode failed ({rc}): {err.strip()[-500:]}")
            tokens, _ = read_tokens(out)
            frames = tokens["semantic"].shape[-1]
            expect = math.ceil(minutes * 60 * SR / hop)
            if frames != expect:
                raise RuntimeError(f"{out}: {frames} frames, expected {expect}")
            res.add(minutes=minutes, chunked=is_chunked, chunk_seconds=30.0 if chunk is None else chunk,
                    peak_rss_mb=kernel_peak / 2**20, peak_tree_mb=tree_peak / 2**20, wall_s=wall,
                    xrt=minutes * 60 / wall, frames=frames, atok_bytes=out.stat().st_size,
                    wav_mb=wav.stat().st_size / 2**20, **info)
            wav.unlink()
    if args.quick:
        res.note("--quick: short inputs; the figures mean nothing")
    res.write(args.out, render)
    return 0


def render(data):
    rows = data["rows"]
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    if rows:
        out += [f"Model: {rows[0]['model']}; `audiotok encode FILE.wav -o OUT.atok --model DIR "
                "[--chunk-seconds S]` as a subprocess, 24 kHz 16-bit mono WAV input, one process "
                f"({data['env']['torch_threads']} threads).", ""]
    def mode(r):
        return f"chunked ({r['chunk_seconds']:g} s + 2 s context each side)" if r["chunked"] else "one window"

    table = [[f"{r['minutes']:g} min", mode(r),
              r["wav_mb"], r["peak_rss_mb"], r["peak_tree_mb"], r["wall_s"], r["xrt"], r["atok_bytes"]] for r in rows]
    out.append(common.md_table(["input", "mode", "input file (MB)", "peak RSS (MB, kernel)",
                                "peak RSS (MB, polled tree)", "command wall (s)", "x real time (whole command)",
                                ".atok bytes"], table))
    ch = [r for r in rows if r["chunked"]]
    if len(ch) >= 2:
        lo, hi = ch[0], ch[-1]
        out += ["", f"Chunked: {hi['minutes'] / lo['minutes']:g}x longer input, peak RSS "
                f"{hi['peak_rss_mb']:.0f} MB vs {lo['peak_rss_mb']:.0f} MB "
                f"({100 * (hi['peak_rss_mb'] / lo['peak_rss_mb'] - 1):+.0f} %)."]
    out.append("")
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
