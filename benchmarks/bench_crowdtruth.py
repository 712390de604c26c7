"""CrowdTruth on a large campaign and on the issue's simulated one.

1. 10 million annotations (bench_core.py's campaign: 1,000,000 items × 10 annotations, 2,000
   annotators of their own accuracy, 10 classes): ``dqlabels evaluate`` with the CrowdTruth
   metrics against the same command with ``--no-crowdtruth`` (what evaluate did before them),
   each in a fresh process (``--crowdtruth``: above ``CROWDTRUTH_MAX_PAIRS`` evaluate skips
   them by default), and the same on bench_dawid_skene.py's 2M random campaign, where the
   default computes them. Target (issue 11): within 3×.
2. The simulated noisy campaign (``dqlabels generate --annotators 10 --annotator-pool 50
   --annotator-noise 0,0.4``, 2,000 images): Spearman of annotator quality with 1 − ε, mean item
   quality of pure vs interpolated images, and the same with ε = 0.

Usage: python benchmarks/bench_crowdtruth.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import DEFAULT_DIR, ensure_csv, machine  # noqa: E402
from bench_core import run  # noqa: E402


def simulated(noise: str):
    import pandas as pd
    from scipy.stats import spearmanr

    from dqlabels import read_annotations
    from dqlabels.labels.crowdtruth import CrowdTruth

    folder = Path(tempfile.mkdtemp()) / "crowd"
    subprocess.run([sys.executable, "-m", "dqlabels_cli", "generate", str(folder), "--num-images",
                    "2000", "--image-size", "32", "--annotators", "10", "--annotator-pool", "50",
                    "--annotator-noise", noise], check=True, capture_output=True)
    ann = read_annotations(folder / "simulated_annotations.csv")
    ct = CrowdTruth().fit(ann)
    eps = pd.read_csv(folder / "annotators.csv").set_index("annotator")["noise"]
    eps = eps.loc[list(ann.annotators)].to_numpy()
    meta = pd.read_csv(folder / "metadata.csv").set_index("item").loc[list(ann.items)]
    pure = (meta["kind"] == "pure").to_numpy()
    rho = spearmanr(ct.annotator_quality_, 1 - eps).statistic if eps.std() > 0 else float("nan")
    q = ct.annotator_quality_
    return {"spearman": rho, "pure": ct.item_quality_[pure].mean(),
            "interpolated": ct.item_quality_[~pure].mean(), "spread": q.std() / q.mean(),
            "rounds": ct.n_iter_}


def main():
    print(f"machine: {machine()}\n")
    for noise in ("0,0.4", "0,0"):
        r = simulated(noise)
        print(f"simulated campaign, eps ~ U({noise}): Spearman(quality, 1 - eps) "
              f"{r['spearman']:.3f}; item quality pure {r['pure']:.3f} vs interpolated "
              f"{r['interpolated']:.3f}; annotator quality spread {r['spread']:.1%} of the mean; "
              f"{r['rounds']} rounds")
    import json

    from bench_dawid_skene import ensure_data

    report = DEFAULT_DIR / "ct-report.json"
    for name, csv, flag in (("2M random annotations, 5 per item", ensure_data()[0], None),
                            ("10M annotations, 10 per item", ensure_csv(), "--crowdtruth")):
        dq = [sys.executable, "-m", "dqlabels_cli", "evaluate", str(csv), "-q"]
        report.unlink(missing_ok=True)
        plain_s, plain_mem, _ = run(argv=[*dq, "--no-crowdtruth"])
        with_s, with_mem, _ = run(argv=[*dq, "--json", str(report), *([flag] if flag else [])])
        crowd = json.loads(report.read_text())["crowdtruth"]
        assert crowd["available"], crowd
        print(f"\n{name}: evaluate --no-crowdtruth {plain_s:.1f} s ({plain_mem:.0f} MB); "
              f"evaluate {flag or '(default)'} with CrowdTruth ({crowd['rounds']} rounds) "
              f"{with_s:.1f} s ({with_mem:.0f} MB): {with_s / plain_s:.2f}×")
        print(f"{'PASS' if with_s <= 3 * plain_s else 'MISS'}  within 3× of evaluate without it")
    report.unlink()
    default_s, default_mem, _ = run(argv=[*dq, "--json", str(report)])
    print(f"10M annotations, evaluate as it runs by default (90M pairs > the limit: CrowdTruth "
          f"skipped): {default_s:.1f} s ({default_mem:.0f} MB); reason: "
          f"{json.loads(report.read_text())['crowdtruth']['reason'][:60]}…")

if __name__ == "__main__":
    main()
