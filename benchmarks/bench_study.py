"""Benchmark of the quick study end to end: `dqlabels reproduce --preset quick` in a fresh
folder — wall time, peak memory (max RSS of the process) and the table it produced.

Target (issue 5): about 15 minutes on a 2-core CPU, with soft labels better than hard labels on
both macro accuracy and KL.

Usage: python benchmarks/bench_study.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import machine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="study folder (default: a new temp folder)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dqlabels-bench-study-"))
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    print(f"machine: {machine()}")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dqlabels_cli", "reproduce", "--preset",
                             "quick", "--out", str(out)], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    output = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"reproduce failed:\n{output}")
    results = json.loads((out / "results.json").read_text())
    print(output)
    print(f"wall time {seconds / 60:.1f} min; peak memory {usage.ru_maxrss / 1024:.0f} MB")
    better = results["soft_better"]
    print(f"{'PASS' if seconds < 20 * 60 else 'MISS'}  about 15 minutes (under 20)")
    print(f"{'PASS' if better['macro_accuracy'] and better['kl'] else 'MISS'}  soft labels better "
          f"on both macro accuracy and KL")
    print(f"study folder: {out}")


if __name__ == "__main__":
    main()
