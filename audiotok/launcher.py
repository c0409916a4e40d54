"""Job launcher with Kaldi run.pl / slurm.pl semantics (used as `recipes/utils/launch.sh`).

    launch.sh [options] [JOB=1:N] LOG CMD ARGS...

runs CMD N times with every whole-word JOB (in LOG and in CMD) replaced by 1..N. Each job writes
its own LOG: the command line and start time at the top, its output, then accounting and
"# Ended (code C) ..." at the bottom. CMD arguments without whitespace are passed to bash
unquoted (so `\\|`, `\\>` work as in Kaldi), others are quoted; a pipeline fails if any part fails.

Backends: `local` (default) runs jobs here, at most --max-jobs-run at once (default: the CPU count);
scheduler options (--gpu --mem --time --num-threads) are accepted and ignored, as run.pl does.
`slurm` submits each job with `sbatch --wait` (or `srun` inside an allocation, see --slurm-mode),
mapping options to sbatch flags by the built-in rules below or a Kaldi-style `--config conf/slurm.conf`:
    command sbatch --export=ALL          # extra flags for every job
    option gpu=0                         # no flag when --gpu 0
    option gpu=* -p gpu --gres=gpu:$0    # $0 = the option's value
    default mem=4G
Exit status: 0 when every job ends with code 0, else 1 with "N of M jobs failed, see LOG".
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from audiotok.errors import UserError

PROG = "launch"
LAUNCHER_OPTS = {"backend", "max_jobs_run", "config", "pick", "name", "slurm_mode"}
BUILTIN_RULES = """
option gpu=0
option gpu=* --gres=gpu:$0
option mem=* --mem=$0
option time=* --time=$0
option num_threads=1
option num_threads=* --cpus-per-task=$0
"""
_RANGE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?")
_ENDED = re.compile(r"^# Ended \(code (-?\d+)\)", re.M)


@dataclass
class SlurmConf:
    """A Kaldi slurm.conf: extra sbatch args, option->flags rules ('*' rules take the value as $0), defaults."""

    command: list = field(default_factory=list)
    rules: dict = field(default_factory=dict)  # (name, value-or-'*') -> [flags]
    defaults: dict = field(default_factory=dict)

    @property
    def options(self):
        return {name for name, _ in self.rules}

    def flags(self, opts):
        out = []
        for name, value in {**self.defaults, **opts}.items():
            rule = self.rules.get((name, value))
            if rule is None and (name, "*") in self.rules:
                rule = [f.replace("$0", value) for f in self.rules[(name, "*")]]
            if rule is None:
                raise UserError(f"no slurm rule for --{name.replace('_', '-')} {value}")
            out += rule
        return out


def parse_slurm_conf(text, source="slurm config"):
    conf = SlurmConf()
    for n, line in enumerate(text.splitlines(), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "command" and len(words) >= 2:
            conf.command = words[2:]  # words[1] is the scheduler's own command name (sbatch)
        elif words[0] in ("option", "default") and len(words) >= 2 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            name = name.replace("-", "_")
            if words[0] == "default":
                conf.defaults[name] = value
            else:
                conf.rules[(name, value)] = words[2:]
        else:
            raise UserError(f"{source}: line {n}: expected 'command ...', 'option NAME=VALUE ...' or "
                            f"'default NAME=VALUE', got {line.strip()!r}")
    return conf


class _Help(Exception):
    pass


@dataclass
class Spec:
    log: str
    cmd_args: list
    var: str = None
    start: int = 1
    end: int = 1
    backend: str = "local"
    max_jobs_run: int = 0  # 0: the backend's default
    pick: str = "all"
    name: str = None
    slurm_mode: str = "auto"
    sched_opts: dict = field(default_factory=dict)  # gpu/mem/time/num_threads/... for the scheduler
    conf: SlurmConf = None


def parse_args(argv):
    """Kaldi-style parsing: '--name value' options until the first other word, then [VAR=a:b] LOG CMD..."""
    raw, i = {}, 0
    while i < len(argv) and (argv[i].startswith("--") or argv[i] == "-h"):
        arg = argv[i]
        if arg in ("-h", "--help"):
            raise _Help()
        if not arg.startswith("--") or "=" in arg:
            raise UserError(f"options are written '--name value', got {arg!r}")
        if i + 1 >= len(argv):
            raise UserError(f"option {arg} needs a value")
        raw[arg[2:].replace("-", "_")] = argv[i + 1]  # a later repeat overrides (cmd.sh defaults, then the recipe)
        i += 2
    spec = Spec(log="", cmd_args=[])
    m = _RANGE.fullmatch(argv[i]) if i < len(argv) else None
    if m:
        spec.var, spec.start = m.group(1), int(m.group(2))
        spec.end = int(m.group(3)) if m.group(3) is not None else spec.start
        if spec.end < spec.start:
            raise UserError(f"empty job range {argv[i]!r}")
        i += 1
    if len(argv) - i < 2:
        raise UserError(f"usage: {PROG} [options] [JOB=1:N] LOG COMMAND ARGS... (see --help)")
    spec.log, spec.cmd_args = argv[i], argv[i + 1:]
    if spec.end > spec.start and not _has_var(spec.log, spec.var):
        raise UserError(f"{spec.end - spec.start + 1} jobs would share one log {spec.log!r}; put {spec.var} in it")

    spec.backend = raw.pop("backend", "local")
    if spec.backend not in ("local", "slurm"):
        raise UserError(f"--backend must be local or slurm, got {spec.backend!r}")
    spec.pick = raw.pop("pick", "all")
    if spec.pick not in ("all", "failed", "incomplete"):
        raise UserError(f"--pick must be all, failed or incomplete, got {spec.pick!r}")
    spec.slurm_mode = raw.pop("slurm_mode", "auto")
    if spec.slurm_mode not in ("auto", "sbatch", "srun"):
        raise UserError(f"--slurm-mode must be auto, sbatch or srun, got {spec.slurm_mode!r}")
    spec.name = raw.pop("name", None)
    try:
        spec.max_jobs_run = int(raw.pop("max_jobs_run", 0))
    except ValueError:
        raise UserError("--max-jobs-run needs an integer") from None
    config = raw.pop("config", None)
    if config is not None:
        try:
            spec.conf = parse_slurm_conf(Path(config).read_text(), source=config)
        except OSError as e:
            raise UserError(f"{config}: cannot read slurm config ({e.strerror})") from None
    else:
        spec.conf = parse_slurm_conf(BUILTIN_RULES)
    unknown = set(raw) - spec.conf.options
    if unknown:
        raise UserError(f"unknown option --{sorted(unknown)[0].replace('_', '-')}")
    spec.sched_opts = raw
    return spec


def _job_name(log, var):
    """exp/log/train.JOB.log -> 'train': the scheduler's job name."""
    parts = [p for p in Path(log).name.removesuffix(".log").split(".") if p and p != var]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(parts)) or "job"


def _has_var(text, var):
    return var is not None and re.search(rf"(?<![A-Za-z0-9_]){var}(?![A-Za-z0-9_])", text) is not None


def substitute(text, var, value):
    """Replace whole-word `var` (JOB in x.JOB.log, keys.JOB.scp; not in SLURM_JOB_ID) by value."""
    if var is None:
        return text
    return re.sub(rf"(?<![A-Za-z0-9_]){var}(?![A-Za-z0-9_])", str(value), text)


def join_command(args):
    """Kaldi's rule: a word without whitespace goes to bash as is (so '|' and '>' act), others are quoted."""
    return " ".join(a if a and not re.search(r"\s", a) else shlex.quote(a) for a in args)


def job_script(cmd, log, cwd, threads=1):
    """The bash that runs one job and writes its log, header and footer included."""
    q = shlex.quote
    stamp = "$(date '+%Y-%m-%d %H:%M:%S %Z')"
    return f"""#!/usr/bin/env bash
cd {q(str(cwd))} || exit 1
log={q(str(log))}
{{ printf '# %s\\n' {q(cmd.replace(chr(10), chr(92) + 'n'))}; echo "# Started at {stamp} on ${{HOSTNAME:-unknown}}"; echo "#"; }} > "$log" || exit 1
start=$(date +%s)
( set -o pipefail
{cmd}
) < /dev/null >> "$log" 2>&1
rc=$?
end=$(date +%s)
echo "# Accounting: time=$((end - start)) threads={threads}" >> "$log"
echo "# Ended (code $rc) at {stamp}, elapsed time $((end - start)) seconds" >> "$log"
exit $rc
"""


def log_status(log):
    """Exit code recorded at the bottom of a job log, or None when the log is missing or unfinished."""
    try:
        found = _ENDED.findall(Path(log).read_text(errors="replace"))
    except OSError:
        return None
    return int(found[-1]) if found else None


def scheduler_command(spec, script, name, out_file, cwd):
    """The sbatch --wait (or srun) command line that runs one job script on slurm."""
    mode = spec.slurm_mode
    if mode == "auto":
        mode = "srun" if os.environ.get("SLURM_JOB_ID") else "sbatch"  # inside an allocation: run as a step
    common = [f"--job-name={name}", f"--output={out_file}", f"--chdir={cwd}"]
    flags = spec.conf.command + spec.conf.flags(spec.sched_opts)
    if mode == "sbatch":
        return ["sbatch", "--wait", "--parsable", *common, *flags, str(script)]
    return ["srun", "--nodes=1", "--ntasks=1", *common, *flags, "bash", str(script)]


@dataclass
class Job:
    index: int
    log: Path
    cmd: str
    proc: subprocess.Popen = None
    id_file: Path = None  # slurm: sbatch --parsable writes the job id here


def _start(job, spec, cwd, name):
    threads = spec.sched_opts.get("num_threads", "1")
    script = job_script(job.cmd, job.log.resolve(), cwd, threads)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    if spec.backend == "local":
        job.proc = subprocess.Popen(["bash", "-c", script], stdin=subprocess.DEVNULL, start_new_session=True)
        return
    qdir = job.log.parent / "q"
    qdir.mkdir(exist_ok=True)
    stem = job.log.name[: -len(".log")] if job.log.name.endswith(".log") else job.log.name
    script_path = qdir / f"{stem}.sh"
    script_path.write_text(script)
    job.id_file = qdir / f"{stem}.jobid"
    cmd = scheduler_command(spec, script_path.resolve(), name, (qdir / f"{stem}.slurm.out").resolve(), cwd)
    with open(job.id_file, "w") as out:
        job.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, start_new_session=True)
    if cmd[0] != "sbatch":
        job.id_file = None  # an srun step stops with its srun process; there is no job id to scancel


def _cancel(jobs):
    for job in jobs:
        if job.id_file is not None:
            ids = job.id_file.read_text().split(";")[0].strip() if job.id_file.exists() else ""
            if ids:
                subprocess.run(["scancel", ids], stderr=subprocess.DEVNULL, check=False)
        try:
            os.killpg(job.proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def launch(spec, cwd=None):
    """Run the jobs of `spec`; returns 0 when all succeed, else 1 after naming the first failed log."""
    cwd = Path(cwd or os.getcwd()).resolve()
    jobs = []
    for i in range(spec.start, spec.end + 1):
        job = Job(i, Path(substitute(spec.log, spec.var, i)), substitute(join_command(spec.cmd_args), spec.var, i))
        status = log_status(job.log)
        if spec.pick == "failed" and status == 0 or spec.pick == "incomplete" and status is not None:
            continue  # kept from an earlier run
        jobs.append(job)
    name = spec.name or _job_name(spec.log, spec.var)
    limit = spec.max_jobs_run or (len(os.sched_getaffinity(0)) if spec.backend == "local" else len(jobs)) or 1
    waiting, running, failed = list(jobs), [], []
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                job = waiting.pop(0)
                _start(job, spec, cwd, name)
                running.append(job)
            finished = [j for j in running if j.proc.poll() is not None]
            for job in finished:
                running.remove(job)
                code = log_status(job.log)
                if code != 0 or job.proc.returncode != 0:
                    failed.append(job)
            if not finished:
                time.sleep(0.05)
    except BaseException:
        _cancel(running)
        raise
    total = spec.end - spec.start + 1
    if failed:
        failed.sort(key=lambda j: j.index)
        print(f"{PROG}: {len(failed)} of {total} jobs failed, see {failed[0].log}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed launcher cancels its jobs
    try:
        return launch(parse_args(sys.argv[1:] if argv is None else argv))
    except _Help:
        print(__doc__.strip())
        return 0
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
