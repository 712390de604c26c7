"""Array work on all cores: one shared thread pool, one size rule, and the row-sum trick.

The numpy, scipy, pyarrow and numba kernels the library runs release the GIL, so plain threads
put both cores of a small machine to work on a million-item campaign without copying data to
other processes.

One rule decides when work goes to the pool (:func:`map_blocks`): when it comes in more than one
part and touches at least :data:`PARALLEL_CELLS` array elements in all; below that, handing the
parts to threads costs more than it saves (``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

PARALLEL_CELLS = 2_000_000  # elements of work from which the pool pays off
BLOCK_CELLS = 1 << 18  # 2 MiB of int64: a block stays in cache across its several passes
_POOL = None
_POOL_LOCK = threading.Lock()


def num_workers() -> int:
    """Cores this process may use (at most 8)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def pool() -> ThreadPoolExecutor:
    """The process-wide thread pool, made on first use (by whichever thread asks first:
    ``evaluate`` fits Dawid–Skene on a thread of its own)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(num_workers(), thread_name_prefix="dqlabels")
    return _POOL


SHARED_SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005


@contextlib.contextmanager
def sharing_the_interpreter():
    """While two threads of ours work side by side, one of them running Python (an import, say)
    and the other numpy: the interpreter hands over every 0.5 ms instead of every 5 ms, so that
    the numpy thread, which needs the interpreter for a moment between its array passes, does
    not wait up to 5 ms each time (``evaluate`` fits Dawid–Skene, whose numba start is Python,
    beside the tallies: 0.15-0.2 s less of 2.9 s on 2 million annotations; and builds the audit
    beside the labels file's blocks: their writing 0.55 -> 0.35-0.45 s; benchmarks/README.md).
    The previous interval is restored afterwards."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SHARED_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def map_blocks(function, *parts, size: int) -> list:
    """``[function(*args) for args in zip(*parts)]``, on the shared pool when the work is worth
    it: more than one part, at least :data:`PARALLEL_CELLS` elements of work in all (``size``,
    the caller's estimate), and more than one core. Results keep the parts' order.

    Examples:
        >>> map_blocks(sum, [[1, 2], [3]], size=3)
        [3, 3]
    """
    parts = [list(p) for p in parts]
    if min(len(p) for p in parts) > 1 and size >= PARALLEL_CELLS and num_workers() > 1:
        return list(pool().map(function, *parts))
    return [function(*args) for args in zip(*parts)]


def by_row_blocks(shape, block) -> None:
    """Call ``block(slice)`` over cache-sized row blocks of a ``shape`` matrix.

    Each block is read from memory once and reused from cache by the passes that follow.
    """
    rows, cols = shape
    step = max(1, BLOCK_CELLS // max(cols, 1))
    slices = [slice(start, min(start + step, rows)) for start in range(0, rows, step)] or \
        [slice(0, 0)]
    map_blocks(block, slices, size=rows * cols)


def row_sums(matrix: np.ndarray, dtype=None) -> np.ndarray:
    """Sums of the rows of a 2-D array, as a product with a ones vector: several times faster
    than ``matrix.sum(axis=1)`` on the short rows (a few classes) this library sums."""
    matrix = np.asarray(matrix)
    return matrix @ np.ones(matrix.shape[1], dtype=dtype or matrix.dtype)
