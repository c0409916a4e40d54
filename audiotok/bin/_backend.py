"""The --backend option of encode and decode: PyTorch, or onnxruntime running an `audiotok export`."""

from audiotok.errors import UserError

HINT = "a codec exported with audiotok export --format onnx -o DIR"


def add_backend_argument(p):
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help=f"onnxruntime: run {HINT} (give it as --model DIR) without torch")


def load_onnx(model_dir, threads=1):
    """The OnnxCodec in `model_dir` (one thread per process: --nj runs processes side by side)."""
    if not model_dir:
        raise UserError(f"--backend onnxruntime needs --model DIR: {HINT}")
    from audiotok.onnx_runtime import OnnxCodec

    return OnnxCodec(model_dir, threads)
