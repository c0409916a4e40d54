"""The `audiotok` command. Each subcommand lives in its own module under audiotok/bin/
(also runnable as `python -m audiotok.bin.<module>`), imported only when used."""

import argparse
import importlib
import importlib.util
import sys

import audiotok.bin  # noqa: F401  first: sets OMP_WAIT_POLICY before any subcommand imports torch
from audiotok import __version__

# subcommand -> module under audiotok.bin; a module defines DESCRIPTION, add_arguments(p), run(args) -> int
COMMANDS = {
    "info": "info",
    "synth-corpus": "synth_corpus",
    "synth-eval-voices": "synth_eval_voices",
    "validate-data-dir": "validate_data_dir",
    "fix-data-dir": "fix_data_dir",
    "split-data-dir": "split_data_dir",
    "subset-data-dir": "subset_data_dir",
    "format-data-dir": "format_data_dir",
    "train": "train",
    "encode": "encode",
    "decode": "decode",
    "score": "score",
    "score-compare": "score_compare",
    "pack": "pack",
    "export": "export",
    "curves": "curves",
    "synth-music": "synth_music",
    "token-ppl": "token_ppl",
    "token-lm": "token_ppl",  # the old name of token-ppl (quoted in committed RESULTS.md files)
    "content-probe": "content_probe",
    "align-text": "align_text",
    "lm-vocab": "lm_vocab",
    "lm-report": "lm_report",
    "asr": "asr",
    "tts": "tts",
    "spk-sim": "spk_sim",
    "demo": "demo",
}


def _available():
    for name, mod in COMMANDS.items():
        if importlib.util.find_spec(f"audiotok.bin.{mod}") is not None:
            yield name, mod


def build_parser():
    parser = argparse.ArgumentParser(
        prog="audiotok", description="Speech and music tokenizers, codecs and a unified speech LM."
    )
    parser.add_argument("--version", action="version", version=f"audiotok {__version__}")
    # dest "_subcommand": a subcommand may have its own --command option (lm-report does)
    sub = parser.add_subparsers(dest="_subcommand", metavar="COMMAND")
    for name, mod in _available():
        module = importlib.import_module(f"audiotok.bin.{mod}")
        # argparse %-formats help strings (not descriptions): a literal "95 %" must reach it as "%%"
        p = sub.add_parser(name, help=module.DESCRIPTION.replace("%", "%%"), description=module.DESCRIPTION)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    from audiotok.bin import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    name = getattr(args, "_subcommand", None)
    if not name:
        parser.print_help()
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(args._run, args, prog=f"audiotok {name}", argv=argv[argv.index(name) + 1:])


if __name__ == "__main__":
    sys.exit(main())
