"""The study across annotation budgets and training-set sizes (docs/conventions.md §10, "Budgets").

The paper compares hard and soft labels made from the exact label distribution, as if
infinitely many annotations were at hand. Real teams have 1, 3, 5 or 10 annotations per image.
For each training-set size, split and budget b:

- every image gets b annotations, drawn from its exact soft label by the simulated crowd
  (:mod:`dqlabels.data.simulated_crowd`: noise and bias apply); a real dataset's images get b of their
  own annotations, drawn without replacement. The draws are nested: the first 3 of the 10 are
  the budget-3 annotations, so budgets differ only in how many there are;
- hard = the majority vote of those b (lowest class index on ties), soft = their mean; both are
  trained (``dqlabels train --targets``; one run for b = 1, where hard = soft), on one split
  per seed shared by all budgets (stratified by the exact hard label), and scored on validation
  and test against the exact soft labels (for real data: all of the image's annotations);
- the training labels themselves are scored against the exact ones ("input" KL and macro
  accuracy, as the follow-up benchmark reports them).

``exact`` is the paper's setting: the exact labels themselves (``all`` is the same word for a real
dataset: every answer an image has). With ``shrunk=True`` (or a list of budgets) a third arm trains, for each budget, on
the *shrunk* soft labels of those b answers: the posterior mean of :mod:`dqlabels.labels.posterior` (the
answers plus a prior of the class balance, its strength fitted on all images' b answers), paired
against the raw soft labels (their mean). Smaller training-set sizes are
seeded random subsets of the images (nested). The accuracy effect gets a paired comparison per
split (soft − hard on the same split and seed): mean, 95% t interval and how many splits favour
soft.

A budget study folder holds ``budget-study.json`` (every setting), ``data/`` (generated when no
dataset is given), ``sizes/n{N}/`` (each size's dataset, split and label files), ``runs/``
(one training run each; finished runs are reused, so a killed study continues where it
stopped), ``budget.md``, ``budget.csv``, ``budget.json`` and ``budget.png``; for real answers
also ``budget-photos.png`` and a section scored against every human answer
(:mod:`dqlabels.studies.budget_photos`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dqlabels._io import write_csv_atomic, write_text_atomic
from dqlabels.config import PRESETS, StudyOptions, TrainConfig
from dqlabels.data.simulated_crowd import (
    SimulatedCrowd,
    annotator_profiles,
    draw_answers,
    parse_noise,
)
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import majority_vote, soft_labels
from dqlabels.labels.scores import kl_divergence, macro_accuracy
from dqlabels.studies.budget_results import METRICS, summarise, write_budget_results
from dqlabels.studies.results import MODES
from dqlabels.text import silent

BUDGET_FILES = ("budget-study.json", "data", "sizes", "runs", "budget.md", "budget.csv",
                "budget.json", "budget.png", "budget-photos.png")
PRESET = PRESETS["budget"].settings  # budgets, sizes, splits per size, generated image size


def parse_budgets(text) -> tuple:
    """``"1,3,10,exact"`` → ``(1, 3, 10, "exact")`` (sorted, ``exact`` last; ``all`` is read as
    ``exact``: for a real dataset, every answer of an image)."""
    given = [v.strip() for v in (text.split(",") if isinstance(text, str) else map(str, text))]
    values = ["exact" if v == "all" else v for v in given]
    numbers = []
    for value in values:
        if value == "exact":
            continue
        if not value.isdigit() or int(value) < 1:
            raise InputError(f"Expected annotations_per_image as whole numbers >= 1, 'exact' or "
                             f"'all'. "
                             f"Received: annotations_per_image={','.join(given)}")
        numbers.append(int(value))
    if len(set(numbers)) != len(numbers) or values.count("exact") > 1 or not values:
        raise InputError(f"Expected annotations_per_image without repeats. "
                         f"Received: annotations_per_image={','.join(given)}")
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


def run_study(out_dir, preset: str, options: StudyOptions) -> str:
    """``dqlabels reproduce`` of this study (the registry's ``budget`` study and its presets,
    ``budget`` and ``cifar10h-budget``; also asked for by ``--annotations-per-image`` or
    ``--num-images`` with any other preset, whose training it then takes where it is a
    photograph preset, else the quick study's): run it and return its table and where the
    files are. Options left None take the preset's value (for other presets, ``budget``'s)."""
    from dqlabels.studies.budget_results import budget_markdown

    pool, noise, bias = options.crowd
    chosen = PRESETS[preset].settings if PRESETS[preset].study == "budget" else PRESET
    train = preset if PRESETS[preset].study == "kfold" else chosen["train_preset"]
    sizes = chosen["sizes"] if options.sizes is None else options.sizes
    # The preset's splits go with its sizes; sizes given without splits take budget_settings'.
    splits = chosen["splits"] if options.splits is None and options.sizes is None else \
        options.splits
    budgets = chosen["budgets"] if options.budgets is None else options.budgets
    shrunk = options.shrunk
    if shrunk is None:  # the preset's: every budget (True), none, or those of its list asked for
        shrunk = chosen.get("shrunk", False)
        if isinstance(shrunk, tuple):
            shrunk = tuple(b for b in shrunk if b in parse_budgets(budgets)) or False
    results = reproduce_budgets(
        out_dir, budgets=budgets, sizes=sizes, splits=splits, shrunk=shrunk,
        crowd=SimulatedCrowd(1, pool, parse_noise(noise), bias), train_preset=train,
        **options.common())
    figures = (f"figures {out_dir}/budget.png and {out_dir}/budget-photos.png"
               if results.get("photographs") else f"figure {out_dir}/budget.png")
    return (budget_markdown(results).strip() + f"\n\nResults in {out_dir}/budget.md, .csv, "
            f".json; {figures}")


def budget_settings(*, dataset=None, overrides=None, budgets=None, sizes=None, splits=None,
                    seed: int = 0, crowd: SimulatedCrowd | None = None,
                    shrunk: bool | tuple = False, train_preset: str = "quick") -> dict:
    """The effective settings of a budget study: the ``budget`` preset (the training of the
    study preset ``train_preset``: the quick study's, or ``cifar10h``'s for photographs), then
    the options given."""
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
    config = replace(PRESETS[train_preset].settings["train"], seed=seed, **(overrides or {}))
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
        **({"shrunk": _shrunk_setting(shrunk, budgets)} if shrunk else {}),
        **({"train_preset": train_preset} if train_preset != "quick" else {}),
    }


def reproduce_budgets(out_dir, *, dataset=None, overrides=None, budgets=None, sizes=None,
                      splits=None, seed: int = 0, crowd: SimulatedCrowd | None = None,
                      shrunk: bool | tuple = False, train_preset: str = "quick",
                      overwrite: bool = False, log=silent, verbose="auto") -> dict:
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
        shrunk: also train on each budget's shrunk soft labels (the third arm); or the
            budgets to do so for, e.g. ``(1, 3)``.
        train_preset: the study preset whose training settings the runs use (``quick``, or
            ``cifar10h`` for photographs).
        overwrite: start again in a folder that holds a study with other settings.
        log: called with each progress line.
        verbose: Keras' ``fit`` verbosity.
    """
    from dqlabels.data.datasets import (
        is_synthetic,
        load_dataset,
        make_split,
        save_split,
    )
    from dqlabels.studies.study import prepare_study_folder, study_data
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
    clock = _budget_clock(settings, config, log, out_dir)
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
                    size_dir, data, answers, budget, k, _shrinks(settings, budget), train_rows)
                inputs.append({**given, "size": size})
                for mode in _arms(settings, budget):
                    runs += _train_arm(out_dir, size_dir, split_file, config, clock, verbose,
                                       (size, budget, k, mode),
                                       shrunk_targets if mode == "shrunk" else targets)
    results = summarise(runs, inputs, settings)
    if not synthetic:  # real answers: scored as the K-fold study scores its folds
        from dqlabels.studies.budget_photos import photo_results

        results["photographs"] = photo_results(out_dir, runs, full)
    results["seconds"] = round(time.time() - started, 1)
    seconds = {r["run"]: r["seconds"] or 0.0 for r in runs}  # budget 1: one run, two rows
    results["training_seconds"] = round(sum(seconds.values()), 1)
    write_budget_results(out_dir, results)
    return results


def _shrunk_setting(shrunk, budgets: tuple):
    """``shrunk`` as stored: True (every budget but the exact labels) or the sorted list of the
    budgets given (each one of ``budgets``, not ``exact``)."""
    if shrunk is True:
        return True
    chosen = parse_budgets(shrunk)
    if "exact" in chosen or not set(chosen) <= set(budgets):
        raise InputError(f"Expected the shrunk arm's budgets among the annotation budgets "
                         f"({','.join(str(b) for b in budgets if b != 'exact')}). Received: "
                         f"shrunk={','.join(map(str, shrunk))}")
    return list(chosen)


def _shrinks(settings: dict, budget) -> bool:
    """Whether the shrunk arm trains at ``budget`` (never for the exact labels)."""
    shrunk = settings.get("shrunk", False)
    return budget != "exact" and (shrunk is True or shrunk is not False and budget in shrunk)


def _arms(settings: dict, budget) -> tuple:
    """The runs of one budget and split, in order: budget 1 once (its hard and soft labels are
    the same), hard and soft otherwise, then the shrunk arm where it trains."""
    return (("soft",) if budget == 1 else MODES) + (("shrunk",) if _shrinks(settings, budget)
                                                    else ())


def _run_dir(out_dir: Path, size: int, budget, split: int, mode: str) -> Path:
    return Path(out_dir) / "runs" / f"n{size}" / f"b{budget}" / f"{mode}-split{split}"


def _budget_clock(settings: dict, config: TrainConfig, log, out_dir=None) -> _Clock:
    """The study's clock: one entry (size, steps) per run to come, in the order they run; a run
    already finished in ``out_dir`` (a resumed study) has no steps left, so that the estimate
    counts only the runs still to train."""
    from dqlabels.data.datasets import DEFAULT_FRACTIONS

    entries = []
    for size, num_splits in zip(settings["sizes"], settings["splits"]):
        steps = config.epochs * max(1, int(DEFAULT_FRACTIONS[0] * size) // config.batch_size)
        for k in range(num_splits):
            for budget in settings["budgets"]:
                for mode in _arms(settings, budget):
                    finished = out_dir is not None and (
                        _run_dir(out_dir, size, budget, k, mode) / "scores.json").exists()
                    entries.append((size, 0 if finished else steps))
    return _Clock(entries, log)


def _train_arm(out_dir: Path, size_dir: Path, split_file: Path, config: TrainConfig, clock,
               verbose, arm: tuple, given: Path | None) -> list[dict]:
    """Train (or reuse) one run: ``arm`` is (size, budget, split, mode), ``given`` its targets
    file (None: the dataset's own labels); its result rows (budget 1's soft run also stands
    for hard, the two being the same labels)."""
    from dqlabels.learning.callbacks import EpochTimer
    from dqlabels.learning.training import train

    size, budget, k, mode = arm
    run_dir = _run_dir(out_dir, size, budget, k, mode)
    clock.run(f"{size:,} images, {budget} per image, {mode}, split {k}",
              (run_dir / "scores.json").exists())
    scores = train(size_dir, run_dir, replace(
        config, label_mode="soft" if mode == "shrunk" else mode,
        split_file=str(split_file.resolve()),
        targets=None if given is None else str(given.resolve())),
        verbose=verbose, callbacks=[EpochTimer(clock.first_epoch)])
    recorded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    entry = {"size": size, "budget": budget, "split": k, "run": str(run_dir.relative_to(out_dir)),
             "seconds": recorded.get("seconds_last_session"), **{m: scores[m] for m in METRICS}}
    return [{**entry, "mode": m} for m in (MODES if budget == 1 and mode == "soft" else (mode,))]


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
        runs = f"{len(left)} runs" if len(left) != 1 else "1 run"
        self.log(f"  about {seconds / 60:.0f} min left for the {runs} still to train "
                 f"({per_step:.2f} s per training step on this machine)")


def _subset(folder: Path, data_dir: Path, full, rows: np.ndarray) -> Path:
    """A dataset folder of the items ``rows`` of ``full``: their exact labels (or all their
    annotations, as counts), the images reached through links to ``data_dir``. A folder of the
    study's own even when ``rows`` are every item: the study writes its splits and label files
    beside the annotations, never into the user's dataset."""
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
    """The shrunk soft labels of ``counts`` (the posterior mean, :func:`dqlabels.labels.posterior.posterior`)
    as a probabilities file; returns them."""
    from dqlabels.labels.posterior import posterior
    from dqlabels.readers.annotations import from_counts

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
        hard = np.eye(exact.shape[1])[majority_vote(exact).labels_]
    else:
        soft = soft_labels(counts)
        hard = np.eye(exact.shape[1])[majority_vote(counts).labels_]
    return {"size": size, "budget": budget, "split": split,
            "input_macro_accuracy": macro_accuracy(exact, hard),
            "input_kl_soft": kl_divergence(exact, soft), "input_kl_hard": kl_divergence(exact, hard),
            **({} if shrunk is None else {"input_kl_shrunk": kl_divergence(exact, shrunk)})}
