"""``dqlabels reproduce`` as one library call: which study the options ask for (the paper's
hard-vs-soft study, the K-fold study of real photographs, or the study across annotation budgets
and training-set sizes), run it, and the text the command prints (:func:`run_reproduce`)."""

from __future__ import annotations

import contextlib
import sys

from dqlabels.config import ANNOTATOR_BIAS, ANNOTATOR_NOISE, noise_text
from dqlabels.data.simulated_crowd import SimulatedCrowd, parse_noise
from dqlabels.errors import InputError


def run_reproduce(out_dir, preset: str = "quick", *, dataset=None, overrides=None, splits=None,
                  folds=None, hard_labels=None, budgets=None, sizes=None, shrunk=False,
                  crowd: tuple = (None, noise_text(ANNOTATOR_NOISE), ANNOTATOR_BIAS), tsne_max_iter=None, seed: int = 0,
                  overwrite: bool = False, job=None, log=print, verbose="auto") -> str | None:
    """Run (or continue) the study the options ask for; returns its results table and where
    the files are, or None in a data-parallel job's processes other than 0 (which report).

    The budget study runs with ``preset="budget"`` or when ``budgets`` or ``sizes`` is given;
    the K-fold study with a preset whose protocol is ``kfold`` (``cifar10h``); the paper's study
    otherwise. ``crowd`` is the simulated annotators' (pool, noise range text, bias share), for
    the budget study on synthetic data. Keras' progress goes to standard error, so that standard
    output keeps the table.
    """
    from dqlabels.studies.study import PRESETS

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    common = dict(dataset=dataset, overrides=overrides, seed=seed, overwrite=overwrite, log=log,
                  verbose=verbose)
    if preset == "budget" or budgets is not None or sizes is not None:
        _one_process(job, "the budget study runs")
        return _budget_study(out_dir, preset, budgets, sizes, splits, shrunk, crowd, common)
    if splits is not None and not str(splits).strip().isdigit():
        raise InputError(f"Expected splits as one whole number for a study (several are for "
                         f"a budget study, one per num_images). Received: splits={splits}")
    splits = None if splits is None else int(splits)
    tsne = {} if tsne_max_iter is None else {"tsne_max_iter": tsne_max_iter}
    if PRESETS[preset].get("protocol") == "kfold":
        from dqlabels.studies.real_study import reproduce_kfold, results_table

        _one_process(job, "the cifar10h presets run")
        with contextlib.redirect_stdout(sys.stderr):
            results = reproduce_kfold(out_dir, preset, folds=folds, runs=splits,
                                      hard_labels=hard_labels, **tsne, **common)
        return (results_table(results).strip() + f"\n\nResults in {out_dir}/results.md, .csv, "
                f".json; figures {out_dir}/folds.png and {out_dir}/tsne.png")
    from dqlabels.learning.distributed import process_index
    from dqlabels.studies.study import reproduce, results_table

    with contextlib.redirect_stdout(sys.stderr):
        results = reproduce(out_dir, preset, splits=splits, job=job, **tsne, **common)
    if job is not None and process_index() != 0:
        return None
    return (results_table(results).strip() + f"\n\nResults in {out_dir}/results.md, .csv, "
            f".json; figure {out_dir}/tsne.png")


def _one_process(job, what: str) -> None:
    if job is not None:
        raise InputError(f"{what} one process per run; strategy=data-parallel is for "
                         f"dqlabels train and the paper's study")


def _budget_study(out_dir, preset, budgets, sizes, splits, shrunk, crowd, common) -> str:
    from dqlabels.studies.budget import reproduce_budgets
    from dqlabels.studies.budget_results import budget_markdown

    pool, noise, bias = crowd
    with contextlib.redirect_stdout(sys.stderr):
        results = reproduce_budgets(
            out_dir, budgets=budgets, sizes=sizes, splits=splits, shrunk=shrunk,
            crowd=SimulatedCrowd(1, pool, parse_noise(noise), bias),
            train_preset=preset if preset.startswith("cifar10h") else "quick", **common)
    return (budget_markdown(results).strip() + f"\n\nResults in {out_dir}/budget.md, .csv, "
            f".json; figure {out_dir}/budget.png")
