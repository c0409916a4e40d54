"""The shipped speech LM end to end: real-time factors of ASR and TTS next to their peers, in one run.

What `audiotok asr` and `audiotok tts` run with no --model (speech-lm-v1 with its codec
speech-25hz-v2, trained weights, int8 stored, float32 compute), timed after one warm-up call:

  * ASR: codec encoding of the audio, then the LM's text decoding (greedy, and beam 4 as
    `make try` runs it), against Whisper tiny.en (faster-whisper int8, beam 5, the recogniser of
    `audiotok score`) and pocketsphinx on the same files. x real time = audio seconds / wall seconds.
  * TTS: the LM writes the semantic tokens (5 Hz groups, paced text slots), the acoustic stage
    infills the voice of a prompt, the codec decodes; one text per call (as `audiotok tts "..."`) and
    all texts in one batched call. Against espeak-ng and flite on the same texts (whole command runs,
    process start included). x real time = seconds of speech made / wall seconds.

The input speech is espeak-ng's en-us+m3 reading the texts (any voice times the same). Quality is
not measured here: egs/mini_synth/lm1/RESULTS.md has the WERs.

    python -m bench.bench_speechlm [--quick]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import common

NAME = "speechlm"
TITLE = "Shipped speech LM end to end: ASR and TTS real time factors"
TEXTS = [
    "we should finish this work before the end of the week",
    "she opened the window and looked at the garden",
    "the train to the city leaves every morning at seven",
    "please put the blue books back on the top shelf",
    "a small dog was sleeping in the warm afternoon sun",
    "they walked along the river until it was dark",
]


def _speak(tool, text, path):
    """Run a classical synthesiser; returns its wall seconds (process start included)."""
    cmd = (["espeak-ng", "-v", "en-us+m3", "-w", str(path), text] if tool == "espeak-ng"
           else ["flite", "-voice", "kal", "-o", str(path), "-t", text])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def _seconds(path):
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def bench_asr(res, slm, wavs, audio_s, quick):
    from audiotok.audio import read_audio
    from audiotok.metrics.wer import transcribe

    slm.asr(wavs[0])  # warm-up
    for beam in (1,) if quick else (1, 4):
        t0 = time.perf_counter()
        slm.asr(wavs, beam_size=beam)
        wall = time.perf_counter() - t0
        st = slm.last_stats
        res.add(kind="asr", system=f"audiotok speech-lm-v1 ({'greedy' if beam == 1 else f'beam {beam}'})",
                utts=len(wavs), audio_s=audio_s, wall_s=wall, xrt=audio_s / wall, encode_s=st["encode_seconds"],
                lm_s=st["lm_seconds"])
    audio = [read_audio(w) for w in wavs]
    for asr, label in (("whisper", "Whisper tiny.en (faster-whisper int8)"), ("pocketsphinx", "pocketsphinx")):
        transcribe(audio[0][0], audio[0][1], asr=asr)  # warm-up: loads the model
        t0 = time.perf_counter()
        for wav, sr in audio:
            transcribe(wav, sr, asr=asr)
        wall = time.perf_counter() - t0
        res.add(kind="asr", system=label, utts=len(wavs), audio_s=audio_s, wall_s=wall, xrt=audio_s / wall)


def bench_tts(res, slm, texts, prompt, tmp, quick):
    cap = 2.0 if quick else None
    slm.tts(texts[0], prompt=prompt, seed=0, max_seconds=cap)  # warm-up
    runs = [("one text per call", [[t] for t in texts])]
    if not quick:
        runs.append(("all texts in one call (batch 8)", [texts]))
    for mode, calls in runs:
        totals = {"lm_seconds": 0.0, "acoustic_seconds": 0.0, "decode_seconds": 0.0, "audio_seconds": 0.0,
                  "lm_steps": 0}
        t0 = time.perf_counter()
        for call in calls:
            slm.tts(call, prompt=prompt, seed=0, max_seconds=cap)
            for k in totals:
                totals[k] += slm.last_stats[k]
        wall = time.perf_counter() - t0
        res.add(kind="tts", system=f"audiotok speech-lm-v1, {mode}", texts=len(texts), speech_s=totals["audio_seconds"],
                wall_s=wall, xrt=totals["audio_seconds"] / wall, lm_s=totals["lm_seconds"],
                acoustic_s=totals["acoustic_seconds"], decode_s=totals["decode_seconds"],
                lm_positions=totals["lm_steps"],
                lm_positions_per_speech_s=totals["lm_steps"] / max(totals["audio_seconds"], 1e-9))
    for tool in ("espeak-ng", "flite"):
        wall = speech = 0.0
        for i, text in enumerate(texts):
            path = tmp / f"{tool}_{i}.wav"
            wall += _speak(tool, text, path)
            speech += _seconds(path)
        res.add(kind="tts", system=f"{tool} ({'en-us+m3' if tool == 'espeak-ng' else 'kal'})", texts=len(texts),
                speech_s=speech, wall_s=wall, xrt=speech / wall)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    common.setup(args)
    import json

    from audiotok.pretrained import shipped_dir
    from audiotok.speechlm import SpeechLM

    res = common.Result(NAME, TITLE, "bench.bench_speechlm", argv, args.device)
    texts = TEXTS[:1] if args.quick else TEXTS
    model_dir = shipped_dir("lm")
    slm = SpeechLM.from_pretrained(model_dir, device=args.device)
    meta = json.loads((model_dir / "meta.json").read_text())
    res.note(f"model: {meta.get('name')} version {meta.get('version')} with its codec {meta.get('codec', '?')}; "
             f"{sum(p.numel() for p in slm.lm.parameters()) / 1e6:.1f} M LM parameters, grouping g={slm.g}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        wavs = []
        for i, text in enumerate(texts):
            wavs.append(str(tmp / f"in_{i}.wav"))
            _speak("espeak-ng", text, wavs[-1])
        audio_s = sum(_seconds(w) for w in wavs)
        with torch.inference_mode():
            bench_asr(res, slm, wavs, audio_s, args.quick)
            bench_tts(res, slm, texts, wavs[0], tmp, args.quick)
    if args.quick:
        res.note("--quick: one text, greedy ASR only, speech capped at 2 s; the figures mean little")
    res.write(args.out, render)
    return 0


def render(data):
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    out += [f"- {n}" for n in data["notes"]] + [""]
    asr = [r for r in data["rows"] if r["kind"] == "asr"]
    if asr:
        out += [f"ASR of {asr[0]['utts']} utterances ({asr[0]['audio_s']:.1f} s of espeak-ng speech), batch as "
                "`audiotok asr` runs it:", ""]
        out.append(common.md_table(
            ["system", "wall (s)", "x real time", "codec encode (s)", "LM (s)"],
            [[r["system"], r["wall_s"], r["xrt"], r.get("encode_s"), r.get("lm_s")] for r in asr]))
    tts = [r for r in data["rows"] if r["kind"] == "tts"]
    if tts:
        out += ["", f"TTS of {tts[0]['texts']} texts (ours: greedy semantic tokens, tts's default; the acoustic "
                "stage drawn with seed 0; the first input as the voice prompt):", ""]
        out.append(common.md_table(
            ["system", "speech made (s)", "wall (s)", "x real time", "LM (s)", "acoustic stage (s)", "codec decode (s)",
             "LM positions per s of speech"],
            [[r["system"], r["speech_s"], r["wall_s"], r["xrt"], r.get("lm_s"), r.get("acoustic_s"), r.get("decode_s"),
              r.get("lm_positions_per_speech_s")] for r in tts]))
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
