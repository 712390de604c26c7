"""Which backbone learns small photographs on a CPU? Accuracy and seconds per epoch (issue 27).

Each candidate trains from scratch on one CIFAR-10H fold (fold 0 of 10: 8,750 training images,
250 for validation, 1,000 held out; hard targets = the original CIFAR-10 labels), with the
cifar10h preset's recipe (batch 128, lr 0.2 warmed up over the first fifth then cosine, Nesterov,
weight decay 5e-4, natural augmentation) for ``--epochs`` epochs, through ``dqlabels train``.
Printed per backbone: held-out accuracy against the original labels, cross-entropy against the
human distributions, parameters, and the seconds per epoch measured in this run with its ratio
to ``densenet-tiny`` (the quick study's network, the baseline): the run's wall time over its
epochs, start-up, validation, precise BatchNorm and saving included.

Usage: python benchmarks/bench_backbones.py [--epochs 20] [--models densenet-tiny,resnet9-quarter]
       [--dataset ../shared/data/cifar10h] [--out /tmp/dqlabels-bench-backbones]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", default="densenet-tiny,resnet9-quarter")
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "cifar10h")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dqlabels-bench-backbones"))
    args = parser.parse_args()

    from dqlabels.data.datasets import kfold_split, load_dataset, save_split
    from dqlabels.learning.models import build_model
    from dqlabels.studies.real_study import fold_scores, hard_labels_of

    data = load_dataset(args.dataset, check_images=False)
    hard, labels_file = hard_labels_of(data, "original")
    args.out.mkdir(parents=True, exist_ok=True)
    split = args.out / "fold0.csv"
    save_split(split, data.items, kfold_split(hard, 0, 10, val_size=250))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.epochs} epochs per backbone, fold 0 of 10")
    rows = []
    for model in args.models.split(","):
        run = args.out / model
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dqlabels_cli", "train", str(args.dataset), "--hard",
                        "--targets", str(labels_file), "--split-file", str(split), "--out",
                        str(run), "--model", model, "--image-size", "32", "--epochs",
                        str(args.epochs), "--batch-size", "128", "--learning-rate", "0.2",
                        "--schedule", "warmup-cosine", "--nesterov", "--weight-decay", "5e-4",
                        "--augment", "natural", "--overwrite"], check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        scores = fold_scores(run, data, hard)
        rows.append({"model": model, "accuracy": scores["accuracy"],
                     "cross_entropy": scores["cross_entropy"],
                     "seconds_per_epoch": seconds / args.epochs, "run_seconds": seconds,
                     "parameters": build_model(model, 10, 32).count_params()})
    base = rows[0]["seconds_per_epoch"]
    print(f"\n| backbone | parameters | held-out accuracy | CE vs human | s per epoch | vs "
          f"{rows[0]['model']} |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']:,} | {r['accuracy']:.3f} | "
              f"{r['cross_entropy']:.3f} | {r['seconds_per_epoch']:.1f} | "
              f"{r['seconds_per_epoch'] / base:.2f}× |")
    (args.out / "bench_backbones.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
