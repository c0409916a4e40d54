"""A small standard MIDI file (SMF) writer and a deterministic fluidsynth renderer.

Only what the mini_music generator needs: format-1 files with one tempo track and one track
per instrument (program change, volume/pan/effect sends, notes). Rendering runs fluidsynth's
file renderer with sample-based player timing and float output, so the same MIDI file gives
the same samples on every run (no dither, no wall-clock timing).
"""

import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiotok.errors import UserError

PPQ = 480  # ticks per quarter note
DRUM_CHANNEL = 9  # General MIDI channel 10 (0-based 9) plays the percussion map
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_PACKAGE = "fluid-soundfont-gm"


@dataclass(frozen=True)
class Note:
    start: int  # ticks
    duration: int  # ticks
    pitch: int  # MIDI note number
    velocity: int = 96


@dataclass
class Track:
    name: str
    channel: int
    program: int = 0  # GM program number 0-127 (ignored on the drum channel)
    volume: int = 100  # CC 7
    pan: int = 64  # CC 10
    reverb: int = 40  # CC 91
    chorus: int = 0  # CC 93
    notes: list = field(default_factory=list)

    def add(self, start, duration, pitch, velocity=96):
        if duration > 0 and 0 <= pitch <= 127:
            self.notes.append(Note(int(start), int(duration), int(pitch), int(max(1, min(127, velocity)))))


def _varlen(n):
    """MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def _chunk(kind, payload):
    return kind + struct.pack(">I", len(payload)) + payload


def _track_chunk(events):
    """events: (tick, order, bytes); sorted so note-offs precede note-ons on the same tick."""
    out, now = bytearray(), 0
    for tick, _, data in sorted(events, key=lambda e: (e[0], e[1])):
        out += _varlen(tick - now) + data
        now = tick
    out += _varlen(0) + b"\xff\x2f\x00"  # end of track
    return _chunk(b"MTrk", bytes(out))


def midi_bytes(tracks, bpm, numerator=4, denominator=4, end_tick=None, ppq=PPQ):
    """The bytes of a format-1 SMF. `end_tick` extends the tempo track so the player (and the
    rendered file) runs at least that long, leaving room for release and reverb tails."""
    if denominator not in (1, 2, 4, 8, 16):
        raise ValueError(f"time signature denominator must be a power of two, got {denominator}")
    tempo = round(60_000_000 / bpm)  # microseconds per quarter note
    meta = [(0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big")),
            (0, 0, bytes([0xFF, 0x58, 4, numerator, denominator.bit_length() - 1, 24, 8]))]
    last = max([n.start + n.duration for t in tracks for n in t.notes] + [0, end_tick or 0])
    chunks = [_track_chunk(meta + [(last, 9, b"\xff\x01\x00")])]  # empty text event marks the end
    for t in tracks:
        ch = t.channel
        ev = [(0, 0, bytes([0xC0 | ch, t.program & 0x7F])),
              (0, 0, bytes([0xB0 | ch, 7, t.volume])), (0, 0, bytes([0xB0 | ch, 10, t.pan])),
              (0, 0, bytes([0xB0 | ch, 91, t.reverb])), (0, 0, bytes([0xB0 | ch, 93, t.chorus]))]
        for n in t.notes:
            ev.append((n.start, 2, bytes([0x90 | ch, n.pitch, n.velocity])))
            ev.append((n.start + n.duration, 1, bytes([0x80 | ch, n.pitch, 0])))
        chunks.append(_track_chunk(ev))
    header = _chunk(b"MThd", struct.pack(">HHH", 1, len(chunks), ppq))
    return header + b"".join(chunks)


def ticks_to_seconds(ticks, bpm, ppq=PPQ):
    return ticks * 60.0 / (bpm * ppq)


def check_fluidsynth(soundfont=SOUNDFONT):
    if shutil.which("fluidsynth") is None:
        raise UserError("fluidsynth: not found on PATH; install the Debian package 'fluidsynth' "
                        "(sudo apt-get install fluidsynth)")
    if not Path(soundfont).is_file():
        raise UserError(f"{soundfont}: General MIDI soundfont not found; install the Debian package "
                        f"'{SOUNDFONT_PACKAGE}' (sudo apt-get install {SOUNDFONT_PACKAGE})")


def fluidsynth_command(midi_path, wav_path, sample_rate, gain=0.5, soundfont=SOUNDFONT):
    return ["fluidsynth", "-n", "-i", "-q",
            "-o", "player.timing-source=sample",  # advance by samples rendered, not by the clock
            "-o", "synth.cpu-cores=1",
            "-o", "synth.lock-memory=0",
            "-r", str(sample_rate), "-g", str(gain),
            "-T", "wav", "-O", "float",  # float samples: no dither, no clipping
            "-F", str(wav_path), str(soundfont), str(midi_path)]


def render(midi_path, wav_path, sample_rate, gain=0.5, soundfont=SOUNDFONT):
    """Render a MIDI file to mono float32 samples at `sample_rate` (stereo output is averaged)."""
    import soundfile as sf

    cmd = fluidsynth_command(midi_path, wav_path, sample_rate, gain, soundfont)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0 or not Path(wav_path).is_file():
        msg = " ".join((out.stderr or out.stdout).split())[:300]
        raise UserError(f"fluidsynth failed (exit {out.returncode}) on {midi_path}: {msg}")
    data, sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise UserError(f"fluidsynth wrote {sr} Hz instead of {sample_rate} Hz to {wav_path}")
    return data.mean(axis=1).astype(np.float32)
