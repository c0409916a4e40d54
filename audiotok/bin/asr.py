"""audiotok asr: speech -> text with the unified speech LM (its codec turns audio into semantic tokens).

    audiotok asr a.wav b.flac folder/ [--model LM_DIR] [--codec CODEC_DIR] [-o hyp.txt]
        prints (or writes to -o) one `uttid transcript` line per input (uttid = file name stem)
    audiotok asr --data-dir data/test -o exp/decode_test [--model LM_DIR]
        reads wav.scp (or tokens.scp), writes OUT/text (a Kaldi text file) and OUT/stats.json
        (audio seconds, encode and LM seconds, LM positions: the throughput the recipe reports)
Inputs may be .atok token files of the LM's codec as well as audio. Decoding is batched with a
KV cache; greedy by default, `--beam-size N` searches N hypotheses per utterance, `--sample` draws with
--temperature / --top-k / --top-p.
"""

import json
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = "Transcribe speech with the unified speech LM (ASR)."


def add_decoding_arguments(p, temperature=1.0, top_p=1.0):
    """Model, device and decoding options shared by asr and tts: greedy by default; `temperature` and
    `top_p` are the command's sampling defaults (with --sample)."""
    p.add_argument("--model", default=None,
                   help="LM model dir (packed release or recipe exp dir) or shipped name (default: the shipped LM, 'lm')")
    p.add_argument("--codec", default=None, help="codec model dir (default: the LM dir's codec/)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=8, help="utterances decoded together")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", dest="sample", action="store_false", default=False,
                      help="take the most likely token (default)")
    mode.add_argument("--sample", dest="sample", action="store_true", help="sample tokens")
    p.add_argument("--temperature", type=float, default=temperature, help="sampling temperature (with --sample)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--top-p", type=float, default=top_p,
                   help="sample from the smallest set holding this probability (nucleus)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed for sampling (and, in tts, for the acoustic stage's draws)")


def check_decoding_arguments(args):
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_k < 0:
        raise UserError(f"--top-k must be >= 0, got {args.top_k}")
    if not 0 < args.top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")


def load_speech_lm(args):
    """The SpeechLM of --model (a dir or shipped name; none: the shipped LM) and --codec."""
    from audiotok.pretrained import resolve_model
    from audiotok.speechlm import SpeechLM

    args.model = str(resolve_model(args.model, kind="lm"))
    return SpeechLM.from_pretrained(args.model, codec=args.codec, device=args.device)


def sampling(args):
    return dict(greedy=not args.sample, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                seed=args.seed)


def add_arguments(p):
    p.add_argument("inputs", nargs="*", help="audio files, .atok files or folders of them")
    p.add_argument("--data-dir", help="Kaldi data dir: transcribe its wav.scp (or tokens.scp); needs -o")
    p.add_argument("-o", "--out", help="output text file (inputs) or folder (--data-dir); default: stdout")
    p.add_argument("--max-len", type=int, default=None,
                   help="most text tokens per utterance, or per piece of it (default: by length)")
    p.add_argument("--raw-audio", action="store_true",
                   help="give the LM each recording as it is (default: cut at its pauses into pieces of at most "
                        "6 s, each with its edge silence set to the 0.15 s the LM's training utterances have)")
    p.add_argument("--beam-size", type=int, default=1,
                   help="beam search with this many hypotheses (1: greedy, or --sample)")
    p.add_argument("--length-penalty", type=float, default=1.0,
                   help="beam search ranks finished hypotheses by log-probability / length ** this")
    add_decoding_arguments(p)


def _data_dir_inputs(d):
    from audiotok.data.kaldi_table import read_scp

    d = Path(d)
    if (d / "segments").is_file():
        raise UserError(f"{d}/segments: segmented data dirs are not read here; run `audiotok format-data-dir` first")
    for name in ("wav.scp", "tokens.scp"):
        if (d / name).is_file():
            table = read_scp(d / name)
            if not table:
                raise UserError(f"{d / name}: no utterances")
            for utt, path in table.items():
                if path.rstrip().endswith("|"):
                    raise UserError(f"{d / name}: '{utt}' is a pipe; run `audiotok format-data-dir` first")
            return table
    raise UserError(f"{d}: not a data dir (no wav.scp or tokens.scp)")


def _file_inputs(inputs):
    from audiotok.bin._files import AUDIO_SUFFIXES, expand_inputs

    return {key: str(path) for key, path, _ in expand_inputs(inputs, AUDIO_SUFFIXES | {".atok"})}


def _check_outputs(args, items):
    """Before the LM loads: the outputs can be written and none of them is an input (`-o c.wav` for the
    input c.wav, or -o the data dir itself, would replace audio or the reference text)."""
    from audiotok.bin._files import prepare_outputs, refuse_overwriting_inputs

    if not args.out:
        return
    inputs = list(items.values())
    if args.data_dir:
        d = Path(args.data_dir)
        inputs += [p for p in d.iterdir() if p.is_file()]
        outputs = [Path(args.out) / "text", Path(args.out) / "stats.json"]
    else:
        outputs = [Path(args.out)]
    refuse_overwriting_inputs(outputs, inputs)
    prepare_outputs(outputs)


def run(args):
    from audiotok.data.kaldi_table import write_scp
    from audiotok.fileio import atomic_write_text

    if bool(args.inputs) == bool(args.data_dir):
        raise UserError("give either input files/folders or --data-dir")
    if args.data_dir and not args.out:
        raise UserError("--data-dir needs -o OUT (the folder for text and stats.json)")
    check_decoding_arguments(args)
    if args.beam_size < 1:
        raise UserError(f"--beam-size must be >= 1, got {args.beam_size}")
    if args.beam_size > 1 and args.sample:
        raise UserError("--beam-size and --sample exclude each other (beam search is deterministic)")
    items = _data_dir_inputs(args.data_dir) if args.data_dir else _file_inputs(args.inputs)
    _check_outputs(args, items)
    slm = load_speech_lm(args)
    utts = sorted(items)
    texts = slm.asr([items[u] for u in utts], batch_size=args.batch_size, max_len=args.max_len,
                    beam_size=args.beam_size, length_penalty=args.length_penalty, raw_audio=args.raw_audio,
                    **sampling(args))
    hyps = dict(zip(utts, texts))
    stats = dict(slm.last_stats)
    if args.data_dir:
        out = Path(args.out)
        write_scp(out / "text", hyps)
        stats.update(beam_size=args.beam_size, lm_rate_hz=slm.lm.frame_rate / slm.g, frame_rate=slm.lm.frame_rate,
                     model=str(args.model), model_id=getattr(slm.lm, "model_id", None), codec_id=getattr(slm.codec, "model_id", None))
        atomic_write_text(out / "stats.json", json.dumps(stats, indent=2) + "\n")
        where = f"{out}/text"
    elif args.out:
        write_scp(args.out, hyps)
        where = args.out
    else:
        for u in utts:
            print(f"{u} {hyps[u]}".rstrip())
        where = "stdout"
    busy = stats["encode_seconds"] + stats["lm_seconds"]
    pieces = f" in {stats['pieces']} pieces" if stats.get("pieces", len(utts)) != len(utts) else ""
    print(f"transcribed {len(utts)} utterances{pieces} ({stats['audio_seconds']:.1f} s of speech, "
          f"{stats['audio_seconds'] / max(busy, 1e-9):.1f}x real time) -> {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
