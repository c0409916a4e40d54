"""Entry points. Each module: DESCRIPTION, add_arguments(parser), run(args) -> exit code.
`python -m audiotok.bin.<module>` and `audiotok <command>` share the same code via entry().

Importing this package (every entry point does, before torch) makes OpenMP threads wait passively."""

import argparse
import os
import sys

from audiotok.errors import UserError


def use_passive_omp_wait(environ=os.environ):
    """OMP_WAIT_POLICY=PASSIVE unless the user chose a policy: spinning OpenMP threads make torch
    5-10x slower on a machine other jobs share. OpenMP reads it once, when torch loads, so this must
    run before the first `import torch`. Returns the policy in effect."""
    return environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


use_passive_omp_wait()


def run_command(fn, args, prog="audiotok"):
    """Run a subcommand; a UserError becomes one line on stderr and exit 1, Ctrl-C exit 130."""
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
    return run_command(module.run, parser.parse_args(), prog=prog)
