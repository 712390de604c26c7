"""Is ``dqlabels evaluate`` within 2× of the naive pandas script? Paired runs (issue 28).

2,000,000 long-format annotations (400,000 items × 5, 3,000 annotators, 5 classes; generated,
written as CSV to $DQLABELS_BENCH_DIR, default /tmp/dqlabels-bench). Each round runs, each in a
fresh process and back to back: the naive script (``benchmarks/naive_pandas.py``: read_csv,
value counts per item, majority and soft labels), ``dqlabels evaluate FILE --labels L --json J
--no-crowdtruth``, and the same with the default CrowdTruth. Printed: the median of ``--rounds``
paired rounds of each, and the ratios to the naive script (targets: ≤ 2.0× without CrowdTruth,
≤ 6× with it), with the machine.

``--shape cifar10h`` runs the same on a table shaped like the one ``dqlabels datasets get
cifar10h`` writes: 10,000 images × 50 answers (500,000), 2,500 annotators, the ten CIFAR-10
class names, ids ``images/test_00042.png`` and integer annotator ids, and a reaction_time
column (issue 39: the real campaign audited at its size).

Usage: python benchmarks/bench_evaluate.py [--rounds 5] [--shape 2m|cifar10h]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import DEFAULT_DIR, machine, make_long_annotations, write_long_csv  # noqa: E402
from bench_core import run  # noqa: E402

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def write_cifar10h_shaped(path: Path) -> None:
    """The long table ``datasets get cifar10h`` writes, at its size, from a simulated crowd."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    item, annotator, label = make_long_annotations(num_items=10_000, num_classes=10,
                                                   num_annotators=2_500, per_item=50)
    names = pa.array([f"images/test_{i:05d}.png" for i in range(10_000)])
    table = pa.table({
        "item": names.take(pa.array(item)),
        "annotator": pc.cast(pa.array(annotator), pa.string()),
        "label": pa.array(CIFAR10_CLASSES).take(pa.array(label)),
        "reaction_time": pa.array(np.random.default_rng(1).gamma(2.0, 900.0, item.size)
                                  .round(1)),
    })
    pacsv.write_csv(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shape", choices=("2m", "cifar10h"), default="2m")
    args = parser.parse_args()
    DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
    if args.shape == "cifar10h":
        data = DEFAULT_DIR / "long-cifar10h.csv"
        if not data.exists():
            write_cifar10h_shaped(data)
        what = "500,000 answers, 10,000 images, 10 classes, 2,500 annotators, CIFAR-10H-shaped"
    else:
        data = DEFAULT_DIR / "long-2M.csv"
        if not data.exists():
            write_long_csv(data, *make_long_annotations(num_items=400_000, num_classes=5,
                                                        num_annotators=3_000, per_item=5),
                           num_classes=5)
        what = "2,000,000 annotations, 400,000 items, 5 classes, 3,000 annotators"
    print(f"machine: {machine()}")
    print(f"data: {data} ({data.stat().st_size / 1e6:.0f} MB, {what}); {args.rounds} paired "
          f"rounds\n")
    dq = [sys.executable, "-m", "dqlabels_cli", "evaluate", str(data), "--labels",
          str(DEFAULT_DIR / "labels.csv"), "--json", str(DEFAULT_DIR / "report.json"), "-q",
          "--overwrite"]
    times = {"naive": [], "evaluate": [], "evaluate+crowdtruth": []}
    memory = {name: 0.0 for name in times}
    for _ in range(args.rounds):
        for name, argv in (("naive", [sys.executable, str(HERE / "naive_pandas.py"), str(data)]),
                           ("evaluate", [*dq, "--no-crowdtruth"]),
                           ("evaluate+crowdtruth", dq)):
            seconds, peak, _ = run(argv=argv)
            times[name].append(seconds)
            memory[name] = max(memory[name], peak)
    naive = statistics.median(times["naive"])
    print("| command | median s | peak MB | vs naive | target |")
    print("|---|---:|---:|---:|---|")
    for name, target in (("naive", ""), ("evaluate", "≤ 2.0×"), ("evaluate+crowdtruth", "≤ 6×")):
        median = statistics.median(times[name])
        print(f"| {name} | {median:.2f} | {memory[name]:.0f} | {median / naive:.2f}× | {target} |")


if __name__ == "__main__":
    main()
