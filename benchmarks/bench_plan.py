"""Does ``dqlabels plan`` save annotations? Simulated rounds against uniform allocation (issue 19).

Setup: the generator's exact soft labels (``--num-images`` images, default 3,000, seed
``--seed``) and a pool of 50 simulated annotators (:mod:`dqlabels.data.simulated_crowd`; ``reliable``:
no noise, ``noisy``: ε ~ U(0, 0.3) and a third of the pool biased). Every item starts with one
annotation from a random annotator of the pool. Then rounds of 10% of the items' worth of
annotations are spent either

- **uniform**: round-robin, the items with the fewest annotations first (ties in a fixed random
  order), or
- **plan**: as :func:`dqlabels.labels.plan.plan_next_round` chooses (``soft`` or ``hard`` objective),

each new annotation drawn from a random annotator of the pool. After every round both arms are
scored with the same estimator, the posterior mean of :mod:`dqlabels.labels.plan` (prior: the class
balance, strength fitted), against the exact labels: mean KL(exact ‖ estimate) and the accuracy
of its argmax against the exact argmax (hard labels). The raw mean (what teams use today) is
reported too.

Savings: the annotations per item at which the plan first matches what uniform reaches at 4 per
item (accuracy for the hard objective, KL for the soft one), as a share saved.

``--with-model`` adds the soft objective with a model: a ``densenet-tiny`` trained on the first
round (one annotation per image) with the product's own commands, ``dqlabels train --soft`` (the
quick settings, one run per fold of a 3-fold cross-fitting) and ``dqlabels predict``; each
item's prior is the prediction of the model that did not see it. Its KL is compared with
uniform's without a model at 4 per item.

``--replay`` checks what a plan *says* it buys (issue 26): on the same simulated campaigns, each
round's stated drop of the mean loss (``Plan.expected()``: the mean expected KL for ``soft``, the
mean chance that the top class is not the true majority for ``hard``) against the drop achieved
once the planned answers arrive, scored against the truth the posterior models (the distribution
of the crowd's answers: the exact soft label through the pool's mean response matrix; for a
reliable crowd the exact soft label itself), with the plan's own posterior (no refit). The
achieved drop comes with a 95% interval over items; the check counts the rounds whose stated
drop lies inside it.

``--dataset FOLDER`` plays the same arms on a real campaign's own answers; with ``--prior-from
STUDY`` (issue 40) the prior is real too: the held-out predictions of the networks a budget study
(``dqlabels reproduce --annotations-per-image 1,…``) trained on one answer per image, on the
images they held out; uniform without a model against the soft plan with the model's prior, and
the plan's stated gain against the achieved one.

Usage: python benchmarks/bench_plan.py [--rounds 50] [--with-model] [--replay] [--out DIR]
       python benchmarks/bench_plan.py --dataset FOLDER [--prior-from STUDY] [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dqlabels import from_long
from dqlabels.data.simulated_crowd import SimulatedCrowd, annotator_profiles, draw_answers
from dqlabels.data.synthetic import CLASSES, sample_parameters, soft_labels_of
from dqlabels.labels.plan import plan_next_round, posterior
from dqlabels.labels.scores import kl_divergence

MAX_ANSWERS = 80
CROWDS = {"reliable": SimulatedCrowd(1, 50, (0.0, 0.0)),
          "noisy": SimulatedCrowd(1, 50, (0.0, 0.3), bias=1 / 3)}


class Campaign:
    """Counts of a simulated campaign, grown round by round. Every item's answers are drawn up
    front (``MAX_ANSWERS`` each, from random annotators of the pool), and an arm takes an item's
    next answer when it asks for one: both arms see the same answers (common random numbers),
    so they differ only in where the annotations go."""

    def __init__(self, soft, crowd, seed, real_counts=None):
        self.soft = soft
        rng = np.random.default_rng([seed, 7])
        n = len(soft)
        if real_counts is None:
            response = annotator_profiles(crowd, soft.shape[1], seed)["response"]
            who = rng.integers(0, len(response), (n, MAX_ANSWERS))
            self.stream = draw_answers(np.repeat(soft, MAX_ANSWERS, axis=0),
                                       response[who.reshape(-1)], rng).reshape(n, MAX_ANSWERS)
            self.available = np.full(n, MAX_ANSWERS)
        else:  # real answers: each image's own, in a random order (an urn, no replacement)
            self.available = real_counts.sum(axis=1)
            self.stream = np.full((n, int(self.available.max())), -1, dtype=np.int64)
            for i, row in enumerate(real_counts):  # one per image
                answers = rng.permutation(np.repeat(np.arange(len(row)), row))
                self.stream[i, :answers.size] = answers
        self.taken = np.zeros(n, dtype=np.int64)
        self.counts = np.zeros(soft.shape, dtype=np.int64)
        self.add(np.arange(n))

    def add(self, items):
        """The next answer of each of ``items`` (an item may appear several times); an item
        whose answers are all taken gets no more (real data)."""
        items = np.sort(np.asarray(items, dtype=np.int64))
        first = np.searchsorted(items, items)  # rank of each repeat of an item
        position = self.taken[items] + np.arange(items.size) - first
        keep = position < self.available[items]
        if not keep.all() and np.isfinite(MAX_ANSWERS) and self.available.max() == MAX_ANSWERS:
            raise RuntimeError("an item ran out of pre-drawn answers; raise MAX_ANSWERS")
        items, position = items[keep], position[keep]
        np.add.at(self.counts, (items, self.stream[items, position]), 1)
        np.add.at(self.taken, items, 1)

    def annotations(self):
        k = self.counts.shape[1]
        items = np.repeat(np.arange(len(self.counts)), self.counts.sum(axis=1))
        labels = np.concatenate([np.repeat(np.arange(k), row) for row in self.counts])
        names = CLASSES if k == len(CLASSES) else [f"c{j}" for j in range(k)]
        return from_long([f"{i:05d}" for i in items], np.asarray(names)[labels], classes=names)


def score(campaign, prior=None):
    ann = campaign.annotations()
    estimate = posterior(ann, prior).mean
    raw = campaign.counts / campaign.counts.sum(axis=1, keepdims=True)
    exact = campaign.soft
    return {"per_item": float(campaign.counts.sum() / len(exact)),
            "kl": kl_divergence(exact, estimate), "kl_raw": kl_divergence(exact, raw),
            "accuracy": float(np.mean(np.argmax(estimate, 1) == np.argmax(exact, 1)))}


def run_arm(soft, crowd, seed, arm, rounds, prior=None, real_counts=None, every=1):
    """The curve of one arm: its score after 0, 1, …, ``rounds`` rounds (only every
    ``every``-th round and the last: uniform allocation needs no score to choose)."""
    campaign = Campaign(soft, crowd, seed, real_counts)
    n = len(soft)
    budget = n // 10
    tiebreak = np.random.default_rng([seed, 8]).permutation(n)
    curve = [score(campaign, prior)]
    for round_number in range(rounds):
        if arm == "uniform":
            per_item = campaign.counts.sum(axis=1)
            order = np.lexsort((tiebreak, per_item))
            chosen = order[:budget]
        else:
            plan = plan_next_round(campaign.annotations(), budget, predictions=prior,
                                   objective=arm)
            chosen = np.repeat(np.arange(n), plan.requested)
        campaign.add(chosen)
        done = round_number + 1
        if done % every == 0 or done == rounds:
            curve.append(score(campaign, prior))
    return curve


def replay(soft, crowd, seed, objective, rounds, real_counts=None, prior=None):
    """Stated against achieved gain, round by round (see the module docstring)."""
    campaign = Campaign(soft, crowd, seed, real_counts)
    if real_counts is None:
        response = annotator_profiles(crowd, soft.shape[1], seed)["response"]
        truth = soft @ response.mean(axis=0)  # a random pool member's answer distribution
    else:
        truth = soft  # every answer the image has
    n = len(soft)
    rows = []
    for round_number in range(rounds):
        plan = plan_next_round(campaign.annotations(), n // 10, predictions=prior,
                               objective=objective)
        before = campaign.counts.copy()
        campaign.add(np.repeat(np.arange(n), plan.requested))
        alpha = plan.posterior.alpha
        updated = alpha + (campaign.counts - before)
        if objective == "soft":
            def loss(a):
                mean = a / a.sum(axis=1, keepdims=True)
                return (truth * (np.log(np.maximum(truth, 1e-300)) - np.log(mean))).sum(axis=1)
        else:
            def loss(a):
                return (np.argmax(a, axis=1) != np.argmax(truth, axis=1)).astype(np.float64)
        achieved = loss(alpha) - loss(updated)
        half = 1.96 * achieved.std(ddof=1) / np.sqrt(n)
        expected = plan.expected()
        stated = expected["mean_loss_now"] - expected["mean_loss_after"]
        rows.append({"round": round_number + 1, "per_item": float(before.sum() / n),
                     "stated": stated, "achieved": float(achieved.mean()), "half": float(half),
                     "inside": bool(abs(stated - achieved.mean()) <= half),
                     "stated_loss_now": expected["mean_loss_now"],
                     "achieved_loss_now": float(loss(alpha).mean())})
    return rows


def print_replay(num_images, seed, rounds):
    soft = soft_labels_of(sample_parameters(num_images, seed))
    print("\n## Replay: stated vs achieved gain per round (95% interval over items)\n")
    print("| crowd | objective | rounds | stated inside the interval | mean stated gain | "
          "mean achieved gain | stated / achieved loss now (round 1) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, crowd in CROWDS.items():
        for objective in ("soft", "hard"):
            rows = replay(soft, crowd, seed, objective, rounds)
            inside = sum(r["inside"] for r in rows)
            print(f"| {name} | {objective} | {len(rows)} | {inside} of {len(rows)} | "
                  f"{np.mean([r['stated'] for r in rows]):.5f} | "
                  f"{np.mean([r['achieved'] for r in rows]):.5f} | "
                  f"{rows[0]['stated_loss_now']:.4f} / {rows[0]['achieved_loss_now']:.4f} |")
            for r in rows[:3]:
                print(f"|  | round {r['round']} ({r['per_item']:.1f} per item) | | "
                      f"{'yes' if r['inside'] else 'no'} | {r['stated']:.5f} | "
                      f"{r['achieved']:.5f} ± {r['half']:.5f} | |")


def study_prior(study: Path, items: np.ndarray, classes: list) -> np.ndarray:
    """Out-of-fold predictions from a budget study's one-answer networks (issue 40): for each
    image that some split holds out (its test part), the prediction of the first such split's
    budget-1 run, ``runs/n*/b1/soft-split*/predictions.csv``; NaN rows for the images no split
    holds out. Such a network never saw the image, so its prediction is independent of the
    image's answers, whichever answers it was trained on."""
    import pandas as pd

    paths = sorted(study.glob("runs/n*/b1/soft-split*/predictions.csv"),
                   key=lambda path: int(path.parent.name.removeprefix("soft-split")))
    if not paths:
        raise SystemExit(f"{study}: no runs/n*/b1/soft-split*/predictions.csv (run the budget "
                         "study with budget 1 first)")
    index = {item: row for row, item in enumerate(items.tolist())}
    prior = np.full((len(items), len(classes)), np.nan)
    for path in paths:
        table = pd.read_csv(path, dtype={"item": str}, keep_default_na=False)
        rows = np.array([index[item] for item in table["item"]])
        fresh = np.isnan(prior[rows, 0])
        prior[rows[fresh]] = table[list(classes)].to_numpy(np.float64)[fresh]
    print(f"prior: {len(paths)} one-answer networks of {study}, out of fold for "
          f"{int(np.count_nonzero(~np.isnan(prior[:, 0]))):,} images")
    return prior


def real_answers(folder: Path, seed: int, rounds: int, prior_from: Path | None = None) -> None:
    """Uniform vs plan on a real campaign's own answers (the truth: all of an image's answers),
    and the stated-vs-achieved replay on them. With ``prior_from`` (a budget study's folder),
    on the images its one-answer networks held out, with their predictions as the prior."""
    from dqlabels.data.datasets import load_dataset

    data = load_dataset(folder, check_images=False)
    counts = data.annotations.counts
    if prior_from is not None:
        prior = study_prior(prior_from, np.asarray(data.items), list(data.classes))
        held_out = ~np.isnan(prior[:, 0])
        return model_replay(counts[held_out], prior[held_out], seed, rounds, folder)
    truth = counts / counts.sum(axis=1, keepdims=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {folder}: {len(counts):,} images, "
          f"{int(counts.sum()):,} answers (the truth: all of them), seed {seed}")
    started = time.perf_counter()
    curves = {arm: run_arm(truth, None, seed, arm, rounds, real_counts=counts)
              for arm in ("uniform", "soft", "hard")}
    print(f"simulations: {time.perf_counter() - started:.0f} s\n")
    print("| objective | metric | uniform at 4 per item | plan reaches it at | saving |")
    print("|---|---|---:|---:|---:|")
    for arm, metric in (("hard", "accuracy"), ("soft", "kl")):
        share, per_item, target = saving(curves["uniform"], curves[arm], metric)
        reached = "not reached" if per_item is None else f"{per_item:.2f}"
        print(f"| {arm} | {metric} | {target:.4f} | {reached} | "
              f"{'—' if share is None else f'{share:.0%}'} |")
    print("\nper item | " + " | ".join(curves))
    for step in range(0, rounds + 1, 5):
        print(" | ".join(f"{c[step]['per_item']:.1f}: KL {c[step]['kl']:.3f} (raw "
                         f"{c[step]['kl_raw']:.2f}) acc {c[step]['accuracy']:.3f}"
                         for c in curves.values() if step < len(c)))
    print("\n## Replay on the real answers: stated vs achieved gain (95% interval over items)\n")
    print("| objective | rounds inside | mean stated gain | mean achieved gain |")
    print("|---|---:|---:|---:|")
    for objective in ("soft", "hard"):
        rows = replay(truth, None, seed, objective, rounds, real_counts=counts)
        print(f"| {objective} | {sum(r['inside'] for r in rows)} of {len(rows)} | "
              f"{np.mean([r['stated'] for r in rows]):.5f} | "
              f"{np.mean([r['achieved'] for r in rows]):.5f} |")


def model_replay(counts, prior, seed, rounds, folder) -> None:
    """Uniform allocation without a model against the soft plan with the model's prior, on real
    answers (issue 40): the annotations per item at which each arm first reaches uniform's KL
    at 4 per item, and the plan's stated gain per round against the gain achieved."""
    truth = counts / counts.sum(axis=1, keepdims=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {folder}: {len(counts):,} held-out images, "
          f"{int(counts.sum()):,} answers (the truth: all of them), seed {seed}")
    started = time.perf_counter()
    # Without a model the posterior fits its class-conditional prior at every score (seconds
    # each on thousands of items): uniform is scored every 5th round. The soft plan without a
    # model allocates as uniform does (the fewest annotations first; 0% saved above).
    curves = {"uniform": run_arm(truth, None, seed, "uniform", rounds, real_counts=counts,
                                 every=5),
              "uniform, model prior": run_arm(truth, None, seed, "uniform", rounds, prior=prior,
                                              real_counts=counts),
              "plan (soft), model prior": run_arm(truth, None, seed, "soft", rounds,
                                                  prior=prior, real_counts=counts)}
    print(f"simulations: {time.perf_counter() - started:.0f} s\n")
    print("| arm | uniform's KL at 4 per item | reached at | annotations saved |")
    print("|---|---:|---:|---:|")
    for arm, curve in curves.items():
        share, per_item, target = saving(curves["uniform"], curve, "kl")
        reached = "not reached" if per_item is None else f"{per_item:.2f} per item"
        print(f"| {arm} | {target:.4f} | {reached} | "
              f"{'—' if share is None else f'{share:.0%}'} |")
    print("\n" + " | ".join(curves))
    for step in range(0, rounds // 5 + 1):
        print(" | ".join(f"{p['per_item']:.1f}: KL {p['kl']:.3f} (raw {p['kl_raw']:.2f}) acc "
                         f"{p['accuracy']:.3f}" for p in (c[5 * step] if len(c) > rounds // 5 + 1
                                                          else c[step] for c in curves.values())
                         ))
    rows = replay(truth, None, seed, "soft", rounds, real_counts=counts, prior=prior)
    print("\n## Replay with the model's prior: stated vs achieved gain (95% interval over items)"
          "\n\n| objective | rounds inside | mean stated gain | mean achieved gain |")
    print("|---|---:|---:|---:|")
    print(f"| soft, model prior | {sum(r['inside'] for r in rows)} of {len(rows)} | "
          f"{np.mean([r['stated'] for r in rows]):.5f} | "
          f"{np.mean([r['achieved'] for r in rows]):.5f} |")
    for r in rows[:3]:
        print(f"| round {r['round']} ({r['per_item']:.1f} per item) | "
              f"{'yes' if r['inside'] else 'no'} | {r['stated']:.5f} | "
              f"{r['achieved']:.5f} ± {r['half']:.5f} |")


def saving(reference, curve, metric, at=4.0):
    """The share of annotations saved: the first point of ``curve`` that matches ``reference``
    at ``at`` annotations per item (higher accuracy or lower KL), against ``at``."""
    target = np.interp(at, [p["per_item"] for p in reference], [p[metric] for p in reference])
    better = (lambda v: v >= target) if metric == "accuracy" else (lambda v: v <= target)
    for point in curve:
        if better(point[metric]):
            return 1 - point["per_item"] / at, point["per_item"], target
    return None, None, target


def model_predictions(out: Path, num_images: int, seed: int, crowd: SimulatedCrowd) -> np.ndarray:
    """Cross-fitted predictions of densenet-tiny trained on one annotation per image, made with
    ``dqlabels generate``, ``train`` and ``predict`` (3 folds, the quick settings)."""
    import pandas as pd

    cli = [sys.executable, "-m", "dqlabels_cli"]
    data = out / "data"
    if not (data / "dataset.json").exists():
        subprocess.run([*cli, "generate", str(data), "--num-images", str(num_images),
                        "--image-size", "32", "--seed", str(seed), "--annotators", "1",
                        "--annotator-pool", str(crowd.pool),
                        "--annotator-noise", ",".join(map(str, crowd.noise)),
                        "--annotator-bias", str(crowd.bias), "--overwrite"], check=True)
    first = out / "round1"
    first.mkdir(exist_ok=True)
    if not (first / "images").exists():
        os.symlink((data / "images").absolute(), first / "images")
    shutil.copy(data / "simulated_annotations.csv", first / "annotations.csv")
    (first / "dataset.json").write_text(json.dumps({"image_size": 32, "classes": list(CLASSES)}))
    items = pd.read_csv(data / "annotations.csv")["item"].to_numpy()
    folds = np.random.default_rng([seed, 9]).permutation(len(items)) % 3
    predictions = np.full((len(items), len(CLASSES)), np.nan)
    started = time.perf_counter()
    for fold in range(3):
        rest = np.flatnonzero(folds != fold)
        split = np.full(len(items), "train", dtype=object)
        split[folds == fold] = "test"
        split[rest[: len(rest) // 10]] = "val"
        split_file = out / f"split{fold}.csv"
        pd.DataFrame({"item": items, "split": split}).to_csv(split_file, index=False)
        run = out / f"fold{fold}"
        subprocess.run([*cli, "train", str(first), "--soft", "--split-file", str(split_file),
                        "--out", str(run), "--model", "densenet-tiny", "--epochs", "40",
                        "--batch-size", "128", "--learning-rate", "0.1", "--weight-decay",
                        "5e-4", "--bn-momentum", "0.9", "--image-size", "32", "--seed",
                        str(seed)], check=True)
        predicted = out / f"predictions{fold}.csv"
        subprocess.run([*cli, "predict", str(run), str(first), "--out", str(predicted),
                        "--overwrite"], check=True)
        table = pd.read_csv(predicted).set_index("item").loc[items[folds == fold], list(CLASSES)]
        predictions[folds == fold] = table.to_numpy()
    print(f"model: 3 folds trained and predicted in {time.perf_counter() - started:.0f} s")
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--with-model", action="store_true")
    parser.add_argument("--replay", action="store_true",
                        help="only the stated-vs-achieved check (--rounds rounds)")
    parser.add_argument("--dataset", type=Path, default=None,
                        help="replay on a dataset folder's real answers (counts, e.g. "
                             "../shared/data/cifar10h): each image's answers in a random order, "
                             "drawn without replacement")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dqlabels-bench-plan"))
    parser.add_argument("--prior-from", type=Path, default=None,
                        help="with --dataset: a budget study's folder (dqlabels reproduce "
                             "--annotations-per-image 1,…): its one-answer networks' held-out "
                             "predictions as the prior, on the images they held out")
    args = parser.parse_args()
    if args.dataset is not None:
        real_answers(args.dataset, args.seed, args.rounds, args.prior_from)
        return
    if args.replay:
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}; {args.num_images:,} images, seed {args.seed}")
        print_replay(args.num_images, args.seed, args.rounds)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.num_images:,} images, seed {args.seed}")
    soft = soft_labels_of(sample_parameters(args.num_images, args.seed))
    curves, results = {}, []
    started = time.perf_counter()
    for name, crowd in CROWDS.items():
        for arm in ("uniform", "soft", "hard"):
            curves[name, arm] = run_arm(soft, crowd, args.seed, arm, args.rounds)
        uniform = curves[name, "uniform"]
        for arm, metric in (("hard", "accuracy"), ("soft", "kl")):
            share, per_item, target = saving(uniform, curves[name, arm], metric)
            results.append({"crowd": name, "objective": arm, "metric": metric,
                            "uniform_at_4": target, "plan_per_item": per_item, "saving": share})
    print(f"simulations: {time.perf_counter() - started:.0f} s")
    if args.with_model:
        crowd = CROWDS["reliable"]
        prior = model_predictions(args.out, args.num_images, args.seed, crowd)
        curves["reliable", "soft+model"] = run_arm(soft, crowd, args.seed, "soft",
                                                   args.rounds // 2, prior=prior)
        share, per_item, target = saving(curves["reliable", "uniform"],
                                         curves["reliable", "soft+model"], "kl")
        results.append({"crowd": "reliable", "objective": "soft with a model", "metric": "kl",
                        "uniform_at_4": target, "plan_per_item": per_item, "saving": share})
    print("\n| crowd | objective | metric | uniform at 4 per item | plan reaches it at | saving |")
    print("|---|---|---|---:|---:|---:|")
    for r in results:
        reached = "not reached" if r["plan_per_item"] is None else f"{r['plan_per_item']:.2f}"
        share = "—" if r["saving"] is None else f"{r['saving']:.0%}"
        print(f"| {r['crowd']} | {r['objective']} | {r['metric']} | {r['uniform_at_4']:.4f} | "
              f"{reached} | {share} |")
    print("\nper item | " + " | ".join(f"{c}/{a}" for c, a in curves))
    for step in range(0, args.rounds + 1, 5):
        row = []
        for curve in curves.values():
            if step < len(curve):
                p = curve[step]
                row.append(f"{p['per_item']:.1f}: KL {p['kl']:.3f} (raw {p['kl_raw']:.2f}) "
                           f"acc {p['accuracy']:.3f}")
        print(" | ".join(row))
    figure = draw(curves, args.out / "plan-curves.png")
    (args.out / "bench_plan.json").write_text(json.dumps(
        {"results": results, "curves": {f"{c}/{a}": v for (c, a), v in curves.items()}},
        indent=1))
    print(f"\nfigure: {figure}; numbers: {args.out / 'bench_plan.json'}")


def draw(curves, path: Path) -> Path:
    from dqlabels.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for (crowd, arm), curve in curves.items():
        x = [p["per_item"] for p in curve]
        style = "-" if crowd == "reliable" else "--"
        axes[0].plot(x, [p["accuracy"] for p in curve], style, label=f"{crowd}: {arm}")
        axes[1].plot(x, [p["kl"] for p in curve], style, label=f"{crowd}: {arm}")
        axes[2].plot(x, [p["kl_raw"] for p in curve], style, label=f"{crowd}: {arm}")
    axes[0].set_ylabel("hard-label accuracy vs the exact argmax")
    axes[1].set_ylabel("KL(exact ‖ posterior mean)")
    axes[2].set_ylabel("KL(exact ‖ raw mean)")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("annotations per item")
        ax.axvline(4, color="#999", lw=0.8, ls=":")
    axes[0].legend(fontsize=7)
    fig.suptitle("Next-round planning against uniform allocation (dqlabels plan)")
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
