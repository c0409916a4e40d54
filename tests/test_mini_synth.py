"""mini_synth: the sentence generator, the speakers table, and real corpora built with espeak-ng/flite/sox."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from audiotok.data.corpora import augment as A
from audiotok.data.corpora import mini_synth as M
from audiotok.data.corpora import phones as P
from audiotok.data.corpora import sentences as S
from audiotok.data.corpora import voices as V
from audiotok.data.kaldi_dir import load_data_dir, read_scp, validate_data_dir
from audiotok.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)
TRANSCRIPT_RE = re.compile(r"[A-Z']+( [A-Z']+)*")


# --- sentences ----------------------------------------------------------------------------

def test_vocabulary_has_over_1000_words_and_generator_uses_them():
    vocab = S.vocabulary()
    assert len(vocab) >= 1000
    sentences = S.generate(0, 3000)
    used = {w for s in sentences for w in s.transcript.split()}
    assert len(used) >= 1000
    assert used <= vocab, sorted(used - vocab)[:10]


def test_transcripts_are_normalised_and_4_to_16_words():
    for s in S.generate(1, 2000):
        assert TRANSCRIPT_RE.fullmatch(s.transcript), s.transcript
        assert 4 <= len(s.transcript.split()) <= 16
        # the TTS text says the same words, only with capitals and punctuation
        spoken = re.sub(r"[,.?!]", "", s.text).upper().split()
        assert spoken == s.transcript.split()


def test_sentence_shapes_are_varied():
    texts = [s.text for s in S.generate(2, 1000)]
    questions = sum(t.endswith("?") for t in texts)
    commas = sum("," in t for t in texts)
    numbers = sum(bool(re.search(r"\b(hundred|thousand|twenty|thirty|forty|o'clock|nineteen)\b", t)) for t in texts)
    clauses = sum(bool(re.search(r"\b(because|although|while|that|who|if)\b", t)) for t in texts)
    for count in (questions, commas, numbers, clauses):
        assert 30 < count < 700
    assert len(set(texts)) > 950


def test_generator_is_seeded():
    a = [s.transcript for s in S.generate(5, 50)]
    assert a == [s.transcript for s in S.generate(5, 50)]
    assert a != [s.transcript for s in S.generate(6, 50)]


def test_number_and_year_words():
    assert S.number_words(345) == "three hundred and forty five".split()
    assert S.number_words(2007) == "two thousand and seven".split()
    assert S.number_words(1250) == "one thousand two hundred and fifty".split()
    assert S.year_words(1984) == "nineteen eighty four".split()
    assert S.year_words(1905) == "nineteen oh five".split()
    assert S.year_words(1900) == "nineteen hundred".split()
    assert S.year_words(2005) == "two thousand and five".split()
    assert S.year_words(2024) == "twenty twenty four".split()


def test_inflection():
    assert S.plural("box") == "boxes" and S.plural("cherry") == "cherries" and S.plural("man/men") == "men"
    assert S.verb_forms("carry") == ("carry", "carries", "carried", "carrying")
    assert S.verb_forms("bake") == ("bake", "bakes", "baked", "baking")
    assert S.verb_forms("play") == ("play", "plays", "played", "playing")
    assert S.article("umbrella") == "an" and S.article("useful") == "a" and S.article("hour") == "an"


# --- speakers -----------------------------------------------------------------------------

def test_speaker_table_and_split():
    ids = [s.id for s in M.SPEAKERS]
    assert len(set(ids)) == len(ids) >= 500
    assert len({len(i) for i in ids}) == 1  # equal length: no id is a prefix of another
    assert len({(s.engine, s.voice, s.pitch, s.rate, s.timbre) for s in M.SPEAKERS}) == len(ids)
    assert not any(s.engine == "flite" and s.voice in M.RESERVED_FLITE_VOICES for s in M.SPEAKERS)
    test = M.speakers_of("test")
    assert {s.engine for s in test} == {"espeak-ng", "flite"}
    assert {s.voice for s in test if s.engine == "flite"} == {"rms"}
    assert {s.voice for s in M.speakers_of("train") if s.engine == "flite"} == {"awb"}
    assert M.speakers_of("dev")
    assert len(M.speakers_of("train")) >= 400
    # whole variants are held out, a Klatt one among them, in several accents
    families = {split: {s.family for s in M.speakers_of(split)} for split in M.SPLITS}
    assert not families["train"] & (families["test"] | families["dev"])
    assert not families["dev"] & families["test"]
    assert any(f.startswith("klatt") for f in families["test"])
    assert len({s.voice.split("+")[0] for s in test if s.engine == "espeak-ng"}) == len(V.ACCENTS)


def test_rotation_spans_voice_families():
    import random

    order = V.rotation("train", random.Random(0))
    assert sorted(s.id for s in order) == sorted(s.id for s in M.speakers_of("train"))
    n_families = len({s.family for s in order})
    assert len({s.family for s in order[:n_families]}) == n_families


def test_test_split_minimum_rule():
    assert M.min_utts("test", 59.9) == M.MIN_UTTS_PER_SPLIT
    assert M.min_utts("test", 60.0) == M.TEST_MIN_UTTS == 300
    assert M.min_utts("test", 600.0, test_utts=500) == 500
    assert M.min_utts("train", 600.0) == M.MIN_UTTS_PER_SPLIT
    # small corpora use few speakers, big ones all of them
    assert M.n_speakers("train", 40) == M.MIN_SPEAKERS["train"]
    assert M.n_speakers("train", 10 * 3600) == len(M.speakers_of("train"))


def test_a_longer_corpus_of_the_same_seed_starts_with_the_shorter_one():
    """Past minutes_using_every_speaker() a split's plan does not depend on the size: 10 and 30 hours
    plan the same utterances first (so the test voices, sentences and test_9perspk stay), while below
    it a bigger corpus brings in more speakers and reorders the plan."""
    from itertools import islice

    full = M.minutes_using_every_speaker()
    assert 100 < full < 600  # the recipes' 10-hour corpus is past it

    def plan(split, minutes, n=400):
        target = minutes * 60 * M.SPLIT_SHARE[split]
        n_spk = M.n_speakers(split, max(target, M.min_utts(split, minutes) * M.UTT_SECONDS_GUESS))
        return [(u.utt_id, u.text, u.aug) for u in islice(M.plan_split(1, split, n_spk), n)]

    for split in M.SPLITS:
        assert M.n_speakers(split, full * 60 * M.SPLIT_SHARE[split]) == len(M.speakers_of(split))
        assert plan(split, 600) == plan(split, 1800)
    assert plan("train", 60) != plan("train", 600)


def test_augmentation_is_seeded_and_mixed():
    augs = [A.choose(0, f"e-us-000-{i:05d}") for i in range(1000)]
    assert augs == [A.choose(0, f"e-us-000-{i:05d}") for i in range(1000)]
    share = sum(not a.clean for a in augs) / len(augs)
    assert 0.5 < share < 0.7
    for kind in ("eq", "reverb", "noise", "gain_db"):
        assert sum(bool(getattr(a, kind)) for a in augs) > 100
    assert all(A.SNR_DB[0] <= a.snr_db <= A.SNR_DB[1] for a in augs if a.noise)
    assert all(" " not in a.describe() for a in augs)


def test_phonemes_normalised_and_batched():
    got = P.phonemise(["THE CAT SAT", "IT'S TWELVE O'CLOCK", "THE CAT SAT"])
    assert set(got) == {"THE CAT SAT", "IT'S TWELVE O'CLOCK"}
    for phones in got.values():
        assert phones and not any(set(p) & set("',%=:;_") for p in phones)
    assert got["THE CAT SAT"] == P.phonemise(["THE CAT SAT"])["THE CAT SAT"]
    assert P.normalise("D @2 k 'a t _: t2 'aI m") == ["D", "@2", "k", "a", "t", "t2", "aI", "m"]
    assert P.normalise("k 'a t5") == ["k", "a", "t"]  # an unknown variant falls back to its base
    with pytest.raises(UserError, match="inventory"):
        P.normalise("k 'a Q")


def test_dev_and_test_sentences_never_in_train():
    for split in M.SPLITS:
        plan = M.plan_split(0, split)
        for _ in range(100):
            assert M.split_of_transcript(next(plan).transcript) == split


# --- corpora ------------------------------------------------------------------------------

def _wav_digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "wav").rglob("*")) if p.is_file()}


def _texts(root):
    return {split: (root / split / "text").read_bytes() for split in M.SPLITS}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("mini_synth")
    out = {}
    for name, seed, nj in (("a", 0, 1), ("b", 0, 2), ("c", 1, 2)):
        summary = M.build_corpus(base / name, minutes=1.0, seed=seed, nj=nj, progress=False)
        out[name] = (base / name, summary)
    return out


def test_same_seed_gives_identical_corpus_whatever_nj(corpora):
    (a, sa), (b, sb) = corpora["a"], corpora["b"]
    assert sa == sb
    assert _texts(a) == _texts(b)
    assert _wav_digests(a) == _wav_digests(b)
    assert (a / "corpus.json").read_bytes() == (b / "corpus.json").read_bytes()


def test_different_seed_gives_different_text(corpora):
    (a, _), (c, _) = corpora["a"], corpora["c"]
    assert all(_texts(a)[s] != _texts(c)[s] for s in M.SPLITS)


def test_data_dirs_validate_and_split_by_speaker(corpora):
    root, summary = corpora["a"]
    spk_of_split = {}
    texts = {}
    for split in M.SPLITS:
        assert validate_data_dir(root / split) == []
        d = load_data_dir(root / split)
        spk_of_split[split] = set(d.spk2utt)
        assert spk_of_split[split] <= {s.id for s in M.speakers_of(split)}
        assert len(spk_of_split[split]) == M.n_speakers(split, 60 * M.SPLIT_SHARE[split])
        assert summary[split]["utterances"] == len(d.wav)
        for utt, path in d.wav.items():
            assert utt.startswith(d.utt2spk[utt] + "-")
            assert Path(path).is_absolute() and Path(path) == root.resolve() / "wav" / d.utt2spk[utt] / f"{utt}.wav"
        texts[split] = set(d.text.values())
    assert not spk_of_split["test"] & spk_of_split["train"]
    assert not spk_of_split["dev"] & spk_of_split["train"]
    assert not (texts["test"] | texts["dev"]) & texts["train"]
    # no extra, half-written or leftover files beside the listed ones
    listed = {Path(p) for split in M.SPLITS for p in load_data_dir(root / split).wav.values()}
    assert set((root.resolve() / "wav").rglob("*.*")) == listed


def test_audio_format_level_and_duration(corpora):
    root, summary = corpora["a"]
    d = load_data_dir(root / "test")
    durs = {u: float(v) for u, v in read_scp(root / "test" / "utt2dur").items()}
    peak = round(32767 * 10 ** (M.PEAK_DB / 20))
    pad = int(M.PAD_SECONDS * 24000) - 1
    for utt, path in d.wav.items():
        with wave.open(path, "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        assert abs(np.abs(x.astype(int)).max() - peak) <= 2
        assert not x[:pad].any() and not x[-pad:].any()  # the silent pads
        assert np.abs(x[pad: pad + 2400]).max() > 300  # speech starts right after the pad (trimmed)
        assert durs[utt] == pytest.approx(len(x) / 24000, abs=1e-3)


def test_minutes_target_is_met_without_overshooting(corpora):
    root, summary = corpora["a"]
    for split in M.SPLITS:
        target = 60 * M.SPLIT_SHARE[split]
        durs = [float(v) for v in read_scp(root / split / "utt2dur").values()]
        assert sum(durs) == pytest.approx(summary[split]["seconds"], abs=0.01)
        minimum = max(M.min_utts(split, 1.0), M.n_speakers(split, target))
        if len(durs) > minimum:
            # it stopped at the first utterance that reached the target
            assert sum(durs) >= target
            assert sum(durs) - max(durs) < target


def test_only_train_is_augmented_and_utt2aug_is_written(corpora):
    root, _ = corpora["a"]
    meta = json.loads((root / "corpus.json").read_text())
    for split in M.SPLITS:
        d = load_data_dir(root / split)
        utt2aug = read_scp(root / split / "utt2aug")
        assert set(utt2aug) == set(d.utt2spk)
        augmented = sum(v != "clean" for v in utt2aug.values())
        assert augmented == meta["augmentation"]["augmented_utterances"][split]
        if split == "train":
            assert augmented > 0
            for utt, desc in utt2aug.items():
                assert desc == A.choose(0, utt).describe()
        else:
            assert augmented == 0


def test_phones_cover_every_utterance(corpora):
    root, _ = corpora["a"]
    inventory = (root / "phones.txt").read_text().split("\n")[:-1]
    assert inventory == sorted(set(inventory)) == list(P.INVENTORY) and len(inventory) == 63
    meta = json.loads((root / "corpus.json").read_text())
    assert meta["phones"]["inventory_size"] == len(inventory)
    for split in M.SPLITS:
        phones = read_scp(root / split / "phones")
        assert set(phones) == set(load_data_dir(root / split).utt2spk)
        assert all(phones[u].split() and set(phones[u].split()) <= set(inventory) for u in phones)


def test_corpus_json_documents_voices_and_tools(corpora):
    root, _ = corpora["a"]
    meta = json.loads((root / "corpus.json").read_text())
    assert meta["voices"]["held_out"] == {"test": list(V.TEST_VARIANTS), "dev": list(V.DEV_VARIANTS)}
    assert set(meta["tools"]) >= {"espeak-ng", "flite", "sox"}
    assert len(meta["speakers"]) == len(M.SPEAKERS)
    assert meta["reserved_flite_voices"] == ["kal", "kal16", "slt"]
    used = {s["voice"] for s in meta["speakers"] if s["engine"] == "flite"}
    assert not used & set(M.RESERVED_FLITE_VOICES)


def test_existing_output_dir_is_refused_then_overwritten(tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        M.build_corpus(out, minutes=0.1, seed=0, progress=False)
    stale = out / "wav" / "espk-usm1" / "stale.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    M.build_corpus(out, minutes=0.1, seed=0, overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine" and not stale.exists()
    assert validate_data_dir(out / "train") == []


def test_test_utts_minimum_is_met(tmp_path):
    summary = M.build_corpus(tmp_path / "c", minutes=0.1, seed=2, test_utts=9, sample_rate=16000, progress=False)
    assert summary["test"]["utterances"] == 9
    assert len(read_scp(tmp_path / "c" / "test" / "phones")) == 9


def test_bad_options_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="minutes"):
        M.build_corpus(tmp_path / "x", minutes=0, progress=False)
    with pytest.raises(UserError, match="minutes"):
        M.build_corpus(tmp_path / "x", minutes=float("inf"), progress=False)
    with pytest.raises(UserError, match="nj"):
        M.build_corpus(tmp_path / "x", minutes=1, nj=0, progress=False)
    with pytest.raises(UserError, match="sample-rate"):
        M.build_corpus(tmp_path / "x", minutes=1, sample_rate=100, progress=False)
    with pytest.raises(UserError, match="test-utts"):
        M.build_corpus(tmp_path / "x", minutes=1, test_utts=0, progress=False)
    assert not (tmp_path / "x").exists()


# --- CLI ----------------------------------------------------------------------------------

def _cli(*args, env=None):
    return subprocess.run([str(PYTHON), "-m", "audiotok.cli", "synth-corpus", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def test_cli_builds_and_refuses_to_clobber(tmp_path):
    out = tmp_path / "c"
    r = _cli("--out", out, "--minutes", 0.2, "--seed", 3, "--nj", 2, "--sample-rate", 16000)
    assert r.returncode == 0, r.stderr
    assert re.search(r"train \d+ utts 4 spk .* \| dev \d+ utts 2 spk .* \| test \d+ utts 4 spk", r.stdout)
    assert "mini_synth audio" in r.stderr  # the progress bar
    wav = next((out / "wav").rglob("*.wav"))
    with wave.open(str(wav), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1)
    text = _texts(out)

    r = _cli("--out", out, "--minutes", 0.2, "--seed", 3)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"audiotok synth-corpus: error: {out}: output directory exists "
                                             "and is not empty (use --overwrite to replace it)"]
    r = _cli("--out", out, "--minutes", 0.2, "--seed", 3, "--sample-rate", 16000, "--overwrite", "--quiet")
    assert r.returncode == 0 and r.stderr == ""
    assert _texts(out) == text


def test_cli_names_a_missing_binary_and_its_package(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("flite", "sox"):  # everything but espeak-ng
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    r = _cli("--out", tmp_path / "c", "--minutes", 0.1, env=env)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "espeak-ng" in lines[0] and "apt-get install espeak-ng" in lines[0]
    assert not (tmp_path / "c").exists()
