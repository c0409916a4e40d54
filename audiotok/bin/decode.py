"""audiotok decode: .atok token files (or a tokens.scp) -> audio."""

import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.bin._files import expand_inputs, plan_outputs
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


def _load(model_dir, device):
    from audiotok import load_model

    return load_model(model_dir, device=device)


def _decode_one(model, job):
    from audiotok.compress import decode_file

    key, src, dst, n_q, kwargs = job
    decode_file(model, src, dst, n_q=n_q, **kwargs)


def _model_dir_of(first_token_file, given):
    from audiotok.pretrained import resolve_model, shipped_dir

    if given:
        return str(resolve_model(given))
    from audiotok.tokfile import read_header

    header = read_header(first_token_file)
    shipped = shipped_dir(header["model_id"])  # a shipped model is found by the name the file records
    if shipped is not None:
        return str(shipped)
    model_dir = header.get("model_dir")  # where this machine last encoded with that model
    if not model_dir:
        raise UserError(f"{first_token_file}: made by model {header['model_id']}, which does not ship with "
                        "audiotok and was not used on this machine; pass --model DIR")
    return model_dir


def run(args):
    if bool(args.inputs) == bool(args.scp):
        raise UserError("give either token files/folders or --scp")
    if args.scp:
        from audiotok.data.kaldi_dir import read_scp

        planned = [(k, Path(v), Path(args.out) / f"{k}.wav") for k, v in read_scp(args.scp).items()]
    else:
        planned = plan_outputs(expand_inputs(args.inputs, {".atok"}), args.out, ".wav")
    if not planned:
        raise UserError("nothing to decode")
    model_dir = _model_dir_of(planned[0][1], args.model)
    n_q = 1 if args.semantic_only else args.n_q
    kwargs = {"track": args.track} if args.track else {}
    jobs = [(key, src, dst, n_q, kwargs) for key, src, dst in planned]
    failures = run_jobs(jobs, _decode_one, _load, (model_dir, args.device), nj=args.nj, desc="decode")
    print(f"decoded {len(jobs) - len(failures)} of {len(jobs)} files -> {args.out}", file=sys.stderr)
    report_failures(failures, len(jobs), "files")
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
