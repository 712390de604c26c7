"""Is ``dqlabels evaluate`` within 2× of the naive pandas script? Paired runs (issue 28).

2,000,000 long-format annotations (400,000 items × 5, 3,000 annotators, 5 classes; generated,
written as CSV to $DQLABELS_BENCH_DIR, default /tmp/dqlabels-bench). Each round runs, each in a
fresh process and back to back: the naive script (``benchmarks/naive_pandas.py``: read_csv,
value counts per item, majority and soft labels), ``dqlabels evaluate FILE --labels L --json J
--no-crowdtruth``, and the same with the default CrowdTruth. Printed: the median of ``--rounds``
paired rounds of each, and the ratios to the naive script (targets: ≤ 2.0× without CrowdTruth,
≤ 6× with it), with the machine.

Usage: python benchmarks/bench_evaluate.py [--rounds 5]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
    data = DEFAULT_DIR / "long-2M.csv"
    if not data.exists():
        write_long_csv(data, *make_long_annotations(num_items=400_000, num_classes=5,
                                                    num_annotators=3_000, per_item=5),
                       num_classes=5)
    print(f"machine: {machine()}")
    print(f"data: {data} ({data.stat().st_size / 1e6:.0f} MB, 2,000,000 annotations, 400,000 "
          f"items, 5 classes, 3,000 annotators); {args.rounds} paired rounds\n")
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
