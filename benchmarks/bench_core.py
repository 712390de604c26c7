"""Benchmark of the data-quality core on 10 million long-format annotations.

1,000,000 items × 10 annotations, 10 classes, 2,000 annotators (generated, written as CSV to
$DQLABELS_BENCH_DIR, default /tmp/dqlabels-bench). Each stage runs in a fresh process so its
time and peak memory (max RSS) are its own. Ratios compare with baselines measured in the same
run:

- floor: ``np.bincount`` on pre-encoded integer arrays (building the counts matrix, nothing else);
- naive pandas: ``benchmarks/naive_pandas.py`` (read_csv + groupby/value_counts + idxmax + div).

Targets (issue 2): majority + soft from encoded arrays ≤ 2× the floor; whole ``dqlabels
evaluate`` < 60 s, < 4 GB and ≤ 2× naive pandas; one Dawid–Skene iteration < 2 s;
``dqlabels evaluate --help`` < 1 s.

Usage: python benchmarks/bench_core.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import DEFAULT_DIR, ensure_csv, machine, make_long_annotations  # noqa: E402


def run(code: str | None = None, argv: list[str] | None = None):
    """Run python code (or a command) in a fresh process; return (seconds, peak MB, stdout)."""
    cmd = argv if argv is not None else [sys.executable, "-c", textwrap.dedent(code)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed ({cmd[:3]}...):\n{err}")
    return seconds, usage.ru_maxrss / 1024, out


def timed(code: str):
    """Run code that prints the seconds of its own timed section; return (section s, peak MB)."""
    _, peak, out = run(code)
    return float(out.strip().splitlines()[-1]), peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N for in-process timings")
    args = parser.parse_args()
    csv = ensure_csv()
    encoded = DEFAULT_DIR / "encoded.npz"
    if not encoded.exists():
        import numpy as np

        item, annotator, label = make_long_annotations()
        np.savez(encoded, item=item, annotator=annotator, label=label)
    size_mb = csv.stat().st_size / 1e6
    print(f"machine: {machine()}")
    print(f"data: {csv} ({size_mb:.0f} MB, 10,000,000 annotations, 1,000,000 items, 10 classes, "
          f"2,000 annotators)\n")

    load = f"""
        import time, numpy as np
        data = np.load({str(encoded)!r})
        item, label = data["item"], data["label"]
        n, k = 1_000_000, 10
    """
    floor, floor_mem = timed(load + f"""
        best = 1e9
        for _ in range({args.repeat}):
            t = time.perf_counter()
            counts = np.bincount(item * k + label, minlength=n * k).reshape(n, k)
            best = min(best, time.perf_counter() - t)
        print(best)
    """)
    ours, ours_mem = timed(load + f"""
        from dqlabels import majority_vote, soft_labels
        best = 1e9
        for _ in range({args.repeat}):
            t = time.perf_counter()
            counts = np.bincount(item * k + label, minlength=n * k).reshape(n, k)
            vote = majority_vote(counts)
            soft = soft_labels(counts)
            best = min(best, time.perf_counter() - t)
        print(best)
    """)
    read_s, read_mem = timed(f"""
        import time
        t = time.perf_counter()
        from dqlabels import read_annotations
        ann = read_annotations({str(csv)!r})
        print(time.perf_counter() - t)
    """)
    ds_s, ds_mem = timed(f"""
        import time, numpy as np
        from dqlabels import read_annotations, DawidSkene
        ann = read_annotations({str(csv)!r})
        DawidSkene(max_iter=1, tol=-np.inf).fit(ann)   # setup + 1 iteration
        t = time.perf_counter(); DawidSkene(max_iter=1, tol=-np.inf).fit(ann)
        one = time.perf_counter() - t
        t = time.perf_counter(); DawidSkene(max_iter=21, tol=-np.inf).fit(ann)
        print((time.perf_counter() - t - one) / 20)
    """)
    naive_s, naive_mem, _ = run(argv=[sys.executable, str(HERE / "naive_pandas.py"), str(csv)])
    dq = [sys.executable, "-m", "dqlabels_cli"]
    report = DEFAULT_DIR / "report.json"
    report.unlink(missing_ok=True)
    eval_s, eval_mem, _ = run(argv=[*dq, "evaluate", str(csv), "--json", str(report), "-q"])
    help_s = min(run(argv=[*dq, "evaluate", "--help"])[0] for _ in range(3))

    rows = [
        ("bincount floor (encoded arrays → counts)", floor, floor_mem, "1.00× floor", ""),
        ("counts + majority + soft (encoded arrays)", ours, ours_mem, f"{ours / floor:.2f}× floor",
         "≤ 2× floor"),
        ("read CSV → counts (read_annotations)", read_s, read_mem,
         f"{read_s / naive_s:.2f}× naive", ""),
        ("one Dawid–Skene iteration (mean of 20)", ds_s, ds_mem, "", "< 2 s"),
        ("naive pandas script (baseline)", naive_s, naive_mem, "1.00× naive", ""),
        ("dqlabels evaluate --json (whole command)", eval_s, eval_mem,
         f"{eval_s / naive_s:.2f}× naive", "< 60 s, < 4 GB, ≤ 2× naive"),
        ("dqlabels evaluate --help (start-up)", help_s, float("nan"), "", "< 1 s"),
    ]
    print(f"{'stage':<44} {'seconds':>8} {'peak MB':>8}  {'ratio':<13} target")
    for name, seconds, peak, ratio, target in rows:
        peak_text = "" if peak != peak else f"{peak:8.0f}"
        print(f"{name:<44} {seconds:8.3f} {peak_text:>8}  {ratio:<13} {target}")
    checks = {
        "majority+soft ≤ 2× floor": ours <= 2 * floor,
        "evaluate < 60 s": eval_s < 60,
        "evaluate < 4 GB": eval_mem < 4096,
        "evaluate ≤ 2× naive pandas": eval_s <= 2 * naive_s,
        "DS iteration < 2 s": ds_s < 2,
        "--help < 1 s": help_s < 1,
    }
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
