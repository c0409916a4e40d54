"""audiotok decode: .atok token files (or a tokens.scp) -> audio."""

import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin._backend import add_backend_argument, load_onnx
from audiotok.bin._files import expand_inputs, plan_outputs, prepare_outputs, refuse_overwriting_inputs
from audiotok.bin._parallel import report_failures, run_jobs
from audiotok.errors import UserError

DESCRIPTION = "Decode token files (.atok) back to audio."


def add_arguments(p):
    p.add_argument("inputs", nargs="*", help=".atok files or folders")
    p.add_argument("-o", "--out", required=True, help="output .wav (one input) or folder")
    p.add_argument("--model", help="model dir or shipped model name (default: the model the token file names, "
                                   "when it ships with audiotok or encoded on this machine)")
    p.add_argument("--scp", help="a tokens.scp (utt -> .atok path) as written by encode --data-dir")
    p.add_argument("--n-q", type=int, default=None, help="decode with only the first N codebooks")
    p.add_argument("--semantic-only", action="store_true", help="decode from the first (semantic) codebook only")
    p.add_argument("--track", default=None, help="music tokenizers: vocals, accompaniment or mix")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_backend_argument(p)
    p.add_argument("--stream", action="store_true",
                   help="stream: read token blocks from the one input ('-' = stdin) and write 16-bit PCM to OUT as "
                        "it becomes final: '-' = raw PCM on stdout (WAV with --wav), a .wav path = a WAV file "
                        "(causal models only)")
    p.add_argument("--wav", action="store_true", help="--stream to stdout: a WAV stream instead of raw PCM")


def _load(model_dir, device):
    from audiotok import load_model

    return load_model(model_dir, device=device)


def _decode_one_onnx(codec, job):
    from audiotok.onnx_runtime import decode_file

    key, src, dst, n_q, _ = job
    decode_file(codec, src, dst, n_q=n_q)


def _decode_one(model, job):
    from audiotok.compress import decode_file

    key, src, dst, n_q, kwargs = job
    decode_file(model, src, dst, n_q=n_q, **kwargs)


def _first_header(token_files):
    """(path, header) of the first token file that can be read, or (None, None); the unreadable ones are
    left to their jobs, which report each of them (a bad first file must not stop the batch)."""
    from audiotok.tokfile import read_header

    for path in token_files:
        try:
            return path, read_header(path)
        except UserError:
            continue
    return None, None


def _model_dir_of(header, given, first_file):
    from audiotok.pretrained import resolve_model, shipped_dir

    if given:
        return str(resolve_model(given))
    shipped = shipped_dir(header["model_id"])  # a shipped model is found by the name the file records
    if shipped is not None:
        return str(shipped)
    model_dir = header.get("model_dir")  # where this machine last encoded with that model
    if not model_dir:
        raise UserError(f"{first_file}: made by model {header['model_id']}, which does not ship with "
                        "audiotok and was not used on this machine; pass --model DIR")
    return model_dir


def _check_track(header, track):
    """--track only means something to a model whose decode takes a track (the music tokenizers)."""
    import inspect

    from audiotok.registry import model_class

    # token files name their model by id, "<model_type>-<digest>"
    model_type = header.get("model_type") or str(header.get("model_id") or "").rsplit("-", 1)[0]
    try:
        cls = model_class(model_type)
    except UserError:
        return  # the jobs say what is wrong with the model
    if "track" not in inspect.signature(cls.decode).parameters:
        raise UserError(f"--track {track}: model {model_type} has no tracks (only music tokenizers take --track)")


def _fail_all(planned):
    """No token file could be read: report each one, like any failed file of a batch."""
    from audiotok.tokfile import read_header

    for _, src, _ in planned:
        try:
            read_header(src)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
    raise UserError(f"{len(planned)} of {len(planned)} files failed (see the errors above)")


def _run_stream(args):
    from audiotok.streaming import decode_stream, stdio

    if len(args.inputs) != 1 or args.scp:
        raise UserError("--stream takes exactly one input: an .atok file or FIFO, or '-' for stdin")
    if args.track:
        raise UserError("--stream decodes speech codecs; --track is for music tokenizers")
    src, dst = args.inputs[0], args.out
    if src != "-" and not Path(src).exists():
        raise UserError(f"{src}: no such file")
    wav = args.wav or (dst != "-" and Path(dst).suffix.lower() == ".wav")
    if dst != "-" and Path(dst).suffix.lower() not in (".wav", ".raw", ".pcm"):
        raise UserError(f"{dst}: --stream writes .wav, or raw 16-bit PCM to .raw/.pcm or '-'")
    name = "<stdin>" if src == "-" else src
    loaded = {}

    def model_for(header):
        if args.backend == "onnxruntime":
            model = load_onnx(args.model, 1)
            model.check_header(header, name)
        else:
            model = _load(_model_dir_of(header, args.model, name), args.device)
        model.stream_decoder()  # says now when the model cannot stream
        loaded["model"] = model
        return model

    n_q = 1 if args.semantic_only else args.n_q
    with stdio(src, "rb") as fin, stdio(dst, "wb") as fout:
        samples, problem = decode_stream(fin, fout, model_for, wav=wav, n_q=n_q, name=name)
    model = loaded.get("model")
    seconds = f"{samples / model.sample_rate:.2f} s" if model else "nothing"
    if problem:
        raise UserError(f"{name}: {problem}; decoded {seconds} up to there -> {dst}")
    print(f"decoded {seconds} (stream) -> {dst}", file=sys.stderr)
    return 0


def run(args):
    if args.stream:
        return _run_stream(args)
    if bool(args.inputs) == bool(args.scp):
        raise UserError("give either token files/folders or --scp")
    if args.scp:
        from audiotok.data.kaldi_dir import read_scp

        planned = [(k, Path(v), Path(args.out) / f"{k}.wav") for k, v in read_scp(args.scp).items()]
        inputs = [src for _, src, _ in planned] + [Path(args.scp)]
    else:
        planned = plan_outputs(expand_inputs(args.inputs, {".atok"}), args.out, ".wav",
                               file_suffixes={".wav", ".flac"}, command="decode")
        inputs = [src for _, src, _ in planned]
    if not planned:
        raise UserError("nothing to decode")
    refuse_overwriting_inputs([dst for _, _, dst in planned], inputs)
    prepare_outputs([dst for _, _, dst in planned])
    first, header = _first_header(src for _, src, _ in planned)
    if header is None:
        _fail_all(planned)
    n_q = 1 if args.semantic_only else args.n_q
    if args.backend == "onnxruntime":
        if args.track:
            raise UserError("--backend onnxruntime decodes speech codecs; --track is for music tokenizers")
        codec = load_onnx(args.model, 1)
        jobs = [(key, src, dst, n_q, {}) for key, src, dst in planned]
        failures = run_jobs(jobs, _decode_one_onnx, load_onnx, (args.model, 1), nj=args.nj, desc="decode",
                            model=codec)
    else:
        if args.track:
            _check_track(header, args.track)
        model_dir = _model_dir_of(header, args.model, first)
        kwargs = {"track": args.track} if args.track else {}
        jobs = [(key, src, dst, n_q, kwargs) for key, src, dst in planned]
        failures = run_jobs(jobs, _decode_one, _load, (model_dir, args.device), nj=args.nj, desc="decode")
    print(f"decoded {len(jobs) - len(failures)} of {len(jobs)} files -> {args.out}", file=sys.stderr)
    report_failures(failures, len(jobs), "files")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
