"""mini_synth: a small speech corpus spoken by the Debian TTS voices, built on the machine.

Sentences come from the seeded generator in sentences.py; each speaker is a TTS voice with a
fixed pitch and rate. Speakers are split into train/dev/test so the test speakers are never
heard in training (one espeak-ng and one flite voice, so an unseen-speaker test covers both
engines). flite's kal, kal16 and slt voices are never used here: they stay free for
evaluating on speakers outside the corpus.

Determinism: espeak-ng, flite and sox (run with -D, no dither) give byte-identical output for
the same input, and the plan of utterances depends only on the seed, the target length and
the real durations, never on the number of workers. The same seed therefore gives
identical `text` files and identical audio. Sentences are assigned to splits by a hash of
their transcript, so no sentence of dev or test occurs in train.

Layout written under DIR:
    wav/<spk>/<utt>.wav        mono 16-bit PCM at the requested rate (24 kHz by default),
                               silence trimmed, peak-normalised to -1 dBFS, 0.15 s pad each side
    {train,dev,test}/          Kaldi data dirs: wav.scp (absolute paths), utt2spk, spk2utt, text,
                               utt2dur, spk2gender
    corpus.json                seed, size, speakers and their settings, tool versions, counts
"""

import hashlib
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

from audiotok.data.corpora.sentences import SentenceGenerator
from audiotok.errors import UserError
from audiotok.fileio import atomic_path, atomic_write_text

SPLITS = ("train", "dev", "test")
# share of the total duration that each split aims for; a split also gets at least one
# utterance per speaker and MIN_UTTS_PER_SPLIT, so tiny targets come out somewhat longer
SPLIT_SHARE = {"train": 0.73, "dev": 0.12, "test": 0.15}
# sentences go to a split by hash bucket (out of 20) of the transcript: 80 / 10 / 10 percent
_BUCKETS = {"train": range(0, 16), "dev": range(16, 18), "test": range(18, 20)}
MIN_UTTS_PER_SPLIT = 4
RESERVED_FLITE_VOICES = ("kal", "kal16", "slt")  # unseen-speaker evaluation only
TOOLS = {"espeak-ng": "espeak-ng", "flite": "flite", "sox": "sox"}  # binary -> Debian package
PEAK_DB = -1.0
PAD_SECONDS = 0.15


@dataclass(frozen=True)
class Speaker:
    id: str
    engine: str  # "espeak-ng" or "flite"
    voice: str  # espeak-ng voice[+variant], or a flite voice name
    pitch: int | None  # espeak-ng -p (0-99)
    rate: int | None  # espeak-ng -s (words per minute)
    gender: str  # "m" or "f", as the voice sounds (Kaldi spk2gender)
    split: str


# Ids have the same length so that no speaker id is a prefix of another (Kaldi sort order).
SPEAKERS = (
    Speaker("espk-usm1", "espeak-ng", "en-us+m1", 45, 165, "m", "train"),
    Speaker("espk-usf3", "espeak-ng", "en-us+f3", 62, 150, "f", "train"),
    Speaker("espk-gbm3", "espeak-ng", "en-gb+m3", 38, 175, "m", "train"),
    Speaker("espk-gbf2", "espeak-ng", "en-gb+f2", 55, 160, "f", "train"),
    Speaker("espk-rpm7", "espeak-ng", "en-gb-x-rp+m7", 50, 145, "m", "train"),
    Speaker("espk-rpf4", "espeak-ng", "en-gb-x-rp+f4", 70, 170, "f", "train"),
    Speaker("espk-lam4", "espeak-ng", "en-gb-x-gbclan+m4", 42, 155, "m", "train"),
    Speaker("espk-wmm5", "espeak-ng", "en-gb-x-gbcwmd+m5", 35, 150, "m", "train"),
    Speaker("espk-nyf1", "espeak-ng", "en-us-nyc+f1", 58, 180, "f", "train"),
    Speaker("flite-awb", "flite", "awb", None, None, "m", "train"),
    Speaker("espk-cbm2", "espeak-ng", "en-029+m2", 48, 160, "m", "dev"),
    Speaker("espk-scf5", "espeak-ng", "en-gb-scotland+f5", 65, 155, "f", "test"),
    Speaker("flite-rms", "flite", "rms", None, None, "m", "test"),
)


def speakers_of(split):
    return [s for s in SPEAKERS if s.split == split]


def check_tools():
    """Raise UserError naming the first missing TTS/audio binary and the package that has it."""
    for binary, package in TOOLS.items():
        if shutil.which(binary) is None:
            raise UserError(f"{binary}: not found on PATH; install the Debian package "
                            f"'{package}' (sudo apt-get install {package})")


def tool_versions():
    """The version line of each tool (the audio depends on them), for corpus.json."""
    def version_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
        return next((ln for ln in lines if "version" in ln.lower()), lines[0] if lines else "unknown")

    return {tool: version_line([tool, "--version"]) for tool in TOOLS}


# --- synthesis (runs on worker threads) ---------------------------------------------------

def _run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        msg = " ".join((out.stderr or out.stdout).split())[:300]
        raise UserError(f"{cmd[0]} failed (exit {out.returncode}) on {cmd[-1]!r}: {msg}")


def tts_command(speaker, text, raw_path):
    if speaker.engine == "espeak-ng":
        return ["espeak-ng", "-v", speaker.voice, "-p", str(speaker.pitch), "-s", str(speaker.rate),
                "-w", str(raw_path), text]
    if speaker.engine == "flite":
        return ["flite", "-voice", speaker.voice, "-o", str(raw_path), "-t", text]
    raise ValueError(f"unknown TTS engine {speaker.engine}")


def postprocess_command(raw_path, out_path, sample_rate):
    """sox: trim silence at both ends, resample, peak-normalise, pad; -D: no dither (deterministic)."""
    trim = ["silence", "1", "0.02", "-45d"]
    return ["sox", "-V1", "-D", str(raw_path),
            "-t", "wav", "-r", str(sample_rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(out_path),
            *trim, "reverse", *trim, "reverse",
            "rate", "-h", str(sample_rate), "gain", "-n", str(PEAK_DB),
            "pad", str(PAD_SECONDS), str(PAD_SECONDS)]


def synthesize(speaker, text, out_path, sample_rate):
    """Speak `text` with `speaker` into `out_path` (written atomically); returns its frame count."""
    fd, raw = tempfile.mkstemp(prefix="mini_synth.", suffix=".wav")
    os.close(fd)
    try:
        _run(tts_command(speaker, text, raw))
        with atomic_path(out_path) as tmp:
            _run(postprocess_command(raw, tmp, sample_rate))
            with wave.open(str(tmp), "rb") as w:
                frames = w.getnframes()
    finally:
        os.unlink(raw)
    return frames


def _synthesize_job(job):
    speaker, text, path, sample_rate = job
    return synthesize(speaker, text, path, sample_rate)


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


def plan_split(seed, split):
    """Endless, seed-determined stream of utterances for one split.

    Speakers take turns in a seed-shuffled order; sentences come from one generator per split,
    keeping only those whose transcript hashes to this split and that were not used before.
    """
    rng = random.Random(f"mini_synth:{seed}:{split}")
    gen = SentenceGenerator(random.Random(f"mini_synth:{seed}:{split}:sentences"))
    speakers = speakers_of(split)
    rng.shuffle(speakers)
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
        yield Utterance(f"{spk.id}-{counts[spk.id]:06d}", spk, sentence.text, transcript, len(sentence.words))


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
        if self.pool is None:
            return map(_synthesize_job, jobs)
        return self.pool.map(_synthesize_job, jobs)

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


def _synth_split(split, target_s, seed, out_dir, sample_rate, synth, bar):
    """Synthesise utterances of `split` in plan order until `target_s` seconds (and a minimum
    count) are reached. Batches are sized from real durations so far, never from nj, and
    results are taken in plan order, so the outcome does not depend on the worker count."""
    min_utts = max(MIN_UTTS_PER_SPLIT, len(speakers_of(split)))
    plan = plan_split(seed, split)
    accepted, total_s = [], 0.0
    words_done, seconds_done = 0, 0.0
    while total_s < target_s or len(accepted) < min_utts:
        per_word = seconds_done / words_done if words_done else 0.45
        batch, estimate = [], 0.0
        while (total_s + estimate < target_s or len(accepted) + len(batch) < min_utts) and len(batch) < 256:
            utt = next(plan)
            batch.append(utt)
            estimate += utt.n_words * per_word
        jobs = [(u.speaker, u.text, wav_path(out_dir, u), sample_rate) for u in batch]
        for utt, frames in zip(batch, synth.map(jobs)):
            seconds = frames / sample_rate
            words_done += utt.n_words
            seconds_done += seconds
            if total_s >= target_s and len(accepted) >= min_utts:
                wav_path(out_dir, utt).unlink()  # beyond the target: not part of the corpus
                continue
            accepted.append((utt, seconds))
            total_s += seconds
            if bar is not None:
                bar.update(seconds)
    return accepted


def build_corpus(out_dir, minutes=6.0, seed=0, nj=1, sample_rate=24000, overwrite=False, progress=True):
    """Generate the corpus under `out_dir`; returns {split: {utterances, speakers, seconds}}."""
    from audiotok.data.kaldi_dir import validate_data_dir, write_data_dir

    if not (minutes > 0 and math.isfinite(minutes)):
        raise UserError(f"--minutes must be a positive number, got {minutes}")
    if nj < 1:
        raise UserError(f"--nj must be at least 1, got {nj}")
    if not 8000 <= sample_rate <= 48000:
        raise UserError(f"--sample-rate must be between 8000 and 48000, got {sample_rate}")
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
        results = {split: _synth_split(split, minutes * 60 * SPLIT_SHARE[split], seed, out_dir,
                                       sample_rate, synth, bar) for split in SPLITS}
    except BaseException:
        synth.close(cancel=True)
        raise
    finally:
        synth.close()
        if bar is not None:
            bar.close()

    summary = {}
    for split, accepted in results.items():
        wav = {u.utt_id: str(wav_path(out_dir, u)) for u, _ in accepted}
        utt2spk = {u.utt_id: u.speaker.id for u, _ in accepted}
        text = {u.utt_id: u.transcript for u, _ in accepted}
        utt2dur = {u.utt_id: f"{s:.3f}" for u, s in accepted}
        spk2gender = {u.speaker.id: u.speaker.gender for u, _ in accepted}
        write_data_dir(out_dir / split, wav, utt2spk, text=text, info={"utt2dur": utt2dur, "spk2gender": spk2gender})
        summary[split] = {"utterances": len(accepted), "speakers": len(set(utt2spk.values())),
                          "seconds": round(sum(s for _, s in accepted), 3)}

    meta = {"corpus": "mini_synth", "seed": seed, "minutes": minutes, "sample_rate": sample_rate,
            "speakers": [asdict(s) for s in SPEAKERS], "reserved_flite_voices": list(RESERVED_FLITE_VOICES),
            "tools": tool_versions(), "splits": summary}
    atomic_write_text(out_dir / "corpus.json", json.dumps(meta, indent=2) + "\n")

    for split in SPLITS:
        problems = validate_data_dir(out_dir / split)
        if problems:
            raise RuntimeError(f"mini_synth wrote an invalid data dir {out_dir / split}: {problems[0]}")
    return summary
