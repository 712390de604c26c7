"""One shared thread pool for the memory-bound numpy, scipy and pyarrow kernels.

These kernels release the GIL, so plain threads put both cores of a small machine to work on
a million-item campaign without copying data to other processes.
"""

from __future__ import annotations

import os
import threading

PARALLEL_CELLS = 2_000_000  # below this, one thread: the hand-off costs more than it saves
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


def pool():
    """The process-wide thread pool, made on first use (by whichever thread asks first:
    ``evaluate`` fits Dawid–Skene on a thread of its own)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(num_workers(), thread_name_prefix="dqlabels")
    return _POOL


def by_row_blocks(shape, block) -> None:
    """Call ``block(slice)`` over cache-sized row blocks, on all cores for large matrices.

    Each block is read from memory once and reused from cache by the passes that follow.
    Small inputs run in one call on the calling thread.
    """
    rows, cols = shape
    if rows * cols < PARALLEL_CELLS:
        block(slice(0, rows))
        return
    step = max(1, BLOCK_CELLS // max(cols, 1))
    slices = [slice(start, min(start + step, rows)) for start in range(0, rows, step)]
    if num_workers() == 1:
        for part in slices:
            block(part)
        return
    list(pool().map(block, slices))
