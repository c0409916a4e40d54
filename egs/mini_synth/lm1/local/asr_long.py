#!/usr/bin/env python3
"""ASR of recordings unlike the corpus's utterances: with more silence at the ends, and paragraphs.

The corpus's utterances are trimmed and padded with 0.15 s of silence at each end. From a test set, per
speaker its first N utterances (sorted): each alone, with 0.1 s and 0.25 s more silence at each end, and
the N joined into one paragraph with 0.2 s of silence between them (as local/tts_paragraphs.sh joins them).
Each is transcribed by the LM (beam 4) as `asr` reads audio (in pieces, with the corpus's edges) and as it
is (`--raw-audio`). Prints a Markdown table of WER (Whisper-normalised text).
  local/asr_long.py [--set test_9perspk] [--per-spk 3] MODEL
"""

import argparse
import subprocess

import jiwer
import numpy as np
import torch

from audiotok.audio import read_audio
from audiotok.data.kaldi_dir import load_data_dir
from audiotok.metrics.wer import normalize_text
from audiotok.pretrained import resolve_model
from audiotok.speechlm import SpeechLM


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--set", default="test_9perspk")
    p.add_argument("--per-spk", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    slm = SpeechLM.from_pretrained(resolve_model(args.model))
    sr = slm.codec.sample_rate
    d = load_data_dir(f"dump/raw/{args.set}")
    groups = [sorted(d.spk2utt[s])[:args.per_spk] for s in sorted(d.spk2utt)]
    groups = [g for g in groups if len(g) == args.per_spk]
    utts = [u for g in groups for u in g]
    audio = {u: read_audio(d.wav[u], target_sr=sr)[0][0].numpy() for u in utts}
    refs = {u: normalize_text(d.text[u]) for u in utts}

    def padded(x, seconds):
        z = np.zeros(int(seconds * sr), dtype=np.float32)
        return np.concatenate([z, x, z])

    gap = np.zeros(int(0.2 * sr), dtype=np.float32)
    cases = [(f"each utterance, {s} s more silence at each end", [padded(audio[u], s) for u in utts],
              [refs[u] for u in utts]) for s in (0.0, 0.1, 0.25)]
    cases.append((f"{len(groups)} paragraphs of {args.per_spk} utterances, 0.2 s between",
                   [np.concatenate([y for u in g for y in (audio[u], gap)][:-1]) for g in groups],
                   [" ".join(refs[u] for u in g) for g in groups]))
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"ASR of {args.set} by {args.model} (beam 4, git {git}): WER %\n")
    print("| input | items | as `asr` reads audio (pieces) | as it is (`--raw-audio`) |")
    print("|---|---|---|---|")
    for name, wavs, ref in cases:
        row = [name, str(len(wavs))]
        for raw in (False, True):
            hyp = slm.asr([torch.from_numpy(w) for w in wavs], sr=sr, beam_size=4, raw_audio=raw)
            pieces = "" if raw else f" ({slm.last_stats['pieces']} pieces)"
            row.append(f"{100 * jiwer.wer(ref, [normalize_text(h) for h in hyp]):.1f}{pieces}")
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
