"""audiotok curves: validation quality against CPU hours, from the valid_history.jsonl of exp dirs.

    audiotok curves EXP [EXP ...] [--summary] [--png plot.png] [--results-md RESULTS.md --section TITLE]

Without --summary: one table per exp, a row per validation (the curve a laptop user reads to decide
how long to train). With --summary: one row per exp, its last validation (the design race: equal
CPU budgets side by side). --png draws the chosen metrics against CPU hours (needs matplotlib).
"""

import json
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = "Tabulate (and plot) validation quality against CPU hours from training exp dirs."
AXES = (("cpu_hours", "CPU h", "{:.3f}"), ("step", "step", "{:d}"))
# a table shows the metrics its exps logged: a codec's, an LM's, or both
METRICS = (("mel", "mel", "{:.3f}"), ("pesq", "PESQ-WB", "{:.3f}"), ("stoi", "STOI", "{:.3f}"),
           ("stoi_semantic", "STOI sem", "{:.3f}"), ("per", "PER %", "{:.1%}"), ("usage_semantic", "use sem", "{:.2f}"),
           ("usage_acoustic", "use ac", "{:.2f}"), ("wer_asr", "ASR WER %", "{:.1%}"),
           ("acc_asr", "ASR token acc", "{:.3f}"), ("loss_asr", "ASR loss", "{:.3f}"),
           ("wer_ctc", "CTC WER %", "{:.1%}"), ("loss_acoustic", "acoustic loss", "{:.3f}"),
           ("acc_acoustic", "acoustic acc", "{:.3f}"), ("cos", "cosine to teacher", "{:.3f}"),
           ("l1", "L1 to teacher", "{:.3f}"))


def add_arguments(p):
    p.add_argument("exps", nargs="+", metavar="EXP", help="exp dirs (each with valid_history.jsonl)")
    p.add_argument("--names", default=None, help="comma-separated row names (default: exp dir names)")
    p.add_argument("--summary", action="store_true", help="one row per exp: its last validation")
    p.add_argument("--png", default=None, help="also plot --metrics against CPU hours into this PNG")
    p.add_argument("--metrics", default="mel,pesq,stoi,per", help="metrics to plot")
    p.add_argument("--results-md", default=None, help="add/replace a section of this Markdown file")
    p.add_argument("--section", default=None, help="section title (with --results-md)")


def read_history(exp):
    path = Path(exp) / "valid_history.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: missing (train with audiotok >= this version to record validation history)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise UserError(f"{path}:{n}: not a JSON line") from None
    if not rows:
        raise UserError(f"{path}: no validation recorded yet")
    # a resumed run may have validated the same step twice (before and after a stop): keep the last
    by_step = {r["step"]: r for r in rows}
    return [by_step[s] for s in sorted(by_step)]


def columns(rows):
    """The axes and every known metric that at least one row has (the codec's columns when none has any)."""
    have = {k for r in rows for k in r}
    metrics = [c for c in METRICS if c[0] in have] or list(METRICS[:6])
    return list(AXES) + metrics


def _cells(row, cols):
    out = []
    for key, _, fmt in cols:
        v = row.get(key)
        out.append("—" if v is None else fmt.format(int(v) if fmt == "{:d}" else v))
    return out


def table(named_rows, first="exp", cols=None):
    cols = cols or columns([r for _, r in named_rows])
    head = [first] + [title for _, title, _ in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in named_rows:
        lines.append("| " + " | ".join([name] + _cells(row, cols)) + " |")
    return "\n".join(lines)


def plot(histories, metrics, png):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--png needs matplotlib (pip install -e '.[demo]')") from None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, rows in histories:
            pts = [(r["cpu_hours"], r[metric]) for r in rows if metric in r]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=name)
        ax.set_xlabel("CPU hours")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def segments(exp):
    """'git hash from step N, ...' of the training segments recorded in the exp's latest checkpoint."""
    latest = Path(exp) / "checkpoints" / "latest.pt"
    if not latest.is_file():
        return None
    import torch

    state = torch.load(latest, map_location="cpu", weights_only=False)
    segs = state.get("segments") or []
    return ", ".join(f"`{s.get('git')}` from step {s.get('from_step')}" for s in segs) or None


def run(args):
    names = args.names.split(",") if args.names else [Path(e).resolve().name for e in args.exps]
    if len(names) != len(args.exps):
        raise UserError(f"--names has {len(names)} names for {len(args.exps)} exp dirs")
    histories = [(n, read_history(e)) for n, e in zip(names, args.exps)]
    if args.summary:
        body = table([(n, rows[-1]) for n, rows in histories], "candidate")
    else:
        body = "\n\n".join(f"**{n}**\n\n" + table([("", r) for r in rows], "") for n, rows in histories)
    if args.png:
        plot(histories, [m for m in args.metrics.split(",") if m], args.png)
    if args.results_md:
        if not args.section:
            raise UserError("--results-md needs --section TITLE")
        from audiotok.metrics import report

        import shlex

        env = report.environment_block(report.environment(shlex.join(["audiotok", "curves", *sys.argv[2:]])))
        trained = [f"- {n}: `{e}`" + (f"; training segments: {seg}" if (seg := segments(e)) else "")
                   for n, e in zip(names, args.exps)]
        report.write_section(args.results_md, args.section,
                             f"## {args.section}\n\n{env}\n\n{body}\n\n" + "\n".join(trained))
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
