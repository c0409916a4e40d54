"""Speakers of the mini_synth corpus, generated from the installed espeak-ng and flite voices.

A speaker is an espeak-ng accent (every installed English voice except the mbrola ones)
combined with an espeak-ng voice variant, plus a seeded voice setting: pitch (-p), rate (-s)
and a timbre shift. The timbre shift is sox's `speed` effect applied before resampling: it
moves formants and pitch together by a few percent at no extra cost (it folds into the one
resampling step); the espeak-ng rate is divided by the same factor so the speaking rate
spread is kept. flite's awb (train) and rms (test) voices get several settings each from
flite's int_f0_target_mean and duration_stretch features. espeak-ng 1.51 has no pitch-range
option on its command line, so the range comes from the variants themselves.

Splits are by voice: whole espeak-ng variants are held out for test (one of them a Klatt
variant) and dev, in every accent, and flite rms is test only. flite kal, kal16 and slt are
reserved for evaluation and never used.

The table depends on nothing but this file: settings are drawn from an rng seeded with the
speaker id, so ids and settings are the same for every corpus seed. Ids all have the same
length, so no id is a prefix of another (Kaldi sort order).
"""

import random
from dataclasses import dataclass

RESERVED_FLITE_VOICES = ("kal", "kal16", "slt")  # unseen-speaker evaluation only

# two-letter accent code -> espeak-ng voice
ACCENTS = {
    "us": "en-us", "gb": "en-gb", "cb": "en-029", "sc": "en-gb-scotland",
    "la": "en-gb-x-gbclan", "wm": "en-gb-x-gbcwmd", "rp": "en-gb-x-rp", "ny": "en-us-nyc",
}

# espeak-ng variants (file names under voices/!v) that sound like a person, with gender.
# Left out: whispers (whisper, whisperf, caleb), heavy echo or robot effects (RicishayMax*,
# UniRobot, anikaRobot, robosoft*, announcer, Demonic), the test voice "fast", and
# "Mr serious" (a space in its name).
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "aunty",
                   "belinda", "grandma", "linda", "steph", "steph2", "steph3")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
                 "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
                 "Alex", "Andy", "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo",
                 "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "Storm", "Tweaky",
                 "adam", "antonio", "benjamin", "boris", "croak", "david", "ed", "edward", "edward2",
                 "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta",
                 "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy",
                 "rob", "robert", "sandro", "shelby", "travis", "victor", "zac")
VARIANTS = FEMALE_VARIANTS + MALE_VARIANTS

# held-out variants: never heard in training, in any accent
TEST_VARIANTS = ("klatt4", "m3", "f2")
DEV_VARIANTS = ("m6", "f3")
# settings per (accent, variant): female variants are fewer, so each gets two settings
SETTINGS_PER_VARIANT = {"f": 2, "m": 1}

# flite voice -> (split, number of settings, f0 range in Hz)
FLITE_VOICES = {"awb": ("train", 8, (95, 150)), "rms": ("test", 4, (85, 135))}

# seeded ranges of a setting
ESPEAK_PITCH = {"f": (40, 80), "m": (25, 70)}  # espeak-ng -p, 0-99
ESPEAK_WPM = (130, 190)  # espeak-ng -s, before the timbre correction
TIMBRE = (0.92, 1.08)  # sox speed factor
FLITE_STRETCH = (0.9, 1.15)  # flite duration_stretch


@dataclass(frozen=True)
class Speaker:
    id: str
    engine: str  # "espeak-ng" or "flite"
    voice: str  # espeak-ng "accent+variant", or a flite voice name
    pitch: int  # espeak-ng -p (0-99), or flite int_f0_target_mean in Hz
    rate: int  # espeak-ng -s (words per minute), or flite duration_stretch in percent
    timbre: float  # sox speed factor applied before resampling (formants and pitch)
    gender: str  # "m" or "f", as the voice sounds (Kaldi spk2gender)
    split: str

    @property
    def family(self):
        """The voice without accent: what the train/dev/test split holds out."""
        return self.voice.split("+")[-1] if self.engine == "espeak-ng" else f"flite-{self.voice}"


def variant_split(variant):
    if variant in TEST_VARIANTS:
        return "test"
    if variant in DEV_VARIANTS:
        return "dev"
    return "train"


def _espeak_speaker(acc, vidx, variant, k, gender):
    sid = f"e-{acc}-{vidx:02d}{k}"
    rng = random.Random(f"voices:{sid}")
    timbre = round(rng.uniform(*TIMBRE), 2)
    pitch = rng.randint(*ESPEAK_PITCH[gender])
    wpm = round(rng.randint(*ESPEAK_WPM) / timbre)  # speed() makes speech faster by `timbre`
    return Speaker(sid, "espeak-ng", f"{ACCENTS[acc]}+{variant}", pitch, wpm, timbre, gender,
                   variant_split(variant))


def _flite_speaker(voice, k, split, f0_range):
    sid = f"f-{voice[:2]}-00{k}"
    rng = random.Random(f"voices:{sid}")
    timbre = round(rng.uniform(*TIMBRE), 2)
    return Speaker(sid, "flite", voice, rng.randint(*f0_range), round(100 * rng.uniform(*FLITE_STRETCH)),
                   timbre, "m", split)


def make_speakers():
    """Every speaker, in a fixed order (accent, variant, setting; then flite)."""
    out = []
    for acc in ACCENTS:
        for vidx, variant in enumerate(VARIANTS):
            gender = "f" if variant in FEMALE_VARIANTS else "m"
            for k in range(SETTINGS_PER_VARIANT[gender]):
                out.append(_espeak_speaker(acc, vidx, variant, k, gender))
    for voice, (split, n, f0_range) in FLITE_VOICES.items():
        assert voice not in RESERVED_FLITE_VOICES
        out.extend(_flite_speaker(voice, k, split, f0_range) for k in range(n))
    return tuple(out)


SPEAKERS = make_speakers()
assert len(VARIANTS) <= 100 and len({len(s.id) for s in SPEAKERS}) == 1
assert len({s.id for s in SPEAKERS}) == len(SPEAKERS)


def speakers_of(split):
    return [s for s in SPEAKERS if s.split == split]


def rotation(split, rng):
    """The speakers of `split` in the order a corpus takes them: round-robin over voice
    families (variants, flite voices) in a seeded order, each family's speakers shuffled, so
    that even a small corpus hears many different variants and accents."""
    families = {}
    for s in speakers_of(split):
        families.setdefault(s.family, []).append(s)
    groups = [families[f] for f in sorted(families)]
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    out = []
    for i in range(max(map(len, groups))):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def tts_command(speaker, text, raw_path):
    if speaker.engine == "espeak-ng":
        return ["espeak-ng", "-v", speaker.voice, "-p", str(speaker.pitch), "-s", str(speaker.rate),
                "-w", str(raw_path), text]
    if speaker.engine == "flite":
        return ["flite", "-voice", speaker.voice, "--setf", f"int_f0_target_mean={speaker.pitch}",
                "--setf", f"duration_stretch={speaker.rate / 100:.2f}", "-o", str(raw_path), "-t", text]
    raise ValueError(f"unknown TTS engine {speaker.engine}")
