"""An evaluation set read by voices that mini_synth never uses: flite's kal, kal16 and slt.

The corpus trains on espeak-ng voices and flite's awb (rms is test only); these three flite voices
are reserved for evaluation (voices.RESERVED_FLITE_VOICES). Reading the sentences of a held-out
split with them gives a set of unseen voices from an engine family the models heard little of,
the "unseen synthesis engine" condition of the ASR and codec scores.

Each sentence is read once, by the voices in turn, as flite ships them (no pitch, rate or timbre
change), then trimmed, resampled and peak-normalised as the corpus is. Speaker ids have one length
(r-kal00, r-kal16, r-slt00) and utterance ids start with them (Kaldi sort order).
"""

import os
import tempfile
import wave
from pathlib import Path

from audiotok.data.corpora.mini_synth import _run, check_tools, postprocess_command
from audiotok.data.corpora.voices import RESERVED_FLITE_VOICES
from audiotok.errors import UserError

GENDER = {"kal": "m", "kal16": "m", "slt": "f", "awb": "m", "rms": "m"}


def speaker_id(voice):
    return "r-" + voice[:3] + (voice[3:] or "00")


def unique_sentences(text_file, n):
    """The first `n` distinct transcripts of a Kaldi text file, in file order."""
    path = Path(text_file)
    if not path.is_file():
        raise UserError(f"{path}: no such text file")
    seen, out = set(), []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1] not in seen:
            seen.add(parts[1])
            out.append(parts[1])
    if not out:
        raise UserError(f"{path}: no transcripts")
    return out[:n]


def _read_one(job):
    voice, transcript, out_path, sample_rate = job
    from audiotok.fileio import atomic_path

    fd, raw = tempfile.mkstemp(prefix="eval_voices.", suffix=".wav")
    os.close(fd)
    try:
        # flite reads all-capital words as words, but lower case is its common input
        _run(["flite", "-voice", voice, "-o", raw, "-t", transcript.lower()])
        with atomic_path(out_path) as tmp:
            _run(postprocess_command(raw, tmp, sample_rate))
            with wave.open(str(tmp), "rb") as w:
                return w.getnframes() / float(w.getframerate())
    finally:
        os.unlink(raw)


def build_eval_set(text_file, out_dir, n_utts=120, sample_rate=16000, voices=RESERVED_FLITE_VOICES, nj=1):
    """Write the Kaldi data dir `out_dir` (audio in out_dir/wav); returns (utterances, seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    from audiotok.data.kaldi_dir import validate_data_dir, write_data_dir

    if n_utts < 1:
        raise UserError(f"--utts must be at least 1, got {n_utts}")
    unknown = [v for v in voices if v not in GENDER]
    if unknown:
        raise UserError(f"unknown flite voice(s) {', '.join(unknown)} (known: {', '.join(sorted(GENDER))})")
    check_tools()
    sentences = unique_sentences(text_file, n_utts)
    out_dir = Path(out_dir)
    (out_dir / "wav").mkdir(parents=True, exist_ok=True)
    jobs, utt2spk, text = [], {}, {}
    for i, sentence in enumerate(sentences):
        voice = voices[i % len(voices)]
        spk = speaker_id(voice)
        utt = f"{spk}-{i:05d}"
        jobs.append((voice, sentence, out_dir / "wav" / f"{utt}.wav", sample_rate))
        utt2spk[utt], text[utt] = spk, sentence
    if nj > 1:
        with ThreadPoolExecutor(nj) as pool:  # the work is in the flite and sox child processes
            seconds = list(pool.map(_read_one, jobs))
    else:
        seconds = [_read_one(j) for j in jobs]
    utts = list(utt2spk)
    write_data_dir(out_dir, {u: str(j[2].resolve()) for u, j in zip(utts, jobs)}, utt2spk, text=text,
                   info={"utt2dur": {u: f"{s:.3f}" for u, s in zip(utts, seconds)},
                         "spk2gender": {speaker_id(v): GENDER[v] for v in voices}})
    problems = validate_data_dir(out_dir)
    if problems:
        raise RuntimeError(f"eval_voices wrote an invalid data dir {out_dir}: {problems[0]}")
    return len(utts), sum(seconds)


__all__ = ["build_eval_set", "unique_sentences", "speaker_id"]
