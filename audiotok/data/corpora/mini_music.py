"""mini_music: a small song corpus with separate vocal and accompaniment stems, built on the machine.

Each song is written by composer.py from its own seed (groove, tempo 80-160 bpm, key and mode,
chord progression, GM instruments); the band (drums, bass, chords, sometimes a pad) is a MIDI
file rendered by fluidsynth with the FluidR3 GM soundfont, and the vocal is sung by an
espeak-ng voice along the melody, one lyric syllable per note (singer.py). Lyrics are lines from
the mini_synth sentence generator; `text` holds the lines actually sung.

Stems are scaled by per-song gains (accompaniment level, vocal-to-accompaniment ratio), with
-1 dBFS headroom on the mix, and quantised to 16-bit PCM *before* mixing: the mix file is the
integer sum of the two stem files, so mix == vocals + accompaniment exactly (also as floats
read back, since x/32768 is exact in float32).

Determinism: a song depends only on (seed, index): fluidsynth renders with sample-based player
timing to float, espeak-ng and sox are deterministic, and nothing depends on the number of
worker processes. The same seed gives byte-identical text and audio.

Layout written under DIR:
    songs/<id>/{mix,vocals,accompaniment}.wav   mono 16-bit PCM at 24 kHz (by default)
    songs/<id>/accompaniment.mid                the band's MIDI file
    songs/<id>/song.json                        the score: tempo, key, chords, instruments, gains,
                                                sung notes with their syllables and times, lyric lines
    {train,dev,test}/                           Kaldi data dirs: wav.scp (the mix), vocals.scp,
                                                accompaniment.scp, utt2spk, spk2utt, text
    corpus.json                                 seed, options, tool versions, per-split counts

Every song is its own speaker (utt2spk maps a song id to itself): songs share no singer
identity worth normalising over, and splits are by song. The last ~10 % of song indices form
test, the ~10 % before them dev (at least one song each), the rest train.
"""

import json
import math
import multiprocessing
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiotok.data.corpora import midi, singer
from audiotok.data.corpora.composer import KEY_NAMES, Composer
from audiotok.data.corpora.sentences import SentenceGenerator
from audiotok.errors import UserError
from audiotok.fileio import atomic_path, atomic_write_text

SPLITS = ("train", "dev", "test")
PEAK_DB = -1.0
FADE_OUT_S = 1.0
STEMS = ("mix", "vocals", "accompaniment")


def check_tools(soundfont=midi.SOUNDFONT):
    """Raise UserError naming the Debian package of the first missing tool."""
    midi.check_fluidsynth(soundfont)
    singer.check_tools()


def tool_versions():
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except OSError:
            return "unknown"
        return ((out.stdout or out.stderr).strip().splitlines() or ["unknown"])[0]

    return {"fluidsynth": first_line(["fluidsynth", "--version"]),
            "espeak-ng": first_line(["espeak-ng", "--version"]), "sox": first_line(["sox", "--version"])}


def song_id(index):
    return f"song{index:05d}"


def song_rng(seed, index, what):
    return random.Random(f"mini_music:{seed}:{index}:{what}")


def lyric_lines(seed, index, voice):
    """Endless (transcript, syllables per word) lyric lines for one song."""
    gen = SentenceGenerator(song_rng(seed, index, "lyrics"))
    while True:
        sentence = gen()
        words = singer.lyric_syllables(sentence.text, voice)
        if words:
            yield sentence.transcript, words


@dataclass
class Song:
    id: str
    score: object  # composer.Score
    duration: float
    sample_rate: int
    vocals: np.ndarray  # int16
    accompaniment: np.ndarray  # int16
    gains: dict

    @property
    def mix(self):
        return (self.vocals.astype(np.int32) + self.accompaniment.astype(np.int32)).astype(np.int16)

    @property
    def text(self):
        return " ".join(self.score.lines)

    def midi_bytes(self):
        s = self.score
        return midi.midi_bytes(s.tracks, s.bpm, s.feel.numerator, s.feel.denominator,
                               end_tick=s.n_bars * s.bar_ticks)

    def info(self):
        s = self.score
        degrees = ("I", "II", "III", "IV", "V", "VI", "VII")
        notes = [{"onset": round(s.seconds(n.start), 4), "duration": round(s.seconds(n.duration), 4),
                  "midi": n.pitch, "hz": round(singer.midi_to_hz(n.pitch), 2), "syllable": n.syllable,
                  "line": n.line} for n in s.melody]
        lines = []
        for i, text in enumerate(s.lines):
            mine = [n for n in notes if n["line"] == i]
            lines.append({"text": text, "start": mine[0]["onset"],
                          "end": round(mine[-1]["onset"] + mine[-1]["duration"], 4)})
        return {"id": self.id, "duration": self.duration, "sample_rate": self.sample_rate,
                "bpm": s.bpm, "feel": s.feel.name, "time_signature": f"{s.feel.numerator}/{s.feel.denominator}",
                "key": KEY_NAMES[s.key], "mode": s.mode,
                "progression": [degrees[d] if s.mode == "major" else degrees[d].lower() for d in s.progression],
                "singer": s.singer, "instruments": s.instruments, "gains": self.gains,
                "lines": lines, "notes": notes}


def _fit(x, n):
    return np.pad(x, (0, max(0, n - len(x))))[:n].astype(np.float32)


def _active_rms(x, sr):
    """RMS over the 50 ms frames within 40 dB of the loudest one (ignores the gaps between lines)."""
    hop = int(0.05 * sr)
    n = len(x) // hop
    frames = x[:n * hop].reshape(n, hop).astype(np.float64)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    if rms.max() <= 0:
        return 0.0
    on = rms > rms.max() * 0.01
    return float(np.sqrt((rms[on] ** 2).mean()))


def mix_stems(vocals, acc, rng, sample_rate):
    """Scale the float stems by per-song gains, keep -1 dBFS headroom on their sum, fade out
    the end, and quantise each stem to int16 so their integer sum is the mix."""
    acc_db = rng.uniform(-22.0, -16.0)
    ratio_db = rng.uniform(-4.0, 4.0)
    a_rms, v_rms = _active_rms(acc, sample_rate), _active_rms(vocals, sample_rate)
    g_acc = 10 ** (acc_db / 20) / a_rms if a_rms > 0 else 1.0
    g_voc = 10 ** ((acc_db + ratio_db) / 20) / v_rms if v_rms > 0 else 1.0
    fade = np.ones(len(acc), dtype=np.float32)
    n_fade = min(len(acc), int(FADE_OUT_S * sample_rate))
    fade[len(fade) - n_fade:] = np.linspace(1, 0, n_fade, dtype=np.float32) ** 2
    v, a = vocals * g_voc * fade, acc * g_acc * fade
    peak = float(np.abs(v + a).max())
    limit = 10 ** (PEAK_DB / 20)
    headroom = min(1.0, limit / peak) if peak > 0 else 1.0
    v16 = np.round(v * headroom * 32768).astype(np.int16)
    a16 = np.round(a * headroom * 32768).astype(np.int16)
    gains = {"accompaniment_db": round(acc_db, 2), "vocal_to_accompaniment_db": round(ratio_db, 2),
             "headroom_db": round(20 * math.log10(headroom), 2)}
    return v16, a16, gains


def render_song(seed, index, min_seconds=10.0, max_seconds=30.0, sample_rate=24000, soundfont=midi.SOUNDFONT):
    """Compose and render song `index` of corpus `seed` (independent of every other song)."""
    rng = song_rng(seed, index, "song")
    duration = round(rng.uniform(min_seconds, max_seconds), 2)
    score = Composer(song_rng(seed, index, "score")).compose(duration, lambda voice: lyric_lines(seed, index, voice))
    n = int(round(duration * sample_rate))
    song = Song(song_id(index), score, duration, sample_rate, None, None, {})

    with tempfile.TemporaryDirectory(prefix="mini_music.") as tmp:
        mid = Path(tmp) / "band.mid"
        mid.write_bytes(song.midi_bytes())
        acc = _fit(midi.render(mid, Path(tmp) / "band.wav", sample_rate, gain=0.5, soundfont=soundfont), n)

    vib_rng = song_rng(seed, index, "voice")
    vibrato = (vib_rng.uniform(4.8, 6.2), vib_rng.uniform(20.0, 45.0), vib_rng.uniform(0.15, 0.3))
    notes = [(score.seconds(v.start), score.seconds(v.duration), v.pitch, v.syllable, 80 + vib_rng.randint(0, 20))
             for v in score.melody]
    vocals = singer.sing(score.singer, notes, n, sample_rate, vibrato=vibrato)
    song.vocals, song.accompaniment, song.gains = mix_stems(vocals, acc, song_rng(seed, index, "mix"), sample_rate)
    return song


# --- writing ----------------------------------------------------------------------------------

def _write_pcm16(path, samples, sample_rate):
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), samples, sample_rate, format="WAV", subtype="PCM_16")


def song_dir(out_dir, sid):
    return Path(out_dir) / "songs" / sid


def write_song(song, out_dir):
    d = song_dir(out_dir, song.id)
    d.mkdir(parents=True, exist_ok=True)
    _write_pcm16(d / "vocals.wav", song.vocals, song.sample_rate)
    _write_pcm16(d / "accompaniment.wav", song.accompaniment, song.sample_rate)
    _write_pcm16(d / "mix.wav", song.mix, song.sample_rate)
    with atomic_path(d / "accompaniment.mid") as tmp:
        tmp.write_bytes(song.midi_bytes())
    atomic_write_text(d / "song.json", json.dumps(song.info(), indent=1) + "\n")


def _song_job(job):
    seed, index, min_s, max_s, sample_rate, out_dir = job
    song = render_song(seed, index, min_s, max_s, sample_rate)
    write_song(song, out_dir)
    return {"id": song.id, "text": song.text, "seconds": song.duration, "lines": len(song.score.lines)}


def split_sizes(n_songs):
    n_held = max(1, round(0.1 * n_songs))
    return {"train": n_songs - 2 * n_held, "dev": n_held, "test": n_held}


def split_of(index, n_songs):
    sizes = split_sizes(n_songs)
    if index < sizes["train"]:
        return "train"
    return "dev" if index < sizes["train"] + sizes["dev"] else "test"


def _prepare_out_dir(out_dir, overwrite):
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise UserError(f"{out_dir}: output directory exists and is not empty (use --overwrite to replace it)")
        for name in ("songs", *SPLITS):  # only what an earlier run wrote
            if (out_dir / name).is_dir():
                shutil.rmtree(out_dir / name)
        (out_dir / "corpus.json").unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def build_corpus(out_dir, songs=20, seed=0, nj=1, min_seconds=10.0, max_seconds=30.0, sample_rate=24000,
                 overwrite=False, progress=True):
    """Generate the corpus under `out_dir`; returns {split: {songs, seconds}}."""
    from audiotok.data.kaldi_dir import validate_data_dir, write_data_dir

    if songs < 3:
        raise UserError(f"--songs must be at least 3 (one each for train, dev and test), got {songs}")
    if nj < 1:
        raise UserError(f"--nj must be at least 1, got {nj}")
    if not 10 <= min_seconds <= max_seconds <= 600:
        raise UserError(f"need 10 <= --min-seconds <= --max-seconds <= 600, got {min_seconds} and {max_seconds}")
    if not 16000 <= sample_rate <= 48000:
        raise UserError(f"--sample-rate must be between 16000 and 48000, got {sample_rate}")
    check_tools()
    _prepare_out_dir(out_dir, overwrite)
    out_dir = Path(out_dir).resolve()

    jobs = [(seed, i, min_seconds, max_seconds, sample_rate, str(out_dir)) for i in range(songs)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=songs, unit="song", desc="mini_music", file=sys.stderr, mininterval=1.0)
    pool = multiprocessing.get_context("spawn").Pool(min(nj, songs)) if nj > 1 else None
    results = []
    try:
        for r in (pool.imap(_song_job, jobs) if pool else map(_song_job, jobs)):
            results.append(r)
            if bar is not None:
                bar.update(1)
        if pool is not None:
            pool.close()
            pool.join()
    except BaseException:
        if pool is not None:
            pool.terminate()
            pool.join()
        raise
    finally:
        if bar is not None:
            bar.close()

    summary = {}
    for split in SPLITS:
        mine = [(i, r) for i, r in enumerate(results) if split_of(i, songs) == split]
        paths = {r["id"]: song_dir(out_dir, r["id"]) for _, r in mine}
        write_data_dir(out_dir / split,
                       wav={k: str(p / "mix.wav") for k, p in paths.items()},
                       utt2spk={k: k for k in paths},
                       text={r["id"]: r["text"] for _, r in mine},
                       extra={"vocals": {k: str(p / "vocals.wav") for k, p in paths.items()},
                              "accompaniment": {k: str(p / "accompaniment.wav") for k, p in paths.items()}})
        summary[split] = {"songs": len(mine), "seconds": round(sum(r["seconds"] for _, r in mine), 2)}

    meta = {"corpus": "mini_music", "seed": seed, "songs": songs, "min_seconds": min_seconds,
            "max_seconds": max_seconds, "sample_rate": sample_rate, "format": "wav PCM_16 mono",
            "soundfont": str(midi.SOUNDFONT), "tools": tool_versions(), "splits": summary}
    atomic_write_text(out_dir / "corpus.json", json.dumps(meta, indent=2) + "\n")

    for split in SPLITS:
        problems = validate_data_dir(out_dir / split)
        if problems:
            raise RuntimeError(f"mini_music wrote an invalid data dir {out_dir / split}: {problems[0]}")
    return summary
