"""audiotok encode: audio files, folders or a Kaldi data dir -> .atok token files."""

import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin._backend import add_backend_argument, load_onnx
from audiotok.bin._files import (AUDIO_SUFFIXES, expand_inputs, plan_outputs, prepare_outputs,
                                 refuse_overwriting_inputs)
from audiotok.bin._parallel import report_failures, run_jobs
from audiotok.errors import UserError

DESCRIPTION = "Encode audio into token files (.atok) with a trained codec or tokenizer."


def add_arguments(p):
    p.add_argument("inputs", nargs="*", help="audio files or folders")
    p.add_argument("-o", "--out", required=True, help="output .atok (one input) or folder")
    p.add_argument("--model", default=None,
                   help="packed model dir, recipe exp dir or shipped model name (default: speech, the shipped "
                        "12.5 Hz speech codec)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--n-q", type=int, default=None, help="number of codebooks to keep (default: all)")
    g.add_argument("--kbps", type=float, default=None, help="target bitrate; picks the largest n_q under it")
    p.add_argument("--data-dir", help="Kaldi data dir: encode its wav.scp; writes OUT/<utt>.atok and OUT/tokens.scp")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--chunk-seconds", type=float, default=30.0, help="encode long files in chunks of this length")
    add_backend_argument(p)
    p.add_argument("--stream", action="store_true",
                   help="stream: read 16-bit mono PCM (raw at the model's rate, or a WAV stream) from the one input "
                        "('-' = stdin) and write token blocks to OUT ('-' = stdout) as frames complete "
                        "(causal models only)")
    p.add_argument("--stems", action="store_true",
                   help="a dual-track tokenizer (default: music) given each song as its two stems: inputs "
                        "VOCALS ACCOMPANIMENT, or with --data-dir its vocals.scp and accompaniment.scp; each stem "
                        "goes to its own track's codebook instead of the model's own split of the mix")
    p.add_argument("--block-frames", type=int, default=1,
                   help="--stream: frames per token block (1 = lowest latency; each block adds 6 bytes)")


def _load(model_dir, device):
    from audiotok import load_model

    return load_model(model_dir, device=device)


def _encode_one_onnx(codec, job):
    from audiotok.audio import truncation_warning
    from audiotok.onnx_runtime import encode_file

    key, src, dst, n_q, _ = job
    encode_file(codec, src, dst, n_q=n_q)
    return truncation_warning(src)


def _encode_one(model, job):
    """Encode one file; returns a warning line when its WAV is shorter than its header says."""
    from audiotok.audio import truncation_warning
    from audiotok.compress import encode_file

    key, src, dst, n_q, chunk = job
    encode_file(model, src, dst, n_q=n_q, chunk_seconds=chunk)
    return truncation_warning(src)


def _encode_one_stems(model, job):
    from audiotok.compress import encode_stems_file

    key, (vocals, accompaniment), dst, n_q, chunk = job
    encode_stems_file(model, vocals, accompaniment, dst, n_q=n_q, chunk_seconds=chunk)


def _name(model):
    """The name token files record (e.g. speech-12hz-v1), not the weights digest."""
    from audiotok.tokfile import model_identity

    return model_identity(model)[0] if hasattr(model, "describe") else model.model_id


def _jobs_from_data_dir(data_dir, out):
    from audiotok.data.kaldi_dir import read_scp

    scp = Path(data_dir) / "wav.scp"
    if not scp.is_file():
        raise UserError(f"{data_dir}: not a data dir (no wav.scp)")
    return [(utt, Path(path), Path(out) / f"{utt}.atok") for utt, path in read_scp(scp).items()]


def _stem_jobs(args):
    """(key, (vocals, accompaniment), out) per song: the two inputs, or a data dir's stem scp files."""
    from audiotok.data.kaldi_dir import read_scp

    if not args.data_dir:
        if len(args.inputs) != 2:
            raise UserError("--stems takes two inputs, VOCALS and ACCOMPANIMENT (or --data-dir)")
        vocals, accompaniment = map(Path, args.inputs)
        return [(vocals.stem, (vocals, accompaniment), Path(args.out))]
    d = Path(args.data_dir)
    if not (d / "wav.scp").is_file():
        raise UserError(f"{d}: not a data dir (no wav.scp)")
    keys = list(read_scp(d / "wav.scp"))
    stems = {}
    for name in ("vocals", "accompaniment"):
        if not (d / f"{name}.scp").is_file():
            raise UserError(f"{d}/{name}.scp: missing (--stems reads each song's stems from the data dir)")
        stems[name] = read_scp(d / f"{name}.scp")
        lacking = [k for k in keys if k not in stems[name]]
        if lacking:
            raise UserError(f"{d}/{name}.scp: lacks {len(lacking)} of the {len(keys)} songs of wav.scp "
                            f"(e.g. {lacking[0]})")
    return [(k, (Path(stems["vocals"][k]), Path(stems["accompaniment"][k])), Path(args.out) / f"{k}.atok")
            for k in keys]


def _n_q(model, args):
    if args.kbps is not None:
        lowest = model.code_rate(1) / 1000
        if not args.kbps >= lowest - 1e-9:
            raise UserError(f"--kbps {args.kbps:g} is below the lowest bitrate of this model: "
                            f"{lowest:.3f} kbps (n_q=1)")
        return model.n_q_for_kbps(args.kbps)
    return args.n_q


def _run_stream(args):
    from audiotok.pretrained import resolve_model
    from audiotok.streaming import PcmReader, encode_stream, stdio

    if len(args.inputs) != 1 or args.data_dir:
        raise UserError("--stream takes exactly one input: a PCM/WAV file or FIFO, or '-' for stdin")
    src, dst = args.inputs[0], args.out
    if src != "-" and dst != "-" and Path(src).resolve() == Path(dst).resolve():
        raise UserError(f"{dst}: the output would overwrite the input")
    if src != "-" and not Path(src).exists():
        raise UserError(f"{src}: no such file")
    if args.backend == "onnxruntime":
        model, n_q = load_onnx(args.model, 1), args.n_q
    else:
        model = _load(str(resolve_model(args.model, kind="speech")), args.device)
        n_q = _n_q(model, args)
    if n_q is not None:
        model.streams_for(n_q)
    model.stream_encoder(n_q)  # says now, before any output, when the model cannot stream
    name = "<stdin>" if src == "-" else src
    with stdio(src, "rb") as fin:
        pcm = PcmReader(fin, model.sample_rate, name)  # a bad WAV header fails here, before OUT exists
        with stdio(dst, "wb") as fout:
            frames, samples = encode_stream(model, pcm, fout, n_q=n_q, block_frames=args.block_frames)
    print(f"encoded {samples / model.sample_rate:.2f} s into {frames} frames with "
          f"{_name(model)} (stream, {args.backend}, n_q={n_q or model.total_codebooks}) "
          f"-> {dst}",
          file=sys.stderr)
    return 0


def run(args):
    if args.stream and args.stems:
        raise UserError("--stems does not stream: give the two stem files")
    if args.stream:
        return _run_stream(args)
    if bool(args.inputs) == bool(args.data_dir):
        raise UserError("give either input files/folders or --data-dir")
    if not args.chunk_seconds > 0:
        raise UserError(f"--chunk-seconds must be > 0, got {args.chunk_seconds:g}")
    if args.stems:
        if args.backend == "onnxruntime":
            raise UserError("--stems is for the torch backend")
        planned = _stem_jobs(args)
        outputs = [dst for _, _, dst in planned] + ([Path(args.out) / "tokens.scp"] if args.data_dir else [])
        inputs = [p for _, src, _ in planned for p in src]
    elif args.data_dir:
        planned = _jobs_from_data_dir(args.data_dir, args.out)
        outputs = [dst for _, _, dst in planned] + [Path(args.out) / "tokens.scp"]
        inputs = [src for _, src, _ in planned] + [Path(args.data_dir) / "wav.scp"]
    else:
        planned = plan_outputs(expand_inputs(args.inputs, AUDIO_SUFFIXES), args.out, ".atok", command="encode")
        outputs, inputs = [dst for _, _, dst in planned], [src for _, src, _ in planned]
    refuse_overwriting_inputs(outputs, inputs)
    if args.backend == "onnxruntime":
        model = load_onnx(args.model, 1)
        if args.kbps is not None:
            raise UserError("--kbps is for the torch backend; give --n-q with --backend onnxruntime")
        n_q = args.n_q
        if n_q is not None and not 1 <= n_q <= model.total_codebooks:
            raise UserError(f"--n-q must be in 1..{model.total_codebooks}, got {n_q}")
        load, one = load_onnx, _encode_one_onnx
        load_args = (args.model, 1)
    else:
        from audiotok.pretrained import resolve_model

        args.model = str(resolve_model(args.model, kind="music" if args.stems else "speech"))
        model = _load(args.model, args.device)
        n_q = _n_q(model, args)
        if n_q is not None:
            model.streams_for(n_q)  # validates the range
        load, one, load_args = _load, _encode_one_stems if args.stems else _encode_one, (args.model, args.device)
        if args.stems:
            from audiotok.compress import check_stem_routing

            check_stem_routing(model, args.model)
    prepare_outputs(outputs)
    jobs = [(key, src, dst, n_q, args.chunk_seconds) for key, src, dst in planned]
    warned = {}
    failures = run_jobs(jobs, one, load, load_args, nj=args.nj, desc="encode", model=model, warnings=warned)
    if args.data_dir:
        from audiotok.data.kaldi_dir import write_scp

        done = {key: str(dst.resolve()) for key, _, dst in planned if key not in failures}
        write_scp(Path(args.out) / "tokens.scp", done)
    truncated = f", {len(warned)} truncated" if warned else ""
    if args.backend == "onnxruntime":
        rate = "onnxruntime"
    else:
        rate = f"{model.bitrate(n_q) / 1000:.3f} kbps"
    print(
        f"encoded {len(jobs) - len(failures)} of {len(jobs)} files{truncated} with "
        f"{_name(model)} at n_q={n_q or model.total_codebooks} ({rate}) "
        f"-> {args.out}",
        file=sys.stderr,
    )
    report_failures(failures, len(jobs), "files")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
