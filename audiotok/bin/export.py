"""audiotok export: a trained speech codec -> ONNX graphs that onnxruntime runs without torch."""

import sys
import time

from audiotok.bin import entry

DESCRIPTION = "Export a speech codec to ONNX (encoder.onnx, decoder.onnx, onnx.json) for onnxruntime."


def add_arguments(p):
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    p.add_argument("--model", default=None,
                   help="packed model dir, recipe exp dir or shipped model name (default: speech, the shipped codec)")
    p.add_argument("-o", "--out", required=True, help="output dir (replaced only if it is an earlier ONNX export)")
    p.add_argument("--no-check", action="store_true", help="skip running both graphs against PyTorch on a test signal")


def run(args):
    from audiotok import load_model
    from audiotok.onnx_export import export_onnx, parity
    from audiotok.tokfile import model_identity

    model = load_model(args.model)
    start = time.time()
    out = export_onnx(model, args.out)
    msg = f"exported {model_identity(model)[0]} to {out} in {time.time() - start:.0f} s"
    if not args.no_check:
        diff = parity(model, out)
        msg += (f"; onnxruntime vs torch on a test signal: codes {diff['codes_equal']:.1%} equal, "
                f"audio max abs diff {diff['audio_max_abs']:.1e}")
    print(msg, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
