"""The study across annotation budgets and training-set sizes (SPEC §10, "Budgets").

The paper compares hard and soft labels made from the exact label distribution, as if
infinitely many annotations were at hand. Real teams have 1, 3, 5 or 10 annotations per image.
For each training-set size, split and budget b:

- every image gets b annotations, drawn from its exact soft label by the simulated crowd
  (:mod:`dqlabels.simulated_crowd`: noise and bias apply); a real dataset's images get b of their
  own annotations, drawn without replacement. The draws are nested: the first 3 of the 10 are
  the budget-3 annotations, so budgets differ only in how many there are;
- hard = the majority vote of those b (lowest class index on ties), soft = their mean; both are
  trained (``dqlabels train --targets``; one run for b = 1, where hard = soft), on one split
  per seed shared by all budgets (stratified by the exact hard label), and scored on validation
  and test against the exact soft labels (for real data: all of the image's annotations);
- the training labels themselves are scored against the exact ones ("input" KL and macro
  accuracy, as the follow-up benchmark reports them).

``exact`` is the paper's setting: the exact labels themselves (``all`` is the same word for a real
dataset: every answer an image has). With ``shrunk=True`` a third arm trains, for each budget, on
the *shrunk* soft labels of those b answers: the posterior mean of :mod:`dqlabels.plan` (the
answers plus a prior of the class balance, its strength fitted on all images' b answers), paired
against the raw soft labels (their mean). Smaller training-set sizes are
seeded random subsets of the images (nested). The accuracy effect gets a paired comparison per
split (soft − hard on the same split and seed): mean, 95% t interval and how many splits favour
soft.

A budget study folder holds ``budget-study.json`` (every setting), ``data/`` (generated when no
dataset is given), ``sizes/n{N}/`` (each size's dataset, split and label files), ``runs/``
(one training run each; finished runs are reused, so a killed study continues where it
stopped), ``budget.md``, ``budget.csv``, ``budget.json`` and ``budget.png``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dqlabels._io import write_csv_atomic, write_text_atomic
from dqlabels.aggregation import majority_vote, soft_labels
from dqlabels.config import TrainConfig
from dqlabels.errors import InputError
from dqlabels.scores import kl_divergence, macro_accuracy
from dqlabels.simulated_crowd import SimulatedCrowd, annotator_profiles, draw_answers
from dqlabels.verdicts import paired, verdict

MODES = ("hard", "soft")
METRICS = ("macro_accuracy", "kl")
BUDGET_FILES = ("budget-study.json", "data", "sizes", "runs", "budget.md", "budget.csv",
                "budget.json", "budget.png")
PRESET = {"budgets": (1, 3, 10, "exact"), "sizes": (1000, 3000), "splits": (5, 2),
          "generate_size": 32}


def parse_budgets(text) -> tuple:
    """``"1,3,10,exact"`` → ``(1, 3, 10, "exact")`` (sorted, ``exact`` last; ``all`` is read as
    ``exact``: for a real dataset, every answer of an image)."""
    values = [v.strip() for v in (text.split(",") if isinstance(text, str) else map(str, text))]
    values = ["exact" if v == "all" else v for v in values]
    numbers = []
    for value in values:
        if value == "exact":
            continue
        if not value.isdigit() or int(value) < 1:
            raise InputError(f"Expected annotations_per_image as whole numbers >= 1, 'exact' or "
                             f"'all'. "
                             f"Received: annotations_per_image={','.join(values)}")
        numbers.append(int(value))
    if len(set(numbers)) != len(numbers) or values.count("exact") > 1 or not values:
        raise InputError(f"Expected annotations_per_image without repeats. "
                         f"Received: annotations_per_image={','.join(values)}")
    return (*sorted(numbers), *(("exact",) if "exact" in values else ()))


def parse_splits(text) -> tuple[int, ...]:
    """``"5,2"`` → ``(5, 2)``: the number of splits per training-set size, smallest size first
    (one number: the same for every size)."""
    values = [v.strip() for v in (text.split(",") if isinstance(text, str)
                                  else map(str, np.atleast_1d(text)))]
    if not values or not all(v.isdigit() for v in values):
        raise InputError(f"Expected splits as whole numbers >= 1, one or one per size. "
                         f"Received: splits={','.join(values)}")
    return tuple(int(v) for v in values)


def parse_sizes(text) -> tuple[int, ...]:
    """``"1000,3000"`` → ``(1000, 3000)``: numbers of images (sorted)."""
    values = [v.strip() for v in (text.split(",") if isinstance(text, str) else map(str, text))]
    if not values or not all(v.isdigit() and int(v) >= 10 for v in values) or \
            len(set(values)) != len(values):
        raise InputError(f"Expected num_images as distinct whole numbers >= 10. "
                         f"Received: num_images={','.join(values)}")
    return tuple(sorted(int(v) for v in values))


def budget_settings(*, dataset=None, overrides=None, budgets=None, sizes=None, splits=None,
                    seed: int = 0, crowd: SimulatedCrowd | None = None,
                    shrunk: bool = False, train_preset: str = "quick") -> dict:
    """The effective settings of a budget study: the ``budget`` preset (the training of the
    study preset ``train_preset``: the quick study's, or ``cifar10h``'s for photographs), then
    the options given."""
    from dqlabels.study import PRESETS

    budgets = parse_budgets(budgets if budgets is not None else PRESET["budgets"])
    sizes = parse_sizes(sizes if sizes is not None else PRESET["sizes"])
    if splits is None:
        splits = PRESET["splits"] if len(sizes) == len(PRESET["splits"]) else (3,) * len(sizes)
    splits = parse_splits(splits)
    splits = splits * len(sizes) if len(splits) == 1 else splits
    if len(splits) != len(sizes) or min(splits) < 1:
        raise InputError(f"Expected splits as one number >= 1, or one per size ({len(sizes)}). "
                         f"Received: splits={','.join(map(str, splits))}")
    crowd = crowd or SimulatedCrowd(max([b for b in budgets if b != "exact"], default=1))
    crowd = replace(crowd, per_image=max([b for b in budgets if b != "exact"], default=1))
    crowd.check()
    config = replace(PRESETS[train_preset]["train"], seed=seed, **(overrides or {}))
    config.check()
    return {
        "kind": "budget",
        "dataset": None if dataset is None else str(Path(dataset).resolve()),
        "generate": None if dataset is not None else {
            "num_images": max(sizes), "image_size": PRESET["generate_size"], "seed": seed,
            "placement": "inside"},
        "budgets": list(budgets), "sizes": list(sizes), "splits": list(splits),
        "crowd": {"pool": crowd.pool, "noise": list(crowd.noise), "bias": crowd.bias},
        "seed": seed,
        "train": asdict(config),
        # Only when not the defaults, so that older study folders keep the same settings.
        **({"shrunk": True} if shrunk else {}),
        **({"train_preset": train_preset} if train_preset != "quick" else {}),
    }


def reproduce_budgets(out_dir, *, dataset=None, overrides=None, budgets=None, sizes=None,
                      splits=None, seed: int = 0, crowd: SimulatedCrowd | None = None,
                      shrunk: bool = False, train_preset: str = "quick",
                      overwrite: bool = False, log=print, verbose="auto") -> dict:
    """Run (or continue) a budget study and write its results; returns them.

    Args:
        out_dir: the study folder.
        dataset: a dataset folder (real annotations, subsampled); default: generate the
            synthetic data (exact soft labels) into ``out_dir/data``.
        overrides: training settings that replace the preset's (quick) ones.
        budgets: annotations per image, e.g. ``"1,3,10,exact"``.
        sizes: numbers of images, e.g. ``"1000,3000"`` (seeded nested subsets).
        splits: splits per size (one number, or one per size).
        seed: seed of the generator, the draws of annotations, the subsets and the training.
        crowd: the simulated annotators (pool, noise, bias; ``per_image`` is set to the largest
            budget).
        shrunk: also train on each budget's shrunk soft labels (the third arm).
        train_preset: the study preset whose training settings the runs use (``quick``, or
            ``cifar10h`` for photographs).
        overwrite: start again in a folder that holds a study with other settings.
        log: called with each progress line.
        verbose: Keras' ``fit`` verbosity.
    """
    from dqlabels.datasets import (
        DEFAULT_FRACTIONS,
        is_synthetic,
        load_dataset,
        make_split,
        save_split,
    )
    from dqlabels.study import prepare_study_folder, study_data
    from dqlabels.training import EpochTimer, train

    out_dir = Path(out_dir)
    settings = budget_settings(dataset=dataset, overrides=overrides, budgets=budgets,
                               sizes=sizes, splits=splits, seed=seed, crowd=crowd, shrunk=shrunk,
                               train_preset=train_preset)
    prepare_study_folder(out_dir, settings, overwrite, "budget-study.json", BUDGET_FILES,
                         "budget study")
    data_dir = study_data(out_dir, settings, dataset, log)
    full = load_dataset(data_dir)
    if max(settings["sizes"]) > full.num_items:
        raise InputError(f"{data_dir}: has {full.num_items:,} images, fewer than num_images="
                         f"{max(settings['sizes'])}")
    synthetic = is_synthetic(full)
    order = np.random.default_rng([seed, 11]).permutation(full.num_items)
    config = TrainConfig(**settings["train"])
    numbers = [b for b in settings["budgets"] if b != "exact"]
    runs, inputs, started = [], [], time.time()
    per_split = sum((1 if b == 1 else 2) + (shrunk and b != "exact")
                    for b in settings["budgets"])
    clock = _Clock([(size, config.epochs * max(1, int(DEFAULT_FRACTIONS[0] * size) // config.batch_size))
                    for size, k in zip(settings["sizes"], settings["splits"])
                    for _ in range(k * per_split)], log)
    for size, num_splits in zip(settings["sizes"], settings["splits"]):
        rows = np.sort(order[:size])
        size_dir = _subset(out_dir / "sizes" / f"n{size}", data_dir, full, rows)
        data = load_dataset(size_dir)
        for k in range(num_splits):
            split = make_split(data, k)
            split_file = size_dir / f"split{k}.csv"
            save_split(split_file, data.items, split)
            answers = _answers(data, max(numbers, default=1), synthetic,
                               settings["crowd"], [seed, 100 + k])
            train_rows = np.flatnonzero(split == "train")
            for budget in settings["budgets"]:
                targets, shrunk_targets, given = _budget_targets(
                    size_dir, data, answers, budget, k, shrunk, train_rows)
                inputs.append({**given, "size": size})
                arms = (("soft",) if budget == 1 else MODES) + (("shrunk",) if shrunk_targets
                                                                else ())
                for mode in arms:
                    run_dir = out_dir / "runs" / f"n{size}" / f"b{budget}" / f"{mode}-split{k}"
                    reused = (run_dir / "scores.json").exists()
                    clock.run(f"{size:,} images, {budget} per image, {mode}, split {k}", reused)
                    given = shrunk_targets if mode == "shrunk" else targets
                    scores = train(size_dir, run_dir, replace(
                        config, label_mode="soft" if mode == "shrunk" else mode,
                        split_file=str(split_file.resolve()),
                        targets=None if given is None else str(given.resolve())),
                        verbose=verbose, callbacks=[EpochTimer(clock.first_epoch)])
                    recorded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
                    entry = {"size": size, "budget": budget, "split": k,
                             "run": str(run_dir.relative_to(out_dir)),
                             "seconds": recorded.get("seconds_last_session"),
                             **{m: scores[m] for m in METRICS}}
                    runs += [{**entry, "mode": m}
                             for m in (MODES if budget == 1 and mode == "soft" else (mode,))]
    results = summarise(runs, inputs, settings)
    results["seconds"] = round(time.time() - started, 1)
    seconds = {r["run"]: r["seconds"] or 0.0 for r in runs}  # budget 1: one run, two rows
    results["training_seconds"] = round(sum(seconds.values()), 1)
    write_budget_results(out_dir, results)
    return results


class _Clock:
    """Progress lines and, after the first epoch of the first run trained, an estimate of the time
    left: the training steps of the runs still to train (each size's, as the preset gives them)
    at the seconds per step measured, plus a few seconds per run for its outputs."""

    RUN_OVERHEAD_S = 8.0  # precise BatchNorm, predictions, saving: measured, about this

    def __init__(self, steps: list[tuple[int, int]], log):
        self.steps, self.log, self.done, self.estimated = steps, log, 0, False

    def run(self, what: str, reused: bool) -> None:
        self.done += 1
        self.log(f"[run {self.done}/{len(self.steps)}] {what}" + (" (reused)" if reused else ""))
        if reused:
            self.steps[self.done - 1] = (self.steps[self.done - 1][0], 0)

    def first_epoch(self, epoch_seconds: float, epochs_left: int) -> None:
        if self.estimated:
            return
        self.estimated = True
        current = self.steps[self.done - 1][1]
        per_step = epoch_seconds * (epochs_left + 1) / max(current, 1)
        left = [n for _, n in self.steps[self.done - 1:] if n]
        seconds = per_step * sum(left) + self.RUN_OVERHEAD_S * len(left)
        self.log(f"  about {seconds / 60:.0f} min left for the {len(left)} runs still to train "
                 f"({per_step:.2f} s per training step on this machine)")


def _subset(folder: Path, data_dir: Path, full, rows: np.ndarray) -> Path:
    """A dataset folder of the items ``rows`` of ``full``: their exact labels (or all their
    annotations, as counts), the images reached through links to ``data_dir``."""
    if rows.size == full.num_items:
        return Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    items = full.items[rows]
    for part in sorted({Path(str(item)).parts[0] for item in items}):  # images/, fold1/, …
        link = folder / part
        if not link.exists():
            os.symlink(Path(data_dir).resolve() / part, link)
    values = full.annotations.counts[rows]
    write_csv_atomic(folder / "annotations.csv", ("item", *full.classes),
                     ([item, *row] for item, row in zip(items, values.tolist())))
    info = {**full.info, "annotations": "annotations.csv", "num_images": int(rows.size),
            "annotations_format": "probs" if full.annotations.is_distribution else "counts"}
    write_text_atomic(folder / "dataset.json", json.dumps(info, indent=2) + "\n")
    return folder


def _answers(data, most: int, synthetic: bool, crowd: dict, seed) -> np.ndarray:
    """``(items, most)`` class indices: each image's annotations in the order budgets take
    them; −1 where a real image has fewer annotations than ``most``."""
    rng = np.random.default_rng(seed)
    n, k = data.soft_labels.shape
    if synthetic:
        simulated = SimulatedCrowd(most, crowd["pool"], tuple(crowd["noise"]), crowd["bias"])
        response = annotator_profiles(simulated, k, int(seed[0]))["response"]
        if crowd["pool"] is None:
            who = np.broadcast_to(np.arange(most), (n, most))
        else:  # distinct annotators per image: the smallest of `pool` random keys
            who = np.argsort(rng.random((n, crowd["pool"])), axis=1)[:, :most]
        return draw_answers(np.repeat(data.soft_labels, most, axis=0),
                            response[who.reshape(-1)], rng).reshape(n, most)
    answers = np.full((n, most), -1, dtype=np.int64)
    for i, row in enumerate(data.annotations.counts):  # one per image
        labels = rng.permutation(np.repeat(np.arange(k), row))[:most]
        answers[i, :labels.size] = labels
    return answers


def _counts(answers: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.zeros((len(answers), num_classes), dtype=np.int64)
    rows, columns = np.nonzero(answers >= 0)
    np.add.at(counts, (rows, answers[rows, columns]), 1)
    return counts


def _write_labels(path: Path, data, answers: np.ndarray) -> None:
    """The long annotation file of these answers (annotator = the answer's position)."""
    rows, columns = np.nonzero(answers >= 0)
    classes = np.asarray(data.classes, dtype=object)
    write_csv_atomic(path, ("item", "annotator", "label"),
                     zip(data.items[rows].tolist(), (f"a{c}" for c in columns.tolist()),
                         classes[answers[rows, columns]].tolist()))


def _budget_targets(size_dir: Path, data, answers: np.ndarray, budget, split: int,
                    shrunk: bool, train_rows: np.ndarray):
    """A budget's training-label files (raw answers; their shrunk soft labels when ``shrunk``;
    None for the exact labels) and the scores of those labels on the training rows."""
    exact = data.soft_labels[train_rows]
    if budget == "exact":
        return None, None, _input_scores(exact, None, None, budget, split)
    targets = size_dir / f"labels-b{budget}-split{split}.csv"
    _write_labels(targets, data, answers[:, :budget])
    counts = _counts(answers[:, :budget], len(data.classes))
    shrunk_targets = shrunk_labels = None
    if shrunk:
        shrunk_targets = size_dir / f"shrunk-b{budget}-split{split}.csv"
        shrunk_labels = _write_shrunk(shrunk_targets, data, counts)[train_rows]
    return targets, shrunk_targets, _input_scores(exact, counts[train_rows], None, budget,
                                                  split, shrunk_labels)


def _write_shrunk(path: Path, data, counts: np.ndarray) -> np.ndarray:
    """The shrunk soft labels of ``counts`` (the posterior mean, :func:`dqlabels.plan.posterior`)
    as a probabilities file; returns them."""
    from dqlabels.annotations import from_counts
    from dqlabels.plan import posterior

    shrunk = posterior(from_counts(counts, classes=data.classes)).mean
    write_csv_atomic(path, ("item", *data.classes),
                     ([item, *(f"{v:.12g}" for v in row)]
                      for item, row in zip(data.items, shrunk.tolist())))
    return shrunk


def _input_scores(exact: np.ndarray, counts, size: int, budget, split: int,
                  shrunk: np.ndarray | None = None) -> dict:
    """The training labels themselves against the exact ones: macro accuracy of their argmax,
    KL of the soft labels (the mean), of the hard ones (one-hot majority) and of the shrunk
    ones (when made)."""
    if counts is None:
        soft = exact
        hard = np.eye(exact.shape[1])[majority_vote(exact).labels]
    else:
        soft = soft_labels(counts)
        hard = np.eye(exact.shape[1])[majority_vote(counts).labels]
    return {"size": size, "budget": budget, "split": split,
            "input_macro_accuracy": macro_accuracy(exact, hard),
            "input_kl_soft": kl_divergence(exact, soft), "input_kl_hard": kl_divergence(exact, hard),
            **({} if shrunk is None else {"input_kl_shrunk": kl_divergence(exact, shrunk)})}


# ----------------------------------------------------------------------------------------------
# Results


def _mean_std(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else None,
            "values": values.tolist()}


def summarise(runs: list[dict], inputs: list[dict], settings: dict) -> dict:
    """Per size × budget × mode, mean ± std over the splits of the model's macro accuracy and
    KL against the exact labels, and of the input labels'; per size × budget, the paired
    soft − hard comparison."""
    summary, comparisons = {}, {}
    for size in settings["sizes"]:
        for budget in settings["budgets"]:
            key = f"{size}/{budget}"
            chosen = [r for r in runs if r["size"] == size and r["budget"] == budget]
            given = [r for r in inputs if r["size"] == size and r["budget"] == budget]
            summary[key] = {"size": size, "budget": budget, **{mode: {
                m: _mean_std([r[m] for r in chosen if r["mode"] == mode]) for m in METRICS}
                for mode in MODES}}
            summary[key]["input"] = {
                m: _mean_std([r[m] for r in given])
                for m in ("input_macro_accuracy", "input_kl_soft", "input_kl_hard")}
            by_split = {mode: [r for r in sorted(chosen, key=lambda r: r["split"])
                               if r["mode"] == mode] for mode in MODES}
            comparisons[key] = {m: paired([r[m] for r in by_split["hard"]],
                                          [r[m] for r in by_split["soft"]]) for m in METRICS}
            for metric in METRICS:
                comparisons[key][metric]["verdict"] = verdict(
                    comparisons[key][metric], higher_is_better=metric == "macro_accuracy")
            shrunk = [r for r in sorted(chosen, key=lambda r: r["split"]) if r["mode"] == "shrunk"]
            if shrunk:  # the third arm: shrunk − raw soft labels, paired by split
                summary[key]["shrunk"] = {m: _mean_std([r[m] for r in shrunk]) for m in METRICS}
                summary[key]["input"]["input_kl_shrunk"] = _mean_std(
                    [r["input_kl_shrunk"] for r in given])
                comparisons[key]["shrunk_vs_soft"] = {}
                for metric in METRICS:
                    entry = paired([r[metric] for r in by_split["soft"]],
                                   [r[metric] for r in shrunk])
                    comparisons[key]["shrunk_vs_soft"][metric] = {
                        **entry, "verdict": verdict(entry, metric == "macro_accuracy")
                        .replace("soft", "shrunk")}
    return {"settings": settings, "runs": runs, "inputs": inputs, "summary": summary,
            "paired": comparisons}


def _cell(entry) -> str:
    return (f"{entry['mean']:.4f}" if entry["std"] is None
            else f"{entry['mean']:.4f} ± {entry['std']:.4f}")


def _interval(entry) -> str:
    if entry["interval"] is None:
        return f"{entry['mean']:+.4f} (one split)"
    low, high = entry["interval"]
    return f"{entry['mean']:+.4f} [{low:+.4f}, {high:+.4f}]"


def _verdict(comparison: dict, higher_is_better: bool) -> str:
    # Results written before verdicts existed carry none: derive it from the interval.
    return comparison.get("verdict") or verdict(comparison, higher_is_better)


def _shrunk_lines(results: dict, size: int, budgets) -> list[str]:
    """The third arm's table: shrunk vs raw soft labels of the same answers (when trained)."""
    keys = [(b, f"{size}/{b}") for b in budgets if "shrunk" in results["summary"][f"{size}/{b}"]]
    if not keys:
        return []
    lines = ["", "The third arm: training on the shrunk soft labels (the posterior mean of the "
                 "same answers) against their raw mean, paired by split:", "",
             "| annotations per image | shrunk ACC ↑ | shrunk KL ↓ | input KL shrunk / raw | "
             "shrunk − raw: macro accuracy | shrunk − raw: KL |", "|---|---|---|---|---|---|"]
    for budget, key in keys:
        s, p = results["summary"][key], results["paired"][key]["shrunk_vs_soft"]
        lines.append(f"| {budget} | {_cell(s['shrunk']['macro_accuracy'])} | "
                     f"{_cell(s['shrunk']['kl'])} | {s['input']['input_kl_shrunk']['mean']:.3f} / "
                     f"{s['input']['input_kl_soft']['mean']:.3f} | "
                     f"{_interval(p['macro_accuracy'])}: {p['macro_accuracy']['verdict']} | "
                     f"{_interval(p['kl'])}: {p['kl']['verdict']} |")
    return lines


def budget_markdown(results: dict) -> str:
    """The results as Markdown: per size, a table of budgets, and the paired comparison."""
    settings = results["settings"]
    lines = ["# Hard vs soft labels across annotation budgets and training-set sizes", "",
             f"Training: {settings['train']['model']}, {settings['train']['epochs']} epochs, "
             f"batch {settings['train']['batch_size']}; every model scored on the test split "
             f"against the exact soft labels; mean ± sample std over the splits.", ""]
    for size, splits in zip(settings["sizes"], settings["splits"]):
        lines += [f"## {size:,} images ({splits} split{'s' if splits > 1 else ''})", "",
                  "| annotations per image | hard ACC ↑ | hard KL ↓ | soft ACC ↑ | soft KL ↓ | "
                  "input ACC | input KL (soft) | input KL (hard) |",
                  "|---|---|---|---|---|---|---|---|"]
        for budget in settings["budgets"]:
            s = results["summary"][f"{size}/{budget}"]
            lines.append(f"| {budget}{' (hard = soft)' if budget == 1 else ''} | "
                         f"{_cell(s['hard']['macro_accuracy'])} | {_cell(s['hard']['kl'])} | "
                         f"{_cell(s['soft']['macro_accuracy'])} | {_cell(s['soft']['kl'])} | "
                         f"{_cell(s['input']['input_macro_accuracy'])} | "
                         f"{_cell(s['input']['input_kl_soft'])} | "
                         f"{_cell(s['input']['input_kl_hard'])} |")
        lines += ["", "Soft − hard on the same split (mean, 95% t interval, splits where soft is "
                      "higher; the verdict: better or worse only where the interval excludes 0):",
                  "", "| annotations per image | macro accuracy | KL |", "|---|---|---|"]
        for budget in settings["budgets"]:
            p = results["paired"][f"{size}/{budget}"]
            lines.append(f"| {budget} | {_interval(p['macro_accuracy'])}, "
                         f"{p['macro_accuracy']['soft_higher']}/{p['macro_accuracy']['splits']}: "
                         f"{_verdict(p['macro_accuracy'], True)} | "
                         f"{_interval(p['kl'])}, "
                         f"{p['kl']['soft_lower']}/{p['kl']['splits']} "
                         f"lower: {_verdict(p['kl'], False)} |")
        lines += _shrunk_lines(results, size, settings["budgets"])
        lines.append("")
    if "seconds" in results:
        lines.append(f"Wall time of this invocation: {results['seconds']:.0f} s; the runs' "
                     f"training (their last sessions, reused runs included): "
                     f"{results.get('training_seconds', 0) / 60:.0f} min.")
    return "\n".join(lines) + "\n"


BUDGET_COLUMNS = ("kind", "size", "budget", "split", "mode", "macro_accuracy", "kl",
                  "input_macro_accuracy", "input_kl_soft", "input_kl_hard", "std_macro_accuracy",
                  "std_kl", "interval_low", "interval_high")


def write_budget_results(out_dir: Path, results: dict) -> None:
    """``budget.json``, ``budget.md``, ``budget.csv`` (one row per run, per input, per summary
    and per paired comparison) and ``budget.png``."""
    write_text_atomic(out_dir / "budget.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(out_dir / "budget.md", budget_markdown(results))
    rows = [("run", r["size"], r["budget"], r["split"], r["mode"], r["macro_accuracy"], r["kl"],
             None, None, None, None, None, None, None) for r in results["runs"]]
    rows += [("input", r["size"], r["budget"], r["split"], None, None, None,
              r["input_macro_accuracy"], r["input_kl_soft"], r["input_kl_hard"], None, None,
              None, None) for r in results["inputs"]]
    for s in results["summary"].values():
        for mode in MODES:
            e = s[mode]
            rows.append(("mean", s["size"], s["budget"], None, mode,
                         e["macro_accuracy"]["mean"], e["kl"]["mean"], None, None, None,
                         e["macro_accuracy"]["std"], e["kl"]["std"], None, None))
    for key, p in results["paired"].items():
        size, budget = key.split("/")
        for metric in METRICS:
            low, high = p[metric]["interval"] or (None, None)
            rows.append((f"paired {metric}", int(size), budget, None, "soft - hard",
                         p[metric]["mean"] if metric == "macro_accuracy" else None,
                         p[metric]["mean"] if metric == "kl" else None, None, None, None, None,
                         None, low, high))
    write_csv_atomic(out_dir / "budget.csv", BUDGET_COLUMNS, rows)
    budget_figure(results, out_dir / "budget.png")


def budget_figure(results: dict, path: Path) -> Path:
    """KL and macro accuracy against annotations per image, hard and soft per size, with error
    bars (sample std over the splits); the exact labels' results as dashed lines."""
    from dqlabels.figures import pyplot, save_figure

    plt = pyplot()
    settings = results["settings"]
    numbers = [b for b in settings["budgets"] if b != "exact"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for s, size in enumerate(settings["sizes"]):
        for m, mode in enumerate(MODES):
            colour = colours[(2 * s + m) % len(colours)]
            for ax, metric in zip(axes, ("kl", "macro_accuracy")):
                entries = [results["summary"][f"{size}/{b}"][mode][metric] for b in numbers]
                ax.errorbar(numbers, [e["mean"] for e in entries],
                            yerr=[e["std"] or 0 for e in entries], marker="o", capsize=3,
                            color=colour, ls="-" if mode == "soft" else "--",
                            label=f"{size:,} images, {mode}")
                if "exact" in settings["budgets"]:
                    ax.axhline(results["summary"][f"{size}/exact"][mode][metric]["mean"],
                               color=colour, lw=0.8, ls=":")
    for ax, name in zip(axes, ("KL(exact ‖ prediction) ↓", "macro accuracy ↑")):
        ax.set_xscale("log")
        ax.set_xticks(numbers, [str(b) for b in numbers])
        ax.set_xlabel("annotations per image (dotted: the exact labels)")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=7)
    fig.suptitle("Hard vs soft labels across annotation budgets")
    return save_figure(fig, path)
