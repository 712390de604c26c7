"""Steps per second of one training run: TensorFlow with 1 process, JAX with 1, JAX with 2.

Usage: python benchmarks/bench_parallel.py [--images 1200] [--batch-size 32] [--epochs 3]

Each configuration trains densenet-tiny at 32 px on the same generated dataset through the
command line (``dqlabels train``; the 2-process run through ``dqlabels launch``) and reports
the time per step of its last epoch (Keras' own figure, process 0), so that start-up and
compilation are left out; ratios are against TensorFlow with 1 process, measured in the same
run. On a 2-core CPU two processes share the same two cores: this shows the cost of the
collectives and of a second input pipeline, not a speed-up (docs/train.md, "Beyond one machine").
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

STEP = re.compile(r"(\d+)/\1 - \S+ - (\d+(?:\.\d+)?)(ms|s)/step")


def seconds_per_step(output: str) -> float:
    """The time per step of the last epoch in Keras' verbose=2 lines."""
    found = STEP.findall(output)
    if not found:
        raise SystemExit(f"no Keras epoch line in the output:\n{output[-2000:]}")
    _, value, unit = found[-1]
    return float(value) / (1000 if unit == "ms" else 1)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(label: str, command: list[str], env: dict) -> float:
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    return seconds_per_step(proc.stdout + proc.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "dqlabels_cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([*cli, "generate", str(tmp / "data"), "--num-images", str(args.images),
                        "--image-size", "32"], check=True, capture_output=True)
        train = ["train", str(tmp / "data"), "--soft", "--model", "densenet-tiny", "--epochs",
                 str(args.epochs), "--batch-size", str(args.batch_size), "--image-size", "32",
                 "--no-precise-bn"]
        base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        results = {
            "TensorFlow, 1 process": run("tf", [*cli, *train, "--out", str(tmp / "tf")], base),
            "JAX, 1 process": run("jax", [*cli, *train, "--out", str(tmp / "jax")],
                                  {**base, "KERAS_BACKEND": "jax"}),
            "JAX, 2 processes": run("jax2", [*cli, "launch", "--processes", "2", "--", *train,
                                             "--out", str(tmp / "jax2")], base),
        }
    print(f"{cpu_name()}, {os.cpu_count()} cores; "
          f"{args.images} images ({args.images * 6 // 10} training), densenet-tiny at 32 px, "
          f"global batch {args.batch_size}, last of {args.epochs} epochs")
    baseline = results["TensorFlow, 1 process"]
    for label, seconds in results.items():
        print(f"{label:24s} {seconds * 1000:7.1f} ms/step  {1 / seconds:6.1f} steps/s  "
              f"{baseline / seconds:5.2f}× TensorFlow's speed")


if __name__ == "__main__":
    main()
