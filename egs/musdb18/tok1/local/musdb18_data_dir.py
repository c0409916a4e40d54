#!/usr/bin/env python3
"""MUSDB18 / MUSDB18-HQ from a local copy -> Kaldi data dirs train/dev/test with the mix and
vocal/accompaniment stems (accompaniment = mixture - vocals, written here since the corpus has none).

    musdb18_data_dir.py ROOT DATA_DIR [--audio-dir DIR] [--dev-list FILE] [--dev-seed S] [--nj N]

ROOT holds train/ and test/, either MUSDB18-HQ (one folder per track, "Artist - Title/", with
mixture.wav vocals.wav drums.wav bass.wav other.wav) or MUSDB18 (one "Artist - Title.stem.mp4"
per track, five AAC streams: mixture, drums, bass, other, vocals). Per track, under
--audio-dir/<id>/:
  HQ:   mixture.wav, vocals.wav, drums.wav, bass.wav, other.wav are symlinks to the corpus files
        (track names have spaces; the links give data dirs space-free paths), accompaniment.wav
        is written.
  .mp4: mixture.wav and vocals.wav are decoded by ffmpeg (streams 0 and 4, 16-bit PCM), then
        accompaniment.wav is written; drums/bass/other are not extracted.
accompaniment.wav is the exact sample-wise difference: 16-bit PCM when it fits in 16 bits
(always exact for 16-bit inputs then), else 32-bit float.

Ids: "Artist - Title" with every run of characters outside [A-Za-z0-9] replaced by '_' (accents
folded to ASCII first), e.g. "Johnny Lokke - Promises & Lies" -> Johnny_Lokke_Promises_Lies.
Each track is its own speaker. dev = the train tracks named in --dev-list (the 14-track
validation list of the musdb package by default); when none of them is present (a subset of
the corpus), a --dev-seed seeded pick of about 14 % of train. Tables: wav.scp (the mix),
vocals.scp, accompaniment.scp, [drums|bass|other].scp (HQ), utt2spk, spk2utt, utt2track (the
original name). No text: MUSDB18 has no lyrics.
"""

import argparse
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import soundfile as sf

from audiotok.data.kaldi_dir import write_data_dir
from audiotok.errors import UserError
from audiotok.fileio import atomic_path

HQ_STEMS = ("mixture", "vocals", "drums", "bass", "other")
MP4_STREAMS = {"mixture": 0, "vocals": 4}  # stream order of the NI stems format: mix, drums, bass, other, vocals
BLOCK = 1 << 20  # frames per block when subtracting


def track_id(name):
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", ascii_name).strip("_")


def find_tracks(root, split):
    """[(name, source, layout)] of one split folder, sorted by name."""
    d = Path(root) / split
    if not d.is_dir():
        raise UserError(f"{d}: not a directory (MUSDB18 needs train/ and test/ under {root})")
    tracks = []
    for p in sorted(d.iterdir()):
        if p.is_dir() and (p / "mixture.wav").exists():
            tracks.append((p.name, p, "hq"))
        elif p.is_file() and p.name.endswith(".stem.mp4"):
            tracks.append((p.name[:-len(".stem.mp4")], p, "mp4"))
    if not tracks:
        raise UserError(f"{d}: no tracks (neither '<Artist - Title>/mixture.wav' folders nor '*.stem.mp4' files)")
    return tracks


def pick_dev(train_names, dev_list, seed):
    listed = set(dev_list)
    dev = [n for n in train_names if n in listed]
    if not dev:
        n_dev = max(1, round(0.14 * len(train_names)))
        if len(train_names) < 2:
            raise UserError(f"MUSDB18 train/ holds {len(train_names)} track(s); need at least 2 to carve out dev")
        dev = sorted(random.Random(f"musdb18-dev:{seed}").sample(sorted(train_names), n_dev))
    if len(dev) == len(train_names):
        raise UserError("every train track is in the dev list; nothing left to train on")
    return set(dev)


def _link(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and os.readlink(dst) == str(src):
            return
        dst.unlink()
    dst.symlink_to(src)


def _decode_mp4(src, out_dir):
    """ffmpeg: the mixture and vocals streams of a .stem.mp4 -> 16-bit wavs (no dither)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=index",
                            "-of", "csv=p=0", str(src)], capture_output=True, text=True)
    n_streams = len(probe.stdout.split())
    if probe.returncode != 0 or n_streams < 5:
        raise UserError(f"{src}: not a MUSDB18 stems file (found {n_streams} audio streams, need 5)")
    outs = {}
    for stem, stream in MP4_STREAMS.items():
        dst = out_dir / f"{stem}.wav"
        with atomic_path(dst) as tmp:
            r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-map", f"0:a:{stream}",
                                "-c:a", "pcm_s16le", "-f", "wav", str(tmp)], capture_output=True, text=True)
            if r.returncode != 0:
                raise UserError(f"{src}: ffmpeg could not decode stream {stream}: {' '.join(r.stderr.split())[:200]}")
        outs[stem] = dst
    # AAC streams can differ by a few samples at the end: cut both to the shorter
    n = min(sf.info(str(p)).frames for p in outs.values())
    for p in outs.values():
        if sf.info(str(p)).frames != n:
            data, sr = sf.read(str(p), dtype="int16", frames=n, always_2d=True)
            with atomic_path(p) as tmp:
                sf.write(str(tmp), data, sr, format="WAV", subtype="PCM_16")
    return outs


def _check_pair(mix, voc):
    a, b = sf.info(str(mix)), sf.info(str(voc))
    if (a.samplerate, a.channels, a.frames) != (b.samplerate, b.channels, b.frames):
        raise UserError(f"{voc}: {b.samplerate} Hz, {b.channels} ch, {b.frames} frames does not match "
                        f"{mix}: {a.samplerate} Hz, {a.channels} ch, {a.frames} frames")
    return a


def write_accompaniment(mix, voc, dst):
    """dst = mix - voc, sample by sample; 16-bit when both are 16-bit and the difference fits."""
    info = _check_pair(mix, voc)
    ints = sf.info(str(mix)).subtype == "PCM_16" and sf.info(str(voc)).subtype == "PCM_16"
    dtype = "int16" if ints else "float64"

    def blocks():
        with sf.SoundFile(str(mix)) as fm, sf.SoundFile(str(voc)) as fv:
            while True:
                a = fm.read(BLOCK, dtype=dtype, always_2d=True)
                if not len(a):
                    return
                b = fv.read(len(a), dtype=dtype, always_2d=True)
                yield (a.astype(np.int32) - b.astype(np.int32)) if ints else (a - b)

    fits = ints and all(np.abs(d).max(initial=0) <= 32767 and d.min(initial=0) >= -32768 for d in blocks())
    subtype = "PCM_16" if fits else "FLOAT"
    with atomic_path(dst) as tmp:
        with sf.SoundFile(str(tmp), "w", info.samplerate, info.channels, subtype=subtype, format="WAV") as out:
            for d in blocks():
                out.write(d.astype(np.int16) if fits else (d / 32768.0 if ints else d).astype(np.float32))
    return subtype


def prepare_track(job):
    name, src, layout, audio_dir = job
    tid = track_id(name)
    out = Path(audio_dir) / tid
    out.mkdir(parents=True, exist_ok=True)
    if layout == "hq":
        for stem in HQ_STEMS:
            f = src / f"{stem}.wav"
            if not f.is_file():
                raise UserError(f"{f}: missing (every MUSDB18-HQ track folder needs {', '.join(HQ_STEMS)})")
            _link(f.resolve(), out / f"{stem}.wav")
    else:
        _decode_mp4(src, out)
    acc = out / "accompaniment.wav"
    fresh = acc.exists() and acc.stat().st_mtime >= max((out / f"{s}.wav").stat().st_mtime for s in MP4_STREAMS)
    if not (fresh and sf.info(str(acc)).frames == sf.info(str(out / "mixture.wav")).frames):
        write_accompaniment(out / "mixture.wav", out / "vocals.wav", acc)
    return tid, name, layout


def _job(job):
    try:
        return prepare_track(job), None
    except UserError as e:
        return None, str(e)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="MUSDB18 or MUSDB18-HQ folder holding train/ and test/")
    p.add_argument("data_dir", help="where train/, dev/, test/ are written")
    p.add_argument("--audio-dir", default=None,
                   help="per-track links and accompaniment (default DATA_DIR/musdb18_audio)")
    p.add_argument("--dev-list", default=str(Path(__file__).with_name("dev_tracks.txt")),
                   help="train tracks that form dev, one 'Artist - Title' per line")
    p.add_argument("--dev-seed", type=int, default=0, help="seed of the dev pick when no listed track is present")
    p.add_argument("--nj", type=int, default=4)
    args = p.parse_args(argv)
    prog = Path(sys.argv[0]).name
    try:
        run(args)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


def run(args):
    root, data = Path(args.root), Path(args.data_dir)
    if not root.is_dir():
        raise UserError(f"{root}: MUSDB18 not found (not a directory)")
    audio_dir = Path(args.audio_dir or data / "musdb18_audio").resolve()
    train, test = find_tracks(root, "train"), find_tracks(root, "test")
    if any(layout == "mp4" for _, _, layout in train + test) and shutil.which("ffmpeg") is None:
        raise UserError("ffmpeg: not found on PATH; the .stem.mp4 layout needs it (sudo apt-get install ffmpeg)")
    dev_list = []
    if args.dev_list:
        if not Path(args.dev_list).is_file():
            raise UserError(f"{args.dev_list}: dev list not found")
        dev_list = [ln.strip() for ln in Path(args.dev_list).read_text().splitlines() if ln.strip()]
    dev = pick_dev([n for n, _, _ in train], dev_list, args.dev_seed)
    jobs = [(n, src, layout, str(audio_dir)) for n, src, layout in train + test]
    ids = {}
    for n, _, _ in train + test:
        tid = track_id(n)
        if not tid or tid in ids:
            raise UserError(f"{root}: tracks '{n}' and '{ids.get(tid, '')}' give the same id '{tid}'")
        ids[tid] = n

    results, errors = [], []
    with multiprocessing.get_context("fork").Pool(max(1, min(args.nj, len(jobs)))) as pool:
        for i, (res, err) in enumerate(pool.imap(_job, jobs), 1):
            if err:
                errors.append(err)
            else:
                results.append(res)
            if i % 10 == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} tracks", file=sys.stderr)
    if errors:
        for e in errors[1:]:
            print(f"error: {e}", file=sys.stderr)
        raise UserError(errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} more, above)")

    split_of = {n: ("dev" if n in dev else "train") for n, _, _ in train}
    split_of.update({n: "test" for n, _, _ in test})
    for split in ("train", "dev", "test"):
        mine = [(tid, name, layout) for tid, name, layout in results if split_of[name] == split]
        path = {tid: audio_dir / tid for tid, _, _ in mine}
        stems = ["vocals", "accompaniment"]
        if all(layout == "hq" for _, _, layout in mine):
            stems += ["drums", "bass", "other"]
        write_data_dir(data / split,
                       wav={t: str(p / "mixture.wav") for t, p in path.items()},
                       utt2spk={t: t for t in path},
                       extra={s: {t: str(p / f"{s}.wav") for t, p in path.items()} for s in stems},
                       info={"utt2track": {t: name for t, name, _ in mine}})
        print(f"{data / split}: {len(mine)} tracks", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
