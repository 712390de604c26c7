"""Score finished training runs on a separate, freshly generated development set.

Used to choose the ``quick`` preset without touching any study's test split: a split's 300
validation images give macro accuracy ± 0.03, too coarse to compare candidates; 3,000 images
generated with another seed give about ± 0.009.

    .venv/bin/python benchmarks/dev_eval.py RUN_DIR [RUN_DIR ...] [--num-images 3000] [--seed 12345]

Prints, per run: macro accuracy and KL against the exact soft labels, and the macro accuracy of
the shape alone (the mass on circle vs ellipse, summed over colours) and of the colour alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--num-images", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()

    from dqlabels.data.datasets import load_dataset
    from dqlabels.data.synthetic import generate_dataset
    from dqlabels.labels.scores import kl_divergence, macro_accuracy
    from dqlabels.learning import tfdata
    from dqlabels.learning.inference import predict
    from dqlabels.learning.models import load_model

    def shape(a):  # classes are colour × (circle, ellipse) in sorted order
        return a.reshape(-1, 3, 2).sum(axis=1)

    def colour(a):
        return a.reshape(-1, 3, 2).sum(axis=2)

    with tempfile.TemporaryDirectory() as tmp:
        dev_sets = {}
        for run in args.runs:
            size = json.loads((run / "config.json").read_text())["config"]["image_size"]
            if size not in dev_sets:
                folder = Path(tmp) / f"dev{size}"
                generate_dataset(folder, args.num_images, size, seed=args.seed)
                dev_sets[size] = load_dataset(folder)
            dev = dev_sets[size]
            y = dev.soft_labels
            model = load_model(run / "model.keras")
            p = predict(model, tfdata.make_evaluation_dataset(dev.paths, y, size, 256))
            print(f"{run}: macro accuracy {macro_accuracy(y, p):.4f}, KL {kl_divergence(y, p):.4f}, "
                  f"shape accuracy {macro_accuracy(shape(y), shape(p)):.4f}, "
                  f"colour accuracy {macro_accuracy(colour(y), colour(p)):.4f}", flush=True)


if __name__ == "__main__":
    main()
