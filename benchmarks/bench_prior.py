"""The shrunk labels' prior judged on real answers it was not tuned on: CIFAR-10H.

For k = 1, 3, 5 answers drawn per image without replacement from its ~51 human answers
(seeded), the shrunk soft labels (the posterior mean, :mod:`dqlabels.labels.posterior`) under
the class-conditional prior (``classes``, the default) and under one prior centred on the class
balance (``balance``, the earlier default) are scored against two truths the estimate never saw:

- CIFAR-10's original labels as gold: accuracy of the top class (against the majority vote of
  the same k answers, the tie rule of the labels: lowest class index), mean probability of the
  gold class and gold NLL (probabilities clipped at 1e-3), against the raw soft labels' (the
  mean of the k answers);
- the full answer distribution: KL(full ‖ estimate), estimates floored at 1e-7 and renormalised
  (the scores' convention).

Two further rows bound what any estimate could do: ``oracle E[p|counts]`` replaces each image's
estimate by the mean full distribution of the images that drew the same counts (the best
estimate of the distribution from the counts alone, in-sample), ``oracle P(gold|counts)`` by
their share of each gold class (the best guess of the gold class). Both are fitted on the very
images they score, so they flatter themselves on rare count patterns; ``cross-fitted
E[p|counts]`` is the first out of sample (10 random folds: each image given the mean full
distribution of the other folds' images that drew the same counts; the shrunk label where
none did, their number in brackets): what an estimate would get if it knew every other
image's ~51 answers. ``class posteriors`` is the
chance of each true class under one confusion matrix shared by all answers
(:func:`dqlabels.labels.posterior.class_posteriors`), an estimate of the second.

On all 10,000 images and on an imbalanced subset: every image of one class (cat, 1,000) and the
first 43 of each other class, so that cat is 72% of the items. Prints one table; the numbers go
in ``benchmarks/README.md`` and ``docs/evaluate.md``.

    .venv/bin/python benchmarks/bench_prior.py [--dataset ../shared/data/cifar10h] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from dqlabels import from_counts, kl_divergence, read_annotations
from dqlabels.labels.aggregation import argmax_lowest
from dqlabels.labels.posterior import class_posteriors, posterior

HERE = Path(__file__).resolve().parent
DATASET = HERE.parent.parent / "shared" / "data" / "cifar10h"


def draw(counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k answers per item without replacement from its urn of answers, as counts."""
    drawn = np.zeros_like(counts)
    for i, row in enumerate(counts):  # one per image
        answers = rng.permutation(np.repeat(np.arange(counts.shape[1]), row))[:k]
        np.add.at(drawn[i], answers, 1)
    return drawn


def scores(estimate: np.ndarray, gold: np.ndarray, full: np.ndarray) -> dict:
    chosen = estimate[np.arange(len(gold)), gold]
    return {"top1": float(np.mean(argmax_lowest(estimate) == gold)),
            "gold_p": float(chosen.mean()),
            "gold_nll": float(-np.log(np.maximum(chosen, 1e-3)).mean()),
            "kl": float(kl_divergence(full / full.sum(axis=1, keepdims=True), estimate))}


def evaluate(full: np.ndarray, gold: np.ndarray, k: int, seed: int) -> dict:
    drawn = draw(full, k, np.random.default_rng([seed, k]))
    ann = from_counts(drawn)
    raw = drawn / drawn.sum(axis=1, keepdims=True)
    majority = np.eye(full.shape[1])[argmax_lowest(drawn)]
    rows = {"majority": scores(majority, gold, full), "raw soft": scores(raw, gold, full)}
    shrunk = {}
    for prior in ("balance", "classes"):
        start = time.perf_counter()
        shrunk[prior] = posterior(ann, prior=prior).mean
        rows[f"shrunk ({prior})"] = scores(shrunk[prior], gold, full)
        rows[f"shrunk ({prior})"]["seconds"] = time.perf_counter() - start
    rows["class posteriors"] = scores(class_posteriors(drawn), gold, full)
    # Bounds no estimate from these counts can pass, computed from what no estimate sees:
    # the mean full distribution, and the share of each gold class, of the images that drew
    # the same counts (in-sample: the best a function of the counts alone could do).
    _, group = np.unique(drawn, axis=0, return_inverse=True)
    group = group.reshape(-1)
    rows["oracle E[p|counts]"] = scores(_group_mean(full / full.sum(axis=1, keepdims=True),
                                                    group), gold, full)
    rows["oracle P(gold|counts)"] = scores(_group_mean(np.eye(full.shape[1])[gold], group),
                                           gold, full)
    # The same, out of sample: each image given the mean full distribution of the images of
    # the other nine folds that drew the same counts (the shrunk label where none did): what
    # knowing every other image's ~51 answers would buy.
    crossed, unseen = _cross_fitted_mean(full / full.sum(axis=1, keepdims=True), group,
                                         shrunk["classes"], seed)
    rows["cross-fitted E[p|counts]"] = scores(crossed, gold, full)
    rows["cross-fitted E[p|counts]"]["unseen"] = unseen
    return rows


def _cross_fitted_mean(values: np.ndarray, group: np.ndarray, fallback: np.ndarray, seed: int,
                       folds: int = 10) -> tuple[np.ndarray, int]:
    """Each row replaced by the mean of the rows of its group in the other ``folds − 1`` folds
    (random folds, seeded), or by ``fallback`` where they have none; and how many had none."""
    fold = np.random.default_rng([seed, folds]).integers(0, folds, len(group))
    estimate = fallback.copy()
    unseen = 0
    for f in range(folds):
        train = fold != f
        sums = np.zeros((group.max() + 1, values.shape[1]))
        np.add.at(sums, group[train], values[train])
        size = np.bincount(group[train], minlength=group.max() + 1)
        test = np.flatnonzero(~train)
        seen = size[group[test]] > 0
        estimate[test[seen]] = sums[group[test[seen]]] / size[group[test[seen]], None]
        unseen += int(np.count_nonzero(~seen))
    return estimate, unseen


def _group_mean(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each row replaced by the mean of the rows of its group."""
    sums = np.stack([np.bincount(group, values[:, j]) for j in range(values.shape[1])], axis=1)
    return (sums / np.bincount(group)[:, None])[group]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ann = read_annotations(args.dataset / "cifar10h-counts.csv", format="counts")
    with open(args.dataset / "cifar10-test-labels.csv", newline="") as f:
        labels = {row["item"]: row["label"] for row in csv.DictReader(f)}
    position = {c: j for j, c in enumerate(ann.classes)}
    gold = np.array([position[labels[f"images/{item}.jpg"]] for item in ann.items])
    full = ann.counts
    cat = position["cat"]
    subset = np.concatenate([np.flatnonzero(gold == cat)] + [
        np.flatnonzero(gold == j)[:43] for j in range(len(ann.classes)) if j != cat])
    print(f"CIFAR-10H, {len(full):,} images; imbalanced subset: {len(subset):,} images, "
          f"cat {np.mean(gold[subset] == cat):.0%}; seed {args.seed}")
    print(f"{'images':<11} {'k':>2} {'estimate':<24} {'top-1':>7} {'gold p':>7} "
          f"{'gold NLL':>8} {'KL':>7}")
    for name, rows in (("all", np.arange(len(full))), ("imbalanced", subset)):
        for k in (1, 3, 5):
            for estimate, s in evaluate(full[rows], gold[rows], k, args.seed).items():
                unseen = f"  ({s['unseen']} unseen)" if "unseen" in s else ""
                print(f"{name:<11} {k:>2} {estimate:<24} {s['top1']:>7.4f} {s['gold_p']:>7.4f} "
                      f"{s['gold_nll']:>8.4f} {s['kl']:>7.4f}{unseen}")


if __name__ == "__main__":
    main()
