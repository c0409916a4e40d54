"""audiotok demo: serve the Gradio demo (demo/app.py of the source checkout) on trained models."""

import importlib.util
import sys
from pathlib import Path

from audiotok.bin import entry
from audiotok.errors import UserError

DESCRIPTION = "Start the Gradio demo (codec, ASR, TTS, music) on trained model dirs; local only."

REPO = Path(__file__).resolve().parents[2]  # the checkout that holds demo/ and egs/


def add_arguments(p):
    p.add_argument("--exp", nargs="+", action="extend", default=[], metavar="DIR",
                   help="packed model dirs, recipe exp dirs or recipe dirs to show after the shipped models "
                        "(default: every model the recipes under the checkout produced: egs/*/*/exp/packed/* "
                        "and egs/*/*/exp/*/model)")
    p.add_argument("--no-shipped", "--no_shipped", dest="shipped", action="store_false",
                   help="leave out the models that ship with audiotok (show only --exp / recipe outputs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 serves the whole network)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest input clip accepted")
    p.add_argument("--root", default=str(REPO), help="where to look for recipe outputs when no --exp is given")


def _check_demo_deps():
    if not (REPO / "demo" / "app.py").is_file():
        raise UserError(f"{REPO / 'demo' / 'app.py'}: not found (the demo ships with the source checkout)")
    for mod in ("gradio", "matplotlib"):
        if importlib.util.find_spec(mod) is None:
            raise UserError(f"the demo needs {mod}: pip install -e '{REPO}[demo]'")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def run(args):
    if args.max_seconds <= 0:
        raise UserError(f"--max-seconds must be positive, got {args.max_seconds}")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, got {args.port}")
    _check_demo_deps()
    from demo.models import ModelStore

    # the shipped models first, then --exp dirs (or the recipe outputs of the checkout); bad dirs fail
    # before gradio loads
    store = ModelStore.from_dirs(args.exp, root=args.root, device=args.device, shipped=args.shipped)
    from demo import app

    if not store.entries:
        print(f"audiotok demo: no trained models under {args.root}; run `make mini` to train one "
              "(the demo starts anyway and says so)", file=sys.stderr)
    try:
        app.serve(store, host=args.host, port=args.port, max_seconds=args.max_seconds)
    except OSError as e:
        why = "the port is in use (pick another with --port)" if "empty port" in str(e) else str(e)
        raise UserError(f"cannot serve on {args.host}:{args.port}: {why}") from None
    return 0


if __name__ == "__main__":
    sys.exit(entry(__name__))
