"""Entry points. Each module: DESCRIPTION, add_arguments(parser), run(args) -> exit code.
`python -m audiotok.bin.<module>` and `audiotok <command>` share the same code via entry()."""

import argparse
import sys

from audiotok.errors import UserError


def run_command(fn, args, prog="audiotok"):
    """Run a subcommand; a UserError becomes one line on stderr and exit 1, Ctrl-C exit 130."""
    try:
        rc = fn(args)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0 if rc is None else int(rc)


def entry(module_name):
    """`if __name__ == "__main__": sys.exit(entry(__name__))` at the bottom of each bin module."""
    module = sys.modules[module_name]
    prog = "python -m " + (module.__spec__.name if module.__spec__ else module_name)
    parser = argparse.ArgumentParser(prog=prog, description=module.DESCRIPTION)
    module.add_arguments(parser)
    return run_command(module.run, parser.parse_args(), prog=prog)
