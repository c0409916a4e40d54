"""Entry points. Each module: DESCRIPTION, add_arguments(parser), run(args) -> exit code.
`python -m audiotok.bin.<module>` and `audiotok <command>` share the same code via entry().

Importing this package (every entry point does, before torch) makes OpenMP threads wait passively."""

import argparse
import os
import shlex
import sys

from audiotok.errors import UserError


def use_passive_omp_wait(environ=os.environ):
    """OMP_WAIT_POLICY=PASSIVE unless the user chose a policy: spinning OpenMP threads make torch
    5-10x slower on a machine other jobs share. OpenMP reads it once, when torch loads, so this must
    run before the first `import torch`. Returns the policy in effect."""
    return environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


use_passive_omp_wait()


def run_command(fn, args, prog="audiotok", argv=()):
    """Run a subcommand; a UserError becomes one line on stderr and exit 1, Ctrl-C exit 130.
    `argv`: its arguments as given (after the subcommand), kept for `command_line`."""
    args._command_line = " ".join([prog] + [shlex.quote(str(a)) for a in argv])
    try:
        rc = fn(args)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.filename is None:
            raise
        # a file the commands did not check themselves (disk full, permissions): still one line
        print(f"{prog}: error: {e.filename}: {e.strerror or type(e).__name__}", file=sys.stderr)
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
    return run_command(module.run, parser.parse_args(), prog=prog, argv=sys.argv[1:])


def command_line(args):
    """The command as it was typed (`audiotok content-probe ...` or `python -m audiotok.bin...`), for the
    environment block of a RESULTS.md section."""
    return getattr(args, "_command_line", None) or "audiotok"


def parse_systems(specs, usage="NAME=TRAIN,TEST"):
    """Repeated `--system NAME=A,B` options -> {name: (A, B)}, in the order given."""
    systems = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        first, comma, second = rest.partition(",")
        if not sep or not name or not comma or not first or not second:
            raise UserError(f"--system {spec!r}: expected {usage}")
        if name in systems:
            raise UserError(f"--system: '{name}' given twice")
        systems[name] = (first, second)
    return systems
