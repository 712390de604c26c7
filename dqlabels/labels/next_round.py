"""``dqlabels plan`` as a library: read the campaign (and predictions, gold), plan the next round
(:func:`dqlabels.labels.plan.plan_next_round`), write its CSV and JSON, and say what it does and buys.
The lines that say it (:func:`plan_lines`) are shared with ``dqlabels evaluate --plan-budget``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dqlabels.config import PLAN_OBJECTIVES as OBJECTIVES
from dqlabels.config import PLAN_OUT, ReadOptions, check_choice
from dqlabels.labels.plan import NEXT_ROUND_COLUMNS, Plan, plan_next_round
from dqlabels.text import plural


@dataclass
class PlanConfig(ReadOptions):
    """Every option of ``dqlabels plan`` (the CLI's flags, as Python names): how to read the
    annotations (:class:`~dqlabels.config.ReadOptions`), the ``budget``, ``predictions`` and
    ``gold`` files (``gold_item_column``, ``gold_label_column``), ``objective``, ``strength``, the outputs ``out_path`` (CSV) and
    ``json_path``, ``overwrite``."""

    budget: int = 0
    predictions: object = None
    gold: object = None
    gold_item_column: str | None = None
    gold_label_column: str | None = None
    objective: str = "soft"
    strength: float | None = None
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
    from dqlabels.labels.inputs import read_campaign

    config = dataclasses.replace(config or PlanConfig(), **options)
    check_choice("objective", config.objective, OBJECTIVES)
    check_output_files({"out_path": config.out_path, "json_path": config.json_path},
                       overwrite=config.overwrite,
                       inputs=[path, config.predictions, config.gold])
    campaign = read_campaign(path, config)
    annotations, prior = campaign.annotations, campaign.prior
    plan = plan_next_round(annotations, config.budget, predictions=prior,
                           objective=config.objective, strength=config.strength)
    write_plan(plan, config.out_path)
    summary = plan.summary()
    if config.json_path is not None:
        write_text_atomic(config.json_path, json.dumps(
            {"source": annotations.source, **summary}, indent=2, ensure_ascii=False) + "\n")
    return format_plan(summary, annotations.source, config.out_path)


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
                      f"{summary['budget']:,})", *plan_lines(summary), f"Wrote {out_path}"])


def plan_lines(summary: dict, listed: int = 10) -> list[str]:
    """The lines that say what a plan does and buys, shared by ``dqlabels plan`` and
    ``dqlabels evaluate --plan-budget``: the items' state, the prior, what the round asks for
    and is expected to buy, the loss by annotations so far, and the first ``listed`` items."""
    prior, expected, objective = summary["prior"], summary["expected"], summary["objective"]
    gold = summary["num_gold"]
    lines = [
        f"  {plural(summary['num_uncertain'], 'item')} uncertain, {summary['num_certain']:,} "
        f"certain (posterior spread below {summary['tolerance']:g})" if objective == "soft" else
        f"  {plural(summary['num_uncertain'], 'item')} uncertain, {summary['num_certain']:,} "
        f"certain (under a {summary['tolerance']:.0%} chance that the top class is not the "
        f"majority)",
        f"  {plural(gold, 'item')} with gold answers get none" if gold else None,
        f"  {summary['annotations_per_item']:.2f} annotations per item so far; prior strength "
        f"{prior['strength']:.2f} ({'fitted' if prior['strength_fitted'] else 'default'})"
        + ("" if prior["prediction_weight"] is None else
           f"; predictions (for {prior['num_predicted']:,} of {summary['num_items']:,} items) "
           f"weigh {prior['prediction_weight']:.2f} against the class balance"),
        f"  asks for {plural(summary['budget'] - summary['unspent'], 'annotation')} on "
        f"{plural(summary['items_requested'], 'item')}"
        + ("" if not summary["unspent"] else
           f"; {summary['unspent']:,} left unspent (every other item is certain"
           + (" or has a gold answer)" if gold else ")")),
    ]
    if objective == "soft":
        lines.append(f"  expected: mean KL {expected['mean_kl_now']:.4f} → "
                     f"{expected['mean_kl_after']:.4f} nats, mean posterior spread "
                     f"{expected['mean_posterior_spread_now']:.3f} → "
                     f"{expected['mean_posterior_spread_after']:.3f}")
    else:
        lines.append(f"  expected: majority accuracy {expected['majority_accuracy_now']:.4f} → "
                     f"{expected['majority_accuracy_after']:.4f} (share of items whose top "
                     f"class is their true majority)")
    measure = "mean expected KL" if objective == "soft" else "mean chance not the majority"
    lines.append(f"  by annotations per item so far → {measure}: "
                 + ", ".join(f"{n} → {v:.3f}" for n, v in
                             list(summary["loss_by_annotations"].items())[:8]))
    for entry in summary["next_round"][:listed]:
        lines.append(f"    {entry['item'][:30]:<30} +{entry['annotations']}  {entry['reason']}")
    if len(summary["next_round"]) > listed:
        lines.append(f"    … and {plural(len(summary['next_round']) - listed, 'more item')} "
                     f"(the CSV lists them all, largest expected gain first)")
    return [line for line in lines if line is not None]
