"""Phoneme transcripts for mini_synth (a CTC content target), made by espeak-ng.

Every transcript is phonemised with one fixed reference voice (en-us) whatever voice spoke
it, so the phone set is the same for all speakers. espeak-ng's ASCII phoneme mnemonics (-x)
are used with stress marks (' ,), length marks (:) and other marks (% = ;) stripped
and pauses (_) dropped, which leaves a fixed inventory of about fifty symbols. Word
boundaries are not kept.

espeak-ng is a subprocess per call, so sentences are sent in batches of BATCH, one per
line, each ending in a full stop: espeak-ng then writes one output line per sentence. A
batch whose line count does not match falls back to one call per sentence.
"""

import subprocess

from audiotok.errors import UserError

REFERENCE_VOICE = "en-us"
BATCH = 400
_STRIP = str.maketrans("", "", "',%=:;")


def normalise(mnemonics):
    """espeak-ng -x output for one sentence -> list of phone symbols."""
    out = []
    for tok in mnemonics.split():
        if tok.startswith("_"):
            continue
        tok = tok.translate(_STRIP)
        if tok:
            out.append(tok)
    return out


def _espeak(lines):
    cmd = ["espeak-ng", "-q", "-x", "--sep= ", "-v", REFERENCE_VOICE]
    text = "".join(f"{line.lower()}.\n" for line in lines)
    out = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if out.returncode != 0:
        raise UserError(f"espeak-ng -x failed (exit {out.returncode}): {' '.join(out.stderr.split())[:300]}")
    return [ln for ln in out.stdout.splitlines() if ln.strip()]


def phonemise(transcripts, map_fn=map):
    """{transcript: [phones]} for the distinct transcripts given (upper-case words).

    `map_fn` runs the batches (e.g. a thread pool's map); results do not depend on it."""
    unique = sorted(set(transcripts))
    batches = [unique[i:i + BATCH] for i in range(0, len(unique), BATCH)]
    result = {}
    for batch, lines in zip(batches, map_fn(_espeak, batches)):
        if len(lines) != len(batch):  # espeak-ng split or merged a line: go one by one
            lines = [" ".join(_espeak([t])) for t in batch]
        for t, line in zip(batch, lines):
            phones = normalise(line)
            if not phones:
                raise UserError(f"espeak-ng gave no phonemes for {t!r}")
            result[t] = phones
    return result


def inventory(phone_lists):
    """Sorted distinct symbols (C byte order), for phones.txt."""
    return sorted({p for phones in phone_lists for p in phones})
