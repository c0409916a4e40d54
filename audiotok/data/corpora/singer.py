"""A sung vocal stem from espeak-ng: lyric lines are split into syllables (espeak-ng phonemes),
and every syllable is spoken on its own at a flat pitch near its note, then tuned exactly to
the note and stretched to the note's length with sox, with vibrato on long notes.

Why this way: espeak-ng's own pitch control is coarse (-p 0-99 spans about 100-300 Hz for the
female variants and less for the male ones) and its intonation rises and falls within a word;
with the SSML prosody range set to 0 its pitch is flat, so a measured pitch-shift of a few
semitones at most puts each syllable on its note while keeping its consonants and vowel. The
output is float audio; espeak-ng and sox (no dither on float output) are deterministic.
"""

import io
import shutil
import subprocess
from functools import lru_cache

import numpy as np
import soundfile as sf

from audiotok.errors import UserError

TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}  # binary -> Debian package
_VOWEL_START = set("@3aAeEiIoOuUV0")
# two-consonant onsets that English keeps together at the start of a syllable (espeak-ng symbols)
_ONSETS = {a + b for a in "pbkgf" for b in "lr"} | {a + b for a in "tdT" for b in ("r", "w")} | \
    {"s" + b for b in "ptkmnlw"} | {a + "j" for a in "pbkgmfvhn"} | {"kw", "gw", "Sr"}


def check_tools():
    for binary, package in TOOLS.items():
        if shutil.which(binary) is None:
            raise UserError(f"{binary}: not found on PATH; install the Debian package "
                            f"'{package}' (sudo apt-get install {package})")


def _run(cmd, stdin=None):
    out = subprocess.run(cmd, input=stdin, capture_output=True)
    if out.returncode != 0 or not out.stdout:
        msg = " ".join(out.stderr.decode(errors="replace").split())[:300]
        raise UserError(f"{cmd[0]} failed (exit {out.returncode}) on {cmd[-1]!r}: {msg}")
    return out.stdout


def _language(voice):
    return voice.split("+")[0]


# --- syllables --------------------------------------------------------------------------------

def _is_vowel(ph):
    return ph.lstrip("',")[:1] in _VOWEL_START


def split_syllables(phonemes):
    """Group one word's espeak-ng phonemes into syllables: one vowel each, the consonants
    between two vowels split so the next syllable gets the longest onset English allows."""
    nuclei = [i for i, ph in enumerate(phonemes) if _is_vowel(ph)]
    if not nuclei:
        return ["".join(phonemes)] if phonemes else []
    cuts = []
    for a, b in zip(nuclei, nuclei[1:]):
        cons = [ph.lstrip("',") for ph in phonemes[a + 1:b]]
        take = 0 if not cons else 1
        if len(cons) >= 2 and cons[-2] + cons[-1] in _ONSETS:
            take = 2
        if len(cons) >= 3 and cons[-3] == "s" and cons[-2] + cons[-1] in _ONSETS:
            take = 3
        if cons and cons[-1] == "N":  # no English syllable starts with "ng"
            take = 0
        cut = b - take
        # stress marks belong to the syllable they precede
        while cut > a + 1 and phonemes[cut - 1] in ("'", ","):
            cut -= 1
        cuts.append(cut)
    bounds = [0] + cuts + [len(phonemes)]
    return ["".join(phonemes[i:j]) for i, j in zip(bounds, bounds[1:])]


def lyric_syllables(text, voice):
    """espeak-ng's phonemes for `text` as a list of words, each a list of syllables."""
    raw = _run(["espeak-ng", "-q", "-x", "--sep=|", "-v", _language(voice), text]).decode()
    words = []
    for token in raw.split():
        phonemes = []
        for ph in token.split("|"):
            if not ph or ph.startswith("_"):
                continue  # pauses
            if ph == ";" and phonemes:
                phonemes[-1] += ph  # a modifier of the previous phoneme
                continue
            phonemes.append(ph)
        syl = split_syllables(phonemes)
        if syl:
            words.append(syl)
    return words


# --- pitch ------------------------------------------------------------------------------------

def estimate_f0(x, sr, fmin=60.0, fmax=800.0, frame_s=0.04, hop_s=0.01, threshold=0.6):
    """Per-frame autocorrelation pitch in Hz (0 where unvoiced or silent)."""
    n, hop = int(frame_s * sr), int(hop_s * sr)
    if len(x) < n:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop].astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames ** 2).sum(axis=1)
    spec = np.fft.rfft(frames * np.hanning(n), 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, :n]
    ac /= np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(sr / fmax), min(n - 1, int(sr / fmin))
    f0 = np.zeros(len(frames))
    loud = energy > 1e-3 * energy.max() if energy.max() > 0 else energy > 0
    for i in np.flatnonzero(loud):
        seg = ac[i, lo:hi]
        peak = seg.max()
        if peak < threshold:
            continue
        # the shortest lag close to the best peak avoids octave-down errors
        lag = lo + int(np.flatnonzero(seg >= 0.9 * peak)[0])
        while lag + 1 < hi and ac[i, lag + 1] > ac[i, lag]:
            lag += 1
        f0[i] = sr / lag
    return f0


def _speak(voice, syllable, pitch, rate):
    ssml = f'<speak><prosody range="0%">[[{syllable}]] </prosody></speak>'  # the space ends [[ ]]
    wav = _run(["espeak-ng", "-m", "-v", voice, "-p", str(pitch), "-s", str(rate), "--stdout", ssml])
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return x, sr


@lru_cache(maxsize=None)
def calibration(voice):
    """(p values, f0 in Hz) of `voice` speaking a flat "la" at a few espeak-ng -p settings."""
    ps, f0s = [], []
    for p in (20, 45, 70, 99):
        x, sr = _speak(voice, "l'a:", p, 120)
        f = estimate_f0(x, sr)
        if (f > 0).sum() >= 3:
            ps.append(p)
            f0s.append(float(np.median(f[f > 0])))
    if len(ps) < 2:
        raise UserError(f"espeak-ng voice {voice}: could not measure its pitch")
    return tuple(ps), tuple(f0s)


def espeak_pitch_for(voice, hz):
    """The espeak-ng -p setting whose flat pitch is nearest `hz`, and that pitch."""
    ps, f0s = calibration(voice)
    p = float(np.interp(hz, f0s, ps, left=ps[0], right=ps[-1]))
    p = int(round(min(99, max(0, p))))
    return p, float(np.interp(p, ps, f0s))


def _trim(x, sr, floor_db=-40.0):
    """Cut leading and trailing silence (5 ms RMS frames below floor_db of the loudest frame)."""
    hop = max(1, int(0.005 * sr))
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt((x[:n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-20)
    on = np.flatnonzero(rms > rms.max() * 10 ** (floor_db / 20))
    return x[on[0] * hop:(on[-1] + 1) * hop] if len(on) else x


def _vibrato(x, sr, rate_hz, cents, delay_s):
    """Frequency vibrato by a modulated delay line: a delay d(t) = A sin(2 pi f t) bends the
    pitch by about A * 2 pi f (relative), faded in after `delay_s`."""
    t = np.arange(len(x)) / sr
    depth = (2 ** (cents / 1200) - 1) / (2 * np.pi * rate_hz)  # seconds of delay swing
    ramp = np.clip((t - delay_s) / 0.15, 0, 1)
    src = (t - depth * ramp * np.sin(2 * np.pi * rate_hz * t)) * sr
    return np.interp(src, np.arange(len(x)), x).astype(np.float32)


def sing_syllable(voice, syllable, hz, seconds, sample_rate, vibrato=None):
    """One syllable sung at `hz` for `seconds`, as float32 at `sample_rate` (exact length)."""
    rate = 80 if seconds >= 0.6 else 110 if seconds >= 0.35 else 150 if seconds >= 0.2 else 190
    p, expected = espeak_pitch_for(voice, hz)
    x, sr = _speak(voice, syllable, p, rate)
    x = _trim(x, sr)
    f = estimate_f0(x, sr)
    voiced = f[f > 0]
    got = float(np.median(voiced)) if len(voiced) >= 2 else expected
    if abs(12 * np.log2(got / expected)) > 3:  # an octave slip of the estimator: trust calibration
        got = expected
    cents = 1200 * np.log2(hz / got)
    n_out = int(round(seconds * sample_rate))
    factor = (len(x) / sr) / seconds
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT")
    effects = []
    if abs(cents) >= 1:
        effects += ["pitch", f"{cents:.2f}"]
    if abs(factor - 1) > 0.01:
        # sox tempo is WSOLA; chain two steps for stretches it cannot do in one
        for f_ in _tempo_steps(factor):
            effects += ["tempo", "-s", f"{f_:.5f}"]
    effects += ["rate", "-v", str(sample_rate)]
    out = _run(["sox", "-V1", "-t", "wav", "-", "-t", "wav", "-e", "floating-point", "-b", "32", "-", *effects],
               stdin=buf.getvalue())
    y, _ = sf.read(io.BytesIO(out), dtype="float32")
    y = np.pad(y, (0, max(0, n_out - len(y))))[:n_out]
    if vibrato is not None and seconds > 0.35:
        y = _vibrato(y, sample_rate, *vibrato)
    rms = np.sqrt(np.mean(y ** 2)) if len(y) else 0.0
    if rms > 0:
        y = y * (0.1 / rms)
    fade_in, fade_out = min(len(y), int(0.005 * sample_rate)), min(len(y), int(0.03 * sample_rate))
    if fade_in:
        y[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    if fade_out:
        y[len(y) - fade_out:] *= np.linspace(1, 0, fade_out, dtype=np.float32)
    return y.astype(np.float32)


def _tempo_steps(factor):
    steps = []
    while factor < 0.25 or factor > 4:
        step = 0.25 if factor < 1 else 4.0
        steps.append(step)
        factor /= step
    return steps + [factor]


def midi_to_hz(pitch):
    return 440.0 * 2 ** ((pitch - 69) / 12)


def sing(voice, notes, n_samples, sample_rate, vibrato=(5.5, 35.0, 0.2), gap_s=0.03):
    """Vocal stem: `notes` are (onset seconds, duration seconds, MIDI pitch, syllable, velocity)."""
    out = np.zeros(n_samples, dtype=np.float32)
    for onset, dur, pitch, syllable, velocity in notes:
        seconds = max(0.08, dur - gap_s)
        y = sing_syllable(voice, syllable, midi_to_hz(pitch), seconds, sample_rate, vibrato)
        at = int(round(onset * sample_rate))
        y = y[:max(0, n_samples - at)] * (velocity / 100.0)
        out[at:at + len(y)] += y
    return out
