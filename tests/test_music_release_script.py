"""egs/mini_music/tok1/local/shipped_release.sh: a music-v1 release as a model dir, the shipped one or an
earlier one from the clone's history, in a throwaway git repository laid out as this one."""

import json
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "egs/mini_music/tok1/local/shipped_release.sh"
PACKAGE = "audiotok/pretrained/music-v1"


def _git(top, *args):
    subprocess.run(["git", "-C", str(top), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def _ship(top, version, weights):
    pkg = top / PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "meta.json").write_text(json.dumps({"name": "music-v1", "version": str(version)}))
    (pkg / "model.safetensors").write_bytes(weights)
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", f"release {version}")


def _run(top, version, dest):
    return subprocess.run(["bash", "local/shipped_release.sh", str(version), str(dest)],
                          cwd=top / "egs/mini_music/tok1", capture_output=True, text=True)


def test_a_release_comes_from_the_package_or_from_the_commit_that_shipped_it(tmp_path):
    top = tmp_path / "clone"
    (top / "egs/mini_music/tok1/local").mkdir(parents=True)
    shutil.copy(REPO / SCRIPT, top / SCRIPT)
    _git(top, "init", "-q")
    _ship(top, 4, b"weights of release 4")
    (top / "unrelated.txt").write_text("a later commit that does not touch the package")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "other")
    _ship(top, 5, b"weights of release 5")

    for version, weights in ((5, b"weights of release 5"), (4, b"weights of release 4")):
        dest = tmp_path / "exp" / f"r{version}" / "model"
        out = _run(top, version, dest)
        assert out.returncode == 0, out.stderr
        assert (dest / "model.safetensors").read_bytes() == weights
        assert json.loads((dest / "meta.json").read_text())["version"] == str(version)
    # a dest that holds a model is left alone
    (tmp_path / "exp/r4/model/model.safetensors").write_bytes(b"mine")
    assert _run(top, 5, tmp_path / "exp/r4/model").returncode == 0
    assert (tmp_path / "exp/r4/model/model.safetensors").read_bytes() == b"mine"
    # a release that never shipped: one line naming it, nothing written
    out = _run(top, 3, tmp_path / "exp/r3/model")
    assert out.returncode == 1 and "release 3" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp/r3").exists() or not any((tmp_path / "exp/r3").iterdir())
