"""The audit's commands: ``dqlabels evaluate`` and ``dqlabels plan``."""

from __future__ import annotations

import click

from dqlabels import config, registry
from dqlabels_cli.options import (
    CONTEXT,
    RegistryChoice,
    gold_columns,
    handle_errors,
    reading_options,
)


@click.command(context_settings=CONTEXT)
@click.argument("annotations", type=click.Path(dir_okay=True, path_type=str))
@reading_options
@click.option("--gold", type=click.Path(path_type=str), default=None,
              help="CSV/TSV/Parquet of known answers (item, label): accuracy on gold of every "
                   "annotator and aggregate; Dawid–Skene fixes these items. Toloka's GOLDEN "
                   "columns are read without it.")
@gold_columns
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="CSV/Parquet of predictions (item + one column per class, or item + label) "
                   "to score against the soft labels.")
@click.option("--json", "json_path", type=click.Path(path_type=str), default=None,
              help="Write the full report as JSON to this file.")
@click.option("--labels", "labels_path", type=click.Path(path_type=str), default=None,
              help="Write the hard/soft (and Dawid–Skene) label table as CSV to this file.")
@click.option("--annotators", "annotators_path", type=click.Path(path_type=str), default=None,
              help="Write the annotator table as CSV (quality, agreements), least reliable first.")
@click.option("--html", "html_path", type=click.Path(path_type=str), default=None,
              help="Write the audit as one self-contained HTML page to share.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=str), default=None,
              help="Write PNG figures into this folder.")
@click.option("--dawid-skene/--no-dawid-skene", default=True, show_default=True,
              help="Fit Dawid–Skene when annotator ids are known.")
@click.option("--ds-max-iter", type=click.IntRange(min=1), default=config.DS_MAX_ITER,
              show_default=True, help="Most Dawid–Skene EM iterations.")
@click.option("--crowdtruth/--no-crowdtruth", default=None,
              help="CrowdTruth 2.0 item, annotator and class quality when annotator ids are "
                   f"known. Default: up to {config.CROWDTRUTH_MAX_PAIRS:,} ordered pairs of "
                   "annotations on the same item (90 million for 10 million annotations, 10 "
                   "per item); --crowdtruth at any size.")
@click.option("--aggregator", "aggregators", type=RegistryChoice(registry.AGGREGATORS),
              multiple=True,
              help="Also fit this aggregator (repeat for several): its labels and class "
                   "probabilities join the labels file as NAME_label and NAME_<class> columns "
                   "(Dawid–Skene and CrowdTruth have their own switches).")
@click.option("--rank-by", type=click.Choice(config.RANKINGS), default=config.RANKINGS[0],
              show_default=True,
              help="The per-annotator estimate that orders the annotator table and the least "
                   "reliable list. auto: Dawid–Skene accuracy when fitted (it ranked simulated "
                   "and real workers best), else CrowdTruth quality, else agreement.")
@click.option("--prior", type=click.Choice(config.PRIORS), default=config.PRIORS[0],
              show_default=True,
              help="The shrunk labels' prior: classes (one component per true class, mixed "
                   "by each item's class posterior: unanimous votes are not overturned) or "
                   "balance (one prior centred on the class balance).")
@click.option("--plan-budget", "plan_budget", type=click.IntRange(min=0), default=None,
              metavar="N", help="Also plan the next round: where N more annotations help most "
                                "('dqlabels plan --budget N').")
@click.option("--plan-objective", type=click.Choice(config.PLAN_OBJECTIVES),
              default=config.PLAN_OBJECTIVES[0], show_default=True,
              help="soft: pin down each item's distribution; hard: settle the majority vote "
                   "('dqlabels plan --objective').")
@click.option("--plan-max-per-item", type=click.IntRange(min=1), default=config.PLAN_MAX_PER_ITEM,
              show_default=True,
              help="The most annotations one item may be asked for in the round "
                   "('dqlabels plan --max-per-item').")
@click.option("--plan-out", type=click.Path(path_type=str), default=None,
              help="Write the plan's CSV here, as 'dqlabels plan --out' does (item, "
                   "annotations, loss_now, loss_after, expected_gain, reason).")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Do not print the summary.")
@handle_errors
def evaluate(annotations, quiet, **options):
    """Audit ANNOTATIONS: hard vs soft labels, ties, ambiguity, agreement, annotators
    (CrowdTruth quality when annotator ids are known).

    ANNOTATIONS is a CSV, TSV, Parquet, .npy or DCIC annotations.json file in long, wide,
    counts or probs format, or an export of Label Studio (JSON), Mechanical Turk (batch
    results CSV), Toloka (results TSV) or Prodigy (db-out JSONL). Exit status 0 on success, 2 on
    bad input.
    """
    from dqlabels.commands.evaluate import EvaluateConfig, run_evaluate

    summary = run_evaluate(annotations, EvaluateConfig(**options))
    if not quiet:
        click.echo(summary)


@click.command(context_settings=CONTEXT)
@click.argument("annotations", type=click.Path(dir_okay=True, path_type=str))
@click.option("--budget", type=click.IntRange(min=0), required=True,
              help="How many more annotations to ask for.")
@reading_options
@click.option("--predictions", type=click.Path(path_type=str), default=None,
              help="A model's predictions (item + one column per class, as 'dqlabels predict' "
                   "writes them): each item's prior, weighted by how well they agree with the "
                   "annotations so far.")
@click.option("--gold", type=click.Path(path_type=str), default=None,
              help="Known answers (item, label): those items get nothing.")
@gold_columns
@click.option("--objective", type=click.Choice(config.PLAN_OBJECTIVES),
              default=config.PLAN_OBJECTIVES[0], show_default=True,
              help="soft: pin down each item's label distribution; hard: settle the majority "
                   "vote.")
@click.option("--prior", type=click.Choice(config.PRIORS), default=config.PRIORS[0],
              show_default=True,
              help="Without --predictions: classes (one component per true class, mixed by "
                   "each item's class posterior) or balance (the class balance).")
@click.option("--strength", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Prior strength in pseudo-annotations. Default: fitted by marginal "
                   "likelihood once 10 items have two or more annotations, else 1/9: label "
                   "smoothing 0.1 toward the class balance (5 with --predictions).")
@click.option("--max-per-item", type=click.IntRange(min=1), default=config.PLAN_MAX_PER_ITEM,
              show_default=True,
              help="The most annotations one item may be asked for in this round; a budget "
                   "the uncertain items cannot take under it is left unspent, and said so.")
@click.option("--out", "out_path", type=click.Path(path_type=str), default=config.PLAN_OUT,
              show_default=True, help="CSV of the plan: item, annotations, reason.")
@click.option("--json", "json_path", type=click.Path(path_type=str), default=None,
              help="Also write the plan and the posterior's facts as JSON.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace output files that already exist.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="Do not print the summary.")
@handle_errors
def plan(annotations, quiet, **options):
    """Plan the next annotation round of ANNOTATIONS: which items need more annotations, how
    many each, and why. Items already certain get none.

    Each item's label distribution gets a Dirichlet posterior (prior from the class balance or
    from --predictions); the next annotations go where they lower its spread most (--objective
    soft) or settle the majority vote (hard). Writes --out (next_round.csv).
    """
    from dqlabels.commands.plan import PlanConfig, run_plan

    summary = run_plan(annotations, PlanConfig(**options))
    if not quiet:
        click.echo(summary)
