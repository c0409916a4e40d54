"""audiotok benchmarks (see bench/run_all.py and bench/RESULTS.md).

OpenMP threads wait passively unless the caller says otherwise: on a machine shared with other
jobs, spinning threads (libgomp's default) lose their time slices to each other and made every
model here 5-10x slower under load. Set before torch is imported, so it reaches libgomp; child
processes (the CLI runs) inherit it.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
