"""Check dqlabels' CrowdTruth 2.0 metrics against the reference implementation.

The reference (the ``crowdtruth`` package, 2.1, unmaintained since 2018) runs in an environment
of its own, made on first use with pinned versions; dqlabels never imports it. Random campaigns
(varying annotators per item, noisy and reliable annotators, an item with a single annotation)
are scored by both; the script prints the largest difference of every metric, and with
``--write-fixtures DIR`` saves campaigns and reference results that tests/test_crowdtruth.py
compares against without the reference installed.

Usage: python benchmarks/crowdtruth_oracle.py [--campaigns 6] [--venv DIR] [--write-fixtures DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PINNED = ["crowdtruth==2.1", "pandas==3.1.1", "numpy==2.4.6", "dateparser==1.2.2"]


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PINNED], check=True)
    return python


def campaign(seed: int, num_items: int = 40, num_workers: int = 8, num_classes: int = 3):
    """Rows (item, annotator, label): each item has 1–6 distinct annotators; each annotator
    answers the item's class with their own reliability, else a random class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, num_classes, num_items)
    reliability = rng.uniform(0.3, 1.0, num_workers)
    rows = []
    for i in range(num_items):
        for w in rng.choice(num_workers, rng.integers(1, 7), replace=False):
            label = truth[i] if rng.random() < reliability[w] else rng.integers(0, num_classes)
            rows.append((f"item{i:03d}", f"w{w}", f"c{label}"))
    return rows


def reference(python: Path, csv: Path) -> dict:
    out = subprocess.run([str(python), str(HERE / "crowdtruth_reference.py"), str(csv)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(ours, ref: dict) -> dict:
    """Largest absolute difference per metric, by id."""
    ann = ours.annotations
    items, workers, classes = list(ann.items), list(ann.annotators), list(ann.classes)
    diffs = {
        "uqs": max(abs(ours.item_quality_[items.index(u)] - v) for u, v in ref["uqs"].items()),
        "wqs": max(abs(ours.annotator_quality_[workers.index(w)] - v) for w, v in ref["wqs"].items()),
        "wwa": max(abs(ours.annotator_annotator_agreement_[workers.index(w)] - v)
                   for w, v in ref["wwa"].items()),
        "wua": max(abs(ours.annotator_item_agreement_[workers.index(w)] - v)
                   for w, v in ref["wsa"].items()),
        "aqs": max(abs(ours.class_quality_[classes.index(k)] - v) for k, v in ref["aqs"].items()),
        "uas": max(abs(ours.probas_[items.index(u), classes.index(k)] - v)
                   for u, scores in ref["uas"].items() for k, v in scores.items()),
    }
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=6)
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) /
                        "dqlabels-crowdtruth-oracle")
    parser.add_argument("--write-fixtures", type=Path, default=None)
    args = parser.parse_args()

    from dqlabels import read_annotations
    from dqlabels._io import write_csv_atomic
    from dqlabels.labels.crowdtruth import CrowdTruth

    python = ensure_venv(args.venv)
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.campaigns):
            csv = (args.write_fixtures or Path(tmp)) / f"campaign{seed}.csv"
            csv.parent.mkdir(parents=True, exist_ok=True)
            write_csv_atomic(csv, ("item", "annotator", "label"), campaign(seed))
            ref = reference(python, csv)
            if args.write_fixtures:
                (args.write_fixtures / f"campaign{seed}.reference.json").write_text(
                    json.dumps(ref, indent=1, sort_keys=True) + "\n")
            ours = CrowdTruth().fit(read_annotations(csv))
            ours.annotations = read_annotations(csv)
            diffs = compare(ours, ref)
            print(f"campaign {seed}: {ours.n_iter_} rounds; largest differences "
                  + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
            for k, v in diffs.items():
                worst[k] = max(worst.get(k, 0.0), v)
    print("worst: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    print("PASS" if max(worst.values()) < 1e-9 else "MISS", " every metric within 1e-9 of the reference")


if __name__ == "__main__":
    main()
