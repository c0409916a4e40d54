"""The score stage of the LM recipe (recipes/lm1/lm.sh), called as `python -m audiotok.bin.lm_report`:
reads what the earlier stages wrote, times a few training steps, and writes a RESULTS.md section.

    --asr NAME=DIR     an `audiotok asr --data-dir` output (DIR/text, DIR/stats.json) of one LM on the
                       reference audio: the ASR table (sclite layout) and the rate/throughput table
    --seen NAME=DIR    the same for utterances the LM was trained on (--seen-data: their data dir): a check
                       that training worked, apart from how well it generalises
    --tts NAME=DIR     an `audiotok tts --data-dir` output (DIR/stats.json): TTS throughput
    --judge NAME=TEXT  our ASR's transcripts of one audio set (ground truth, codec resynthesis,
                       each TTS output): the intelligibility table
    --recognisers DIR  an `audiotok score --metrics wer` output whose systems carry the --judge names:
                       the WER of each of its recognisers (Whisper, pocketsphinx) next to ours; its
                       `original` system is the ground truth. TTS is judged by these, never by our own
                       ASR alone. (--pocketsphinx is its older name.)
    --train NAME=EXP   a trained LM exp dir: `--train-steps` optimizer steps on batches of its own
                       training data are timed, the same batches for every model

Also writes --json (every number). Throughput on a shared CPU is noisy: compare rows of one run.
"""

import json
import math
import sys
import time
from pathlib import Path

from audiotok.bin import command_line, entry
from audiotok.errors import UserError

DESCRIPTION = "Tables of the LM recipe: ASR WER, TTS intelligibility, LM rates and throughput (RESULTS.md)."


def add_arguments(p):
    p.add_argument("--ref-data", required=True, help="reference data dir (its text file)")
    p.add_argument("--asr", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--seen", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--seen-data", default=None, help="data dir of the --seen utterances (their text)")
    p.add_argument("--tts", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--judge", action="append", default=[], metavar="NAME=TEXT")
    p.add_argument("--judge-model", default=None, help="which LM made the --judge transcripts (for the notes)")
    p.add_argument("--recognisers", "--pocketsphinx", dest="recognisers", default=None, metavar="SCORE_DIR")
    p.add_argument("--codec", default=None, help="the codec model dir (described under Models)")
    p.add_argument("--train", action="append", default=[], metavar="NAME=EXP")
    p.add_argument("--train-steps", type=int, default=8, help="timed optimizer steps per --train model")
    p.add_argument("--results-md", required=True, action="append",
                   help="RESULTS.md to add/replace the section in (repeatable: the exp's and the recipe's)")
    p.add_argument("--section", required=True, help="section title")
    p.add_argument("--command", default=None, help="the command line to show (default: this one)")
    p.add_argument("--json", default=None, help="also write every number here")


def _pairs(values, option):
    out = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name or not value:
            raise UserError(f"{option} {v!r}: expected NAME=VALUE")
        if name in out:
            raise UserError(f"{option}: '{name}' given twice")
        out[name] = value
    return out


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing (run the stage that writes it)") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not readable JSON ({e})") from None


def _read_text(path):
    from audiotok.data.kaldi_table import read_scp

    if not Path(path).is_file():
        raise UserError(f"{path}: missing (run the stage that writes it)")
    return read_scp(path)


def _fmt(v, f="{:.1f}"):
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f.format(v)


def _model_meta(model_path):
    p = Path(model_path)
    for cand in (p / "meta.json", p / "model" / "meta.json"):
        if cand.is_file():
            return _read_json(cand)
    return {}


# ---------------------------------------------------------------- training throughput
def time_training(exp, steps, seed=0):
    """Optimizer steps/s of an LM exp dir on fixed batches of its training data (weights do not
    matter for speed). Returns steps/s, speech seconds and LM positions per step."""
    import random

    import torch

    from audiotok.config import load_config
    from audiotok.models.loading import load_model
    from audiotok.registry import dataset_class

    exp = Path(exp)
    cfg = load_config(exp / "config.yaml")
    model = load_model(exp).train()
    meta = getattr(model, "meta", {})
    train_data = meta.get("training_data")
    if not train_data or not Path(train_data).is_dir():
        raise UserError(f"{exp}: its model meta names no readable training data ({train_data})")
    conf = {k: v for k, v in (cfg.get("dataset_conf") or {}).items() if k != "vocab"}
    ds = dataset_class(cfg["dataset"])(train_data, vocab=model.vocab, train=True, seed=seed, **conf)
    bs = int(cfg.get("batch_size", 8))
    rng = random.Random(seed)
    order = list(range(len(ds)))
    rng.shuffle(order)
    batches = [ds.collate([ds[i] for i in (order * (1 + bs * (steps + 1) // len(order)))[k * bs:(k + 1) * bs]])
               for k in range(steps + 1)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    g, fr = model.g, model.frame_rate

    def positions(batch):
        n = 0
        for task, T, L in zip(batch["task"].tolist(), batch["semantic_len"].tolist(), batch["text_len"].tolist()):
            if task == 0:  # <asr> groups <sos_text> text (+ eos target)
                n += 2 + math.ceil(T / g) + L
            elif task == 1:  # <tts> text <sos_speech> groups
                n += 2 + L + math.ceil((T + 1) / g) - 1
            else:  # <acoustic> frames: the acoustic stage is never grouped
                n += 1 + T
        return n

    def step(batch):
        out = model.forward_train(batch, 0)
        loss, _ = model.generator_loss(batch, out, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(batches[0])  # warm-up (allocations, first-call costs)
    t0 = time.perf_counter()
    for b in batches[1:]:
        step(b)
    dt = time.perf_counter() - t0
    n_pos = sum(positions(b) for b in batches[1:])
    speech = sum(int(b["semantic_len"].sum()) for b in batches[1:]) / fr
    return {"steps": steps, "seconds": dt, "steps_per_s": steps / dt, "batch_size": bs,
            "speech_seconds_per_s": speech / dt, "positions_per_step": n_pos / steps,
            "group_size": g, "frame_rate": fr, "training_steps": meta.get("steps")}


# ---------------------------------------------------------------- tables
def asr_table(ref, asr, originals):
    """`originals`: {recogniser label: its sclite counts on the reference audio} (reference rows)."""
    from audiotok.metrics.wer import SCLITE_HEADER, sclite_row, wer_table

    rows, res = [SCLITE_HEADER], {}
    for name, d in asr.items():
        t = wer_table(ref, _read_text(Path(d) / "text"))
        res[name] = {k: v for k, v in t.items() if k != "missing"}
        rows.append(sclite_row(name, t))
    for label, counts in originals.items():
        rows.append(sclite_row(f"{label} (reference recogniser)", counts))
        res[_short(label)] = counts
    return "\n".join(rows), res


def _short(label):
    """'whisper tiny.en' -> 'whisper' (JSON keys), 'pocketsphinx' -> 'pocketsphinx'."""
    return label.split()[0]


def intelligibility_table(ref, judges, recognisers):
    """`recognisers`: {label: {audio set name: {wer, cer, ...}}} from an `audiotok score` run."""
    from audiotok.metrics.wer import wer_table

    head = ["audio", "utts", "WER % (our ASR)", "CER % (our ASR)"]
    for label in recognisers:
        head += [f"WER % ({label})", f"CER % ({label})"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    res = {}
    for name, path in judges.items():
        hyp = _read_text(path)
        refs = {u: ref[u] for u in hyp if u in ref}
        if not refs:
            raise UserError(f"{path}: none of its utterances are in the reference text")
        ours = wer_table(refs, hyp)
        res[name] = {"utts": len(refs), "wer_ours": ours["wer"], "cer_ours": ours["cer"]}
        cells = [name, str(len(refs)), _fmt(ours["wer"]), _fmt(ours["cer"])]
        for label, by_set in recognisers.items():
            p = by_set.get(name, {})
            res[name].update({f"wer_{_short(label)}": p.get("wer"), f"cer_{_short(label)}": p.get("cer")})
            cells += [_fmt(p.get("wer")), _fmt(p.get("cer"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), res


def rate_table(asr, tts, trained):
    names = list(dict.fromkeys([*asr, *tts, *trained]))
    lines = ["| LM | g | codec Hz | LM Hz | ASR: speech positions / s | ASR: all positions / s | ASR LM x real time "
             "| TTS: LM steps / s of speech | TTS x real time | train steps / s | train: speech s / s "
             "| train positions / step |", "|---" * 12 + "|"]
    res = {}
    for n in names:
        a = _read_json(Path(asr[n]) / "stats.json") if n in asr else {}
        t = _read_json(Path(tts[n]) / "stats.json") if n in tts else {}
        tr = trained.get(n, {})
        g = a.get("group_size") or t.get("group_size") or tr.get("group_size")
        fr = a.get("frame_rate") or t.get("frame_rate") or tr.get("frame_rate")
        r = {"group_size": g, "frame_rate": fr, "lm_rate_hz": fr / g if g and fr else None}
        if a:
            r.update(asr_speech_positions_per_s=a["speech_positions"] / a["audio_seconds"],
                     asr_positions_per_s=a["lm_positions"] / a["audio_seconds"],
                     asr_lm_xrt=a["audio_seconds"] / max(a["lm_seconds"], 1e-9))
        if t:
            busy = t["lm_seconds"] + t["acoustic_seconds"] + t["decode_seconds"]
            r.update(tts_steps_per_s=t["lm_steps"] / max(t["audio_seconds"], 1e-9),
                     tts_xrt=t["audio_seconds"] / max(busy, 1e-9))
        if tr:
            r.update(train_steps_per_s=tr["steps_per_s"], train_speech_s_per_s=tr["speech_seconds_per_s"],
                     train_positions_per_step=tr["positions_per_step"])
        res[n] = r
        cells = [n, _fmt(g, "{}"), _fmt(fr, "{:g}"), _fmt(r["lm_rate_hz"], "{:g}"),
                 _fmt(r.get("asr_speech_positions_per_s"), "{:.2f}"), _fmt(r.get("asr_positions_per_s"), "{:.2f}"),
                 _fmt(r.get("asr_lm_xrt"), "{:.1f}"), _fmt(r.get("tts_steps_per_s"), "{:.2f}"),
                 _fmt(r.get("tts_xrt"), "{:.2f}"), _fmt(r.get("train_steps_per_s"), "{:.2f}"),
                 _fmt(r.get("train_speech_s_per_s"), "{:.1f}"), _fmt(r.get("train_positions_per_step"), "{:.0f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), res


def codec_line(codec_dir):
    from audiotok.train.checkpoint import weights_step

    m = _model_meta(codec_dir)
    if not m:
        raise UserError(f"{codec_dir}: not a codec model dir (no meta.json)")
    streams = " + ".join(f"{s['name']} {s['n_codebooks']}x{s['codebook_size']}" for s in m.get("streams", []))
    best = m.get("best_metric") or {}
    trained = f", trained {weights_step(m)} steps" if weights_step(m) else ""
    valid = f" (valid {best['name']} {best['value']:.3g})" if best.get("name") else ""
    return (f"codec: {m.get('model_id')} ({m.get('model_type')}, {m.get('frame_rate'):g} Hz, {streams}"
            f"{trained}{valid}); its tokens are what every LM here reads and writes")


def setup_table(asr, trained_exps):
    from audiotok.train.checkpoint import weights_step

    lines = ["| LM | model id | parameters | g | grouping | training steps | training data |",
             "|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys([*asr, *trained_exps]):
        src = trained_exps.get(name) or _read_json(Path(asr[name]) / "stats.json").get("model")
        m = _model_meta(src) if src else {}
        lines.append(f"| {name} | {m.get('model_id', '—')} | {_fmt(m.get('parameters'), '{:,}')} "
                     f"| {m.get('group_size', '—')} | {m.get('grouping', '—')} | {weights_step(m) or '—'} "
                     f"| {m.get('training_data', '—')} |")
    return "\n".join(lines)


def _recognisers(score_dir, names):
    """{recogniser label: {system: {wer, cer, sclite counts}}} of an `audiotok score` output (every
    recogniser it ran, in its order: Whisper first when it ran)."""
    out = {}
    if score_dir is None:
        return out
    for name in names:
        f = Path(score_dir) / name / "avg_result.json"
        if not f.is_file():
            continue
        avg = _read_json(f)
        by = avg.get("by_asr") or {avg.get("asr") or "pocketsphinx": avg}
        for label, v in by.items():
            out.setdefault(label, {})[name] = {"wer": v.get("wer"), "cer": v.get("cer"), **(v.get("sclite") or {})}
    return out


def run(args):
    from audiotok.data.kaldi_dir import load_data_dir
    from audiotok.fileio import atomic_write_text
    from audiotok.metrics import report

    ref = load_data_dir(args.ref_data).text
    if not ref:
        raise UserError(f"{args.ref_data}/text: missing or empty")
    asr, tts = _pairs(args.asr, "--asr"), _pairs(args.tts, "--tts")
    judges, train = _pairs(args.judge, "--judge"), _pairs(args.train, "--train")
    if args.train_steps < 1:
        raise UserError(f"--train-steps must be >= 1, got {args.train_steps}")
    recognisers = _recognisers(args.recognisers, set(judges) | {"original"})
    originals = {label: by["original"] for label, by in recognisers.items()
                 if "wrd" in by.get("original", {})}
    trained = {n: time_training(e, args.train_steps) for n, e in train.items()}

    parts, numbers = [], {}
    parts.append(("Models", setup_table(asr, train)))
    if asr:
        text, numbers["asr"] = asr_table(ref, asr, originals)
        parts.append(("ASR on the test set (WER %, sclite layout)", text))
    seen = _pairs(args.seen, "--seen")
    if seen:
        if not args.seen_data:
            raise UserError("--seen needs --seen-data (the data dir of those utterances)")
        seen_ref = load_data_dir(args.seen_data).text or {}
        text, numbers["asr_seen"] = asr_table(seen_ref, seen, {})
        parts.append((f"ASR on {len(seen_ref)} training utterances (seen in training: did the LM learn?)", text))
    if judges:
        text, numbers["intelligibility"] = intelligibility_table(ref, judges, recognisers)
        parts.append(("TTS intelligibility", text))
    text, numbers["rates"] = rate_table(asr, tts, trained)
    parts.append(("LM positions per second of speech and throughput", text))
    numbers["training_timing"] = trained

    notes = [codec_line(args.codec)] if args.codec else []
    if judges:
        notes.append(f"'our ASR' is {args.judge_model or 'the first LM'} transcribing each audio set; TTS texts are "
                     "the test transcripts, each spoken in the voice of a test utterance of another speaker")
    if any(label.startswith("whisper") for label in recognisers):
        notes.append("TTS is judged by Whisper (faster-whisper, int8, beam 5), a recogniser independent of our LM")
    if "pocketsphinx" in recognisers:
        notes.append("pocketsphinx: its bundled en-us model (a weak recogniser: compare rows, not absolute values)")
    if trained:
        notes.append("train columns: the same batches of the training data timed for every LM "
                     f"({args.train_steps} AdamW steps after one warm-up step, this machine, one process)")
    notes.append("LM Hz = codec frame rate / g: the positions the LM spends per second of speech; the acoustic "
                 "(MaskGIT) stage always works at the codec rate")
    env = report.environment(args.command or command_line(args))
    body = [f"## {args.section}", "", report.environment_block(env)]
    for heading, text in parts:
        body += ["", f"### {heading}", "", text]
    body += [""] + [f"- {n}" for n in notes]
    for path in args.results_md:
        report.write_section(path, args.section, "\n".join(body))
    if args.json:
        atomic_write_text(args.json, json.dumps(numbers, indent=2, default=str) + "\n")
    for heading, text in parts:
        print(f"{heading}\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
