"""Data preparation of the real-corpus recipes (egs/librispeech/codec1, egs/libritts/codec1) on tiny
fixture trees laid out like the corpora: the real local/data.sh runs through bash from a copy of the
recipe dir, with LIBRISPEECH / LIBRITTS (read by egs/db.sh) pointing at the fixture."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.data.kaldi_dir import check_data_dir, load_data_dir

REPO = Path(__file__).resolve().parents[1]
SECONDS = 0.5

# (subset, speaker, gender): speaker ids where one is a prefix of another (103 / 1034, as in the
# real train-clean-100) catch utterance ids that would not sort like their speakers
LIBRI_SPEAKERS = {
    "train-clean-100": [("103", "F"), ("1034", "M")],
    "train-clean-360": [("14", "F"), ("16", "F")],
    "dev-clean": [("84", "F"), ("174", "M")],
    "test-clean": [("121", "F"), ("1089", "M")],
}
CHAPTERS = ["1240", "21"]
WORDS = ["THE", "QUICK", "BROWN", "FOX", "JUMPS", "OVER", "A", "LAZY", "DOG'S", "BACK"]


def _tone(sr, seed):
    t = np.arange(int(SECONDS * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * (150 + 50 * seed) * t) + 0.01 * rng.standard_normal(t.size)).astype("float32")


def _speakers_table(path, title):
    lines = [f"; {title} speakers", ";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for subset, spks in LIBRI_SPEAKERS.items():
        lines += [f"{spk:<5}| {sex} | {subset:<17}| 25.03 | Reader {spk}" for spk, sex in spks]
    path.write_text("\n".join(lines) + "\n")


def make_librispeech(root):
    """root/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac + <spk>-<chapter>.trans.txt.
    Returns {subset: {utt: (flac path, transcript)}}."""
    corpus, expect, seed = root / "LibriSpeech", {}, 0
    for subset, spks in LIBRI_SPEAKERS.items():
        expect[subset] = {}
        for spk, _ in spks:
            for chapter in CHAPTERS:
                d = corpus / subset / spk / chapter
                d.mkdir(parents=True)
                lines = []
                for n in range(2):
                    utt = f"{spk}-{chapter}-{n:04d}"
                    sf.write(d / f"{utt}.flac", _tone(16000, seed), 16000, format="FLAC")
                    words = " ".join(WORDS[(seed + k) % len(WORDS)] for k in range(3 + n))
                    lines.append(f"{utt} {words}")
                    expect[subset][utt] = (d / f"{utt}.flac", words)
                    seed += 1
                (d / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    _speakers_table(corpus / "SPEAKERS.TXT", "LibriSpeech")
    return corpus, expect


# (normalized text, what the text file must hold): punctuation, quotes, accents, hyphens, in-word apostrophes
TTS_TEXTS = [
    ("Mr. Smith\u2019s \u201ccaf\u00e9\u201d, twenty-one!", "MR SMITH'S CAFE TWENTY ONE"),
    ("'Tis the season; he said: \"no.\"", "TIS THE SEASON HE SAID NO"),
    ("It's three o'clock -- already?", "IT'S THREE O'CLOCK ALREADY"),
    ("Chapter one.", "CHAPTER ONE"),
]


def make_libritts(root):
    """root/LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav (24 kHz) with
    .normalized.txt / .original.txt. Returns {subset: {utt: (wav path, expected text)}}."""
    corpus, expect, seed = root / "LibriTTS", {}, 0
    for subset, spks in LIBRI_SPEAKERS.items():
        expect[subset] = {}
        for spk, _ in spks:
            for chapter in CHAPTERS:
                d = corpus / subset / spk / chapter
                d.mkdir(parents=True)
                for n in range(2):
                    stem = f"{spk}_{chapter}_{n:06d}_{n + 1:06d}"
                    sf.write(d / f"{stem}.wav", _tone(24000, seed), 24000, subtype="PCM_16")
                    normalized, words = TTS_TEXTS[seed % len(TTS_TEXTS)]
                    (d / f"{stem}.normalized.txt").write_text(normalized)
                    (d / f"{stem}.original.txt").write_text(normalized.replace("twenty-one", "21"))
                    expect[subset][f"{spk}-{chapter}_{n:06d}_{n + 1:06d}"] = (d / f"{stem}.wav", words)
                    seed += 1
    _speakers_table(corpus / "SPEAKERS.txt", "LibriTTS")
    return corpus, expect


def copy_recipe(name, dst):
    """Copy egs/<name>/codec1 to dst; its links (path.sh, utils, db.sh, ...) point at the repo's files."""
    src = REPO / "egs" / name / "codec1"
    dst.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name in ("data", "dump", "exp"):
            continue
        if entry.is_symlink():
            (dst / entry.name).symlink_to(entry.resolve())
        elif entry.is_dir():
            shutil.copytree(entry, dst / entry.name)
        else:
            shutil.copy2(entry, dst / entry.name)
    return dst


def bash(cwd, *args, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("LIBRISPEECH", "LIBRITTS", "MUSDB18")}
    full.update(OMP_NUM_THREADS="1", **env)
    return subprocess.run(["bash", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=full)


def assert_data_dir(d, expect):
    rep = check_data_dir(d)
    assert rep.problems == [], rep.problems
    data = load_data_dir(d)
    assert set(data.wav) == set(expect)
    for utt, (path, words) in expect.items():
        assert data.wav[utt] == str(path.resolve())
        assert data.text[utt] == words
        assert data.utt2spk[utt] == utt.split("-")[0]
    assert sorted(data.spk2utt) == sorted({u.split("-")[0] for u in expect})
    return data


# ---------------------------------------------------------------- LibriSpeech


@pytest.fixture(scope="module")
def librispeech(tmp_path_factory):
    root = tmp_path_factory.mktemp("ls")
    corpus, expect = make_librispeech(root)
    recipe = copy_recipe("librispeech", root / "recipe")
    r = bash(recipe, "local/data.sh", "--train-sets", "train-clean-100,train-clean-360", "--dev-set", "dev-clean",
             "--test-sets", "test-clean", "--train-name", "train_460", LIBRISPEECH=str(corpus))
    assert r.returncode == 0, r.stderr
    return corpus, expect, recipe


def test_librispeech_data_dirs(librispeech):
    corpus, expect, recipe = librispeech
    for subset in LIBRI_SPEAKERS:
        data = assert_data_dir(recipe / "data" / subset.replace("-", "_"), expect[subset])
        assert len(data) == 8 and len(data.spk2utt) == 2
        genders = dict(line.split() for line in (recipe / "data" / subset.replace("-", "_") / "spk2gender").open())
        assert genders == {spk: sex.lower() for spk, sex in LIBRI_SPEAKERS[subset]}
    # the two train subsets merged into one dir
    merged = {**expect["train-clean-100"], **expect["train-clean-360"]}
    assert len(assert_data_dir(recipe / "data" / "train_460", merged)) == 16
    assert (recipe / "data" / "train_clean_100" / "text").read_text().splitlines()[0] == \
        "103-1240-0000 THE QUICK BROWN"
    assert not (REPO / "egs" / "librispeech" / "codec1" / "data").exists()


def test_librispeech_format_stage_resamples_flac(librispeech):
    """Stage 2 of codec.sh through run.sh: the flac files become 24 kHz mono wav under dump/raw
    (train and dev sets; the test set is left out to keep the test short)."""
    corpus, expect, recipe = librispeech
    r = bash(recipe, "run.sh", "--stage", "2", "--stop-stage", "2", "--nj", "1", "--test-sets", "",
             LIBRISPEECH=str(corpus))
    assert r.returncode == 0, r.stderr
    assert "Stage 2: format audio to 24000 Hz mono" in r.stderr
    assert not (recipe / "dump" / "raw" / "test_clean").exists()
    for subset in ("train-clean-100", "dev-clean"):
        dump = recipe / "dump" / "raw" / subset.replace("-", "_")
        assert check_data_dir(dump).problems == []
        data = load_data_dir(dump)
        assert set(data.wav) == set(expect[subset])
        for utt, path in data.wav.items():
            assert path.endswith(".wav")
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.frames) == (24000, 1, int(SECONDS * 24000))
            assert data.text[utt] == expect[subset][utt][1]


def test_librispeech_missing_root_or_subset(tmp_path):
    corpus, _ = make_librispeech(tmp_path)
    shutil.rmtree(corpus / "dev-clean")
    recipe = copy_recipe("librispeech", tmp_path / "recipe")
    cases = [
        ({"LIBRISPEECH": ""}, "LIBRISPEECH is empty: set it in db.sh"),
        ({"LIBRISPEECH": str(tmp_path / "nowhere")},
         f"LibriSpeech not found: {tmp_path / 'nowhere'} is not a directory (LIBRISPEECH in db.sh)"),
        ({"LIBRISPEECH": str(corpus)}, f"subset dev-clean not found: {corpus / 'dev-clean'} is not a directory"),
    ]
    for env, msg in cases:
        r = bash(recipe, "local/data.sh", **env)
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1 and msg in r.stderr and r.stderr.startswith("local/data.sh: "), r.stderr
        assert not (recipe / "data").exists()  # every subset is checked before anything is written


def test_librispeech_transcript_without_audio_is_skipped_with_a_warning(tmp_path):
    corpus, expect = make_librispeech(tmp_path)
    lost = expect["test-clean"].pop("121-21-0001")[0]
    lost.unlink()
    recipe = copy_recipe("librispeech", tmp_path / "recipe")
    r = bash(recipe, "local/data.sh", "--train-sets", "test-clean", "--dev-set", "test-clean", "--test-sets", "",
             LIBRISPEECH=str(corpus))
    assert r.returncode == 0, r.stderr
    assert f"1 transcribed utterance(s) without audio, skipped (first: {lost})" in r.stderr
    assert_data_dir(recipe / "data" / "test_clean", expect["test-clean"])


# ---------------------------------------------------------------- LibriTTS


def test_libritts_data_dirs(tmp_path):
    corpus, expect = make_libritts(tmp_path)
    recipe = copy_recipe("libritts", tmp_path / "recipe")
    r = bash(recipe, "local/data.sh", "--train-sets", "train-clean-100", "--dev-set", "dev-clean",
             "--test-sets", "test-clean", LIBRITTS=str(corpus))
    assert r.returncode == 0, r.stderr
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        data = assert_data_dir(recipe / "data" / subset.replace("-", "_"), expect[subset])
        assert len(data) == 8 and len(data.spk2utt) == 2
    assert not (recipe / "data" / "train").exists()  # one train subset: nothing merged
    text = (recipe / "data" / "train_clean_100" / "text").read_text().splitlines()
    assert text[0] == "103-1240_000000_000001 MR SMITH'S CAFE TWENTY ONE"
    # ids keep the corpus id after the speaker: 103's utterances all sort before 1034's
    utts = [line.split()[0] for line in text]
    assert utts == sorted(utts) and [u.split("-")[0] for u in utts] == ["103"] * 4 + ["1034"] * 4


def test_libritts_missing_root_or_subset(tmp_path):
    corpus, _ = make_libritts(tmp_path)
    recipe = copy_recipe("libritts", tmp_path / "recipe")
    for env, msg in [
        ({}, "LIBRITTS is empty: set it in db.sh"),
        ({"LIBRITTS": str(corpus)}, f"subset dev-other not found: {corpus / 'dev-other'} is not a directory "
                                    "(LIBRITTS in db.sh)"),
    ]:
        r = bash(recipe, "local/data.sh", "--dev-set", "dev-other", **env)
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr
        assert not (recipe / "data").exists()
