"""Speaker similarity (Resemblyzer's shipped encoder) of voice-cloned output to its prompt, through the
real `audiotok spk-sim` command, on espeak-ng voices standing in for prompts and cloned outputs."""

import json
import subprocess
import sys

import pytest

from audiotok.data.kaldi_dir import write_data_dir

pytest.importorskip("resemblyzer")

VOICES = {"spkA": "en-us+m3", "spkB": "en-us+f2", "spkC": "en-gb+m1"}
LINES = ["the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore",
         "a stitch in time saves nine", "all that glitters is not gold"]


def _say(path, voice, text):
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return str(path)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spk")
    wav, spk = {}, {}
    for s, voice in VOICES.items():
        for i in range(2):
            u = f"{s}-u{i}"
            wav[u], spk[u] = _say(root / f"{u}.wav", voice, LINES[i]), s
    write_data_dir(root / "prompts", wav, spk)
    # "cloned" outputs: each says a new line in the voice of its prompt's speaker
    out_wav, out_spk, u2p = {}, {}, {}
    for j, (s, prompt) in enumerate((("spkB", "spkB-u0"), ("spkC", "spkC-u1"), ("spkA", "spkA-u0"))):
        u = f"tts{j}"
        out_wav[u], out_spk[u], u2p[u] = _say(root / f"{u}.wav", VOICES[s], LINES[2 + j % 2]), u, prompt
    write_data_dir(root / "tts", out_wav, out_spk)
    (root / "tts" / "utt2prompt").write_text("".join(f"{u} {p}\n" for u, p in sorted(u2p.items())))
    return root


def test_cloned_voices_are_nearer_their_prompts_than_other_speakers(dirs):
    out, md = dirs / "res", dirs / "RESULTS.md"
    cmd = [sys.executable, "-m", "audiotok", "spk-sim", "--data-dir", str(dirs / "tts"), "--prompt-data-dir",
           str(dirs / "prompts"), "--out", str(out), "--results-md", str(md), "--section", "voice cloning"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["utts"] == 3 and s["prompt_speakers"] == 3
    assert s["nearer_prompt_than_every_other"] == 3
    assert s["to_prompt"] > s["to_other_speakers"] + 0.05
    assert s["same_speaker_ceiling"] > s["other_speaker_floor"]
    rows = [json.loads(x) for x in (out / "utt_result.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == ["tts0", "tts1", "tts2"] and rows[0]["prompt"] == "spkB-u0"
    assert "| TTS output to its prompt |" in md.read_text()


def test_a_tts_dir_without_utt2prompt_is_a_one_line_error(dirs, capsys):
    from audiotok.cli import main

    rc = main(["spk-sim", "--data-dir", str(dirs / "prompts"), "--prompt-data-dir", str(dirs / "prompts"),
               "--out", str(dirs / "x")])
    err = capsys.readouterr().err
    assert rc == 1 and "utt2prompt: missing" in err and err.count("\n") == 1
