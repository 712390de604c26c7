"""``dqlabels evaluate`` as a library: read a campaign, audit it, write what was asked for.

Every output is checked before any work starts and written only once everything has been
computed, each file atomically, so bad input never leaves a partial output behind. The
computation is :func:`dqlabels.audit.report.audit`; this module reads the inputs, fits the models the
options ask for, and writes the text, JSON, CSV, HTML and PNG files, all drawn from one
:class:`~dqlabels.audit.report.Audit`.

Examples:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("item,annotator,label\\nx,u1,cat\\nx,u2,dog\\ny,u1,dog\\n")
    >>> summary = run_evaluate(folder / "a.csv", json_path=folder / "report.json")
    >>> summary.splitlines()[1]
    '  items 2   classes 2   annotations 3   annotators 2'
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace

import numpy as np

from dqlabels._io import (
    atomic_path,
    check_output_files,
    check_output_folder,
    commit_staged,
    discard_staged,
    staged_file,
    write_csv_atomic,
)
from dqlabels._parallel import sharing_the_interpreter
from dqlabels.audit.report import (
    Audit,
    Tallies,
    audit,
    fit_crowdtruth,
    fitted_models,
    item_quality,
    labels_columns,
    tallied_columns,
    tally,
)
from dqlabels.audit.summary import format_summary
from dqlabels.commands.reading import read_campaign
from dqlabels.config import DS_MAX_ITER, PLAN_MAX_PER_ITEM, ReadOptions
from dqlabels.csv_text import prepare_column, write_frame_csv
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import registered_aggregator
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.labels.posterior import posterior
from dqlabels.labels.ranking import ANNOTATOR_COLUMNS

OUTPUT_FILES = ("json_path", "labels_path", "annotators_path", "html_path", "plan_out")


@dataclass
class EvaluateConfig(ReadOptions):
    """Every option of ``dqlabels evaluate`` (the CLI's flags, as Python names).

    Reading: the :class:`~dqlabels.config.ReadOptions`; ``gold`` (a file of known answers, its
    columns named by ``gold_item_column`` and ``gold_label_column`` when no alias fits) and
    ``predictions`` (a file of predictions to score). Outputs (None: not written):
    ``json_path``, ``labels_path``, ``annotators_path``, ``html_path``, ``plots_dir``.
    Switches: ``dawid_skene`` (fit Dawid–Skene when annotator ids are known),
    ``ds_max_iter``, ``crowdtruth`` (True, False, or None for up to ``CROWDTRUTH_MAX_PAIRS``
    ordered pairs of annotations on the same item; :func:`~dqlabels.audit.report.fit_crowdtruth`),
    ``aggregators`` (names in :data:`dqlabels.registry.AGGREGATORS` to fit as well: their labels
    and class probabilities join the labels file),
    ``rank_by`` (:func:`~dqlabels.audit.report.audit`); ``prior`` (the shrunk labels' prior,
    :mod:`dqlabels.labels.posterior`: ``classes`` or ``balance``); the next round, as
    ``dqlabels plan`` names its options with a ``plan_`` prefix: ``plan_budget`` (also plan the
    next round of that many annotations, :mod:`dqlabels.labels.plan`), ``plan_objective``
    (``soft`` or ``hard``), ``plan_max_per_item`` and ``plan_out`` (the plan's CSV, as
    ``dqlabels plan`` writes it); ``overwrite`` (replace existing outputs).
    """

    gold: str | os.PathLike | None = None
    gold_item_column: str | None = None
    gold_label_column: str | None = None
    predictions: str | os.PathLike | None = None
    json_path: str | os.PathLike | None = None
    labels_path: str | os.PathLike | None = None
    annotators_path: str | os.PathLike | None = None
    html_path: str | os.PathLike | None = None
    plots_dir: str | os.PathLike | None = None
    dawid_skene: bool = True
    ds_max_iter: int = DS_MAX_ITER
    crowdtruth: bool | None = None
    aggregators: tuple = ()
    rank_by: str = "auto"
    plan_budget: int | None = None
    plan_objective: str = "soft"
    plan_max_per_item: int = PLAN_MAX_PER_ITEM
    prior: str = "classes"
    plan_out: str | os.PathLike | None = None
    overwrite: bool = False


EVALUATE_OPTIONS = tuple(f.name for f in fields(EvaluateConfig))


def run_evaluate(path, config: EvaluateConfig | None = None, **options) -> str:
    """``dqlabels evaluate`` as a function: read, audit, write the requested files.

    Args:
        path: the annotation file.
        config: the options; keyword ``options`` (names of :class:`EvaluateConfig`) replace
            its values.

    Returns:
        The readable summary.
    """
    config = replace(config or EvaluateConfig(), **options)
    _check_outputs(path, config)
    campaign = read_campaign(path, config)
    _check_outputs_fit(campaign.annotations, config)
    # Dawid–Skene beside the tallies, then the labels file beside the audit: threads of ours
    # side by side, the interpreter changing hands often (the read's threads are pyarrow's).
    with sharing_the_interpreter():
        result, written = _audit_and_write(campaign, _fit_models(campaign, config), config)
    summary = format_summary(result)
    return summary + ("\nWrote " + ", ".join(map(str, written)) if written else "")


@dataclass(frozen=True)
class _Fitted:
    """What the audit is built from: the fitted aggregators (Dawid–Skene, CrowdTruth, then those
    asked for by name), the tallies, the item quality, and the labels file's columns prepared
    ahead (``ready``)."""

    models: tuple
    crowdtruth_reason: str | None
    tallies: Tallies
    quality: np.ndarray | None
    ready: dict


def _fit_models(campaign, config: EvaluateConfig) -> _Fitted:
    """Dawid–Skene on its own thread (its blocks on the shared pool) while CrowdTruth, the
    tallies, the item quality and the labels file's columns that do not wait for it are
    computed: its start (numba's import, for a large campaign) uses one core."""
    annotations = campaign.annotations
    fit = config.dawid_skene and annotations.annotator_index is not None
    with ThreadPoolExecutor(1, thread_name_prefix="dqlabels-ds") as background:
        model = background.submit(DawidSkene(max_iter=config.ds_max_iter).fit,
                                  annotations, annotations.gold) if fit else None
        crowd, reason = fit_crowdtruth(annotations, config.crowdtruth)
        # With Dawid–Skene, the shrunk labels' prior waits for its class posteriors.
        tallies = tally(annotations, campaign.predictions, campaign.prediction_rows,
                        with_posterior=model is None, prior=config.prior)
        quality = item_quality(annotations, crowd)
        ready = {} if config.labels_path is None else {
            name: prepare_column(values) for name, values in
            tallied_columns(annotations, tallies, () if crowd is None else (crowd,),
                            quality).items()}
        fitted = model.result() if model is not None else None
        if fitted is not None and not annotations.is_distribution:
            tallies = replace(tallies, posterior=posterior(
                annotations, campaign.prior, prior=config.prior,
                class_posteriors=fitted.probas_))
        models = tuple(m for m in (fitted, crowd) if m is not None) + fitted_models(
            annotations, [registered_aggregator(name) for name in config.aggregators])
        return _Fitted(models=models, crowdtruth_reason=reason,
                       tallies=tallies, quality=quality, ready=ready)


def _audit_and_write(campaign, fitted: _Fitted, config: EvaluateConfig) -> tuple[Audit, list]:
    """The audit, and the outputs written; the labels file is written on a thread while the
    audit is built (its columns are known already) and put in place with the other outputs,
    only if everything succeeds."""
    annotations, labels = campaign.annotations, None
    with ThreadPoolExecutor(1, thread_name_prefix="dqlabels-labels") as background:
        if config.labels_path is not None:
            columns = {name: fitted.ready.get(name, values) for name, values in tallied_columns(
                annotations, fitted.tallies, fitted.models, fitted.quality).items()}
            labels = background.submit(staged_file, config.labels_path,
                                       lambda tmp: _write_labels_to(columns, tmp))
        try:
            result = audit(annotations, tallies=fitted.tallies,
                           predictions=campaign.predictions,
                           prediction_rows=campaign.prediction_rows,
                           models=fitted.models, crowdtruth_reason=fitted.crowdtruth_reason,
                           quality=fitted.quality,
                           rank_by=config.rank_by, plan_budget=config.plan_budget,
                           plan_objective=config.plan_objective,
                           plan_max_per_item=config.plan_max_per_item)
            return result, write_outputs(result, config, labels)
        except BaseException:
            if labels is not None and labels.exception() is None:
                discard_staged(labels.result())
            raise


def _check_outputs_fit(annotations, config: EvaluateConfig) -> None:
    """Outputs that these annotations cannot fill are refused before any is written."""
    if config.annotators_path is not None and annotations.annotator_index is None:
        raise InputError(f"{config.annotators_path}: annotators_path needs annotator ids, and "
                         f"{annotations.source} ({annotations.format}) has none")


def _check_outputs(path, config: EvaluateConfig) -> None:
    """Every output can be written, none is an input, no two name the same file."""
    if config.plan_out is not None and config.plan_budget is None:
        raise InputError(f"{config.plan_out}: plan_out needs plan_budget=N (how many "
                         f"annotations to plan)")
    check_output_files({name: getattr(config, name) for name in OUTPUT_FILES},
                       overwrite=config.overwrite,
                       inputs=[path, config.predictions, config.gold])
    if config.plots_dir is not None:
        from dqlabels.figures import PLOT_FILES

        check_output_folder(config.plots_dir, overwrite=config.overwrite, own_files=PLOT_FILES)


def write_outputs(result: Audit, config: EvaluateConfig, labels: Future | None = None) -> list:
    """Write the files ``config`` names, each from the audit alone; returns what was written.
    ``labels``: the labels file, already being written (a future of its
    :func:`~dqlabels._io.staged_file`), put in place in its turn."""
    if config.json_path is not None:
        write_json(result, config.json_path)
    if labels is not None:
        commit_staged(labels.result(), config.labels_path)
    elif config.labels_path is not None:
        write_labels(labels_columns(result), config.labels_path)
    if config.annotators_path is not None:
        write_annotators(result, config.annotators_path)
    if config.plan_out is not None and result.plan is not None:
        from dqlabels.commands.plan import write_plan

        write_plan(result.plan, config.plan_out)
    if config.html_path is not None or config.plots_dir is not None:
        _write_figures(result, config)
    return [getattr(config, name) for name in (*OUTPUT_FILES, "plots_dir")
            if getattr(config, name) is not None]


def _write_figures(result: Audit, config: EvaluateConfig) -> None:
    """The HTML page and the PNG files, from one drawing of the audit's figures."""
    from dqlabels import figures
    from dqlabels.audit.html_report import write_html_report

    drawn = figures.draw_audit_figures(result)
    try:
        if config.html_path is not None:
            write_html_report(config.html_path, result, drawn)
        if config.plots_dir is not None:
            figures.write_plots(result, config.plots_dir, drawn)
    finally:
        for fig in drawn.values():
            figures.pyplot().close(fig)


def write_json(report, path) -> None:
    """Write the report (an :class:`~dqlabels.audit.report.Audit`, its
    :class:`~dqlabels.audit.sections.AuditReport`, or a dict) as JSON atomically."""
    report = getattr(report, "report", report)
    data = report.to_json() if hasattr(report, "to_json") else dict(report)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_annotators(result, path) -> None:
    """The annotator table as CSV (columns :data:`~dqlabels.labels.ranking.ANNOTATOR_COLUMNS`;
    ``agreement`` is the leave-one-out one; ``gold_low``/``gold_high`` the 95% Wilson interval
    of ``gold_accuracy``), least reliable first by the report's ranking; empty cells where a
    score is undefined or not computed. ``result``: an :class:`~dqlabels.audit.report.Audit` or its
    report, with annotator ids."""
    table = getattr(result, "report", result).annotators

    def cell(entry, column):
        if column in ("gold_low", "gold_high"):
            interval = entry.gold_interval
            return None if interval is None else interval[column == "gold_high"]
        return getattr(entry, column)

    write_csv_atomic(path, ANNOTATOR_COLUMNS,
                     ([cell(e, column) for column in ANNOTATOR_COLUMNS] for e in table.ranked))


def write_labels(table, path) -> None:
    """Write the labels table (a DataFrame or :func:`~dqlabels.audit.labels_columns`) as CSV atomically (probabilities with 6 significant digits; an
    undefined value, such as the quality of an item with one annotation, as an empty cell),
    column by column without a Python step per row (:mod:`dqlabels.csv_text`)."""
    with atomic_path(path) as tmp:
        _write_labels_to(table, tmp)


def _write_labels_to(table, path) -> None:
    with open(path, "wb") as f:
        write_frame_csv(table, f)
