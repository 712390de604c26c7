"""The ``dqlabels`` command line (installed as the ``dqlabels_cli`` package).

The audit's commands (``evaluate``, ``plan``) are one pass over arrays in a process that ends
when they do, so two of Python's and numpy's defaults only cost them time, and are set here,
before numpy loads (:func:`tune_for_the_audit`; ``benchmarks/README.md`` has the measurements).
"""

from __future__ import annotations

import gc
import os
import sys

AUDIT_COMMANDS = ("evaluate", "plan")


def tune_for_the_audit(argv: list[str]) -> None:
    """For ``dqlabels evaluate`` and ``dqlabels plan`` (``argv[1]``): OpenBLAS with one thread,
    unless ``OPENBLAS_NUM_THREADS`` is set already (the audit's matrix products are a few
    classes wide; OpenBLAS's workers, woken by each product, spin for a while after it and
    take a core from the audit's own threads), and no cyclic garbage collection (the audit
    makes no reference cycles worth finding, and a full collection during numba's start holds
    the interpreter for 0.05 s)."""
    if argv[1:2] and argv[1] in AUDIT_COMMANDS:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        gc.disable()


tune_for_the_audit(sys.argv)
