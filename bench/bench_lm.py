"""Unified speech LM (audiotok/models/ulm.py, random weights, mid size): decoding speed with and
without the KV cache, and the cost of speech generation with grouping g=5 vs g=1.

  * AR text decoding (the ASR path): a prompt of 10 s of 25 Hz semantic tokens (grouped: 2 + 250/g
    LM positions), then N text tokens greedily. With the cache: UnifiedLM's own prefill + one
    cached step per token. Without: the whole sequence re-run for every new token (the same
    transformer, no cache), as a decoder without a KV cache must.
  * Speech generation (the TTS path): text prompt, then 10 s of speech at 25 Hz. With g=5 the LM
    runs 5 positions per second of speech and the Speech Refined Head emits 5 tokens per
    position; with g=1 it runs 25 positions per second. End-of-speech is ignored so every run
    makes the same amount of speech. g=5 runs twice: with the Speech Refined Head restarting at every
    group (srh_context group) and with it causal over the whole 25 Hz sequence (sequence, DrVoice's
    head: one KV cache across groups, attention over every token so far).

    python -m bench.bench_lm [--quick] [--device cuda]
"""

import sys
import time

import torch

from bench import common

NAME = "lm"
TITLE = "Unified speech LM: KV cache and grouping"
FRAME_RATE = 25.0


def build(g, quick, device, srh_context="group"):
    from audiotok.models.ulm import UnifiedLM
    from audiotok.models.ulm_vocab import JointVocab

    # DualCodec 25 Hz streams: semantic 16384, acoustic 11 x 1024; a 2000-piece text BPE
    vocab = JointVocab(text_size=2000, semantic_size=16384, acoustic_size=1024, n_acoustic=11)
    conf = dict(lm={"dim": 768, "n_layers": 12, "n_heads": 12}, srh={"dim": 256, "n_layers": 2, "n_heads": 4})
    if quick:
        vocab = JointVocab(text_size=50, semantic_size=64, acoustic_size=16, n_acoustic=2)
        conf = dict(lm={"dim": 32, "n_layers": 2, "n_heads": 4}, srh={"dim": 16, "n_layers": 1, "n_heads": 2})
    torch.manual_seed(0)
    model = UnifiedLM(vocab, grouping={"size": g, "srh_context": srh_context}, frame_rate=FRAME_RATE,
                      **conf).eval().to(device)
    return model, conf


def text_decode(model, semantic, n_tokens, cache, device):
    """Greedy text tokens after an ASR prompt; returns (prefill s, decode s, token ids). Without the
    cache the 'prefill' is the first full pass and every later token re-runs the whole sequence."""
    from audiotok.models.ulm import pack_segments

    prefix = model._asr_prefix([semantic])
    with torch.inference_mode():
        common.sync(device)
        t0 = time.perf_counter()
        if cache:
            h, state = model._prefill("asr", prefix, n_tokens)
        else:
            x0, _, start, total = pack_segments(prefix, left=True)
            h = model._run("asr", x0, start, total)[0][:, -1]
        common.sync(device)
        t1 = time.perf_counter()
        fed, ids = [], []
        for _ in range(n_tokens - 1):
            tok = model.text_head(h).float().argmax(-1)
            ids.append(int(tok[0]))
            if cache:
                h = model._step(model.embed(tok), state)
            else:
                fed.append(model.embed(tok)[:, None])
                x = torch.cat([x0, *fed], 1)
                h = model._run("asr", x, start, total + len(fed))[0][:, -1]
        common.sync(device)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, ids


def speech_generate(model, text_ids, frames, device):
    """Cached TTS loop for `frames` semantic tokens; returns (wall s, LM positions run)."""
    from audiotok.models.sampling import Sampler

    sampler = Sampler(greedy=False, generator=torch.Generator(device=device).manual_seed(0))
    g = model.g
    n_groups = -(-frames // g)
    with torch.inference_mode():
        common.sync(device)
        t0 = time.perf_counter()
        prefix, _ = model._tts_prefix([text_ids], [torch.zeros(0, dtype=torch.long)])
        h, state = model._prefill("tts", prefix, n_groups)
        srh_state = model.srh.start(1, n_groups * g, device)
        made = 0
        for i in range(n_groups):
            group = model.srh.generate(h, sampler, srh_state)
            made += group.shape[1]
            if i < n_groups - 1:
                h = model._step(model.embed_groups(group[:, None])[:, 0], state)
        common.sync(device)
    return time.perf_counter() - t0, n_groups, made


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--speech-seconds", type=float, default=None, help="prompt / generated speech (default 10)")
    p.add_argument("--text-tokens", type=int, default=None, help="text tokens decoded per run (default 20)")
    args = p.parse_args(argv)
    common.setup(args)
    device = args.device
    speech_s = args.speech_seconds or (1.0 if args.quick else 10.0)
    n_text = args.text_tokens or (4 if args.quick else 20)
    res = common.Result(NAME, TITLE, "bench.bench_lm", argv, device)
    frames = int(round(speech_s * FRAME_RATE))
    gen = torch.Generator().manual_seed(0)
    for g in (5, 1):
        model, conf = build(g, args.quick, device)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        semantic = torch.randint(0, model.S, (frames,), generator=gen).to(device)
        text_ids = torch.randint(0, model.vocab.text_size, (30,), generator=gen).tolist()
        size = f"{conf['lm']['n_layers']} x {conf['lm']['dim']}, {common.fmt(params)} M parameters"
        text_decode(model, semantic[: max(g, frames // 10)], 2, True, device)  # warm-up
        ids = {}
        for cache in (True, False):
            prefill, decode, ids[cache] = text_decode(model, semantic, n_text, cache, device)
            res.add(kind="text", g=g, cache=cache, model=size, prompt_positions=2 + -(-frames // g),
                    same_tokens=ids[cache] == ids[True],
                    speech_s=speech_s, tokens=n_text, prefill_s=prefill, decode_s=decode,
                    tokens_per_s=(n_text - 1) / decode, ms_per_token=1000 * decode / (n_text - 1))
        for context in ("group", "sequence") if g > 1 else ("group",):
            if context != "group":
                model, _ = build(g, args.quick, device, context)
            wall, steps, made = speech_generate(model, text_ids, frames, device)
            res.add(kind="speech", g=g, srh_context=context, cache=True, model=size, speech_s=speech_s,
                    lm_positions=steps, lm_positions_per_speech_s=FRAME_RATE / g, semantic_tokens=made, wall_s=wall,
                    xrt=speech_s / wall, tokens_per_s=made / wall)
        del model
    if args.quick:
        res.note("--quick: toy model and 1 s of speech; the figures mean nothing")
    res.write(args.out, render)
    return 0


def render(data):
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    rows = data["rows"]
    if rows:
        out += [f"Model: UnifiedLM {rows[0]['model']} (random weights), batch 1, fp32; 25 Hz semantic tokens "
                "(DualCodec 25 Hz vocabulary).", ""]
    text = [r for r in rows if r["kind"] == "text"]
    out += [f"AR text decoding after a {text[0]['speech_s']:g} s speech prompt (ASR path), "
            f"{text[0]['tokens']} tokens:" if text else "", ""]
    out.append(common.md_table(
        ["grouping g", "prompt (LM positions)", "KV cache", "prefill (s)", "ms per token", "tokens/s",
         "same tokens as cached"],
        [[r["g"], r["prompt_positions"], "yes" if r["cache"] else "no (full re-run)", r["prefill_s"],
          r["ms_per_token"], r["tokens_per_s"], "yes" if r["same_tokens"] else "NO"] for r in text]))
    by = {(r["g"], r["cache"]): r for r in text}
    lines = []
    for g in sorted({r["g"] for r in text}, reverse=True):
        if (g, True) in by and (g, False) in by:
            speedup = by[(g, True)]["tokens_per_s"] / by[(g, False)]["tokens_per_s"]
            lines.append(f"g={g}: the KV cache is {speedup:.1f}x "
                         "faster per token")
    if lines:
        out += ["", "; ".join(lines) + "."]
    sp = [r for r in rows if r["kind"] == "speech"]
    if sp:
        out += ["", f"Speech generation (TTS path, KV cache, sampling), {sp[0]['speech_s']:g} s of speech:", ""]
        out.append(common.md_table(
            ["grouping g", "refined head context", "LM positions per second of speech", "LM positions",
             "semantic tokens", "wall (s)", "x real time", "semantic tokens/s"],
            [[r["g"], r.get("srh_context", "group"), r["lm_positions_per_speech_s"], r["lm_positions"],
              r["semantic_tokens"], r["wall_s"], r["xrt"], r["tokens_per_s"]] for r in sp]))
        g = {r["g"]: r for r in sp if r.get("srh_context", "group") == "group"}
        if 1 in g and 5 in g:
            out += ["", f"g=5 generates speech {g[1]['wall_s'] / g[5]['wall_s']:.1f}x faster than g=1 "
                    f"({g[5]['lm_positions']} vs {g[1]['lm_positions']} LM positions; "
                    "the SRH still emits every token)."]
    out.append("")
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
