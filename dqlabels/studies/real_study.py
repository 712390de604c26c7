"""The study on real images (docs/conventions.md §14): hard vs soft labels by K-fold cross-validation over a
folder of photographs with human label distributions, CIFAR-10H first.

Protocol of Peterson et al. (2019): the images are split into K seeded folds, stratified by the
hard label; for each fold run, a network is trained from scratch on the other folds once with
hard targets and once with the human distributions (same seed, same initial weights), and the
held-out fold is scored:

- against the human distributions: cross-entropy −Σ_c h_c log max(p_c, 1e-12) (Peterson's
  score) and KL (docs/conventions.md §4);
- against the hard labels: accuracy and macro F1; and calibration: ECE (10 bins).

"Hard" is the original labels where the folder has them (``hard_labels="original"``: the file
that ``dataset.json``'s ``"hard_labels"`` names, e.g. CIFAR-10's own labels), or the majority of
the annotations (``"majority"``, docs/conventions.md §3's tie rule); the study records which. Each metric gets
the paired difference soft − hard per fold, its 95% t interval and the verdict it supports
(:mod:`dqlabels.studies.verdicts`). The results stand beside the published results on the same data:
``dataset.json``'s ``"anchors"``, or, for a folder whose ``dataset.json`` predates those keys, the
facts the library knows about it (:data:`dqlabels.data.datasets.KNOWN_DATASETS`, by its name).

Presets (in :data:`dqlabels.config.PRESETS`): ``cifar10h`` for a 2-core CPU (10 folds of which
the first 3 are run: 9,000 images around each held-out 1,000, 250 of them kept for validation;
``resnet9-quarter`` at 32 px from scratch, 60 epochs, natural augmentation) and
``cifar10h-paper`` for a GPU (all 10 folds, the full-width ``resnet9``, 150 epochs).

A study folder holds ``study.json``, ``splits/fold{k}.csv``, ``runs/{hard,soft}-fold{k}/``
(finished runs are reused: a killed study continues), ``results.md/.csv/.json``,
``folds.png`` (hard vs soft per fold) and ``tsne.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dqlabels.config import (
    HARD_LABEL_SOURCES,
    PRESETS,
    TSNE_MAX_ITER,
    TSNE_PERPLEXITY,
    StudyOptions,
    TrainConfig,
    check_choice,
    presets_of,
)
from dqlabels.data.datasets import dataset_facts
from dqlabels.errors import InputError
from dqlabels.labels.scores import expected_calibration_error, kl_divergence, macro_f1
from dqlabels.studies.results import MODES, cell, compare_modes, difference, write_study_files
from dqlabels.studies.study import (
    RunClock,
    prepare_study_folder,
    write_tsne_figure,
)
from dqlabels.text import silent

HARD_LABELS = ("original", "majority")
# Metric → higher is better.
METRICS = {"cross_entropy": False, "kl": False, "accuracy": True, "macro_f1": True, "ece": False}
METRIC_NAMES = {"cross_entropy": "CE vs human", "kl": "KL vs human", "accuracy": "accuracy",
                "macro_f1": "macro F1", "ece": "ECE"}
CE_FLOOR = 1e-12
STUDY_FILES = ("study.json", "splits", "runs", "results.md", "results.csv", "results.json",
               "folds.png", "tsne.png", "tsne.csv")

def run_study(out_dir, preset: str, options: StudyOptions) -> str:
    """``dqlabels reproduce`` of a preset of this study (the registry's ``kfold`` study):
    run it and return its table and where the files are."""
    results = reproduce_kfold(out_dir, preset, folds=options.folds, runs=options.one_splits(),
                              hard_labels=options.hard_labels or HARD_LABEL_SOURCES[0],
                              **options.tsne(), **options.common())
    return (results_table(results).strip() + f"\n\nResults in {out_dir}/results.md, .csv, "
            f".json; figures {out_dir}/folds.png and {out_dir}/tsne.png")


def kfold_settings(preset: str, dataset, *, overrides: dict | None = None, folds=None,
                   runs=None, hard_labels: str = HARD_LABEL_SOURCES[0], seed: int = 0,
                   tsne_max_iter: int = TSNE_MAX_ITER) -> dict:
    """The effective settings of a K-fold study: the preset, then the overrides."""
    check_choice("preset", preset, presets_of("kfold"))
    check_choice("hard_labels", hard_labels, HARD_LABELS)
    if dataset is None:
        raise InputError(f"Expected dataset=FOLDER: the {preset} preset studies a folder of "
                         f"images with human label distributions; get CIFAR-10H's with "
                         f"'dqlabels datasets get cifar10h DIR', then --dataset DIR")
    base = PRESETS[preset].settings
    folds = int(folds if folds is not None else base["folds"])
    runs = int(runs if runs is not None else base["runs"])
    if folds < 2 or not 1 <= runs <= folds:
        raise InputError(f"Expected folds >= 2 and 1 <= splits <= folds. Received: "
                         f"folds={folds}, splits={runs}")
    config = replace(base["train"], seed=seed, **(overrides or {}))
    config.check()
    return {"preset": preset, "protocol": "kfold", "dataset": str(Path(dataset).resolve()),
            "folds": folds, "runs": runs, "val_size": base["val_size"],
            "hard_labels": hard_labels, "train": asdict(config),
            "tsne": {"perplexity": TSNE_PERPLEXITY, "max_iter": int(tsne_max_iter),
                     "seed": seed, "fold": 0}}


def reproduce_kfold(out_dir, preset: str = "cifar10h", *, dataset=None, overrides=None,
                    folds=None, runs=None, hard_labels: str = HARD_LABEL_SOURCES[0], seed: int = 0,
                    tsne_max_iter: int = TSNE_MAX_ITER, overwrite: bool = False, log=silent,
                    verbose="auto", callbacks=()) -> dict:
    """Run (or continue) a K-fold study of hard vs soft labels and write its results.

    Args:
        out_dir: the study folder.
        preset: ``"cifar10h"`` (a 2-core CPU) or ``"cifar10h-paper"`` (a GPU).
        dataset: the dataset folder (images with human label distributions).
        overrides: training settings that replace the preset's.
        folds: K (default: the preset's, 10); runs: how many folds to run (first ones).
        hard_labels: ``"original"`` (the folder's original labels) or ``"majority"``.
        seed: seed of the folds, the initialisation, the shuffles and the t-SNE.
        overwrite: start again in a folder that holds another study.
        log: called with each progress line; verbose: Keras' ``fit`` verbosity.
        callbacks: a function of the run (mode, fold) returning more Keras callbacks for its
            ``fit`` (the GPU check's deadline), or a sequence of callbacks for every run.

    Returns:
        The results dict (also in ``results.json``).
    """
    from dqlabels.data.datasets import kfold_split, load_dataset, save_split
    from dqlabels.learning.callbacks import EpochTimer
    from dqlabels.learning.training import train

    out_dir = Path(out_dir)
    settings = kfold_settings(preset, dataset, overrides=overrides, folds=folds, runs=runs,
                              hard_labels=hard_labels, seed=seed, tsne_max_iter=tsne_max_iter)
    prepare_study_folder(out_dir, settings, overwrite, own_files=STUDY_FILES)
    data = load_dataset(dataset)
    hard, hard_file = hard_labels_of(data, hard_labels)
    settings_note = {"hard_labels_file": None if hard_file is None else str(hard_file)}
    config = TrainConfig(**settings["train"])
    clock = RunClock(settings["runs"] * len(MODES), config.epochs, log)
    runs_done, started = [], time.time()
    for k in range(settings["runs"]):
        split_path = out_dir / "splits" / f"fold{k}.csv"
        if not split_path.exists():
            split_path.parent.mkdir(parents=True, exist_ok=True)
            save_split(split_path, data.items, kfold_split(
                hard, k, settings["folds"], seed=seed, val_size=settings["val_size"]))
        for mode in MODES:
            run_dir = out_dir / "runs" / f"{mode}-fold{k}"
            reused = (run_dir / "scores.json").exists()
            log(f"[run {len(runs_done) + 1}/{clock.total}] {mode} labels, fold {k} of "
                f"{settings['folds']}" + (" (finished before: reused)" if reused
                                          else f" → {run_dir}"))
            clock.run_started(reused)
            targets = str(hard_file) if mode == "hard" and hard_file is not None else None
            extra = list(callbacks(mode, k) if callable(callbacks) else callbacks)
            train(dataset, run_dir, replace(config, label_mode=mode, split_file=str(split_path),
                                            targets=targets),
                  verbose=verbose, callbacks=[EpochTimer(clock.first_epoch_done), *extra])
            clock.run_finished(reused)
            runs_done.append({"fold": k, "mode": mode,
                              "run": str(run_dir.relative_to(out_dir)),
                              **fold_scores(run_dir, data, hard)})
    results = summarise(runs_done, {**settings, **settings_note}, data)
    results["seconds"] = round(time.time() - started, 1)
    results["figure"] = draw_folds(results, out_dir / "folds.png").name
    log("Computing t-SNE of fold 0 (hard and soft) ...")
    results["tsne"] = write_tsne_figure(out_dir, data, settings["tsne"], part="fold").name
    write_results(out_dir, results)
    return results


def hard_labels_of(data, hard_labels: str):
    """Each item's hard class index and the file it came from: the original labels (the file
    the dataset names) or the majority vote of the annotations (file None)."""
    if hard_labels == "majority":
        return data.hard_labels, None
    name = dataset_facts(data)["hard_labels"]
    if name is None:
        raise InputError(f"{data.root}: hard_labels='original' needs the original labels, and "
                         f"dataset.json names no \"hard_labels\" file; pass hard_labels=majority")
    path = data.root / name
    from dqlabels.readers.annotations import read_annotations

    labels = read_annotations(path, classes=list(data.classes))
    index = {item: i for i, item in enumerate(labels.items)}
    missing = [item for item in data.items if item not in index]
    if missing:
        raise InputError(f"{path}: no original label for item {missing[0]!r} "
                         f"({len(missing):,} items without one)")
    rows = np.array([index[item] for item in data.items])  # one per item
    counts = labels.counts[rows]
    if np.any(counts.sum(axis=1) != 1):
        raise InputError(f"{path}: expected one original label per item")
    return np.argmax(counts, axis=1), path


def human_cross_entropy(human: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over items of −Σ_c h_c log max(p_c, 1e-12): Peterson et al.'s score."""
    return float(np.mean(-np.sum(human * np.log(np.maximum(predicted, CE_FLOOR)), axis=1)))


def fold_scores(run_dir: Path, data, hard: np.ndarray) -> dict:
    """The held-out scores of one run, from its ``predictions.csv``."""
    import pandas as pd

    table = pd.read_csv(run_dir / "predictions.csv", dtype={"item": str}).set_index("item")
    rows = pd.Index(data.items).get_indexer(table.index)
    predicted = table[list(data.classes)].to_numpy(np.float64)
    human = data.soft_labels[rows]
    one_hot = np.eye(len(data.classes))[hard[rows]]
    return {"cross_entropy": human_cross_entropy(human, predicted),
            "kl": kl_divergence(human, predicted),
            "accuracy": float(np.mean(np.argmax(predicted, axis=1) == hard[rows])),
            "macro_f1": macro_f1(one_hot, predicted),
            "ece": expected_calibration_error(one_hot, predicted),
            "num_items": int(len(rows))}


def summarise(runs: list[dict], settings: dict, data) -> dict:
    """Per mode and metric the mean ± std over folds; per metric the paired soft − hard
    comparison with its verdict; the anchors of the dataset."""
    summary, comparison = compare_modes(runs, METRICS, "fold")
    hard_ce = summary["hard"]["cross_entropy"]["mean"]
    return {"dataset": data.info.get("name", data.root.name), "settings": settings,
            "runs": runs, "summary": summary, "paired": comparison,
            "cross_entropy_cut": 1 - summary["soft"]["cross_entropy"]["mean"] / hard_ce,
            "anchors": dataset_facts(data)["anchors"]}


def results_table(results: dict) -> str:
    """The headline of a K-fold study in Markdown (what ``dqlabels reproduce`` prints)."""
    settings, s = results["settings"], results["summary"]
    hard_source = ("the original labels" if settings["hard_labels"] == "original"
                   else "the annotation majority")
    lines = [f"# Hard vs soft labels on real images: {results['dataset']} "
             f"(preset `{settings['preset']}`)", "",
             f"{settings['runs']} of {settings['folds']} folds, each held out once: "
             f"{settings['train']['model']} from scratch, {settings['train']['epochs']} epochs; "
             f"hard = {hard_source}, soft = the human distributions. Mean ± sample std over "
             f"folds; soft − hard paired per fold with its 95% t interval and verdict.", "",
             "| | " + " | ".join(f"{METRIC_NAMES[m]} {'↑' if up else '↓'}"
                                 for m, up in METRICS.items()) + " |",
             "|---|" + "---|" * len(METRICS)]
    for mode in MODES:
        lines.append(f"| {mode} labels | " + " | ".join(cell(s[mode][m]) for m in METRICS)
                     + " |")
    lines.append("| soft − hard | " + " | ".join(difference(results["paired"][m])
                                                for m in METRICS) + " |")
    for anchor in results["anchors"]:
        for mode in MODES:
            if mode in anchor:
                lines.append(f"| {anchor['name']}, {mode} | " + " | ".join(
                    f"{anchor[mode][m]:.3f}" if m in anchor[mode] else "—" for m in METRICS)
                    + " |")
    lines += ["", f"Soft labels cut the held-out cross-entropy against the human distributions "
              f"by {results['cross_entropy_cut']:.0%}."]
    if results["anchors"]:
        lines += ["", "Published results on this data (setups differ):"]
        lines += [f"- {a['name']}: {a['setup']}" for a in results["anchors"]]
    return "\n".join(lines) + "\n"


def results_markdown(results: dict) -> str:
    """``results.md``: :func:`results_table`, every fold, the settings and the figures."""
    lines = [results_table(results).rstrip("\n"), "", "## Per fold", "",
             "| fold | mode | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " | run |",
             "|---|---|" + "---|" * (len(METRICS) + 1)]
    for run in results["runs"]:
        lines.append(f"| {run['fold']} | {run['mode']} | "
                     + " | ".join(f"{run[m]:.4f}" for m in METRICS) + f" | `{run['run']}` |")
    settings = results["settings"]
    lines += ["", "## Settings", "", f"- dataset: {settings['dataset']}",
              f"- folds: {settings['folds']} (run: {settings['runs']}), validation images per "
              f"fold: {settings['val_size']}, hard labels: {settings['hard_labels']}"
              + (f" ({settings['hard_labels_file']})" if settings.get("hard_labels_file") else "")]
    lines += [f"- {key}: {value}" for key, value in settings["train"].items()
              if key not in ("label_mode", "split", "split_file", "targets")]
    if "seconds" in results:
        lines.append(f"- wall time: {results['seconds']:.0f} s")
    lines += ["", f"![hard vs soft per fold]({results.get('figure', 'folds.png')})"]
    if "tsne" in results:
        lines += ["", f"![t-SNE of fold 0's held-out features]({results['tsne']})"]
    return "\n".join(lines) + "\n"


RESULTS_COLUMNS = ("kind", "fold", "mode", *METRICS, "interval_low", "interval_high", "verdict")


def write_results(out_dir: Path, results: dict) -> None:
    """``results.json``, ``results.md`` and ``results.csv`` (kinds ``run``, ``mean``,
    ``soft - hard`` and ``anchor <name>``)."""
    rows = [("run", r["fold"], r["mode"], *(r[m] for m in METRICS), None, None, None)
            for r in results["runs"]]
    rows += [("mean", None, mode, *(results["summary"][mode][m]["mean"] for m in METRICS),
              None, None, None) for mode in MODES]
    for metric in METRICS:
        entry = results["paired"][metric]
        low, high = entry["interval"] or (None, None)
        rows.append(("soft - hard", None, metric, *(entry["mean"] if m == metric else None
                                                    for m in METRICS), low, high,
                     entry["verdict"]))
    for anchor in results["anchors"]:
        rows += [(f"anchor {anchor['name']}", None, mode,
                  *(anchor[mode].get(m) for m in METRICS), None, None, None)
                 for mode in MODES if mode in anchor]
    write_study_files(out_dir, "results", results, results_markdown(results), RESULTS_COLUMNS,
                      rows)


def draw_folds(results: dict, path: Path) -> Path:
    """Hard vs soft per fold: cross-entropy against the human distributions and accuracy."""
    from dqlabels.figures import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    folds = sorted({r["fold"] for r in results["runs"]})
    x = np.arange(len(folds))
    for ax, metric in zip(axes, ("cross_entropy", "accuracy")):
        for offset, mode, colour in ((-0.18, "hard", "#c44e52"), (0.18, "soft", "#4c72b0")):
            values = [next(r[metric] for r in results["runs"]
                           if r["fold"] == f and r["mode"] == mode) for f in folds]
            ax.bar(x + offset, values, 0.34, label=f"{mode} labels", color=colour)
        for anchor in results["anchors"][:1]:
            for mode, style in (("hard", "--"), ("soft", ":")):
                if metric in anchor.get(mode, {}):
                    ax.axhline(anchor[mode][metric], color="#555", ls=style, lw=1,
                               label=f"{anchor['name']}, {mode}")
        ax.set_xticks(x, [f"fold {f}" for f in folds])
        ax.set_title(METRIC_NAMES[metric] + (" (lower is better)" if not METRICS[metric]
                                             else " (higher is better)"))
        if metric == "accuracy":
            low = min(r["accuracy"] for r in results["runs"])
            ax.set_ylim(max(0.0, low - 0.1), 1.0)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{results['dataset']}: hard vs soft labels, held-out folds")
    fig.tight_layout()
    return save_figure(fig, path)
