"""Codec speed: encode and decode x real time (audio seconds / wall seconds) of audiotok's
DualCodec (12.5 and 25 Hz, full-size configs, random weights) and the peers (EnCodec 24 kHz,
DAC 24 kHz, Mimi, SNAC 24 kHz; random weights) in the same run, on the same inputs.

Cases are "<seconds>x<batch>". All codecs are built and warmed up (1 s) first; then, case by
case, the codecs take turns: round r times every codec once before round r+1 starts, and a
codec's figure is the median of its rounds (--rounds for the first case, one round for the
longer ones). Interleaving spreads the load of other jobs on a shared machine over all codecs
alike, which keeps the audiotok / peer ratios honest. Wall time gives x real time; process CPU
time (all threads) is recorded too, as a load-robust second view. On a slow CPU a case whose
time, predicted from the codec's first case, exceeds --case-budget is skipped and listed.

Also measured on the 10 s input: the SSL share of DualCodec's encode time (BEST-RQ feature
extraction vs the whole encode), and what a 600M-class SSL would cost in its place: the
w2v-BERT 2.0 architecture (transformers' Wav2Vec2BertConfig defaults: 24 x 1024 conformer,
50 Hz fbank input) with random weights, and audiotok's BEST-RQ at 24 x 1024 run to layer 17.

    python -m bench.bench_speed [--quick] [--device cuda] [--cases 10x1,60x1,10x16]
"""

import contextlib
import math
import statistics
import sys
import time

import torch

from bench import common, zoo

NAME = "speed"
TITLE = "Codec speed (x real time, random weights)"


def parse_cases(text):
    cases = []
    for part in text.split(","):
        sec, _, batch = part.strip().partition("x")
        cases.append((float(sec), int(batch or 1)))
    return cases


def make_input(seconds, batch, sr, device):
    g = torch.Generator().manual_seed(0)
    return (0.1 * torch.randn(batch, 1, int(round(seconds * sr)), generator=g)).to(device)


def time_once(fn, device):
    """(wall s, process CPU s, result) of one call."""
    common.sync(device)
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    common.sync(device)
    return time.perf_counter() - w0, time.process_time() - c0, out


def median(xs):
    return statistics.median(xs)


@contextlib.contextmanager
def ssl_probe(model, device):
    """Times DualCodec's SSL step (resample + BEST-RQ + pooling) inside the encode calls made
    meanwhile, by wrapping the model's ssl_features: share and whole encode come from the same
    calls, so load changes between calls cannot skew the share. Yields the list of SSL seconds."""
    inner = model.ssl_features
    spent = []

    def timed_ssl(*a, **kw):
        common.sync(device)
        t0 = time.perf_counter()
        out = inner(*a, **kw)
        common.sync(device)
        spent.append(time.perf_counter() - t0)
        return out

    model.ssl_features = timed_ssl  # instance attribute: shadows the method for this object only
    try:
        yield spent
    finally:
        del model.ssl_features


def big_ssl_costs(seconds, device, quick, res):
    """Encode-time cost of a 600M-class SSL on `seconds` of 16 kHz audio, batch 1."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from audiotok.models.ssl import BestRQ

    wav = make_input(seconds, 1, 16000, "cpu")
    out = []
    # w2v-BERT 2.0 layout; DualCodec's inference runs all 24 layers and reads hidden_states[17]
    kw = {} if not quick else dict(hidden_size=32, num_hidden_layers=2, intermediate_size=64, num_attention_heads=2,
                                   output_hidden_size=32)
    torch.manual_seed(0)
    hf = Wav2Vec2BertModel(Wav2Vec2BertConfig(**kw)).eval().to(device)
    fe = SeamlessM4TFeatureExtractor()

    def w2vbert():
        feats = fe(wav[0, 0].numpy(), sampling_rate=16000, return_tensors="pt")["input_features"].to(device)
        with torch.inference_mode():
            return hf(feats, output_hidden_states=True).hidden_states

    w2vbert_warm = make_input(1.0, 1, 16000, "cpu")
    with torch.inference_mode():
        hf(fe(w2vbert_warm[0, 0].numpy(), sampling_rate=16000, return_tensors="pt")["input_features"].to(device))
    t, _, _ = common.timed(w2vbert, device, min_total=0)
    n = sum(p.numel() for p in hf.parameters()) / 1e6
    cfg = hf.config
    out.append(res.add(kind="ssl", model=f"w2v-BERT 2.0 layout (HF, {cfg.num_hidden_layers} x {cfg.hidden_size}, "
                                         "50 Hz, fbank + all layers)",
                       params_m=n, seconds=seconds, ssl_s=t))
    hf = None  # frees the 580M weights before BEST-RQ is built
    # audiotok's own encoder at the same width and depth, run only as deep as DualCodec reads
    kw = dict(dim=1024, n_layers=24, n_heads=16, conv_kernel=31) if not quick else dict(dim=32, n_layers=2, n_heads=2)
    torch.manual_seed(0)
    bq = BestRQ(encoder=dict(dropout=0.0, **kw)).eval().to(device)
    layer = min(17, bq.num_layers)
    wdev = wav.to(device)
    with torch.inference_mode():
        bq.extract_features(w2vbert_warm.to(device), layer)
        t, _, _ = common.timed(lambda: bq.extract_features(wdev, layer), device, min_total=0)
    n = sum(p.numel() for p in bq.parameters()) / 1e6
    out.append(res.add(kind="ssl", model=f"audiotok BEST-RQ {bq.num_layers} x {bq.hidden_size} (25 Hz), "
                                         f"to layer {layer}",
                       params_m=n, seconds=seconds, ssl_s=t))
    return out


def main(argv=None, name=NAME, title=TITLE, module="bench.bench_speed", codecs=",".join(zoo.ALL)):
    """`name`, `title`, `module` and the default `codecs` let another section reuse this benchmark."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--codecs", default=codecs, help="comma list of " + ", ".join(zoo.ALL))
    p.add_argument("--cases", default=None, help="comma list of <seconds>x<batch> (default: 10x1,60x1,10x16 on "
                                                 "CPU, plus 60x16 on CUDA)")
    p.add_argument("--case-budget", type=float, default=None,
                   help="skip a case predicted to take longer than this many seconds (encode + decode); "
                        "default 120 on CPU, none on CUDA")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the first case (default 3)")
    p.add_argument("--no-big-ssl", action="store_true", help="skip the 600M-class SSL measurement")
    args = p.parse_args(argv)
    common.setup(args)
    device = args.device
    cuda = device.startswith("cuda")
    if args.quick:
        cases = parse_cases(args.cases or "0.5x1,0.5x2")
        size = "tiny"
    else:
        cases = parse_cases(args.cases or ("10x1,60x1,10x16,60x16" if cuda else "10x1,60x1,10x16"))
        size = "full"
    args.rounds = args.rounds or (1 if args.quick else 3)
    budget = args.case_budget if args.case_budget is not None else (math.inf if cuda else 120.0)
    res = common.Result(name, title, module, argv, device)
    if args.quick:
        res.note("--quick: toy-width models and short inputs; the figures mean nothing")

    codecs = []
    for name in args.codecs.split(","):
        codec = zoo.build(name.strip(), size).to(device)
        codec.decode(codec.encode(make_input(1.0, 1, codec.sample_rate, device)))  # warm-up
        codecs.append(codec)
    rate = {}  # codec name -> wall seconds per audio second (enc + dec), from the first case
    for i, (seconds, batch) in enumerate(cases):
        audio = seconds * batch
        active = []
        for codec in codecs:
            info = dict(codec=codec.name, params_m=codec.params_m, frame_rate=codec.frame_rate, kbps=codec.kbps,
                        note=codec.note)
            if codec.name in rate and rate[codec.name] * audio > budget:
                res.add(kind="codec", seconds=seconds, batch=batch, skipped=True,
                        predicted_s=rate[codec.name] * audio, **info)
            else:
                active.append((codec, info))
        wavs = {sr: make_input(seconds, batch, sr, device) for sr in {c.sample_rate for c, _ in active}}
        runs = {c.name: [] for c, _ in active}
        ssl = {c.name: [] for c, _ in active}
        for _ in range(args.rounds if i == 0 else 1):
            for codec, _ in active:
                is_dc = codec.name.startswith("audiotok")
                with ssl_probe(codec.module, device) if is_dc else contextlib.nullcontext() as spent:
                    enc = time_once(lambda: codec.encode(wavs[codec.sample_rate]), device)
                dec = time_once(lambda: codec.decode(enc[2]), device)
                runs[codec.name].append((enc[0], enc[1], dec[0], dec[1]))
                if is_dc:
                    ssl[codec.name] += spent
        for codec, info in active:
            r = runs[codec.name]
            enc_s, enc_cpu = median([x[0] for x in r]), median([x[1] for x in r])
            dec_s, dec_cpu = median([x[2] for x in r]), median([x[3] for x in r])
            if i == 0:
                rate[codec.name] = (enc_s + dec_s) / audio
                if ssl[codec.name]:  # the SSL share, from the same encode calls
                    t_all, spent = sum(x[0] for x in r), ssl[codec.name]
                    res.add(kind="ssl_share", codec=codec.name, seconds=seconds, batch=batch,
                            ssl_s=sum(spent) / len(spent), encode_s=t_all / len(r), share=sum(spent) / t_all,
                            ssl=codec.note)
            res.add(kind="codec", seconds=seconds, batch=batch, **info, enc_s=enc_s, dec_s=dec_s,
                    enc_xrt=audio / enc_s, dec_xrt=audio / dec_s, enc_cpu_s=enc_cpu, dec_cpu_s=dec_cpu,
                    enc_xrt_cpu=audio / enc_cpu, dec_xrt_cpu=audio / dec_cpu, rounds=len(r),
                    runs=[[round(v, 4) for v in x] for x in r])
    del codecs

    skipped = [r for r in res.rows if r.get("skipped")]
    if skipped:
        res.note("skipped (predicted encode + decode time above the {:.0f} s case budget on this CPU): ".format(budget)
                 + "; ".join(f"{r['codec']} {r['seconds']:g} s x {r['batch']} (~{r['predicted_s']:.0f} s)"
                             for r in skipped))
    if not args.no_big_ssl:
        big_ssl_costs(cases[0][0], device, args.quick, res)
    res.write(args.out, render)
    return 0


def _cases(rows):
    out = []
    for r in rows:
        key = (r["seconds"], r["batch"])
        if key not in out:
            out.append(key)
    return out


def render(data):
    rows = [r for r in data["rows"] if r["kind"] == "codec"]
    cases = _cases(rows)
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    by = {(r["codec"], r["seconds"], r["batch"]): r for r in rows}
    meta = {r["codec"]: r for r in rows}
    out = [f"## {data['title']}", "", common.header_lines(data), ""]
    heads = ["codec", "params (M)", "frame rate (Hz)", "kbps"]
    for s, b in cases:
        heads += [f"enc {s:g} s x{b}", f"dec {s:g} s x{b}"]
    table = []
    for c in codecs:
        m = meta[c]
        line = [c, m["params_m"], m["frame_rate"], m["kbps"]]
        for s, b in cases:
            r = by.get((c, s, b))
            if r is None or r.get("skipped"):
                line += ["skipped", "skipped"]
            else:
                line += [r["enc_xrt"], r["dec_xrt"]]
        table.append(line)
    out.append(common.md_table(heads, table))
    out += ["", "x real time = seconds of audio (all items of the batch) per wall second; higher is faster. "
            "Parameters exclude buffers (codebooks kept as buffers, e.g. Mimi's and EnCodec's, are not counted); "
            "DualCodec's include its frozen SSL (52.5 M).", ""]
    first = cases[0] if cases else None
    cpu = [by[(c, *first)] for c in codecs if first and (c, *first) in by and "enc_xrt_cpu" in by[(c, *first)]]
    if cpu:
        rounds = max(r["rounds"] for r in cpu)
        out += [f"The {first[0]:g} s x{first[1]} case, median of {rounds} interleaved round(s), by wall time and by "
                "process CPU time (audio seconds per CPU second, all threads counted; less sensitive to other jobs):",
                ""]
        out.append(common.md_table(["codec", "enc (wall)", "enc (CPU)", "dec (wall)", "dec (CPU)"],
                                   [[r["codec"], r["enc_xrt"], r["enc_xrt_cpu"], r["dec_xrt"], r["dec_xrt_cpu"]]
                                    for r in cpu]))
        out.append("")
    # audiotok / peer ratios
    ours = [c for c in codecs if c.startswith("audiotok")]
    peers = [c for c in codecs if not c.startswith("audiotok")]
    if ours and peers:
        out += ["Speed ratio audiotok / peer (x real time of audiotok divided by the peer's; "
                "> 1: audiotok faster):", ""]
        heads = ["audiotok", "peer"] + [f"{d} {s:g} s x{b}" for s, b in cases for d in ("enc", "dec")]
        table = []
        for a in ours:
            for pn in peers:
                line = [a, pn]
                for s, b in cases:
                    ra, rp = by.get((a, s, b)), by.get((pn, s, b))
                    for key in ("enc_xrt", "dec_xrt"):
                        ok = ra and rp and not ra.get("skipped") and not rp.get("skipped")
                        line.append(ra[key] / rp[key] if ok else None)
                table.append(line)
        out += [common.md_table(heads, table), ""]
    shares = [dict(r) for r in data["rows"] if r["kind"] == "ssl_share"]
    big = [r for r in data["rows"] if r["kind"] == "ssl"]
    if shares:
        out += ["SSL share of DualCodec encode time (batch 1), and the encode speed it would have with a "
                "600M-class SSL in place of BEST-RQ (DualCodec's own design runs w2v-BERT 2.0, ~600M, at encode):",
                ""]
        heads = ["codec", "input (s)", "SSL (s)", "whole encode (s)", "SSL share", "encode x real time"]
        # whole encode = the median encode of the speed table; the share (summed over the same calls)
        # splits it, so both tables tell the same story
        for s in shares:
            med = by.get((s["codec"], s["seconds"], s["batch"]))
            if med and "enc_s" in med:
                s["encode_s"], s["ssl_s"] = med["enc_s"], s["share"] * med["enc_s"]
        table = [[r["codec"] + f" ({r['ssl']})", r["seconds"], r["ssl_s"], r["encode_s"], f"{100 * r['share']:.0f} %",
                  r["seconds"] / r["encode_s"]] for r in shares]
        for s in shares:
            for b in big:
                t = s["encode_s"] - s["ssl_s"] + b["ssl_s"]
                label = f"{s['codec']} with {b['model']} ({common.fmt(b['params_m'])} M)"
                table.append([label, s["seconds"], b["ssl_s"], t,
                              f"{100 * b['ssl_s'] / t:.0f} %", s["seconds"] / t])
        out += [common.md_table(heads, table), ""]
    for n in data["notes"]:
        out.append(f"- {n}")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
