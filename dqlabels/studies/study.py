"""The study of the paper (docs/conventions.md §10): train on hard and on soft labels, per split, and compare.

For each split × {hard, soft}: train (:func:`dqlabels.learning.training.train`), predict the test split
and score it against the soft labels. Then macro accuracy and KL as mean ± sample standard
deviation over the splits, beside the paper's Table 1, and the t-SNE of split 0's features,
hard and soft side by side like the paper's Figures 1 and 2.

Presets:

- ``paper``: the paper's settings, for a GPU: 15,000 generated images (64 px, the calibrated
  generator), DenseNet121 with ImageNet weights fed 224-px inputs (the images upsampled, as the
  ImageNet networks expect), 60 epochs, batch 128, lr 0.1, cosine decay, weight decay 5e-4,
  three splits.
- ``quick``: a reduced synthetic study sized for a 2-core CPU in about 15 minutes: 3,000 images
  generated at 32 px (shapes inside the frame), the tiny DenseNet (``densenet-tiny``: Keras
  Applications' DenseNet with one layer per dense block) from scratch at 32 px, 40 epochs,
  BatchNorm momentum 0.9 (with Keras' 0.99 the moving statistics of a short run still hold much
  of their initial values), otherwise the paper's recipe (batch 128, lr 0.1, cosine, weight
  decay 5e-4), three splits. DenseNet121 from scratch does not learn shape in the few hundred
  steps a 2-core CPU allows in 15 minutes; the tiny network takes about a third of the time
  per step and reaches 0.93–0.96 macro accuracy. Chosen on validation and on a separately
  generated development set over three splits, never on the test split
  (``benchmarks/README.md`` lists every candidate).

A study folder holds ``study.json`` (the preset and every setting), ``data/`` (the generated
dataset, when no ``--dataset``), ``runs/{hard,soft}-split{k}/`` (one training run each; finished
runs are reused, so a killed study restarted with the same command continues where it
stopped), ``results.md``, ``results.csv``, ``results.json`` and the t-SNE files.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dqlabels._io import open_output_folder, write_text_atomic
from dqlabels.config import (
    PRESETS,
    TSNE_MAX_ITER,
    TSNE_PERPLEXITY,
    StudyOptions,
    TrainConfig,
    check_choice,
    presets_of,
)
from dqlabels.errors import InputError
from dqlabels.studies.results import MODES, cell, compare_modes, mean_std, write_study_files
from dqlabels.text import silent

PAPER_TABLE = {
    "Synthetic": {"hard": {"macro_accuracy": (0.8247, 0.05002), "kl": (0.4137, 0.0836)},
                  "soft": {"macro_accuracy": (0.9096, 0.0137), "kl": (0.0394, 0.0009)}},
    "MiceBone": {"hard": {"macro_accuracy": (0.6217, 0.04658), "kl": (0.7884, 0.1089)},
                 "soft": {"macro_accuracy": (0.6903, 0.0669), "kl": (0.2280, 0.0227)}},
}
METRICS = ("macro_accuracy", "kl")

STUDY_FILES = ("study.json", "data", "runs", "results.md", "results.csv", "results.json",
               "tsne.png", "tsne.csv")


def run_study(out_dir, preset: str, options: StudyOptions) -> str | None:
    """``dqlabels reproduce`` of a preset of this study (the registry's ``paper`` study):
    run it and return its table and where the files are (None in a data-parallel job's
    processes other than 0)."""
    from dqlabels.learning.distributed import process_index

    results = reproduce(out_dir, preset, splits=options.one_splits(), job=options.job,
                        **options.tsne(), **options.common())
    if options.job is not None and process_index() != 0:
        return None
    return (results_table(results).strip() + f"\n\nResults in {out_dir}/results.md, .csv, "
            f".json; figure {out_dir}/tsne.png")


def study_settings(preset: str = "quick", *, dataset=None, overrides: dict | None = None,
                   splits=None, seed: int = 0, tsne_max_iter: int = TSNE_MAX_ITER) -> dict:
    """The effective settings of a study: the preset, then any per-setting overrides."""
    check_choice("preset", preset, presets_of("paper"))
    base = PRESETS[preset].settings
    config = replace(base["train"], seed=seed, **(overrides or {}))
    config.check()
    return {
        "preset": preset,
        "dataset": None if dataset is None else str(Path(dataset).resolve()),
        "generate": None if dataset is not None else {
            "num_images": base["num_images"], "image_size": base["generate_size"], "seed": seed,
            "placement": "inside"},
        "splits": int(splits if splits is not None else base["splits"]),
        "train": asdict(config),
        "tsne": {"perplexity": TSNE_PERPLEXITY, "max_iter": int(tsne_max_iter), "seed": seed,
                 "split": 0},
    }


def reproduce(out_dir, preset: str = "quick", *, dataset=None, overrides: dict | None = None,
              splits=None, seed: int = 0, tsne_max_iter: int = TSNE_MAX_ITER,
              overwrite: bool = False, log=silent, verbose="auto", callbacks=(),
              job=None) -> dict:
    """Run (or continue) a study and write its results; returns the results dict.

    With ``strategy="data-parallel"`` in ``overrides``, every process of the job calls this
    with the same arguments; process 0 writes the study folder (on several hosts it must be
    shared, or ``dataset`` given on each), and every process returns its results.

    Args:
        out_dir: the study folder.
        preset: ``"quick"`` or ``"paper"``.
        dataset: a dataset folder; default: generate the synthetic data into ``out_dir/data``.
        overrides: training settings (names of :class:`~dqlabels.config.TrainConfig`) that
            replace the preset's.
        splits: number of splits (default: the preset's).
        seed: seed of the generator, the initialisation, the shuffles and the t-SNE.
        tsne_max_iter: t-SNE iterations.
        overwrite: start again in a folder that holds a study with other settings.
        log: called with each progress line (runs, estimates of the time left).
        verbose: Keras' ``fit`` verbosity.
        callbacks: a function of the run (mode, split) returning more Keras callbacks for its
            ``fit`` (the GPU check's deadline), or a sequence of callbacks for every run.
        job: a data-parallel job's shape (:class:`dqlabels.learning.distributed.Job`; default: from the
            environment).
    """
    from dqlabels.data.datasets import load_dataset
    from dqlabels.learning import distributed
    from dqlabels.learning.callbacks import EpochTimer
    from dqlabels.learning.training import train

    out_dir = Path(out_dir)
    settings = study_settings(preset, dataset=dataset, overrides=overrides, splits=splits,
                              seed=seed, tsne_max_iter=tsne_max_iter)
    if settings["splits"] < 1:
        raise InputError(f"Expected splits >= 1. Received: splits={settings['splits']}")
    if settings["train"]["strategy"] == "data-parallel":
        distributed.join(job)

    def prepare() -> Path:
        prepare_study_folder(out_dir, settings, overwrite)
        return study_data(out_dir, settings, dataset, log)

    # Process 0 prepares the folder and the data; the others find them there.
    data_dir = Path(distributed.decided_by_process_zero(
        prepare, share=str, refused="process 0 refused the study"))
    leader = distributed.process_index() == 0
    data = _with_soft_labels(load_dataset(data_dir), data_dir)

    config = TrainConfig(**settings["train"])
    runs, started = [], time.time()
    clock = RunClock(settings["splits"] * len(MODES), config.epochs, log)
    for k in range(settings["splits"]):
        for mode in MODES:
            run_dir = out_dir / "runs" / f"{mode}-split{k}"
            reused = (run_dir / "scores.json").exists()
            log(f"[run {len(runs) + 1}/{clock.total}] {mode} labels, split {k}"
                + (" (finished before: reused)" if reused else f" → {run_dir}"))
            clock.run_started(reused)
            extra = list(callbacks(mode, k) if callable(callbacks) else callbacks)
            scores = train(data_dir, run_dir, replace(config, label_mode=mode, split=k),
                           verbose=verbose, job=job,
                           callbacks=[EpochTimer(clock.first_epoch_done), *extra])
            clock.run_finished(reused)
            runs.append({"split": k, "mode": mode, "run": str(run_dir.relative_to(out_dir)),
                         "epochs_completed": scores.get("epochs_completed", config.epochs),
                         **{m: scores[m] for m in METRICS}})
    if leader:
        results = summarise(runs, settings, data,
                            image_limit(data, out_dir, settings["splits"]))
        results["seconds"] = round(time.time() - started, 1)
        log("Computing t-SNE of split 0 (hard and soft) ...")
        figure = write_tsne_figure(out_dir, data, settings["tsne"])
        results["figure"] = figure.name
        write_results(out_dir, results)
    distributed.barrier("study")  # the others wait while process 0 writes (a t-SNE: minutes)
    return distributed.broadcast_json(results if leader else None)


def _with_soft_labels(data, data_dir: Path):
    """``data``, unless no item has a soft label (hard and soft training would be the same)."""
    if np.all(np.isclose(data.soft_labels.max(axis=1), 1.0)):
        raise InputError(f"{data_dir}: has no soft labels (every item has a single or unanimous "
                         f"label), so hard and soft training would be the same")
    return data


def study_data(out_dir: Path, settings: dict, dataset, log) -> Path:
    """A study's dataset folder: the one given, or the synthetic data its settings describe,
    generated into ``out_dir/data`` (once: a continued study finds it there)."""
    if dataset is not None:
        return Path(dataset)
    from dqlabels.data.synthetic import check_generate_options, generate_dataset

    data_dir = out_dir / "data"
    if not (data_dir / "dataset.json").exists():
        generate = settings["generate"]
        check_generate_options(data_dir, generate["num_images"], generate["image_size"],
                               overwrite=True)
        log(f"Generating {generate['num_images']:,} synthetic images "
            f"({generate['image_size']} px) into {data_dir}")
        generate_dataset(data_dir, generate["num_images"], generate["image_size"],
                         seed=generate["seed"], overwrite=True,
                         placement=generate["placement"])
    return data_dir


class RunClock:
    """The study's estimate of the time left, logged after the first epoch of each run.

    A run's remaining epochs are timed from its first epoch without the first batch (where
    Keras traces the step, once per process). The runs still to come are timed as the mean of
    the runs finished in this process after the first (which also paid for tracing), or, before
    there are any, as this run's steady epochs plus a tenth for evaluation and saving.
    """

    def __init__(self, total: int, epochs: int, log):
        self.total, self.epochs, self.log = total, epochs, log
        self.done, self.durations, self.started = 0, [], None

    def run_started(self, reused: bool) -> None:
        self.started = time.perf_counter()

    def run_finished(self, reused: bool) -> None:
        self.done += 1
        if not reused:
            self.durations.append(time.perf_counter() - self.started)

    def first_epoch_done(self, epoch_seconds: float, epochs_left: int) -> None:
        this_run = epoch_seconds * epochs_left
        later = self.total - self.done - 1
        per_run = (float(np.mean(self.durations[1:])) if len(self.durations) > 1
                   else 1.1 * epoch_seconds * self.epochs)
        left = this_run + later * per_run
        self.log(f"  about {_minutes(left)} left in the study ({_minutes(epoch_seconds)} per "
                 f"epoch; this run {_minutes(this_run)}, {later} more run(s), then the t-SNE)")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def image_limit(data, out_dir: Path, splits: int) -> dict | None:
    """For synthetic data: the pixel-moment estimate (:func:`dqlabels.data.pixel_estimate.estimate_soft_labels`)
    scored on each split's test items like the networks, as ``{split: {metric: value}}``; None for
    other data."""
    from dqlabels.data.datasets import is_synthetic, pixel_estimate_scores, read_split

    if not is_synthetic(data):
        return None
    values = {}
    for k in range(splits):
        split = read_split(out_dir / "runs" / f"soft-split{k}" / "split.csv", data)
        scores = pixel_estimate_scores(data, np.flatnonzero(split == "test"))
        values[k] = {metric: scores[metric] for metric in METRICS}
    return values


def prepare_study_folder(out_dir: Path, settings: dict, overwrite: bool, record: str = "study.json",
                         own_files=STUDY_FILES, what: str = "study") -> None:
    """A study's folder: new (its settings recorded in ``record``), or one made with the same
    settings (continued); another study's is refused, naming the settings that differ."""
    previous = open_output_folder(out_dir, record, own_files, overwrite, what)
    if previous is None:
        write_text_atomic(out_dir / record, json.dumps(settings, indent=2) + "\n")
    elif previous != settings:
        changed = sorted(k for k in set(previous) | set(settings)
                         if previous.get(k) != settings.get(k))
        raise InputError(f"{out_dir}: holds a {what} made with other settings "
                         f"({', '.join(changed)} differ); use another out_dir or pass "
                         f"overwrite=True to start again")


def summarise(runs: list[dict], settings: dict, data, limit: dict | None = None) -> dict:
    """Mean ± sample std (ddof 1) per label mode and metric; the std is None (undefined) with
    one split, written as an empty CSV field and left out of the Markdown table. ``limit`` is
    :func:`image_limit`'s result, summarised the same way."""
    from dqlabels.data.datasets import dataset_facts, is_synthetic

    summary, comparison = compare_modes(runs, {m: m == "macro_accuracy" for m in METRICS},
                                        "split")
    # Each dataset beside its own published results: the paper's Table 1 for the synthetic data
    # and folders without anchors (MiceBone), the anchors of dataset.json (or the library's
    # facts about a known dataset) otherwise.
    anchors = [] if is_synthetic(data) else dataset_facts(data)["anchors"]
    image_limit_summary = None if limit is None else {
        "splits": {str(k): v for k, v in limit.items()},
        **{metric: mean_std([v[metric] for v in limit.values()]) for metric in METRICS}}
    return {
        "dataset": data.info.get("name", data.root.name),
        "settings": settings,
        "runs": runs,
        "summary": summary,
        "image_limit": image_limit_summary,
        "paper": {} if anchors else {
            name: {mode: {m: {"mean": v[0], "std": v[1]} for m, v in metrics.items()}
                   for mode, metrics in table.items()} for name, table in PAPER_TABLE.items()},
        "anchors": anchors,
        "paired": comparison,
    }


def results_table(results: dict) -> str:
    """The headline of a study in Markdown: the table beside the paper's, the image limit (for
    synthetic data) and which label mode won (what ``dqlabels reproduce`` prints)."""
    s = results["summary"]
    settings = results["settings"]
    lines = [
        f"# Hard vs soft labels: {results['dataset']} (preset `{settings['preset']}`)",
        "",
        f"Macro accuracy (ACC, higher is better) and KL(soft ‖ prediction) (lower is better) on "
        f"the test split, mean ± sample std over {settings['splits']} split(s).",
        "",
        "| | hard ACC ↑ | hard KL ↓ | soft ACC ↑ | soft KL ↓ |",
        "|---|---|---|---|---|",
        f"| this study | {cell(s['hard']['macro_accuracy'])} | {cell(s['hard']['kl'])} | "
        f"{cell(s['soft']['macro_accuracy'])} | {cell(s['soft']['kl'])} |",
    ]
    limit = results.get("image_limit")
    if limit is not None:
        acc, kl = cell(limit["macro_accuracy"]), cell(limit["kl"])
        lines.append(f"| image limit (pixel-moment estimate) | {acc} | {kl} | {acc} | {kl} |")
    for name, table in results["paper"].items():
        lines.append(f"| paper, {name} | {cell(table['hard']['macro_accuracy'])} | "
                     f"{cell(table['hard']['kl'])} | {cell(table['soft']['macro_accuracy'])} | "
                     f"{cell(table['soft']['kl'])} |")
    for anchor in results.get("anchors", []):
        for mode in MODES:
            if mode in anchor:
                values = anchor[mode]
                acc = values.get("accuracy", values.get("macro_accuracy"))
                pair = [f"{acc:.4f} (accuracy)" if acc is not None else "—",
                        f"{values['kl']:.4f}" if "kl" in values else "—"]
                cells = pair + ["", ""] if mode == "hard" else ["", ""] + pair
                lines.append(f"| {anchor['name']}, {mode} (their setup) | "
                             + " | ".join(cells) + " |")
    if results.get("anchors"):
        lines += ["", "Published results on this dataset (setups differ; `--preset cifar10h` "
                  "runs their protocol):"]
        lines += [f"- {a['name']}: {a['setup']}" for a in results["anchors"]]
    if limit is not None:
        lines += ["", "The image limit reads the soft label from the test images' pixels alone "
                  "(mean colour of the lit pixels, axis ratio from their second moments): the "
                  "best a reader of the pixels can do, the same for both label modes."]
    lines += ["", "Soft − hard, paired by split (mean, 95% t interval; better or worse only "
                  "where the interval excludes 0):"]
    for metric, name in (("macro_accuracy", "macro accuracy"), ("kl", "KL")):
        entry = results["paired"][metric]
        interval = ("" if entry["interval"] is None else
                    f" [{entry['interval'][0]:+.4f}, {entry['interval'][1]:+.4f}]")
        lines.append(f"- {name}: {entry['mean']:+.4f}{interval}: {entry['verdict']}")
    return "\n".join(lines) + "\n"


def results_markdown(results: dict) -> str:
    """``results.md``: :func:`results_table`, then every split, the settings and the figure."""
    settings = results["settings"]
    train = settings["train"]
    lines = [results_table(results).rstrip("\n"), "", "## Per split", "",
             "| split | mode | ACC | KL | run |", "|---|---|---|---|---|"]
    for run in results["runs"]:
        lines.append(f"| {run['split']} | {run['mode']} | {run['macro_accuracy']:.4f} | "
                     f"{run['kl']:.4f} | `{run['run']}` |")
    limit = results.get("image_limit")
    for split, values in (limit or {}).get("splits", {}).items():
        lines.append(f"| {split} | image limit | {values['macro_accuracy']:.4f} | "
                     f"{values['kl']:.4f} | |")
    lines += ["", "## Settings", ""]
    lines.append(f"- dataset: {settings['dataset'] or 'generated: ' + json.dumps(settings['generate'])}")
    lines += [f"- {key}: {value}" for key, value in train.items()
              if key not in ("label_mode", "split")]
    lines.append(f"- t-SNE: {json.dumps(settings['tsne'])}")
    if "seconds" in results:
        lines.append(f"- wall time of the runs: {results['seconds']:.0f} s")
    if "figure" in results:
        lines += ["", f"![t-SNE of the test-set features, hard vs soft]({results['figure']})"]
    return "\n".join(lines) + "\n"


RESULTS_COLUMNS = ("kind", "split", "mode", "macro_accuracy", "kl", "macro_accuracy_std",
                   "kl_std")


def write_results(out_dir: Path, results: dict) -> None:
    """``results.json``, ``results.md`` and ``results.csv`` (columns :data:`RESULTS_COLUMNS`;
    kinds ``run``, ``mean``, ``image limit``, ``image limit mean`` and ``paper <dataset>``)."""
    rows = [("run", run["split"], run["mode"], run["macro_accuracy"], run["kl"], None, None)
            for run in results["runs"]]
    for mode in MODES:
        s = results["summary"][mode]
        rows.append(("mean", None, mode, s["macro_accuracy"]["mean"], s["kl"]["mean"],
                     s["macro_accuracy"]["std"], s["kl"]["std"]))
    limit = results.get("image_limit")
    if limit is not None:
        rows += [("image limit", split, None, v["macro_accuracy"], v["kl"], None, None)
                 for split, v in limit["splits"].items()]
        rows.append(("image limit mean", None, None, limit["macro_accuracy"]["mean"],
                     limit["kl"]["mean"], limit["macro_accuracy"]["std"], limit["kl"]["std"]))
    for name, table in results["paper"].items():
        rows += [(f"paper {name}", None, mode, table[mode]["macro_accuracy"]["mean"],
                  table[mode]["kl"]["mean"], table[mode]["macro_accuracy"]["std"],
                  table[mode]["kl"]["std"]) for mode in MODES]
    write_study_files(out_dir, "results", results, results_markdown(results), RESULTS_COLUMNS,
                      rows)


def write_tsne_figure(out_dir: Path, data, tsne: dict, part: str = "split") -> Path:
    """t-SNE of the test features of split (or fold: ``part``) ``tsne[part]``, hard and soft
    side by side (one row each), from the runs ``runs/{mode}-{part}{k}``."""
    from dqlabels.studies.tsne import embed_runs

    runs = {mode: out_dir / "runs" / f"{mode}-{part}{tsne[part]}" for mode in MODES}
    return embed_runs(runs, out_dir / "tsne.png", out_dir / "tsne.csv",
                      f"t-SNE of the test-set GAP features "
                      f"({data.info.get('name', data.root.name)}, {part} {tsne[part]})",
                      panel_titles={mode: f"{mode} labels — " for mode in MODES},
                      perplexity=tsne["perplexity"], max_iter=tsne["max_iter"], seed=tsne["seed"])
