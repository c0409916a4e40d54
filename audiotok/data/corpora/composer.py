"""Seeded song writing for mini_music: a groove, a key and a chord progression, and the MIDI
parts of the band (drums on GM channel 10, bass, a chord instrument, sometimes a pad), plus a
vocal melody with one note per lyric syllable.

Everything here is pure Python driven by one `random.Random`, so a song depends only on its
seed. Times are MIDI ticks (PPQ per quarter note) on a straight sixteenth grid; swing is
applied when a note is placed, by bending each beat so its off-beat eighth lands later.
"""

import math
from dataclasses import dataclass, field

from audiotok.data.corpora.midi import DRUM_CHANNEL, PPQ, Track

STEP = PPQ // 4  # one sixteenth note in ticks

# --- grooves ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feel:
    name: str
    numerator: int
    denominator: int
    steps_per_bar: int  # sixteenths
    beat_steps: int  # sixteenths per felt beat (4, or 6 for dotted-quarter beats in 6/8)
    swing: float  # delay of the off-beat eighth, as a fraction of a quarter note
    drums: dict  # GM percussion key -> step pattern ('x' accent, 'o' soft, '.' rest)
    bass: tuple  # bass pattern names that suit the feel
    comp: tuple  # chord pattern names that suit the feel


KICK, SNARE, SIDE, HAT, PEDAL, OPEN, RIDE, CRASH = 36, 38, 37, 42, 44, 46, 51, 49
TOMS = (50, 47, 45, 43)  # high to low

FEELS = (
    Feel("rock", 4, 4, 16, 4, 0.0,
         {KICK: "x.......x.x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
         ("eighths", "roots", "root_fifth", "syncopated"), ("sustain", "beats", "arpeggio", "offbeat")),
    Feel("halftime", 4, 4, 16, 4, 0.0,
         {KICK: "x.........x.....", SNARE: "........x.......", HAT: "x.x.x.x.x.x.x.x."},
         ("roots", "root_fifth", "syncopated"), ("sustain", "arpeggio")),
    Feel("disco", 4, 4, 16, 4, 0.0,
         {KICK: "x...x...x...x...", SNARE: "....x.......x...", HAT: "x...x...x...x...", OPEN: "..x...x...x...x."},
         ("octaves", "eighths"), ("offbeat", "beats", "sustain")),
    Feel("funk", 4, 4, 16, 4, 0.0,
         {KICK: "x..x..x...x.....", SNARE: "....x..o.o..x..o", HAT: "xoxoxoxoxoxoxoxo"},
         ("syncopated", "octaves"), ("offbeat", "beats")),
    Feel("shuffle", 4, 4, 16, 4, 1 / 6,
         {KICK: "x.......x.......", SNARE: "....x.......x...", RIDE: "x...x.x.x...x.x.", PEDAL: "....x.......x..."},
         ("walking", "root_fifth"), ("beats", "sustain", "arpeggio")),
    Feel("waltz", 3, 4, 12, 4, 0.0,
         {KICK: "x...........", SNARE: "....o...o...", HAT: "x.x.x.x.x.x."},
         ("waltz", "roots"), ("waltz", "sustain", "arpeggio")),
    Feel("compound", 6, 8, 12, 6, 0.0,
         {KICK: "x.....o.....", SNARE: "......x.....", HAT: "x.x.x.x.x.x."},
         ("root_fifth", "roots"), ("arpeggio", "sustain")),
)

# --- harmony --------------------------------------------------------------------------------

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
# chord roots as scale degrees (0 = tonic), one chord per bar
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 5, 4), (0, 0, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 0, 5, 6)),
}
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# --- instruments (General MIDI program numbers) ---------------------------------------------

DRUM_KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr808": 25, "jazz": 32, "brush": 40}
BASSES = {"acoustic_bass": 32, "finger_bass": 33, "pick_bass": 34, "fretless_bass": 35,
          "slap_bass": 36, "synth_bass_1": 38, "synth_bass_2": 39}
# No voice-like patches (choir aahs 52, voice oohs 53, synth voice 54): the accompaniment stem
# must not sound like a singer, or the vocal/accompaniment split would be ambiguous.
COMPING = {"grand_piano": 0, "bright_piano": 1, "electric_piano": 4, "fm_piano": 5, "clavinet": 7,
           "vibraphone": 11, "drawbar_organ": 16, "percussive_organ": 17, "rock_organ": 18,
           "nylon_guitar": 24, "steel_guitar": 25, "jazz_guitar": 26, "clean_guitar": 27,
           "muted_guitar": 28, "overdriven_guitar": 29, "strings": 48, "synth_strings": 50,
           "brass_section": 61, "accordion": 21}
SUSTAINED = {"drawbar_organ", "rock_organ", "strings", "synth_strings", "brass_section", "accordion"}
PADS = {"warm_pad": 89, "polysynth_pad": 90, "halo_pad": 94, "slow_strings": 49, "string_ensemble": 48}

# espeak-ng voices that sing, with their melody range (MIDI notes): low voices sing a fifth
# or so above what espeak-ng reaches, high voices up to about A4
SINGERS = {
    "en-us+m1": (43, 57), "en-us+m3": (43, 57), "en-gb+m2": (45, 59), "en-gb+m4": (43, 57),
    "en-us+m6": (45, 59), "en-gb-x-rp+m7": (43, 57),
    "en-us+f1": (55, 69), "en-us+f2": (55, 69), "en-us+f3": (57, 71), "en-gb+f4": (55, 69),
    "en-gb+f5": (57, 71),
}


@dataclass
class VocalNote:
    start: int  # ticks, swing applied
    duration: int  # ticks
    pitch: int  # MIDI note number
    syllable: str  # espeak-ng phoneme string
    line: int  # index of the lyric line


@dataclass
class Score:
    bpm: float
    feel: Feel
    key: int
    mode: str
    progression: tuple
    n_bars: int
    singer: str
    instruments: dict  # role -> GM instrument name
    tracks: list  # midi.Track, accompaniment only
    melody: list = field(default_factory=list)  # VocalNote
    lines: list = field(default_factory=list)  # transcripts of the sung lyric lines

    @property
    def bar_ticks(self):
        return self.feel.steps_per_bar * STEP

    def seconds(self, ticks):
        return ticks * 60.0 / (self.bpm * PPQ)


def swing_tick(tick, swing):
    """Bend each quarter note so its second half starts `swing` quarters late (1/6: triplet swing)."""
    if not swing:
        return tick
    beat, pos = divmod(tick, PPQ)
    half, late = PPQ / 2, PPQ * (0.5 + swing)
    if pos < half:
        pos = pos * late / half
    else:
        pos = late + (pos - half) * (PPQ - late) / half
    return beat * PPQ + round(pos)


def chord_tones(key, mode, degree, seventh=False):
    """Pitch classes of the diatonic triad (or seventh chord) on scale `degree`."""
    scale = MAJOR if mode == "major" else MINOR
    idx = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return [(key + scale[(degree + i) % 7]) % 12 for i in idx]


def voice_chord(pcs, center=62):
    """Close voicing of pitch classes around `center`: the inversion whose mean is nearest it."""
    best = None
    for inv in range(len(pcs)):
        order = pcs[inv:] + pcs[:inv]
        notes, prev = [], None
        for pc in order:
            n = pc + 12 * ((center - 6) // 12) if prev is None else prev + (pc - prev) % 12
            if prev is not None and n == prev:
                n += 12
            notes.append(n)
            prev = n
        shift = round((center - sum(notes) / len(notes)) / 12) * 12
        notes = [n + shift for n in notes]
        cost = abs(sum(notes) / len(notes) - center)
        if best is None or cost < best[0]:
            best = (cost, notes)
    return best[1]


def nearest(pc, target):
    """The MIDI note of pitch class `pc` nearest to `target`."""
    return target + ((pc - target + 6) % 12) - 6


class Composer:
    """Writes one song's score from `rng`. `lyrics_for(singer)` gives an iterable of lyric lines
    (transcript, syllables per word) in that singer's accent (espeak-ng phonemes differ by accent)."""

    def __init__(self, rng):
        self.rng = rng

    def pick(self, seq):
        return self.rng.choice(list(seq))

    # --- whole song
    def compose(self, duration, lyrics_for):
        rng = self.rng
        feel = self.pick(FEELS)
        bpm = rng.randint(80, 160) if feel.name != "compound" else rng.randint(110, 160)
        key = rng.randrange(12)
        mode = self.pick(("major", "minor"))
        progression = self.pick(PROGRESSIONS[mode])
        singer = self.pick(sorted(SINGERS))
        bar_s = feel.steps_per_bar * STEP * 60.0 / (bpm * PPQ)
        n_bars = math.ceil((duration + 1.0) / bar_s)  # play past the cut so nothing stops early
        comp_name = self.pick(sorted(COMPING))
        instruments = {"drums": self.pick(sorted(DRUM_KITS)), "bass": self.pick(sorted(BASSES)), "chords": comp_name}
        if self.rng.random() < 0.35 and comp_name not in SUSTAINED:
            instruments["pad"] = self.pick(sorted(PADS))
        score = Score(bpm, feel, key, mode, progression, n_bars, singer, instruments, [])
        sevenths = rng.random() < 0.3
        chords = [chord_tones(key, mode, progression[b % len(progression)], sevenths) for b in range(n_bars)]
        score.tracks = [self.drums(score), self.bass(score, chords), self.comp(score, chords)]
        if "pad" in instruments:
            score.tracks.append(self.pad(score, chords))
        self.melody(score, chords, duration, lyrics_for(singer))
        return score

    def _track(self, name, channel, program, volume, pan):
        return Track(name, channel, program, volume=volume, pan=pan, reverb=self.rng.randint(20, 60))

    def _add(self, score, track, start, duration, pitch, velocity):
        """Add a note with swing and velocity jitter applied."""
        sw = score.feel.swing
        on, off = swing_tick(start, sw), swing_tick(start + duration, sw)
        track.add(on, max(STEP // 2, off - on - 10), pitch, velocity + self.rng.randint(-8, 8))

    # --- drums
    def drums(self, score):
        feel, rng = score.feel, self.rng
        t = self._track("drums", DRUM_CHANNEL, DRUM_KITS[score.instruments["drums"]], rng.randint(95, 115), 64)
        bar = score.bar_ticks
        for b in range(score.n_bars):
            fill = b % 4 == 3 and rng.random() < 0.6
            fill_from = feel.steps_per_bar - feel.beat_steps
            if b % 4 == 0:
                self._add(score, t, b * bar, 2 * STEP, CRASH, 100)
            for key, pattern in feel.drums.items():
                for s, c in enumerate(pattern):
                    if c == "." or (fill and s >= fill_from):
                        continue
                    if b % 4 == 0 and s == 0 and key in (HAT, RIDE):
                        continue  # the crash takes the downbeat
                    self._add(score, t, b * bar + s * STEP, STEP, key, 104 if c == "x" else 62)
            if fill:
                for i, s in enumerate(range(fill_from, feel.steps_per_bar)):
                    tom = TOMS[min(len(TOMS) - 1, i * len(TOMS) // feel.beat_steps)]
                    self._add(score, t, b * bar + s * STEP, STEP, tom, 90 + 2 * i)
                self._add(score, t, b * bar + fill_from * STEP, STEP, KICK, 100)
        return t

    # --- bass
    def bass(self, score, chords):
        feel, rng = score.feel, self.rng
        t = self._track("bass", 0, BASSES[score.instruments["bass"]], rng.randint(95, 115), 64)
        style = self.pick(feel.bass)
        scale = MAJOR if score.mode == "major" else MINOR
        bar, beat = score.bar_ticks, feel.beat_steps * STEP
        for b, pcs in enumerate(chords):
            root = nearest(pcs[0], 38)
            fifth = nearest(pcs[2], root + 7)
            nxt = nearest(chords[(b + 1) % len(chords)][0], 38)
            at = b * bar
            beats = feel.steps_per_bar // feel.beat_steps
            if style == "roots":
                for i in range(beats):
                    self._add(score, t, at + i * beat, beat, root, 100 if i == 0 else 88)
            elif style == "eighths":
                for s in range(0, feel.steps_per_bar, 2):
                    self._add(score, t, at + s * STEP, 2 * STEP, root, 100 if s % 4 == 0 else 80)
            elif style == "octaves":
                for s in range(0, feel.steps_per_bar, 2):
                    self._add(score, t, at + s * STEP, 2 * STEP, root + 12 * (s // 2 % 2), 96)
            elif style == "root_fifth":
                for i in range(beats):
                    self._add(score, t, at + i * beat, beat, root if i % 2 == 0 else fifth, 96)
            elif style == "syncopated":
                for s, c in enumerate("x..x..x...x.x..."[:feel.steps_per_bar]):
                    if c == "x":
                        self._add(score, t, at + s * STEP, 2 * STEP, root if s != 10 else fifth, 98)
            elif style == "waltz":
                self._add(score, t, at, beat, root, 100)
                self._add(score, t, at + beat, beat, fifth, 80)
                self._add(score, t, at + 2 * beat, beat, fifth, 80)
            elif style == "walking":
                third = nearest(pcs[1], root + 4)
                scale_pc = (score.key + scale[(scale.index((pcs[0] - score.key) % 12) + 1) % 7]) % 12
                approach = nxt + self.pick((-1, 1, -2, 2))
                line = [root, third, nearest(scale_pc, fifth), approach]
                for i in range(beats):
                    self._add(score, t, at + i * beat, beat, line[i % 4], 100 if i == 0 else 86)
        return t

    # --- chords
    def comp(self, score, chords):
        feel, rng = score.feel, self.rng
        name = score.instruments["chords"]
        t = self._track("chords", 1, COMPING[name], rng.randint(70, 95), rng.choice((44, 64, 84)))
        style = "sustain" if name in SUSTAINED else self.pick(feel.comp)
        center = rng.randint(58, 66)
        bar, beat = score.bar_ticks, feel.beat_steps * STEP
        beats = feel.steps_per_bar // feel.beat_steps
        for b, pcs in enumerate(chords):
            notes, at = voice_chord(pcs, center), b * bar
            if style == "sustain":
                for n in notes:
                    self._add(score, t, at, bar, n, 76)
            elif style == "beats":
                for i in range(beats):
                    for n in notes:
                        self._add(score, t, at + i * beat, beat // 2 + STEP, n, 84 if i % 2 else 72)
            elif style == "offbeat":
                for s in range(2, feel.steps_per_bar, 4):
                    for n in notes:
                        self._add(score, t, at + s * STEP, STEP, n, 86)
            elif style == "arpeggio":
                seq = notes + [notes[0] + 12] + notes[1:][::-1]
                for i, s in enumerate(range(0, feel.steps_per_bar, 2)):
                    self._add(score, t, at + s * STEP, 3 * STEP, seq[i % len(seq)], 78)
            elif style == "waltz":
                for i in (1, 2):
                    for n in notes:
                        self._add(score, t, at + i * beat, beat // 2, n, 78)
        return t

    def pad(self, score, chords):
        t = Track("pad", 2, PADS[score.instruments["pad"]], volume=self.rng.randint(50, 70), pan=64, reverb=70)
        for b, pcs in enumerate(chords):
            for n in voice_chord(pcs, 55):
                t.add(b * score.bar_ticks, score.bar_ticks, n, 64)
        return t

    # --- melody
    def _phrase_rhythm(self, n_notes, n_bars, score):
        """Onsets (in eighths from the phrase start) and lengths of `n_notes` notes over `n_bars`."""
        eighths = score.feel.steps_per_bar // 2
        slots = n_bars * eighths - 1  # the last eighth of the phrase is a breath
        beat8 = score.feel.beat_steps // 2

        def weight(i):
            pos = i % eighths
            return 4.0 if pos == 0 else 2.5 if pos % beat8 == 0 else 1.0

        # weighted sample without replacement (Efraimidis-Spirakis keys); slot 0 always sung
        keyed = sorted(range(1, slots), key=lambda i: -self.rng.random() ** (1.0 / weight(i)))
        onsets = sorted([0] + keyed[:n_notes - 1])
        lengths = [b - a for a, b in zip(onsets, onsets[1:])]
        lengths.append(max(1, min(4, slots - onsets[-1])))
        return onsets, lengths

    def melody(self, score, chords, duration, lyrics):
        """Sing lyric lines, one per phrase starting on a bar line, until the song runs out."""
        rng, feel = self.rng, score.feel
        lo, hi = SINGERS[score.singer]
        scale = MAJOR if score.mode == "major" else MINOR
        pitches = [p for p in range(lo, hi + 1) if (p - score.key) % 12 in scale]
        eighths = feel.steps_per_bar // 2
        last_tick = None
        for ticks in range(score.n_bars * score.bar_ticks, 0, -STEP):
            if score.seconds(swing_tick(ticks, feel.swing)) <= duration - 0.75:
                last_tick = ticks
                break
        bar = 1 if score.seconds(score.bar_ticks) * 2 < duration else 0  # one bar of intro if it fits
        prev = pitches[len(pitches) // 2]
        misses = 0
        for transcript, words in lyrics:
            syllables = [s for w in words for s in w]
            n = len(syllables)
            free_bars = (last_tick - bar * score.bar_ticks) // score.bar_ticks
            n_bars = max(1, math.ceil(n / (0.6 * eighths)))
            if n_bars > free_bars:
                n_bars = max(1, math.ceil(n / (eighths - 1)))  # sing denser to fit
            if n_bars > free_bars or n > n_bars * eighths - 1:
                misses += 1
                # keep drawing until a first line fits (short lines are common); later, give up sooner
                if free_bars < 1 or misses > (20 if score.lines else 500):
                    break
                continue
            line = len(score.lines)
            score.lines.append(transcript)
            onsets, lengths = self._phrase_rhythm(n, n_bars, score)
            for k, (on, ln) in enumerate(zip(onsets, lengths)):
                start = bar * score.bar_ticks + on * 2 * STEP
                pcs = chords[start // score.bar_ticks]
                strong = on % (feel.beat_steps // 2) == 0
                if strong or k == n - 1:
                    options = [p for p in pitches if p % 12 in pcs and abs(p - prev) <= 7] or pitches
                else:
                    i = min(range(len(pitches)), key=lambda j: abs(pitches[j] - prev))
                    step = rng.choice((-2, -1, -1, 1, 1, 2, 0))
                    options = [pitches[min(len(pitches) - 1, max(0, i + step))]]
                p = min(options, key=lambda q: abs(q - prev) + rng.random() * 4)
                s_on = swing_tick(start, feel.swing)
                s_off = swing_tick(start + ln * 2 * STEP, feel.swing)
                score.melody.append(VocalNote(s_on, s_off - s_on, p, syllables[k], line))
                prev = p
            bar += n_bars + (1 if rng.random() < 0.4 else 0)
            if bar * score.bar_ticks >= last_tick:
                break
        return score
