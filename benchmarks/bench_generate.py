"""Benchmark of `dqlabels generate`: 15,000 images at 64×64 and at 224×224.

Ratio against the floor measured in the same run: PNG-encoding the same (pre-rendered) arrays
with the same encoder settings on the same number of worker processes, to memory. A second
reference also writes the files (what no generator can avoid).

Targets (issue 3): generation within 1.5× of the encode-only floor; 15,000 images at 64×64 in
under 30 s on 2 cores.

Usage: python benchmarks/bench_generate.py [--num-images N] [--sizes 64,224]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import machine  # noqa: E402

from dqlabels._parallel import num_workers  # noqa: E402
from dqlabels.data.synthetic import (  # noqa: E402
    CHUNK_IMAGES,
    COMPRESS_LEVEL,
    generate_dataset,
    render_rgbx,
    sample_parameters,
)

_IMAGES = None  # pre-rendered pixels, shared with forked workers


def _encode(bounds, write_to=None):
    from PIL import Image

    start, stop = bounds
    size = (_IMAGES.shape[1], _IMAGES.shape[2])
    for i in range(start, stop):
        image = Image.frombytes("RGB", size, _IMAGES[i].tobytes(), "raw", "RGBX")
        target = io.BytesIO() if write_to is None else Path(write_to) / f"{i:05d}.png"
        image.save(target, format="PNG", compress_level=COMPRESS_LEVEL)
    return stop - start


def _encode_to_files(args):
    return _encode(args[0], args[1])


def floor(num_images, size, workers, write_dir=None):
    global _IMAGES
    params = sample_parameters(num_images, seed=0)
    _IMAGES = np.concatenate([render_rgbx(params.take(slice(i, i + CHUNK_IMAGES)), size)
                              for i in range(0, num_images, CHUNK_IMAGES)])
    chunks = [(i, min(i + CHUNK_IMAGES, num_images)) for i in range(0, num_images, CHUNK_IMAGES)]
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        if write_dir is None:
            list(pool.map(_encode, chunks))
        else:
            list(pool.map(_encode_to_files, [(c, write_dir) for c in chunks]))
    seconds = time.perf_counter() - start
    _IMAGES = None
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=15_000)
    parser.add_argument("--sizes", default="64,224")
    parser.add_argument("--dir", default=None,
                        help="where to write (default: the system temp folder); /dev/shm "
                             "takes the disk out of the measurement")
    args = parser.parse_args()
    workers = num_workers()
    print(f"machine: {machine()}; worker processes: {workers}; writing under "
          f"{args.dir or tempfile.gettempdir()}")
    print(f"{'size':>5} {'images':>7} {'generate s':>11} {'encode s':>9} {'enc+write s':>12} "
          f"{'ratio':>7} {'ratio (w)':>9}")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        scratch = Path(tempfile.mkdtemp(prefix="dqlabels-bench-gen-", dir=args.dir))
        try:
            start = time.perf_counter()
            generate_dataset(scratch / "data", num_images=args.num_images, image_size=size, seed=0)
            ours = time.perf_counter() - start
            encode_only = floor(args.num_images, size, workers)
            (scratch / "floor").mkdir()
            encode_write = floor(args.num_images, size, workers, scratch / "floor")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results.append((size, ours, encode_only))
        print(f"{size:>5} {args.num_images:>7} {ours:>11.2f} {encode_only:>9.2f} "
              f"{encode_write:>12.2f} {ours / encode_only:>6.2f}× {ours / encode_write:>8.2f}×")
    print()
    for size, ours, encode_only in results:
        print(f"{'PASS' if ours <= 1.5 * encode_only else 'MISS'}  {size}×{size}: within 1.5× of "
              f"the encode-only floor")
        if size == 64:
            print(f"{'PASS' if ours < 30 else 'MISS'}  64×64: {args.num_images} images under 30 s")


if __name__ == "__main__":
    main()
