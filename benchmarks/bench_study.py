"""Benchmark of the quick study end to end: `dqlabels reproduce --preset quick` in a fresh
folder — wall time, peak memory (max RSS of the process), seconds per training step and the
table it produced, with the CPU named (and whether it has AVX-512: TensorFlow's oneDNN uses it;
run again with ONEDNN_MAX_CPU_ISA=AVX2 to time the study as an AVX2-only CPU would run it).

Targets (issue 9): at most 15 minutes on the machine measured; soft labels better than hard
labels on both macro accuracy and KL; a KL ratio hard/soft of 3 or more.

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


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return "AVX-512" if any(f.startswith("avx512") for f in flags) else \
        "AVX2 (no AVX-512)" if "avx2" in flags else "no AVX2"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="study folder (default: a new temp folder)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dqlabels-bench-study-"))
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    print(f"machine: {machine()}; {cpu_flags()}; "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}")
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
    steps, run_seconds = 0, 0.0
    for run in results["runs"]:
        folder = out / run["run"]
        config = json.loads((folder / "config.json").read_text())
        train = sum(1 for line in open(folder / "split.csv") if line.rstrip().endswith(",train"))
        steps += config["config"]["epochs"] * (train // config["config"]["batch_size"])
        run_seconds += config["seconds_last_session"]
    summary = results["summary"]
    ratio = summary["hard"]["kl"]["mean"] / summary["soft"]["kl"]["mean"]
    print(f"wall time {seconds / 60:.1f} min; peak memory {usage.ru_maxrss / 1024:.0f} MB; "
          f"{steps} training steps in {run_seconds:.0f} s of runs: {run_seconds / steps:.3f} s "
          f"per step (batch {results['settings']['train']['batch_size']}, validation, precise "
          f"BatchNorm and saving included); KL ratio hard/soft {ratio:.1f}")
    verdicts = {m: results["paired"][m]["verdict"] for m in ("macro_accuracy", "kl")}
    print(f"{'PASS' if seconds <= 15 * 60 else 'MISS'}  at most 15 minutes")
    print(f"{'PASS' if set(verdicts.values()) == {'soft better'} else 'MISS'}  soft labels "
          f"better on both macro accuracy and KL, the paired interval over splits excluding 0 "
          f"({verdicts})")
    print(f"{'PASS' if ratio >= 3 else 'MISS'}  KL ratio hard/soft of 3 or more")
    print(f"study folder: {out}")


if __name__ == "__main__":
    main()
