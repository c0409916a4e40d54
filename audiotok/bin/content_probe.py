"""audiotok content-probe: how much spoken content do a tokenizer's codes carry, and how fast can a small
model read it? Character CTC from the tokens, judged on held-out speakers, in minutes.

For every --system NAME=TRAIN,TEST (tokens data dirs: `tokens.scp` and `text`, as the LM recipe writes
them) the same small bidirectional transformer (audiotok.models.content_probe.ContentProbe) learns
character CTC from the TRAIN tokens for --steps steps; every --eval-every steps its greedy transcripts of
TEST are scored (character and word error rate, texts normalised the Whisper way), next to the CPU
minutes spent so far. The questions it answers:

  --streams      which codebooks carry the content (default: the semantic stream)
  --group G      the unified LM's 5 Hz view: G frames per position, joined by --group-mode as the LM
                 joins them, each position emitting G CTC slots
  --frontend     `embed` learns the codes' embeddings from scratch (as the LM does); `codec` reads the
                 semantic codes through the codec's own frozen semantic decoder (--codec DIR)

Outputs: OUT/<system>/probe_result.json and curve.tsv; with --results-md, a section (environment,
command, final table, curves).
"""

import json
import random
import sys
import time
from pathlib import Path

from audiotok.bin import command_line, entry, parse_systems
from audiotok.errors import DataDirError, UserError

DESCRIPTION = ("Train the same small character-CTC reader on each system's training tokens and report the "
               "character and word error rate of held-out speakers against steps and CPU minutes.")


def add_reader_arguments(p, steps=1000):
    """The reader's size and training options (train_and_score's), shared by every command that trains one."""
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-frames", type=int, default=250, help="training utterances longer than this are left out (counted)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")


def add_arguments(p):
    p.add_argument("--system", action="append", required=True, metavar="NAME=TRAIN_DIR,TEST_DIR",
                   help="tokens data dirs (tokens.scp + text) of a tokenizer's train and test sets; repeatable")
    p.add_argument("--out", required=True, help="output folder (OUT/<system>/probe_result.json, curve.tsv)")
    p.add_argument("--streams", default="semantic", help="comma-separated token streams to read (default: semantic)")
    p.add_argument("--group", type=int, default=1, help="frames per position (the LM's g; 1: every frame)")
    p.add_argument("--group-mode", default="mean", choices=("mean", "concat"), help="how a group's frames join")
    p.add_argument("--frontend", default="embed", choices=("embed", "codec"),
                   help="learned embeddings, or the codec's frozen semantic features (needs --codec)")
    p.add_argument("--codec", default=None, help="the codec that wrote the tokens (packed or exp dir), for --frontend codec")
    add_reader_arguments(p)
    p.add_argument("--eval-every", type=int, default=0, help="score TEST every N steps (0: every tenth of the steps)")
    p.add_argument("--eval-utts", type=int, default=200, help="TEST utterances scored (the first N in id order; 0: all)")
    p.add_argument("--results-md", default=None, help="add or replace a section of this RESULTS.md")
    p.add_argument("--section", default="content probe", help="section title in --results-md")


def _resolve(path, data_dir):
    """Kaldi paths are relative to the recipe dir (the cwd); fall back to the data dir."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    alt = Path(data_dir) / p
    return alt if alt.exists() else p


def load_dir(data_dir, streams):
    """-> (ids, list of LongTensor [C,T], list of texts, codebook sizes). Every utterance of tokens.scp
    needs a transcript in `text` and the named streams."""
    import torch

    from audiotok.data.kaldi_table import read_scp
    from audiotok.tokfile import read_tokens

    d = Path(data_dir)
    for name in ("tokens.scp", "text"):
        if not (d / name).is_file():
            raise DataDirError(f"{d / name}: missing (a tokens data dir has tokens.scp and text)")
    scp, texts = read_scp(d / "tokens.scp"), read_scp(d / "text")
    no_text = sorted(set(scp) - set(texts))
    if no_text:
        raise DataDirError(f"{d / 'text'}: no transcript for {len(no_text)} utterance(s) of tokens.scp, e.g. {no_text[0]}")
    ids, codes, sizes = sorted(scp), [], None
    for u in ids:
        path = _resolve(scp[u], d)
        tokens, header = read_tokens(path)
        known = {s["name"]: s for s in header["streams"]}
        missing = [s for s in streams if s not in known]
        if missing:
            raise UserError(f"{path}: has no stream '{missing[0]}' (it has: {', '.join(known)})")
        mine = [int(known[s]["codebook_size"]) for s in streams for _ in range(int(known[s]["n_codebooks"]))]
        if sizes is None:
            sizes = mine
        elif mine != sizes:
            raise UserError(f"{path}: codebooks {mine} differ from the other files' {sizes}")
        codes.append(torch.cat([tokens[s].long() for s in streams], 0))
    if not ids:
        raise DataDirError(f"{d / 'tokens.scp'}: empty")
    return ids, codes, [texts[u] for u in ids], sizes


class Chars:
    """Character ids (from 1; 0 is the CTC blank) over the normalised training transcripts."""

    def __init__(self, texts):
        from audiotok.metrics.text_norm import normalize

        self.normalize = normalize
        self.chars = sorted({c for t in texts for c in normalize(t)})
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}

    def encode(self, text):
        return [self.index[c] for c in self.normalize(text) if c in self.index]

    def decode(self, ids):
        return "".join(self.chars[i - 1] for i in ids)


def _batch(items, device):
    import torch

    lengths = torch.tensor([c.shape[-1] for c, _ in items])
    first = items[0][0]  # codes [C,T], or float features [D,T] (padded with zeros)
    pad = 0.0 if first.is_floating_point() else -1
    codes = torch.full((len(items), first.shape[0], int(lengths.max())), pad, dtype=first.dtype)
    for i, (c, _) in enumerate(items):
        codes[i, :, : c.shape[-1]] = c
    return codes.to(device), lengths.to(device), [torch.tensor(t, dtype=torch.long) for _, t in items]


def evaluate(model, chars, test, args, device):
    from audiotok.metrics.wer import wer_table

    ids, codes, texts = test
    refs, hyps = {}, {}
    model.eval()
    for s in range(0, len(ids), args.batch_size):
        part = list(range(s, min(s + args.batch_size, len(ids))))
        c, lengths, _ = _batch([(codes[i], []) for i in part], device)
        for i, out in zip(part, model.transcribe(c, lengths)):
            refs[ids[i]], hyps[ids[i]] = texts[i], chars.decode(out)
    model.train()
    table = wer_table(refs, hyps)
    return table["cer"], table["wer"], hyps[ids[0]]


def train_and_score(train, test, sizes, args, codec=None, log=print, chars=None, return_model=False,
                    feature_dim=None):
    """`codec`: (architecture, tensors) of the codec's semantic decoder for --frontend codec; `chars`: what
    the reader spells (default: the characters of the normalised transcripts); `feature_dim`: the items
    are float features [D,T] of that size, not codes. -> the result, and with `return_model` the trained
    reader too."""
    import torch

    from audiotok.models.content_probe import ContentProbe

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = torch.device(args.device)
    _, codes, texts = train
    chars = chars if chars is not None else Chars(texts)
    items = [(c, chars.encode(t)) for c, t in zip(codes, texts) if c.shape[-1] <= args.max_frames]
    left_out = len(codes) - len(items)
    if not items:
        raise UserError(f"no training utterance has at most --max-frames {args.max_frames} frames")
    model = ContentProbe(sizes, len(chars.chars), args.dim, args.layers, args.heads, args.group, args.group_mode,
                         codec_decoder=codec, feature_dim=feature_dim).to(device)
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    every = args.eval_every or max(1, args.steps // 10)
    curve, order, pos = [], [], 0
    cpu0, wall0 = time.process_time(), time.time()
    for step in range(1, args.steps + 1):
        if pos + args.batch_size > len(order):
            order, pos = list(range(len(items))), 0
            rng.shuffle(order)
        batch = [items[i] for i in order[pos: pos + args.batch_size]]
        pos += args.batch_size
        c, lengths, targets = _batch(batch, device)
        loss = model.loss(c, lengths, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        sched.step()
        if step % every == 0 or step == args.steps:
            cer, wer, example = evaluate(model, chars, test, args, device)
            row = {"step": step, "cpu_minutes": (time.process_time() - cpu0) / 60,
                   "wall_minutes": (time.time() - wall0) / 60, "train_loss": float(loss.detach()), "cer": cer, "wer": wer}
            curve.append(row)
            log(f"step {step}: {row['cpu_minutes']:.1f} CPU min, loss {row['train_loss']:.3f}, "
                f"CER {cer:.1f} %, WER {wer:.1f} % | {example}")
    result = {"curve": curve, "final": curve[-1], "best_cer": min(r["cer"] for r in curve),
              "train_utts": len(items), "train_left_out": left_out, "test_utts": len(test[0]),
              "chars": "".join(chars.chars), "params": sum(p.numel() for p in trained)}
    return (result, model) if return_model else result


def render(results, args, command):
    from audiotok.metrics import report

    summary = ["| system | codebooks | frontend | group | steps | CPU min | CER % | WER % | best CER % | params |",
               "|---|---|---|---|---|---|---|---|---|---|"]
    curves = ["| system | step | CPU min | train loss | CER % | WER % |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        f = r["final"]
        group = f"{args.group} ({args.group_mode})" if args.group > 1 else "1"
        summary.append(f"| {name} | {len(r['sizes'])} | {args.frontend} | {group} | {f['step']} | {f['cpu_minutes']:.1f} "
                       f"| {f['cer']:.1f} | {f['wer']:.1f} | {r['best_cer']:.1f} | {r['params']} |")
        curves += [f"| {name} | {c['step']} | {c['cpu_minutes']:.1f} | {c['train_loss']:.3f} | {c['cer']:.1f} "
                   f"| {c['wer']:.1f} |" for c in r["curve"]]
    notes = [f"the same reader for every system: {args.layers} bidirectional transformer layers x {args.dim}, "
             f"{args.heads} heads, character CTC; {args.steps} steps of {args.batch_size} utterances of at most "
             f"{args.max_frames} frames, AdamW lr {args.lr}, seed {args.seed}; streams read: {args.streams}",
             "CER/WER: greedy CTC transcripts of the TEST dir's first utterances in id order, texts normalised the "
             "Whisper way (audiotok.metrics.text_norm); CPU minutes are process time (all threads)"]
    body = [f"## {args.section}", "", report.environment_block(report.environment(command)), "",
            "### Final", "", *summary, "", "### Curves", "", *curves, ""] + [f"- {n}" for n in notes]
    return "\n".join(body)


def run(args):
    from audiotok.fileio import atomic_write_text

    systems = parse_systems(args.system, "NAME=TRAIN_DIR,TEST_DIR")
    if min(args.steps, args.batch_size, args.group, args.max_frames) < 1 or args.eval_every < 0:
        raise UserError("--steps, --batch-size, --group and --max-frames must be >= 1")
    streams = [s for s in args.streams.split(",") if s]
    codec = None
    if args.frontend == "codec":
        if not args.codec:
            raise UserError("--frontend codec needs --codec DIR (the codec that wrote the tokens)")
        if streams != ["semantic"]:
            raise UserError("--frontend codec reads the semantic stream only: leave --streams at 'semantic'")
        from audiotok.models.ulm_frontend import read_codec_semantic_decoder
        from audiotok.pretrained import resolve_model

        # a dir, or a shipped codec's name (speech-25hz-v2)
        codec = read_codec_semantic_decoder(resolve_model(args.codec))  # read once, shared by every system's reader
    results = {}
    for name, (train_dir, test_dir) in systems.items():
        ids, codes, texts, sizes = load_dir(train_dir, streams)
        test_ids, test_codes, test_texts, test_sizes = load_dir(test_dir, streams)
        if test_sizes != sizes:
            raise UserError(f"{test_dir}: codebooks {test_sizes} differ from the training tokens' {sizes}")
        n = args.eval_utts or len(test_ids)
        test = (test_ids[:n], test_codes[:n], test_texts[:n])

        def log(msg, name=name):
            print(f"{name}: {msg}", file=sys.stderr, flush=True)

        r = train_and_score((ids, codes, texts), test, sizes, args, codec, log)
        r.update(system=name, sizes=sizes, train_dir=train_dir, test_dir=test_dir)
        if r["train_left_out"]:
            log(f"{r['train_left_out']} training utterance(s) longer than {args.max_frames} frames left out")
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "probe_result.json", json.dumps(r, indent=2) + "\n")
        atomic_write_text(out / "curve.tsv", "step\tcpu_minutes\ttrain_loss\tcer\twer\n" + "".join(
            f"{c['step']}\t{c['cpu_minutes']:.3f}\t{c['train_loss']:.4f}\t{c['cer']:.2f}\t{c['wer']:.2f}\n"
            for c in r["curve"]))
        results[name] = r
    text = render(results, args, command_line(args))
    print(text)
    if args.results_md:
        from audiotok.metrics import report

        report.write_section(args.results_md, args.section, text)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
