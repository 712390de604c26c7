"""``dqlabels plan``: read the campaign (and predictions, gold), plan the next round
(:func:`dqlabels.labels.plan.plan_next_round`), write its CSV and JSON, and say what it does and
buys (:func:`dqlabels.labels.plan_text.plan_lines`, shared with ``dqlabels evaluate
--plan-budget``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dqlabels.config import DS_MAX_ITER, PLAN_MAX_PER_ITEM, PLAN_OUT, ReadOptions, check_choice
from dqlabels.config import PLAN_OBJECTIVES as OBJECTIVES
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.labels.plan import NEXT_ROUND_COLUMNS, Plan, plan_next_round
from dqlabels.labels.plan_text import plan_lines
from dqlabels.labels.posterior import Posterior, posterior


@dataclass
class PlanConfig(ReadOptions):
    """Every option of ``dqlabels plan`` (the CLI's flags, as Python names): how to read the
    annotations (:class:`~dqlabels.config.ReadOptions`), the ``budget``, ``predictions`` and
    ``gold`` files (``gold_item_column``, ``gold_label_column``), ``objective``, ``strength``,
    ``max_per_item``, ``prior``, the outputs ``out_path`` (CSV) and ``json_path``, ``overwrite``."""

    budget: int = 0
    predictions: object = None
    gold: object = None
    gold_item_column: str | None = None
    gold_label_column: str | None = None
    objective: str = "soft"
    strength: float | None = None
    max_per_item: int = PLAN_MAX_PER_ITEM
    prior: str = "classes"
    out_path: object = PLAN_OUT
    json_path: object = None
    overwrite: bool = False


def run_plan(path, config: PlanConfig | None = None, **options) -> str:
    """``dqlabels plan`` as a function: read the annotations (and predictions, gold), plan the
    next round, write ``out_path`` (``item, annotations, reason``, most first) and optionally
    the JSON; returns a readable summary. Outputs are checked before any work and written
    atomically."""
    import json

    from dqlabels._io import check_output_files, write_text_atomic
    from dqlabels.commands.reading import read_campaign

    config = dataclasses.replace(config or PlanConfig(), **options)
    check_choice("objective", config.objective, OBJECTIVES)
    check_output_files({"out_path": config.out_path, "json_path": config.json_path},
                       overwrite=config.overwrite,
                       inputs=[path, config.predictions, config.gold])
    campaign = read_campaign(path, config)
    annotations, prior = campaign.annotations, campaign.prior
    plan = plan_next_round(annotations, config.budget, objective=config.objective,
                           max_per_item=config.max_per_item,
                           fitted=campaign_posterior(annotations, prior, config))
    write_plan(plan, config.out_path)
    summary = plan.summary()
    if config.json_path is not None:
        write_text_atomic(config.json_path, json.dumps(
            {"source": annotations.source, **summary}, indent=2, ensure_ascii=False) + "\n")
    return format_plan(summary, annotations.source, config.out_path)


def campaign_posterior(annotations, predictions, config: PlanConfig) -> Posterior:
    """The posterior ``dqlabels evaluate`` makes of the same campaign, so that both commands
    plan alike: with annotator ids and the class-conditional prior, Dawid–Skene's class
    posteriors mix its components."""
    weights = None
    if annotations.annotator_index is not None and predictions is None and \
            config.prior == "classes" and not annotations.is_distribution:
        weights = DawidSkene(max_iter=DS_MAX_ITER).fit(annotations, annotations.gold).probas_
    return posterior(annotations, predictions, config.strength, prior=config.prior,
                     class_posteriors=weights)


def write_plan(plan: Plan, path) -> None:
    """The plan's CSV (:data:`NEXT_ROUND_COLUMNS`, the largest expected gain first), atomically;
    losses with 6 significant digits."""
    from dqlabels._io import write_csv_atomic

    write_csv_atomic(path, NEXT_ROUND_COLUMNS,
                     ((item, n, f"{now:.6g}", f"{after:.6g}", f"{gain:.6g}", reason)
                      for item, n, now, after, gain, reason in plan.rows()))


def format_plan(summary: dict, source: str, out_path) -> str:
    """A readable summary of a plan (``dqlabels plan``)."""
    return "\n".join([f"Next round for {source} ({summary['objective']} objective, budget "
                      f"{summary['budget']:,})",
                      *plan_lines(summary, csv_path=out_path,
                                  options={"max_per_item": "--max-per-item"}),
                      f"Wrote {out_path}"])
