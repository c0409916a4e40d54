"""audiotok synth-eval-voices: held-out sentences read by the flite voices training never hears."""

import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from audiotok.data.corpora.voices import RESERVED_FLITE_VOICES, SPEAKERS
from audiotok.data.kaldi_dir import validate_data_dir

REPO = Path(__file__).resolve().parents[1]


def audiotok(*args):
    return subprocess.run([sys.executable, "-m", "audiotok.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_eval_set_reads_each_sentence_once_in_reserved_voices(tmp_path):
    text = tmp_path / "text"
    text.write_text("a-1 THE CAT SAT\nb-1 THE CAT SAT\nb-2 WE CAN'T HURRY GENTLY TODAY\nc-9 WHAT A BRAVE SHOP\n"
                    "c-10 MARK WROTE THE WORD\n")
    r = audiotok("synth-eval-voices", "--text", text, "--out", tmp_path / "ev", "--utts", "3", "--nj", "2")
    assert r.returncode == 0, r.stderr
    d = tmp_path / "ev"
    assert validate_data_dir(d) == []
    lines = dict(line.split(maxsplit=1) for line in (d / "text").read_text().splitlines())
    # the first three distinct sentences, the voices in turn
    assert lines == {"r-kal00-00000": "THE CAT SAT", "r-kal16-00001": "WE CAN'T HURRY GENTLY TODAY",
                     "r-slt00-00002": "WHAT A BRAVE SHOP"}
    for utt, path in (line.split() for line in (d / "wav.scp").read_text().splitlines()):
        audio, sr = sf.read(path)
        assert sr == 16000 and 0.5 < len(audio) / sr < 5 and abs(audio).max() > 0.1
    # none of these voices is a training voice of the corpus
    assert not {s.voice for s in SPEAKERS} & set(RESERVED_FLITE_VOICES)
    # a second run would overwrite: refused in one line
    r = audiotok("synth-eval-voices", "--text", text, "--out", d)
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = audiotok("synth-eval-voices", "--text", tmp_path / "nope", "--out", tmp_path / "ev2")
    assert r.returncode == 1 and "no such text file" in r.stderr and not (tmp_path / "ev2").exists()
