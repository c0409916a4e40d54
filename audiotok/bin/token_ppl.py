"""audiotok token-ppl (old name: token-lm): how predictable are a tokenizer's codes? Duo-Tok's
vocabulary-normalised LM perplexity (PPL@1024).

For every --system NAME=TRAIN,TEST (each a folder of .atok files or a tokens.scp) the same small causal
LM (audiotok.models.perplexity_probe.PerplexityProbe, one embedding table and head per codebook) is trained with the
same settings on the TRAIN tokens and scored on the TEST tokens. The last `--valid-share` of the
TRAIN files (at least one) is held out: the LM is scored on it every tenth of the steps and the best
of those states is the one tested (small token sets are memorised quickly; this is early stopping):

  ppl        exp(mean cross-entropy) per codebook on TEST
  ppl@1024   ppl x 1024 / codebook size (Duo-Tok / Codec-Evaluation), averaged over the codebooks
  unigram    the same normalised perplexity of the TRAIN code histogram (add-one): what context adds
  usage      distinct codes on TRAIN / codebook size, and the histogram's perplexity exp(H)

Outputs: OUT/<system>/lm_result.json and, with --results-md, a section (environment, command, tables).
"""

import json
import math
import sys
import time
from pathlib import Path

from audiotok.bin import command_line, entry, parse_systems
from audiotok.errors import UserError

DESCRIPTION = ("Train the same small causal LM on each system's training tokens and report test perplexity "
               "per codebook, normalised to a 1024-entry vocabulary (Duo-Tok's PPL@1024), plus codebook usage.")


def add_arguments(p):
    p.add_argument("--system", action="append", required=True, metavar="NAME=TRAIN,TEST",
                   help="token folders (or tokens.scp files) of a tokenizer's train and test sets; repeatable")
    p.add_argument("--out", required=True, help="output folder (OUT/<system>/lm_result.json)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--context", type=int, default=128, help="frames per training window and per scored window")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--valid-share", type=float, default=0.1,
                   help="share of the TRAIN files held out to pick the best step (at least one file)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--results-md", default=None, help="add or replace a section of this RESULTS.md")
    p.add_argument("--section", default="token LM perplexity", help="section title in --results-md")


def _token_files(spec):
    p = Path(spec)
    if p.is_file():
        from audiotok.data.kaldi_dir import read_scp

        files = [Path(v) for _, v in sorted(read_scp(p).items())]
    elif p.is_dir():
        files = sorted(p.rglob("*.atok"))
    else:
        raise UserError(f"{spec}: no such token folder or tokens.scp")
    if not files:
        raise UserError(f"{spec}: holds no .atok files")
    return files


def load_codes(spec):
    """-> (list of LongTensor [C, T] (all codebooks of all streams, stream order), codebook sizes,
    row names like 'vocals/0')."""
    from audiotok.tokfile import read_tokens

    arrays, sizes, names = [], None, None
    for f in _token_files(spec):
        tokens, header = read_tokens(f)
        streams = header["streams"]
        mine = [(f"{s['name']}/{k}", int(s["codebook_size"])) for s in streams for k in range(s["n_codebooks"])]
        if sizes is None:
            names, sizes = [n for n, _ in mine], [k for _, k in mine]
        elif [n for n, _ in mine] != names or [k for _, k in mine] != sizes:
            raise UserError(f"{f}: its streams {[n for n, _ in mine]} differ from the other files' {names}")
        import torch

        arrays.append(torch.cat([tokens[s["name"]].long() for s in streams], 0))
    return arrays, sizes, names


def _windows(arrays, length):
    """Consecutive windows of `length` frames (the last one of a file may be shorter)."""
    for a in arrays:
        for s in range(0, a.shape[-1], length):
            w = a[:, s:s + length]
            if w.shape[-1] > 0:
                yield w


def _score(model, arrays, length, n_codebooks, dev):
    """Summed NLL per codebook [C] (float64) and the number of scored frames."""
    import torch

    nll = torch.zeros(n_codebooks, dtype=torch.float64)
    count = 0
    model.eval()
    with torch.no_grad():
        for w in _windows(arrays, length):
            nll += model.nll(w[None].to(dev)).double().cpu()
            count += w.shape[-1]
    model.train()
    return nll, count


def train_and_score(train, test, sizes, args):
    import copy

    import torch

    from audiotok.models.perplexity_probe import PerplexityProbe, normalised_ppl

    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    model = PerplexityProbe(sizes, args.dim, args.layers, args.heads, args.dropout).to(dev)
    all_train = train
    n_valid = max(1, int(round(args.valid_share * len(train)))) if len(train) > 1 else 0
    valid, train = (train[-n_valid:], train[:-n_valid]) if n_valid else (train, train)
    shortest = min(a.shape[-1] for a in train)
    length = max(2, min(args.context, shortest))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, args.steps // 10)) * 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    g = torch.Generator().manual_seed(args.seed)
    weights = torch.tensor([a.shape[-1] - length + 1 for a in train], dtype=torch.float)
    t0 = time.time()
    model.train()
    every = max(1, args.steps // 10)
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    for step in range(1, args.steps + 1):
        files = torch.multinomial(weights, args.batch_size, replacement=True, generator=g).tolist()
        batch = []
        for i in files:
            start = int(torch.randint(0, train[i].shape[-1] - length + 1, (1,), generator=g))
            batch.append(train[i][:, start:start + length])
        batch = torch.stack(batch).to(dev)
        loss = model.nll(batch).sum() / batch[:, 0].numel()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % every == 0 or step == args.steps:
            v_nll, v_count = _score(model, valid, length, len(sizes), dev)
            v_loss = float(v_nll.sum()) / (v_count * len(sizes))
            if v_loss < best[0]:
                best = (v_loss, step, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    nll, count = _score(model, test, length, len(sizes), dev)
    ppl = [math.exp(v / count) for v in nll.tolist()]
    # unigram reference: the training histogram with add-one smoothing, scored on the same test codes
    uni = []
    for i, k in enumerate(sizes):
        hist = torch.bincount(torch.cat([a[i] for a in all_train]), minlength=k).double() + 1
        logp = (hist / hist.sum()).log()
        uni.append(math.exp(-float(torch.cat([logp[a[i]] for a in test]).mean())))
    return {
        "ppl": ppl, "ppl_at_1024": [normalised_ppl(p, k) for p, k in zip(ppl, sizes)],
        "unigram_ppl_at_1024": [normalised_ppl(p, k) for p, k in zip(uni, sizes)],
        "test_tokens_per_codebook": count, "train_frames": int(sum(a.shape[-1] for a in train)),
        "valid_files": n_valid, "best_step": best[1], "valid_ppl": math.exp(best[0]), "window": length,
        "params": sum(p.numel() for p in model.parameters()), "train_seconds": time.time() - t0,
    }


def _usage(train, sizes):
    from audiotok.metrics.codebook import codebook_stats

    return [codebook_stats([a[i] for a in train], k)[0] for i, k in enumerate(sizes)]


def _mean(v):
    return sum(v) / len(v)


def render(results, args, command):
    from audiotok.metrics import report

    lines = ["| system | codebook | size | test PPL | PPL@1024 | unigram PPL@1024 | train usage % | train perplexity |",
             "|---|---|---|---|---|---|---|---|"]
    summary = ["| system | codebooks | mean PPL@1024 | mean unigram PPL@1024 | test frames | best step | LM params |",
               "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for i, cb in enumerate(r["codebooks"]):
            u = r["usage"][i]
            lines.append(f"| {name} | {cb} | {r['sizes'][i]} | {r['ppl'][i]:.1f} | {r['ppl_at_1024'][i]:.1f} "
                         f"| {r['unigram_ppl_at_1024'][i]:.1f} | {100 * u['usage']:.1f} | {u['perplexity']:.1f} |")
        summary.append(f"| {name} | {len(r['sizes'])} | {_mean(r['ppl_at_1024']):.1f} "
                       f"| {_mean(r['unigram_ppl_at_1024']):.1f} | {r['test_tokens_per_codebook']} | {r['best_step']} "
                       f"| {r['params']} |")
    notes = [f"the same LM for every system: {args.layers} layers x {args.dim}, {args.heads} heads, dropout "
             f"{args.dropout}, {args.steps} steps of {args.batch_size} windows of up to {args.context} frames, "
             f"AdamW lr {args.lr}, seed {args.seed}; the state tested is the best on the last {args.valid_share:g} "
             "of the train files (scored every tenth of the steps)",
             "PPL@1024 = exp(mean test CE) x 1024 / codebook size (lower: more predictable tokens); unigram = the "
             "train histogram (add-one) on the same test codes",
             "usage = distinct codes in the train tokens / codebook size; perplexity = exp(entropy) of that histogram"]
    body = [f"## {args.section}", "", report.environment_block(report.environment(command)), "",
            "### Summary", "", *summary, "", "### Per codebook", "", *lines, ""] + [f"- {n}" for n in notes]
    return "\n".join(body)


def run(args):
    from audiotok.fileio import atomic_write_text

    systems = parse_systems(args.system, "NAME=TRAIN_TOKENS,TEST_TOKENS")
    if args.steps < 1 or args.context < 2 or args.batch_size < 1:
        raise UserError("--steps and --batch-size must be >= 1 and --context >= 2")
    results = {}
    for name, (train_spec, test_spec) in systems.items():
        train, sizes, codebooks = load_codes(train_spec)
        test, test_sizes, test_names = load_codes(test_spec)
        if test_sizes != sizes or test_names != codebooks:
            raise UserError(f"{test_spec}: streams {test_names} differ from the training tokens' {codebooks}")
        r = train_and_score(train, test, sizes, args)
        r.update(system=name, sizes=sizes, codebooks=codebooks, usage=_usage(train, sizes),
                 train_tokens=train_spec, test_tokens=test_spec)
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "lm_result.json", json.dumps(r, indent=2) + "\n")
        results[name] = r
        print(f"{name}: PPL@1024 {_mean(r['ppl_at_1024']):.1f} (per codebook "
              f"{', '.join(f'{c} {v:.1f}' for c, v in zip(codebooks, r['ppl_at_1024']))}), "
              f"unigram {_mean(r['unigram_ppl_at_1024']):.1f}", file=sys.stderr)
    text = render(results, args, command_line(args))
    print(text)
    if args.results_md:
        from audiotok.metrics import report

        report.write_section(args.results_md, args.section, text)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
