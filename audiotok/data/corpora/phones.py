"""Phoneme transcripts for mini_synth (a CTC content target), made by espeak-ng.

Every transcript is phonemised with one fixed reference voice (en-us) whatever voice spoke
it, so the phone set is the same for all speakers. espeak-ng's ASCII phoneme mnemonics (-x)
are used with stress marks (' ,), length marks (:) and other marks (% = ;) stripped
and pauses (_) dropped. What is left belongs to the fixed INVENTORY of 63 symbols (all that
espeak-ng 1.51 en-us gives over the generator's whole vocabulary and tens of thousands of its
sentences; allophones such as the flapped t# or the reduced @2 are kept apart): phones.txt is
always this list, so a CTC output layer has the same size for every corpus. A symbol outside
it loses its variant mark (a trailing digit, # or -) or, failing that, is an error. Word
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
INVENTORY = tuple(sorted("""
    0 3 ? @ @- @2 @L A A@ D E I I# I2 N O O2 O@ OI S T U U@ V Z a a# aI aI3 aI@ aU aa b d dZ
    e@ eI f g h i i@ i@3 j k l m n n- o@ oU p r r- s t t# t2 tS u v w z
""".split()))
_KNOWN = frozenset(INVENTORY)


def normalise(mnemonics):
    """espeak-ng -x output for one sentence -> list of phone symbols."""
    out = []
    for tok in mnemonics.split():
        if tok.startswith("_"):
            continue
        tok = tok.translate(_STRIP)
        if tok and tok not in _KNOWN:
            base = tok.rstrip("0123456789#-")
            if base not in _KNOWN:
                raise UserError(f"espeak-ng gave the phoneme {tok!r}, outside mini_synth's inventory, in {mnemonics!r}")
            tok = base
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


def inventory():
    """The phone symbols in C byte order, for phones.txt."""
    return list(INVENTORY)
