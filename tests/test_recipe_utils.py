"""Recipe machinery driven through real bash: parse_options.sh, common.sh (stage guard, log, run.sh),
path.sh, cmd.sh and the job launcher (local jobs; slurm through fake sbatch/srun on PATH)."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UTILS = REPO / "recipes" / "utils"

OPTIONS_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=1
stop_stage=10000
ngpu=0
use_amp=false
tag=""
help_message="Usage: opts.sh [options] <dir>
  --stage N   first stage"
. {UTILS}/parse_options.sh
echo "stage=$stage stop_stage=$stop_stage ngpu=$ngpu use_amp=$use_amp tag=$tag rest=$*"
"""


def _bash(args, cwd, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    full_env.update(OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(["bash", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=full_env)


@pytest.fixture
def opts(tmp_path):
    (tmp_path / "opts.sh").write_text(OPTIONS_SCRIPT)
    (tmp_path / "conf.sh").write_text("ngpu=2\ntag=from_config\n")
    return lambda *args: _bash(["opts.sh", *args], tmp_path)


@pytest.mark.parametrize("args, expected", [
    ([], "stage=1 stop_stage=10000 ngpu=0 use_amp=false tag= rest="),
    (["--stage", "3", "--stop-stage", "5", "data/x", "y"], "stage=3 stop_stage=5 ngpu=0 use_amp=false tag= rest=data/x y"),
    (["--stop_stage", "7"], "stage=1 stop_stage=7 ngpu=0 use_amp=false tag= rest="),
    (["--config", "conf.sh"], "stage=1 stop_stage=10000 ngpu=2 use_amp=false tag=from_config rest="),
    # the config is sourced first wherever it appears, so the command line wins
    (["--ngpu", "4", "--config", "conf.sh"], "stage=1 stop_stage=10000 ngpu=4 use_amp=false tag=from_config rest="),
    (["--use-amp", "true", "--tag", "a b", "--", "--not-an-option"],
     "stage=1 stop_stage=10000 ngpu=0 use_amp=true tag=a b rest=--not-an-option"),
])
def test_parse_options_sets_declared_variables(opts, args, expected):
    r = opts(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


@pytest.mark.parametrize("args, message", [
    (["--foo", "1"], "invalid option --foo"),
    (["--use-amp", "yes"], "option --use-amp takes true or false, got 'yes'"),
    (["--stage=3"], "options are written '--name value'"),
    (["--stage"], "option --stage needs a value"),
    (["--config", "missing.sh"], "cannot read config file 'missing.sh'"),
])
def test_parse_options_errors(opts, args, message):
    r = opts(*args)
    assert r.returncode == 1 and r.stdout == ""
    assert message in r.stderr


def test_parse_options_help(opts):
    r = opts("--stage", "2", "--help")
    assert r.returncode == 0
    assert r.stdout == "Usage: opts.sh [options] <dir>\n  --stage N   first stage\n"


STAGES_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
. {UTILS}/common.sh
stage=1
stop_stage=10000
tag=base
save_run_args "$0" "$@"
. {UTILS}/parse_options.sh
for n in 1 2 3; do
  if run_stage "$n" "step$n" "data/in" "exp/out$n"; then
    echo "ran $n $tag" >> done.txt
    write_run_sh "exp/out$n" "$n"
  fi
done
log "finished"
"""


def test_stage_guard_log_and_run_sh(tmp_path):
    (tmp_path / "stages.sh").write_text(STAGES_SCRIPT)
    r = _bash(["stages.sh", "--stage", "2", "--stop_stage", "3", "--tag", "x y"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "done.txt").read_text() == "ran 2 x y\nran 3 x y\n"
    lines = r.stderr.splitlines()
    assert "(stages.sh:" in lines[0] and lines[0].endswith("Stage 2: step2: data/in -> exp/out2")
    assert lines[1].endswith("Stage 3: step3: data/in -> exp/out3") and lines[2].endswith(" finished")
    assert not (tmp_path / "exp" / "out1").exists()
    run_sh = tmp_path / "exp" / "out3" / "run.sh"
    assert run_sh.stat().st_mode & stat.S_IXUSR
    # the written run.sh reruns exactly stage 3 with the same options, from any directory
    (tmp_path / "done.txt").unlink()
    r = subprocess.run([str(run_sh)], cwd="/", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "done.txt").read_text() == "ran 3 x y\n"
    assert run_sh.read_text().splitlines()[-1] == 'bash ./stages.sh --tag x\\ y --stage 3 --stop-stage 3 "$@"; exit $?'


def test_path_sh_through_a_recipe_symlink(tmp_path):
    recipe = tmp_path / "egs" / "toy" / "codec1"
    (recipe / "local").mkdir(parents=True)
    (recipe / "path.sh").symlink_to(UTILS / "path.sh")
    (recipe / "local" / "path.sh").write_text("export TOY_LOCAL=loaded\n")
    r = _bash(["-c", "set -euo pipefail; . ./path.sh; echo $LC_ALL $PYTHONIOENCODING $OMP_NUM_THREADS "
               "$PYTHONUNBUFFERED $TOY_LOCAL; echo $PATH; echo $AUDIOTOK_ROOT"], recipe, env={"LC_ALL": "en_US.UTF-8"})
    assert r.returncode == 0, r.stderr
    first, path, root = r.stdout.splitlines()
    assert first == "C UTF-8 1 1 loaded"
    assert root == str(REPO)
    if (REPO / ".venv" / "bin").is_dir():
        assert path.split(":")[0] == str(REPO / ".venv" / "bin")


def test_cmd_sh_backends(tmp_path):
    show = f'set -e; . {UTILS}/cmd.sh; echo "$train_cmd|$cuda_cmd"'
    r = _bash(["-c", show], tmp_path)
    assert r.stdout.strip() == "utils/launch.sh|utils/launch.sh"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "slurm.conf").write_text("option gpu=* --gres=gpu:$0\n")
    r = _bash(["-c", show], tmp_path, env={"cmd_backend": "slurm"})
    train, cuda = r.stdout.strip().split("|")
    assert "--backend slurm --config conf/slurm.conf" in train and cuda.endswith("--gpu 1")
    r = _bash(["-c", show], tmp_path, env={"cmd_backend": "sge"})
    assert r.returncode == 1 and "unknown cmd_backend 'sge'" in r.stderr


def _launch(args, cwd, env=None):
    return _bash([UTILS / "launch.sh", *args], cwd, env)


def test_launcher_runs_jobs_and_merges(tmp_path):
    r = _launch(["JOB=1:3", "exp/log/make.JOB.log", "bash", "-c", "echo utt-JOB-b JOB; echo utt-JOB-a JOB",
                 ">", "out.JOB.txt"], tmp_path)
    assert r.returncode == 0, r.stderr
    merged = subprocess.run("sort out.*.txt", shell=True, cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "LC_ALL": "C"}).stdout
    assert merged.splitlines() == [f"utt-{j}-{x} {j}" for j in (1, 2, 3) for x in "ab"]
    log = (tmp_path / "exp" / "log" / "make.2.log").read_text().splitlines()
    assert log[0] == "# bash -c 'echo utt-2-b 2; echo utt-2-a 2' > out.2.txt"
    assert log[1].startswith("# Started at ")
    assert log[-2].startswith("# Accounting: time=") and log[-1].startswith("# Ended (code 0) at ")


def test_launcher_bounds_parallel_jobs(tmp_path):
    r = _launch(["--max-jobs-run", "1", "JOB=1:3", "log/t.JOB.log", "bash", "-c",
                 "echo start JOB >> trace; sleep 0.2; echo end JOB >> trace"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "trace").read_text().split("\n")[:-1] == [f"{w} {j}" for j in (1, 2, 3) for w in ("start", "end")]


def test_launcher_reports_failed_jobs_and_reruns_them(tmp_path):
    r = _launch(["JOB=1:3", "log/f.JOB.log", "echo", "job", "JOB", "&&", "test", "JOB", "-ne", "2"], tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == "launch: 1 of 3 jobs failed, see log/f.2.log"
    failed = (tmp_path / "log" / "f.2.log").read_text().splitlines()
    assert failed[0] == "# echo job 2 && test 2 -ne 2" and failed[3] == "job 2" and failed[-1].startswith("# Ended (code 1)")
    ok_log = (tmp_path / "log" / "f.1.log").read_text()
    r = _launch(["--pick", "failed", "JOB=1:3", "log/f.JOB.log", "echo", "again", "JOB"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "log" / "f.1.log").read_text() == ok_log
    assert "again 2" in (tmp_path / "log" / "f.2.log").read_text()
    r = _launch(["--bogus", "1", "JOB=1:2", "log/x.JOB.log", "true"], tmp_path)
    assert r.returncode == 1 and "unknown option --bogus" in r.stderr
    r = _launch(["JOB=1:2", "log/x.log", "true"], tmp_path)
    assert r.returncode == 1 and "share one log" in r.stderr


FAKE_SCHEDULER = """#!/usr/bin/env bash
# Test stand-in for an external slurm command: record the arguments, then run the job script here.
echo "$(basename "$0") $*" >> "$FAKE_SLURM_RECORD"
echo 4242
exec bash "${@: -1}"
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name in ("sbatch", "srun"):
        (bin_dir / name).write_text(FAKE_SCHEDULER)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record.txt"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM_RECORD": str(record)}
    return env, record


def test_slurm_backend_submits_with_sbatch_wait(tmp_path, fake_slurm):
    env, record = fake_slurm
    work = tmp_path / "work"
    work.mkdir()
    r = _launch(["--backend", "slurm", "--gpu", "1", "--mem", "2G", "--time", "0:10:00", "JOB=1:2",
                 "exp/log/train.JOB.log", "echo", "hello", "JOB"], work, env)
    assert r.returncode == 0, r.stderr
    calls = sorted(record.read_text().splitlines())
    assert len(calls) == 2
    for j, call in enumerate(calls, 1):
        words = call.split()
        assert words[:3] == ["sbatch", "--wait", "--parsable"]
        assert {"--job-name=train", f"--chdir={work}", "--gres=gpu:1", "--mem=2G", "--time=0:10:00"} <= set(words)
        assert words[-1] == str(work / "exp" / "log" / "q" / f"train.{j}.sh")
        log = (work / "exp" / "log" / f"train.{j}.log").read_text().splitlines()
        assert log[0] == f"# echo hello {j}" and log[3] == f"hello {j}" and log[-1].startswith("# Ended (code 0)")
    # inside an allocation jobs become srun steps; a site config maps the options; a failure is counted
    (work / "slurm.conf").write_text("command sbatch --export=ALL\noption gpu=0\noption gpu=* -p gpu --gres=gpu:$0\n")
    record.unlink()
    r = _launch(["--backend", "slurm", "--config", "slurm.conf", "--gpu", "2", "JOB=1:2", "log/s.JOB.log",
                 "test", "JOB", "=", "1"], work, {**env, "SLURM_JOB_ID": "77"})
    assert r.returncode == 1 and "1 of 2 jobs failed, see log/s.2.log" in r.stderr
    for j, call in enumerate(sorted(record.read_text().splitlines()), 1):
        assert call.split() == ["srun", "--nodes=1", "--ntasks=1", "--job-name=s",
                                f"--output={work}/log/q/s.{j}.slurm.out", f"--chdir={work}",
                                "--export=ALL", "-p", "gpu", "--gres=gpu:2", "bash", f"{work}/log/q/s.{j}.sh"]
    r = _launch(["--backend", "slurm", "--config", "slurm.conf", "--mem", "1G", "x.log", "true"], work, env)
    assert r.returncode == 1 and "unknown option --mem" in r.stderr


def test_subset_per_speaker_through_the_shell_shim(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    utts = [f"{spk}-{i:03d}" for spk in ("spka", "spkb") for i in range(5)]
    (src / "wav.scp").write_text("".join(f"{u} /nowhere/{u}.wav\n" for u in utts))
    (src / "utt2spk").write_text("".join(f"{u} {u[:4]}\n" for u in utts))
    (src / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in utts if u.startswith(s))}\n"
                                         for s in ("spka", "spkb")))
    r = _bash([UTILS / "subset_data_dir.sh", "--per-spk", src, "2", tmp_path / "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    kept = [ln.split()[0] for ln in (tmp_path / "out" / "wav.scp").read_text().splitlines()]
    assert kept == ["spka-000", "spka-001", "spkb-000", "spkb-001"]
    r = _bash([UTILS / "subset_data_dir.sh", "--per-spk", src, "0", tmp_path / "bad"], tmp_path)
    assert r.returncode == 1 and "--per-spk must be positive" in r.stderr
