"""Which per-annotator estimate ranks annotators by their true accuracy? (issue 17)

Simulated campaigns with known truth: the generator's exact soft labels (2,000 images, the
six synthetic classes, or a binary "red or not" version of them, 33% / 67%), annotated by a
pool of 50 simulated annotators (:mod:`dqlabels.data.simulated_crowd`), 3, 5 or 10 per image, with

- uniform noise: each annotator answers at random with their own rate ε ~ U(0, 0.4);
- biased: half the pool errs systematically (swap two classes, favour one, flip to the next
  class), and every annotator also answers at random with ε ~ U(0, 0.2).

An annotator's true accuracy is the expected share of their answers equal to the exact hard
label (computed from their response matrix). Each estimate dqlabels has is correlated with it
(Spearman, mean over 3 seeds): CrowdTruth annotator quality, Dawid–Skene accuracy, leave-one-out
agreement, accuracy on gold (10% of the images get their exact hard label as gold) and
Dawid–Skene accuracy fitted with that gold. Annotators with no gold answer are left out of the
gold row's correlation.

Usage: python benchmarks/bench_ranking.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from scipy.stats import spearmanr

from dqlabels import DawidSkene, annotator_agreement, from_long
from dqlabels.data.simulated_crowd import SimulatedCrowd, simulate_annotations
from dqlabels.data.synthetic import sample_parameters, soft_labels_of
from dqlabels.labels.crowdtruth import CrowdTruth
from dqlabels.labels.gold import annotator_gold_answers

ESTIMATES = ("CrowdTruth quality", "Dawid–Skene accuracy", "leave-one-out agreement",
             "accuracy on gold (10%)", "Dawid–Skene with gold")
CROWDS = {"uniform noise": lambda per: SimulatedCrowd(per, 50, (0.0, 0.4)),
          "biased (half)": lambda per: SimulatedCrowd(per, 50, (0.0, 0.2), bias=0.5)}


def soft_labels(data: str, seed: int) -> np.ndarray:
    soft = soft_labels_of(sample_parameters(2000, seed))
    if data == "binary":
        soft = np.stack([soft[:, 4:].sum(axis=1), soft[:, :4].sum(axis=1)], axis=1)
    return soft


def correlations(soft: np.ndarray, crowd: SimulatedCrowd, seed: int) -> list[float]:
    labels, annotators, profiles = simulate_annotations(soft, crowd, seed)
    n, per = labels.shape
    ann = from_long(np.repeat(np.arange(n), per), labels.reshape(-1),
                    [f"a{a:02d}" for a in annotators.reshape(-1)])
    truth = profiles["accuracy"][[int(a[1:]) for a in ann.annotators]]
    hard = np.argmax(soft[ann.items.astype(int)], axis=1)
    rng = np.random.default_rng([seed, 99])
    gold = np.where(rng.random(ann.num_items) < 0.1, hard, -1)
    with_gold = ann.with_gold(gold)
    right, answered = annotator_gold_answers(with_gold)
    gold_accuracy = np.where(answered > 0, right / np.maximum(answered, 1), np.nan)
    estimates = [CrowdTruth().fit(ann).annotator_quality_,
                 DawidSkene().fit(ann).annotator_accuracy_,
                 annotator_agreement(ann)[0],
                 gold_accuracy,
                 DawidSkene().fit(ann, gold).annotator_accuracy_]
    return [spearmanr(e, truth, nan_policy="omit").statistic for e in estimates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"python {platform.python_version()}")
    print("| data | per image | crowd | " + " | ".join(ESTIMATES) + " |")
    print("|---|---|---|" + "---|" * len(ESTIMATES))
    wins = np.zeros(len(ESTIMATES))
    for data in ("six classes", "binary"):
        for per in (3, 5, 10):
            for name, crowd in CROWDS.items():
                rows = [correlations(soft_labels("binary" if data == "binary" else "six", s),
                                     crowd(per), s) for s in range(args.seeds)]
                mean = np.mean(rows, axis=0)
                wins[np.argmax(mean[:3])] += 1  # among the estimates without gold
                print(f"| {data} | {per} | {name} | "
                      + " | ".join(f"{v:.3f}" for v in mean) + " |")
    print("\nbest of the three without gold, in how many of the 12 settings: "
          + ", ".join(f"{e} {int(w)}" for e, w in zip(ESTIMATES[:3], wins)))
    print(f"time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
