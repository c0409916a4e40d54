"""audiotok score-compare: is one system better than another on the same utterances, or is the gap noise?

Reads the per-utterance results of an `audiotok score --out DIR` (DIR/<system>/utt_result.jsonl) and,
for every system against the one named by --against, pairs the utterances both scored and reports per
metric: both means, the mean improvement (signed so that > 0 is better: lower mel distance, pitch error
and leakage; higher SI-SDR, PESQ and STOI), its 95 % bootstrap confidence interval over utterances
(scipy.stats.bootstrap, BCa), the share of utterances where the system wins, Wilcoxon's signed-rank
p-value, and a verdict: "better" or "worse" when the interval excludes 0, else "no clear difference".

Outputs: a Markdown table on stdout, DIR/compare_<against>.json, and with --results-md a section.
"""

import json
import math
from pathlib import Path

from audiotok.bin import command_line, entry
from audiotok.errors import UserError

DESCRIPTION = ("Paired comparison of systems scored by `audiotok score`: mean improvement per metric over "
               "the utterances both scored, its 95 % bootstrap interval, win share and Wilcoxon p, so that a "
               "gap is called better or worse only when the interval excludes zero.")

# metric -> +1 when higher is better, -1 when lower is
DIRECTION = {"mel": -1, "f0": -1, "leak": -1, "sisdr": 1, "pesq": 1, "stoi": 1}
LABEL = {"mel": "mel dist", "f0": "F0 err cents", "leak": "leak dB", "sisdr": "SI-SDR", "pesq": "PESQ-WB",
         "stoi": "STOI"}


def add_arguments(p):
    p.add_argument("--score-dir", required=True, metavar="DIR", help="an `audiotok score --out` folder")
    p.add_argument("--against", required=True, metavar="NAME", help="the system the others are compared with")
    p.add_argument("--systems", default=None, metavar="LIST",
                   help="comma separated systems to compare (default: every other system in DIR)")
    p.add_argument("--metrics", default=None, metavar="LIST",
                   help=f"comma separated subset of {','.join(DIRECTION)} (default: those both systems have)")
    p.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results-md", action="append", default=None, metavar="FILE",
                   help="add or replace a section of this RESULTS.md (repeatable)")
    p.add_argument("--section", default=None, metavar="TITLE",
                   help="section title in --results-md (default: 'paired comparison with AGAINST: DIR')")


def read_utterances(score_dir, system):
    """{uttid: {metric: value}} of one scored system (finite values of the metrics in DIRECTION only)."""
    path = Path(score_dir) / system / "utt_result.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no such file (is '{system}' a system of this score folder?)")
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = row["key"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path}:{n}: not a score result line (JSON with a 'key')") from None
        out[key] = {m: float(v) for m, v in row.items()
                    if m in DIRECTION and isinstance(v, (int, float)) and math.isfinite(v)}
    return out


def compare(hyp, ref, metric, resamples=9999, seed=0):
    """Paired statistics of `hyp` against `ref` ({uttid: {metric: value}}) on one metric."""
    import numpy as np
    from scipy import stats

    keys = sorted(k for k in hyp.keys() & ref.keys() if metric in hyp[k] and metric in ref[k])
    a = np.array([hyp[k][metric] for k in keys])
    b = np.array([ref[k][metric] for k in keys])
    gain = DIRECTION[metric] * (a - b)  # > 0: hyp better
    res = {"metric": metric, "n": len(keys), "mean": float(a.mean()) if keys else math.nan,
           "mean_against": float(b.mean()) if keys else math.nan,
           "gain": float(gain.mean()) if keys else math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "wins": float((gain > 0).mean()) if keys else math.nan, "p_wilcoxon": math.nan}
    if len(keys) >= 3 and np.ptp(gain) > 0:  # fewer utterances: no interval
        ci = stats.bootstrap((gain,), np.mean, n_resamples=resamples, confidence_level=0.95, method="BCa",
                             random_state=np.random.default_rng(seed)).confidence_interval
        res["ci_low"], res["ci_high"] = float(ci.low), float(ci.high)
        res["p_wilcoxon"] = float(stats.wilcoxon(gain).pvalue)
    elif len(keys) >= 3:  # every pair differs by the same amount: the interval is that amount
        res["ci_low"] = res["ci_high"] = res["gain"]
    res["verdict"] = verdict(res["ci_low"], res["ci_high"])
    return res


def verdict(low, high):
    if math.isnan(low) or math.isnan(high):
        return "too few utterances"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no clear difference"


def _fmt(v, f="{:.3f}"):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f.format(v)


def comparison_table(against, rows):
    out = [f"| system | metric | utts | mean | mean of {against} | gain (> 0: better) | 95 % CI | wins | "
           "Wilcoxon p | verdict |", "|" + "---|" * 10]
    for r in rows:
        out.append(f"| {r['system']} | {LABEL[r['metric']]} | {r['n']} | {_fmt(r['mean'])} | "
                   f"{_fmt(r['mean_against'])} | {_fmt(r['gain'])} | "
                   f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | {_fmt(r['wins'], '{:.0%}')} | "
                   f"{_fmt(r['p_wilcoxon'], '{:.3g}')} | {r['verdict']} |")
    return "\n".join(out)


def _systems(score_dir, against, spec):
    if spec:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        names = sorted(p.parent.name for p in Path(score_dir).glob("*/utt_result.jsonl"))
        names = [n for n in names if n != against]
    if not names:
        raise UserError(f"{score_dir}: no system to compare with '{against}'")
    return names


def run(args):
    from audiotok.fileio import atomic_write_text
    from audiotok.metrics.report import environment, environment_block, json_safe, write_section

    score_dir = Path(args.score_dir)
    if not score_dir.is_dir():
        raise UserError(f"{score_dir}: no such score folder")
    if args.resamples < 100:
        raise UserError(f"--resamples {args.resamples}: use at least 100")
    ref = read_utterances(score_dir, args.against)
    wanted = None
    if args.metrics:
        wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
        unknown = sorted(set(wanted) - set(DIRECTION))
        if unknown:
            raise UserError(f"--metrics: unknown {','.join(unknown)} (choose from {','.join(DIRECTION)})")
    rows = []
    for system in _systems(score_dir, args.against, args.systems):
        hyp = read_utterances(score_dir, system)
        have = {m for u in hyp.values() for m in u} & {m for u in ref.values() for m in u}
        for metric in (wanted or [m for m in DIRECTION if m in have]):
            if metric not in have:
                raise UserError(f"{score_dir}: '{system}' and '{args.against}' do not both have '{metric}'")
            rows.append({"system": system, **compare(hyp, ref, metric, args.resamples, args.seed)})
    table = comparison_table(args.against, rows)
    print(table)
    atomic_write_text(score_dir / f"compare_{args.against}.json",
                      json.dumps(json_safe({"against": args.against, "rows": rows}), indent=2) + "\n")
    if args.results_md:
        title = args.section or f"paired comparison with {args.against}: {score_dir}"
        notes = ["gain: the system's mean improvement over the utterances both scored (lower mel distance, "
                 "pitch error and leakage, higher SI-SDR, PESQ and STOI count as > 0); 95 % CI: BCa bootstrap "
                 f"over utterances ({args.resamples} resamples); wins: share of utterances where the system "
                 "is better; verdict: better or worse only when the interval excludes 0"]
        body = "\n".join([f"## {title}", "", environment_block(environment(command_line(args))), "",
                          "### Paired differences", "", table, ""] + [f"- {n}" for n in notes])
        for path in args.results_md:
            write_section(path, title, body)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(entry(__name__))
