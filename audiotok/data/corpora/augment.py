"""Seeded augmentation of mini_synth training utterances: EQ, small-room reverb, noise, level.

Only the train split is augmented; dev and test stay clean so their scores compare across
corpora. Each train utterance draws its augmentation from an rng seeded with the corpus seed
and its utterance id, so the choice never depends on the worker count or the order of work.
About AUG_PROB of them get one or more of:

    eq      one to two sox `equalizer` / `bass` / `treble` bands (+-3..9 dB)
    reverb  sox `reverb` with a small room, short pre-delay and the wet signal kept low
    noise   white or pink noise at 25-40 dB SNR (against the speech RMS), drawn by numpy from
            the same seed, so it is repeatable (sox's own `synth` noise is seeded by the clock
            unless run with -R; numpy also lets the SNR be exact)
    gain    the final peak at -12..0 dB below the clean level instead of -1 dBFS

The rest stay clean. EQ and reverb are sox effects inserted into the one sox call that
post-processes the TTS output; noise and gain are applied afterwards on the 16-bit samples.
"""

import hashlib
import random
import wave
from dataclasses import dataclass

import numpy as np

AUG_PROB = 0.6
KIND_PROB = {"eq": 0.5, "reverb": 0.4, "noise": 0.5, "gain": 0.5}
SNR_DB = (25.0, 40.0)
GAIN_DB = (-12.0, 0.0)
SETTINGS = {"prob": AUG_PROB, "kind_prob": KIND_PROB, "snr_db": list(SNR_DB), "gain_db": list(GAIN_DB),
            "eq_db": [3, 9], "reverb": "reverberance 10-50, room scale 10-40, wet gain -10..-4 dB",
            "split": "train only"}


@dataclass(frozen=True)
class Aug:
    eq: tuple = ()  # bands, each a tuple of sox effect words
    reverb: tuple = ()
    noise: str = ""  # "" (none), "white" or "pink"
    snr_db: float = 0.0
    gain_db: float = 0.0  # applied to the final peak level; 0 = unchanged

    @property
    def clean(self):
        return not (self.eq or self.reverb or self.noise or self.gain_db)

    def describe(self):
        """One token for utt2aug / corpus.json, e.g. 'eq=bass:+4,eq1500:-6|reverb=30:20:-6|noise=pink:31|gain=-7'."""
        if self.clean:
            return "clean"
        parts = []
        if self.eq:
            parts.append("eq=" + ",".join(f"eq{b[1]}:{b[3]}" if b[0] == "equalizer" else f"{b[0]}:{b[1]}"
                                          for b in self.eq))
        if self.reverb:
            parts.append(f"reverb={self.reverb[1]}:{self.reverb[3]}:{self.reverb[6]}")
        if self.noise:
            parts.append(f"noise={self.noise}:{self.snr_db:g}")
        if self.gain_db:
            parts.append(f"gain={self.gain_db:g}")
        return "|".join(parts)


def _eq_band(rng):
    db = rng.choice((-1, 1)) * rng.randint(3, 9)
    kind = rng.choice(("equalizer", "bass", "treble"))
    if kind == "equalizer":
        return ("equalizer", str(rng.choice((300, 700, 1500, 3000, 5000))), "1q", f"{db:+d}")
    return (kind, f"{db:+d}")


def choose(seed, utt_id):
    """The augmentation of one train utterance (deterministic in seed and utt_id)."""
    rng = random.Random(f"augment:{seed}:{utt_id}")
    if rng.random() >= AUG_PROB:
        return Aug()
    kinds = [k for k, p in KIND_PROB.items() if rng.random() < p] or [rng.choice(sorted(KIND_PROB))]
    eq, reverb, noise, snr, gain = (), (), "", 0.0, 0.0
    if "eq" in kinds:
        eq = tuple(_eq_band(rng) for _ in range(rng.randint(1, 2)))
    if "reverb" in kinds:
        # reverberance, HF damping, room scale, stereo depth, pre-delay (ms), wet gain (dB)
        reverb = ("reverb", str(rng.randint(10, 50)), "50", str(rng.randint(10, 40)), "0",
                  str(rng.randint(0, 20)), str(rng.randint(-10, -4)))
    if "noise" in kinds:
        noise = rng.choice(("white", "pink"))
        snr = round(rng.uniform(*SNR_DB), 1)
    if "gain" in kinds:
        gain = float(rng.randint(int(GAIN_DB[0]), int(GAIN_DB[1]) - 1))
    return Aug(eq, reverb, noise, snr, gain)


def sox_effects(aug):
    """Effects to insert after resampling and before peak normalisation."""
    return [word for band in aug.eq for word in band] + list(aug.reverb)


def _noise(kind, n, rng):
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    # pink: shape white noise to 1/f power in the frequency domain
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


def apply_samples(path, aug, seed, utt_id, peak_db, pad_seconds):
    """Add noise and set the level of a 16-bit mono wav in place (its pads count as silence
    for the speech level); returns the frame count."""
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        x = np.frombuffer(w.readframes(params.nframes), dtype="<i2").astype(np.float64)
    if aug.noise:
        pad = int(pad_seconds * params.framerate)
        speech = x[pad: len(x) - pad] if len(x) > 2 * pad else x
        speech_rms = np.sqrt(np.mean(speech ** 2)) if len(speech) else 0.0
        digest = hashlib.sha256(f"noise:{seed}:{utt_id}".encode()).digest()
        noise = _noise(aug.noise, len(x), np.random.default_rng(int.from_bytes(digest[:8], "little")))
        noise_rms = np.sqrt(np.mean(noise ** 2)) or 1.0
        x = x + noise * (speech_rms / noise_rms) * 10 ** (-aug.snr_db / 20)
    peak = np.abs(x).max()
    if peak > 0:
        x = x * (32767 * 10 ** ((peak_db + aug.gain_db) / 20) / peak)
    y = np.clip(np.round(x), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(y.tobytes())
    return len(y)
