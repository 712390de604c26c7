"""100 million annotations on one machine: ``dqlabels evaluate --no-crowdtruth`` on a Parquet file
of 10,000,000 items × 10 answers (issue 28: ≤ 2 min and ≤ 12 GB peak on a 2-core, 24 GB machine).

The file (generated once, seeded, into $DQLABELS_BENCH_DIR, default /tmp/dqlabels-bench): int64
item ids, int32 annotator ids (500 annotators, 10 distinct per item), int8 labels (5 classes;
each annotator right with its own accuracy between 0.55 and 0.95, else a uniformly drawn wrong
class), written in row groups of one million items. The run is the whole process, with
Dawid–Skene, the labels CSV and the JSON report; printed: wall seconds, peak resident memory,
the machine, and the sizes of the outputs.

Usage: python benchmarks/bench_100m.py [--items 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import DEFAULT_DIR, machine  # noqa: E402
from bench_core import run  # noqa: E402

PER_ITEM, NUM_ANNOTATORS, NUM_CLASSES = 10, 500, 5
GROUP_ITEMS = 1_000_000


def write_parquet(path: Path, num_items: int, seed: int = 0) -> None:
    """The campaign, one row group of ``GROUP_ITEMS`` items at a time (memory stays small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, NUM_ANNOTATORS)
    schema = pa.schema([("item", pa.int64()), ("annotator", pa.int32()), ("label", pa.int8())])
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for first in range(0, num_items, GROUP_ITEMS):
            n = min(GROUP_ITEMS, num_items - first)
            item = np.repeat(np.arange(first, first + n, dtype=np.int64) + 10**9, PER_ITEM)
            # 10 distinct annotators per item: a random start and a stride below 500 / 9.
            start = rng.integers(0, NUM_ANNOTATORS, n)[:, None]
            stride = rng.integers(1, 50, n)[:, None]
            annotator = ((start + stride * np.arange(PER_ITEM)) % NUM_ANNOTATORS).reshape(-1)
            truth = np.repeat(rng.integers(0, NUM_CLASSES, n), PER_ITEM)
            right = rng.random(n * PER_ITEM) < accuracy[annotator]
            wrong = (truth + rng.integers(1, NUM_CLASSES, n * PER_ITEM)) % NUM_CLASSES
            label = np.where(right, truth, wrong).astype(np.int8)
            writer.write_table(pa.table({"item": item, "annotator": annotator.astype(np.int32),
                                         "label": label}, schema=schema))
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the outputs")
    args = parser.parse_args()
    DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
    data = DEFAULT_DIR / f"long-{args.items * PER_ITEM // 1_000_000}M.parquet"
    if not data.exists():
        write_parquet(data, args.items)
    labels, report = DEFAULT_DIR / "labels-big.csv", DEFAULT_DIR / "report-big.json"
    print(f"machine: {machine()}")
    print(f"data: {data} ({data.stat().st_size / 1e6:.0f} MB, {args.items * PER_ITEM:,} "
          f"annotations, {args.items:,} items × {PER_ITEM}, {NUM_ANNOTATORS} annotators, "
          f"{NUM_CLASSES} classes)")
    seconds, peak, _ = run(argv=[sys.executable, "-m", "dqlabels_cli", "evaluate", str(data),
                                 "--labels", str(labels), "--json", str(report),
                                 "--no-crowdtruth", "-q", "--overwrite"])
    print(f"evaluate --no-crowdtruth: {seconds:.1f} s, peak {peak / 1024:.2f} GB "
          f"(targets: ≤ 120 s, ≤ 12 GB); labels CSV {labels.stat().st_size / 1e9:.2f} GB")
    if not args.keep:
        labels.unlink()
        report.unlink()


if __name__ == "__main__":
    main()
