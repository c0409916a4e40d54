"""mini_synth: a speech corpus spoken by hundreds of synthetic speakers, built on the machine.

Sentences come from the seeded generator in sentences.py. Speakers (voices.py) are every
English espeak-ng accent combined with the espeak-ng voice variants, each with a seeded
pitch, rate and timbre shift, plus flite awb and rms at several settings: about 790 in all.
Splits are by voice: test holds whole espeak-ng variants (a Klatt one among them) in every
accent plus flite rms, dev two other variants, train the rest and flite awb, so test
speakers are never heard in training. flite's kal, kal16 and slt voices are never used:
they stay free for evaluating on speakers outside the corpus. A split uses about one speaker
per SECONDS_PER_SPEAKER of its target (all of them in a corpus of several hours), taken
round-robin over voice families so small corpora still span many variants.

Train utterances are augmented (augment.py: EQ, small-room reverb, noise at 25-40 dB SNR,
level), each by its own seeded draw recorded in utt2aug; dev and test stay clean. Every
transcript is phonemised by espeak-ng with one reference voice (phones.py) for a CTC target.
A corpus of TEST_MIN_FROM_MINUTES or more has at least TEST_MIN_UTTS test utterances.

Determinism: espeak-ng, flite and sox (run with -D, no dither) give byte-identical output for
the same input, augmentation and noise are drawn from seeds of the corpus seed and the
utterance id, and the plan of utterances depends only on the seed, the target length and the
real durations, never on the number of workers. The same seed therefore gives identical
`text` files and identical audio whatever --nj. Sentences are assigned to splits by a hash
of their transcript, so no sentence of dev or test occurs in train.

Layout written under DIR:
    wav/<spk>/<utt>.wav        mono 16-bit PCM at the requested rate (24 kHz by default),
                               silence trimmed, peak-normalised to -1 dBFS (train: augmented,
                               level -12..-1 dBFS), 0.15 s pad each side
    {train,dev,test}/          Kaldi data dirs: wav.scp (absolute paths), utt2spk, spk2utt, text,
                               utt2dur, utt2aug ("clean" or e.g. "eq=bass:+4|noise=pink:31.2"),
                               spk2gender, phones (utt-id ph1 ph2 ..., no word boundaries)
    phones.txt                 the phone inventory, one symbol a line, sorted
    corpus.json                seed, size, voices and held-out variants, every speaker and its
                               settings, augmentation settings and counts, tool versions, counts
"""

import hashlib
import importlib.metadata
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiotok.data.corpora import augment
from audiotok.data.corpora.phones import REFERENCE_VOICE as PHONE_VOICE
from audiotok.data.corpora.phones import inventory as phone_inventory
from audiotok.data.corpora.phones import phonemise
from audiotok.data.corpora.sentences import SentenceGenerator
from audiotok.data.corpora.voices import (ACCENTS, DEV_VARIANTS, ESPEAK_PITCH, ESPEAK_WPM, FEMALE_VARIANTS,
                                          FLITE_STRETCH, FLITE_VOICES, RESERVED_FLITE_VOICES, SETTINGS_PER_VARIANT,
                                          SPEAKERS, TEST_VARIANTS, TIMBRE, VARIANTS, Speaker, rotation,
                                          speakers_of, tts_command)
from audiotok.errors import UserError
from audiotok.fileio import atomic_path, atomic_write_text

SPLITS = ("train", "dev", "test")
# share of the total duration that each split aims for; a split also gets at least one
# utterance per active speaker and its minimum count, so tiny targets come out somewhat longer
SPLIT_SHARE = {"train": 0.73, "dev": 0.12, "test": 0.15}
# sentences go to a split by hash bucket (out of 20) of the transcript: 80 / 10 / 10 percent
_BUCKETS = {"train": range(0, 16), "dev": range(16, 18), "test": range(18, 20)}
MIN_UTTS_PER_SPLIT = 4
# a test split of a corpus of TEST_MIN_FROM_MINUTES or more holds at least TEST_MIN_UTTS
# utterances, enough for a stable WER/speaker score; smaller corpora stay small for CI
TEST_MIN_UTTS = 300
TEST_MIN_FROM_MINUTES = 60.0
# a split uses about one speaker per this many seconds of its target (all of them in big
# corpora), so that each speaker has several utterances; at least MIN_SPEAKERS of them
SECONDS_PER_SPEAKER = 30.0
MIN_SPEAKERS = {"train": 4, "dev": 2, "test": 4}
UTT_SECONDS_GUESS = 3.0  # a typical utterance, to turn a minimum count into seconds
TOOLS = {"espeak-ng": "espeak-ng", "flite": "flite", "sox": "sox"}  # binary -> Debian package
PEAK_DB = -1.0
PAD_SECONDS = 0.15


def check_tools():
    """Raise UserError naming the first missing TTS/audio binary (and the package that has it),
    or the espeak-ng variants that this espeak-ng lacks."""
    for binary, package in TOOLS.items():
        if shutil.which(binary) is None:
            raise UserError(f"{binary}: not found on PATH; install the Debian package "
                            f"'{package}' (sudo apt-get install {package})")
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True)
    installed = {tok[3:] for tok in out.stdout.split() if tok.startswith("!v/")}
    missing = sorted(set(VARIANTS) - installed)
    if out.returncode == 0 and missing:
        raise UserError(f"espeak-ng lacks the voice variants {', '.join(missing)}; mini_synth needs "
                        "espeak-ng 1.51 or later (Debian package 'espeak-ng')")


def tool_versions():
    """The version line of each tool (the audio depends on them), for corpus.json."""
    def version_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
        return next((ln for ln in lines if "version" in ln.lower()), lines[0] if lines else "unknown")

    versions = {tool: version_line([tool, "--version"]) for tool in TOOLS}
    versions["numpy"] = np.__version__  # draws the noise of augmented utterances
    try:  # its word ranking picks the frequent words of the text
        versions["wordfreq"] = importlib.metadata.version("wordfreq")
    except importlib.metadata.PackageNotFoundError:
        versions["wordfreq"] = "unknown"
    return versions


# --- synthesis (runs on worker threads) ---------------------------------------------------

def _run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        msg = " ".join((out.stderr or out.stdout).split())[:300]
        raise UserError(f"{cmd[0]} failed (exit {out.returncode}) on {cmd[-1]!r}: {msg}")


def postprocess_command(raw_path, out_path, sample_rate, timbre=1.0, effects=(), peak_db=PEAK_DB):
    """sox: trim silence at both ends, shift timbre, resample, optional augmentation effects,
    peak-normalise, pad; -D: no dither (deterministic)."""
    trim = ["silence", "1", "0.02", "-45d"]
    speed = ["speed", f"{timbre:g}"] if timbre != 1.0 else []
    return ["sox", "-V1", "-D", str(raw_path),
            "-t", "wav", "-r", str(sample_rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(out_path),
            *trim, "reverse", *trim, "reverse", *speed,
            "rate", "-h", str(sample_rate), *effects, "gain", "-n", f"{peak_db:g}",
            "pad", str(PAD_SECONDS), str(PAD_SECONDS)]


def synthesize(speaker, text, out_path, sample_rate, aug=augment.Aug(), seed=0, utt_id=""):
    """Speak `text` with `speaker` into `out_path` (written atomically), augmented by `aug`;
    returns its frame count."""
    fd, raw = tempfile.mkstemp(prefix="mini_synth.", suffix=".wav")
    os.close(fd)
    # noise and level are applied on the samples when there is noise (the SNR needs the clean
    # level); otherwise sox sets the level itself
    on_samples = bool(aug.noise)
    peak_db = PEAK_DB if on_samples else PEAK_DB + aug.gain_db
    try:
        _run(tts_command(speaker, text, raw))
        with atomic_path(out_path) as tmp:
            _run(postprocess_command(raw, tmp, sample_rate, speaker.timbre, augment.sox_effects(aug), peak_db))
            if on_samples:
                frames = augment.apply_samples(tmp, aug, seed, utt_id, PEAK_DB, PAD_SECONDS)
            else:
                with wave.open(str(tmp), "rb") as w:
                    frames = w.getnframes()
    finally:
        os.unlink(raw)
    return frames


def _synthesize_job(job):
    return synthesize(*job)


# --- planning -----------------------------------------------------------------------------

def split_of_transcript(transcript):
    bucket = int(hashlib.md5(transcript.encode()).hexdigest()[:8], 16) % 20
    return next(s for s, r in _BUCKETS.items() if bucket in r)


@dataclass
class Utterance:
    utt_id: str
    speaker: Speaker
    text: str  # what the voice reads
    transcript: str  # normalised reference
    n_words: int
    aug: augment.Aug = augment.Aug()


def n_speakers(split, target_s):
    """How many speakers of `split` a split of `target_s` seconds uses."""
    pool = len(speakers_of(split))
    return max(min(MIN_SPEAKERS[split], pool), min(pool, round(target_s / SECONDS_PER_SPEAKER)))


def minutes_using_every_speaker():
    """The corpus size (minutes) from which every split uses all of its speakers. From there on a split's
    plan no longer depends on the size, so a longer corpus of the same seed starts with the utterances of
    a shorter one: more hours keep the same voices, the same held-out sentences and test_<N>perspk."""
    return max(len(speakers_of(s)) * SECONDS_PER_SPEAKER / SPLIT_SHARE[s] / 60.0 for s in SPLITS)


def min_utts(split, minutes, test_utts=None):
    """The least number of utterances of `split` (before the one-per-speaker rule)."""
    if split != "test":
        return MIN_UTTS_PER_SPLIT
    if test_utts is not None:
        return max(MIN_UTTS_PER_SPLIT, test_utts)
    return TEST_MIN_UTTS if minutes >= TEST_MIN_FROM_MINUTES else MIN_UTTS_PER_SPLIT


def plan_split(seed, split, n_spk=None):
    """Endless, seed-determined stream of utterances for one split.

    The first `n_spk` speakers of the split's seeded rotation (all when None) take turns;
    sentences come from one generator per split, keeping only those whose transcript hashes
    to this split and that were not used before. Train utterances draw an augmentation.
    """
    rng = random.Random(f"mini_synth:{seed}:{split}")
    gen = SentenceGenerator(random.Random(f"mini_synth:{seed}:{split}:sentences"))
    speakers = rotation(split, rng)[:n_spk]
    counts = {s.id: 0 for s in speakers}
    used = set()
    i = 0
    while True:
        sentence = gen()
        transcript = sentence.transcript
        if transcript in used or split_of_transcript(transcript) != split:
            continue
        used.add(transcript)
        spk = speakers[i % len(speakers)]
        i += 1
        counts[spk.id] += 1
        utt_id = f"{spk.id}-{counts[spk.id]:05d}"
        aug = augment.choose(seed, utt_id) if split == "train" else augment.Aug()
        yield Utterance(utt_id, spk, sentence.text, transcript, len(sentence.words), aug)


# --- building -----------------------------------------------------------------------------

def wav_path(out_dir, utt):
    return Path(out_dir) / "wav" / utt.speaker.id / f"{utt.utt_id}.wav"


def _prepare_out_dir(out_dir, overwrite):
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise UserError(f"{out_dir}: output directory exists and is not empty (use --overwrite to replace it)")
        # remove only what an earlier run wrote, never unrelated files
        for name in ("wav", *SPLITS):
            if (out_dir / name).is_dir():
                shutil.rmtree(out_dir / name)
        (out_dir / "corpus.json").unlink(missing_ok=True)
        (out_dir / "phones.txt").unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


class _Synth:
    """Runs synthesis jobs, results in job order: in-process for nj=1, else on nj threads.

    Threads, not processes: the work happens in the espeak-ng/flite/sox child processes,
    which run in parallel while their threads wait, and threads need no pickling and no
    `if __name__ == "__main__"` guard in whatever script calls build_corpus.
    """

    def __init__(self, nj):
        self.pool = ThreadPoolExecutor(nj, thread_name_prefix="mini_synth") if nj > 1 else None

    def map(self, jobs):
        return self.map_fn(_synthesize_job, jobs)

    def map_fn(self, fn, items):
        return map(fn, items) if self.pool is None else self.pool.map(fn, items)

    def close(self, cancel=False):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)


class _SecondsBar:
    """Progress in whole seconds of accepted audio, never past the bar's total."""

    def __init__(self, bar):
        self.bar, self.seconds = bar, 0.0

    def update(self, seconds):
        self.seconds += seconds
        step = min(int(self.seconds), self.bar.total) - self.bar.n
        if step > 0:
            self.bar.update(step)

    def close(self):
        self.bar.close()


def _synth_split(split, target_s, minimum, seed, out_dir, sample_rate, synth, bar):
    """Synthesise utterances of `split` in plan order until `target_s` seconds (and a minimum
    count) are reached. Batches are sized from real durations so far, never from nj, and
    results are taken in plan order, so the outcome does not depend on the worker count."""
    # a minimum count above the target (the test rule) also brings in more speakers
    n_spk = n_speakers(split, max(target_s, minimum * UTT_SECONDS_GUESS))
    minimum = max(minimum, n_spk)
    plan = plan_split(seed, split, n_spk)
    accepted, total_s = [], 0.0
    words_done, seconds_done = 0, 0.0
    while total_s < target_s or len(accepted) < minimum:
        per_word = seconds_done / words_done if words_done else 0.45
        batch, estimate = [], 0.0
        while (total_s + estimate < target_s or len(accepted) + len(batch) < minimum) and len(batch) < 256:
            utt = next(plan)
            batch.append(utt)
            estimate += utt.n_words * per_word
        jobs = [(u.speaker, u.text, wav_path(out_dir, u), sample_rate, u.aug, seed, u.utt_id) for u in batch]
        for utt, frames in zip(batch, synth.map(jobs)):
            seconds = frames / sample_rate
            words_done += utt.n_words
            seconds_done += seconds
            if total_s >= target_s and len(accepted) >= minimum:
                wav_path(out_dir, utt).unlink()  # beyond the target: not part of the corpus
                continue
            accepted.append((utt, seconds))
            total_s += seconds
            if bar is not None:
                bar.update(seconds)
    return accepted


def _speaker_summary():
    """The voice table for corpus.json: per split, the voice families and the speakers."""
    out = {}
    for split in SPLITS:
        spk = speakers_of(split)
        out[split] = {"families": sorted({s.family for s in spk}), "n_speakers": len(spk)}
    return out


def build_corpus(out_dir, minutes=6.0, seed=0, nj=1, sample_rate=24000, overwrite=False, progress=True,
                 test_utts=None):
    """Generate the corpus under `out_dir`; returns {split: {utterances, speakers, seconds}}.

    `test_utts`: least number of test utterances (default: TEST_MIN_UTTS for corpora of
    TEST_MIN_FROM_MINUTES or more, else MIN_UTTS_PER_SPLIT)."""
    from audiotok.data.kaldi_dir import validate_data_dir, write_data_dir, write_scp

    if not (minutes > 0 and math.isfinite(minutes)):
        raise UserError(f"--minutes must be a positive number, got {minutes}")
    if nj < 1:
        raise UserError(f"--nj must be at least 1, got {nj}")
    if not 8000 <= sample_rate <= 48000:
        raise UserError(f"--sample-rate must be between 8000 and 48000, got {sample_rate}")
    if test_utts is not None and test_utts < 1:
        raise UserError(f"--test-utts must be at least 1, got {test_utts}")
    check_tools()
    _prepare_out_dir(out_dir, overwrite)
    out_dir = Path(out_dir).resolve()

    bar = None
    if progress:
        from tqdm import tqdm

        bar = _SecondsBar(tqdm(total=max(1, round(minutes * 60)), unit="s", desc="mini_synth audio",
                               file=sys.stderr, mininterval=1.0))
    synth = _Synth(nj)
    try:
        results = {split: _synth_split(split, minutes * 60 * SPLIT_SHARE[split], min_utts(split, minutes, test_utts),
                                       seed, out_dir, sample_rate, synth, bar) for split in SPLITS}
        all_transcripts = [u.transcript for accepted in results.values() for u, _ in accepted]
        phones_of = phonemise(all_transcripts, synth.map_fn)
    except BaseException:
        synth.close(cancel=True)
        raise
    finally:
        synth.close()
        if bar is not None:
            bar.close()

    summary, aug_counts = {}, {}
    for split, accepted in results.items():
        wav = {u.utt_id: str(wav_path(out_dir, u)) for u, _ in accepted}
        utt2spk = {u.utt_id: u.speaker.id for u, _ in accepted}
        text = {u.utt_id: u.transcript for u, _ in accepted}
        utt2dur = {u.utt_id: f"{s:.3f}" for u, s in accepted}
        utt2aug = {u.utt_id: u.aug.describe() for u, _ in accepted}
        spk2gender = {u.speaker.id: u.speaker.gender for u, _ in accepted}
        write_data_dir(out_dir / split, wav, utt2spk, text=text,
                       info={"utt2dur": utt2dur, "utt2aug": utt2aug, "spk2gender": spk2gender})
        # not a Kaldi table name, so written beside the others (the split dir is new)
        write_scp(out_dir / split / "phones", {u.utt_id: " ".join(phones_of[u.transcript]) for u, _ in accepted})
        spk_ids = sorted(set(utt2spk.values()))
        summary[split] = {"utterances": len(accepted), "speakers": len(spk_ids),
                          "seconds": round(sum(s for _, s in accepted), 3)}
        aug_counts[split] = sum(not u.aug.clean for u, _ in accepted)
    inventory = phone_inventory()
    atomic_write_text(out_dir / "phones.txt", "".join(f"{p}\n" for p in inventory))

    meta = {"corpus": "mini_synth", "seed": seed, "minutes": minutes, "sample_rate": sample_rate,
            "test_min_utts": min_utts("test", minutes, test_utts),
            "voices": {"accents": ACCENTS, "variants": list(VARIANTS), "female_variants": list(FEMALE_VARIANTS),
                       "settings_per_variant": SETTINGS_PER_VARIANT, "flite": {v: s for v, (s, _, _) in FLITE_VOICES.items()},
                       "held_out": {"test": list(TEST_VARIANTS), "dev": list(DEV_VARIANTS)},
                       "splits": _speaker_summary(),
                       "setting_ranges": {"espeak_pitch": ESPEAK_PITCH, "espeak_wpm": ESPEAK_WPM,
                                          "timbre_speed": TIMBRE, "flite_stretch": FLITE_STRETCH}},
            "reserved_flite_voices": list(RESERVED_FLITE_VOICES),
            "augmentation": {**augment.SETTINGS, "augmented_utterances": aug_counts},
            "phones": {"reference_voice": PHONE_VOICE, "inventory_size": len(inventory),
                       "used": len({p for ph in phones_of.values() for p in ph})},
            "tools": tool_versions(), "splits": summary,
            "speakers": [asdict(s) for s in SPEAKERS]}
    atomic_write_text(out_dir / "corpus.json", json.dumps(meta, indent=2) + "\n")

    for split in SPLITS:
        problems = validate_data_dir(out_dir / split)
        if problems:
            raise RuntimeError(f"mini_synth wrote an invalid data dir {out_dir / split}: {problems[0]}")
    return summary
