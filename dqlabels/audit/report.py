"""The data-quality audit of an annotation campaign (docs/conventions.md §5): the computation.

:func:`audit` computes everything once and returns an :class:`Audit`: the arrays (soft labels,
entropy, majority vote, item quality, the fitted Dawid–Skene and CrowdTruth models) and the
report drawn from them, typed and frozen (:class:`~dqlabels.audit.sections.AuditReport`, whose
``to_json()`` is the JSON file). The text summary (:func:`~dqlabels.audit.summary.format_summary`), the labels table
(:func:`labels_table`), the HTML page (:mod:`dqlabels.audit.html_report`) and the figures
(:mod:`dqlabels.figures`) are drawn from an ``Audit`` alone; ``dqlabels evaluate`` (reading the
file, the options, writing the files) is :mod:`dqlabels.commands.evaluate`.

Examples:
    >>> from dqlabels import from_long
    >>> ann = from_long(["a", "a", "b", "b"], ["cat", "dog", "dog", "dog"], ["u1", "u2", "u1", "u2"])
    >>> result = audit(ann)
    >>> result["num_items"], result["num_ties"], result["num_unanimous"]
    (2, 1, 1)
    >>> result.soft.tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    >>> from dqlabels.audit.summary import format_summary
    >>> print(format_summary(result).splitlines()[1])
      items 2   classes 2   annotations 4   annotators 2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dqlabels.audit.annotators import annotator_table, disagreements
from dqlabels.audit.sections import (
    AmbiguousItem,
    AuditReport,
    CampaignSummary,
    CrowdTruthRun,
    DawidSkeneSummary,
    LowQualityItem,
    QualitySummary,
    finite,
    frozen,
)
from dqlabels.config import CROWDTRUTH_MAX_PAIRS, PLAN_MAX_PER_ITEM, RANKINGS, check_choice
from dqlabels.errors import InputError
from dqlabels.labels import gold as gold_answers
from dqlabels.labels import scores
from dqlabels.labels.aggregation import (
    Aggregator,
    MajorityVote,
    fitted_models,
    majority_vote,
    soft_labels,
)
from dqlabels.labels.crowdtruth import CrowdTruth, annotation_pairs, item_agreement
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.labels.plan import Plan, mean_by_annotations, plan_next_round
from dqlabels.labels.posterior import Posterior, posterior
from dqlabels.readers.annotations import Annotations
from dqlabels.readers.predictions import aligned_predictions

NUM_AMBIGUOUS = 10


@dataclass(frozen=True, eq=False)
class Tallies:
    """What the annotations say before any model, computed once: each item's ``soft`` label,
    majority ``vote`` and ``entropy`` (nats); Fleiss' ``kappa`` and Krippendorff's ``alpha``;
    each annotator's leave-one-out ``agreement`` and the annotations it scored (None without
    annotator ids); each item's Dirichlet ``posterior`` (None for probabilities), its prior
    from the predictions it was given."""

    soft: np.ndarray
    vote: MajorityVote
    entropy: np.ndarray
    kappa: float
    alpha: float
    agreement: tuple[np.ndarray, np.ndarray] | None
    posterior: Posterior | None = None
    predictions: np.ndarray | None = None


def tally(annotations: Annotations, predictions: np.ndarray | None = None,
          prediction_rows: np.ndarray | None = None, with_posterior: bool = True,
          class_posteriors: np.ndarray | None = None, prior: str = "classes") -> Tallies:
    """The :class:`Tallies` of ``annotations`` (``dqlabels evaluate`` computes them while
    Dawid–Skene fits); ``predictions`` (rows ``prediction_rows`` of the items) are the
    posterior's prior, as in :func:`audit`. ``with_posterior=False`` leaves the posterior out
    (a caller that makes it later); ``class_posteriors`` (Dawid–Skene's) mix the prior's
    components (:func:`dqlabels.labels.posterior.posterior`)."""
    soft = soft_labels(annotations)
    counts = annotations.counts
    post = None
    if with_posterior and not annotations.is_distribution:
        post = posterior(annotations, aligned_predictions(predictions, prediction_rows,
                                                          annotations.num_items),
                         class_posteriors=class_posteriors, prior=prior)
    return Tallies(soft=soft, vote=majority_vote(annotations), entropy=scores.item_entropy(soft),
                   kappa=scores.fleiss_kappa(counts), alpha=scores.krippendorff_alpha(counts),
                   agreement=None if annotations.annotator_index is None
                   else scores.annotator_agreement(annotations),
                   posterior=post, predictions=predictions)


def _rows(predictions: np.ndarray, prediction_rows: np.ndarray | None) -> np.ndarray:
    return np.arange(len(predictions)) if prediction_rows is None else prediction_rows


@dataclass(frozen=True, eq=False)
class Audit(Mapping):
    """An audit's arrays and its report.

    Reads as the JSON report (``audit["num_items"]``, ``dict(audit)``); the arrays and the typed
    report are attributes:

    Attributes:
        annotations: the campaign.
        soft, vote, entropy: each item's soft label, majority vote and entropy (nats).
        quality: each item's quality (CrowdTruth's, else the unweighted pair agreement; NaN for
            a single annotation), or None for probabilities.
        models: the fitted aggregators (:class:`~dqlabels.labels.aggregation.Aggregator`),
            in the order given; ``dawid_skene_model`` and ``crowdtruth_model`` are the
            Dawid–Skene and CrowdTruth ones among them, or None.
        predictions, prediction_rows: the scored predictions and their rows in the items.
        posterior: each item's Dirichlet posterior (:mod:`dqlabels.labels.plan`; the prior from the
            class balance, or from the predictions), or None for probabilities.
        plan: the next round (:func:`dqlabels.labels.plan.plan_next_round`), when asked for.
        report: the report (:class:`~dqlabels.audit.sections.AuditReport`: typed sections,
            frozen, built once in :func:`audit`; ``report.to_json()`` is the JSON of docs/conventions.md §5
            and more).
    """

    annotations: Annotations
    soft: np.ndarray
    vote: MajorityVote
    entropy: np.ndarray
    quality: np.ndarray | None
    models: tuple
    predictions: np.ndarray | None
    prediction_rows: np.ndarray | None
    posterior: Posterior | None
    plan: Plan | None
    report: AuditReport

    @property
    def dawid_skene_model(self) -> DawidSkene | None:
        return _first(self.models, DawidSkene)

    @property
    def crowdtruth_model(self) -> CrowdTruth | None:
        return _first(self.models, CrowdTruth)

    def __getitem__(self, key):
        return self.report[key]

    def __iter__(self):
        return iter(self.report)

    def __len__(self) -> int:
        return len(self.report)


def _first(models, kind):
    return next((model for model in models if isinstance(model, kind)), None)


def audit(
    annotations: Annotations,
    *,
    models: Sequence[Aggregator] = (),
    tallies: Tallies | None = None,
    predictions: np.ndarray | None = None,
    prediction_rows: np.ndarray | None = None,
    crowdtruth_reason: str | None = None,
    quality: np.ndarray | None = None,
    rank_by: str = "auto",
    plan_budget: int | None = None,
    plan_objective: str = "soft",
    plan_max_per_item: int = PLAN_MAX_PER_ITEM,
) -> Audit:
    """Everything the audit knows about a campaign (docs/conventions.md §5 and more).

    Args:
        annotations: the campaign.
        tallies: :func:`tally` of ``annotations``, when the caller computed it already.
        predictions: optional ``(num_scored, num_classes)`` predicted distributions, in the
            class order of ``annotations``, scored against the soft labels.
        prediction_rows: row index into ``annotations.items`` of each prediction row.
        models: aggregators, fitted or not (:func:`~dqlabels.labels.aggregation.fitted_models`).
            A :class:`~dqlabels.DawidSkene` among them has its annotator accuracies and the
            items where it disagrees with the majority vote reported; a
            :class:`~dqlabels.labels.crowdtruth.CrowdTruth`, its item, annotator and class
            quality (without it, the item quality is the unweighted pair agreement). Each
            with a ``column_prefix`` adds its columns to the labels table.
        crowdtruth_reason: why no CrowdTruth model is given, when the caller knows better
            than the annotations tell (switched off, too large).
        quality: :func:`item_quality` of ``annotations`` and the CrowdTruth model, when the
            caller computed it already.
        rank_by: the per-annotator estimate that orders the annotators, least reliable first
            (:data:`~dqlabels.config.RANKINGS`): ``auto`` (Dawid–Skene accuracy when fitted,
            else CrowdTruth quality, else leave-one-out agreement: the order of their Spearman
            correlation with true accuracy in ``benchmarks/bench_ranking.py``),
            ``dawid-skene``, ``quality``, ``agreement`` or ``gold`` (accuracy on gold answers).
        plan_budget, plan_objective, plan_max_per_item: also plan the next round of
            ``plan_budget`` annotations (:func:`dqlabels.labels.plan.plan_next_round`).

    With gold answers (``annotations.gold``) the report gains each annotator's accuracy on gold
    (with the number of answers and a 95% Wilson interval) and the accuracy on gold of the
    majority vote, the CrowdTruth-weighted label and Dawid–Skene; Dawid–Skene's is measured by
    fits that did not see those answers (:func:`dqlabels.labels.gold.held_out_labels`).
    """
    check_choice("rank_by", rank_by, RANKINGS)
    models = fitted_models(annotations, models)
    dawid_skene, crowdtruth = _first(models, DawidSkene), _first(models, CrowdTruth)
    if tallies is None or tallies.predictions is not predictions:
        tallies = tally(annotations, predictions, prediction_rows, class_posteriors=getattr(
            dawid_skene, "probas_", None))
    soft, vote, item_entropy = tallies.soft, tallies.vote, tallies.entropy
    quality = item_quality(annotations, crowdtruth) if quality is None else quality
    annotators = disagreeing = None
    if annotations.annotator_index is not None:
        annotators = annotator_table(annotations, tallies.agreement, dawid_skene, crowdtruth,
                                     rank_by)
        disagreeing = disagreements(annotations, vote, crowdtruth, dawid_skene,
                                    annotators.ranked_by, annotators.ranked)
    rows = scored = None
    if predictions is not None:
        rows = _rows(predictions, prediction_rows)
        scored = scores.prediction_scores(soft[rows], predictions, y_entropy=item_entropy[rows])
    posterior_summary, plan = _plan(annotations, tallies, plan_budget, plan_objective,
                                    plan_max_per_item)
    note = agreement_note(annotations)
    report = AuditReport(
        campaign=_campaign_report(annotations, tallies, crowdtruth, agreeing=note is None),
        quality=_quality_report(annotations, quality, crowdtruth, crowdtruth_reason),
        agreement_note=note, annotators=annotators, disagreements=disagreeing,
        dawid_skene=None if dawid_skene is None else
        _dawid_skene_report(annotations, dawid_skene, vote),
        gold=frozen(gold_answers.gold_report(annotations, vote.labels_, dawid_skene, crowdtruth))
        if annotations.gold is not None and annotations.num_gold else None,
        scores=frozen(scored), num_scored_items=None if rows is None else int(len(rows)),
        posterior=frozen(posterior_summary),
        next_round=None if plan is None else frozen(plan.summary()))
    return Audit(annotations=annotations, soft=soft, vote=vote, entropy=item_entropy,
                 quality=quality, models=models, predictions=predictions, prediction_rows=rows,
                 posterior=tallies.posterior, plan=plan, report=report)


PROBABILITIES_NOTE = ("soft labels given as probabilities carry no annotations to agree: "
                      "Fleiss' kappa and Krippendorff's alpha are undefined")


def _plan(annotations: Annotations, tallies: Tallies, budget: int | None,
          objective: str, max_per_item: int) -> tuple[dict | None, Plan | None]:
    """The posterior's summary and, with a budget, the next round's plan."""
    if budget is not None and annotations.is_distribution:
        raise InputError(f"{annotations.source}: planning the next round needs annotation "
                         f"counts; these are probabilities")
    if tallies.posterior is None:
        return None, None
    summary = _posterior_summary(annotations, tallies.posterior, tallies.soft)
    if budget is None:
        return summary, None
    return summary, plan_next_round(annotations, budget, objective=objective,
                                    fitted=tallies.posterior, max_per_item=max_per_item)


def _campaign_report(annotations: Annotations, tallies: Tallies,
                     crowdtruth: CrowdTruth | None, agreeing: bool) -> CampaignSummary:
    """The campaign, agreement, entropy, class mass (with the CrowdTruth-weighted one),
    ambiguous items. ``agreeing``: whether agreement is measurable (:func:`agreement_note`);
    where it is not (probabilities, one annotator, one annotation per item) unanimity, κ and α
    are None."""
    counts, classes = annotations.counts, tuple(annotations.classes)
    soft, vote, item_entropy = tallies.soft, tallies.vote, tallies.entropy
    hard_mass = np.bincount(vote.labels_, minlength=len(classes)) / len(vote.labels_)
    per_item = annotations.annotations_per_item
    mass = {"hard": hard_mass, "soft": soft.mean(axis=0)}
    listed = smallest(-item_entropy, NUM_AMBIGUOUS)
    if crowdtruth is not None:
        mass["weighted"] = crowdtruth.probas_.mean(axis=0)
    return CampaignSummary(
        source=annotations.source, format=annotations.format, num_items=annotations.num_items,
        num_classes=annotations.num_classes, classes=classes,
        num_annotations=annotations.num_annotations, num_annotators=annotations.num_annotators,
        num_dropped=annotations.num_dropped, num_empty_items=int(len(annotations.empty_items)),
        skipped=frozen(dict(annotations.skipped)),
        annotations_per_item=None if per_item is None else frozen({
            "min": int(per_item.min()), "mean": float(per_item.mean()), "max": int(per_item.max())}),
        num_ties=vote.num_ties_,
        num_unanimous=int(np.count_nonzero(scores.unanimous_items(counts))) if agreeing else None,
        mean_entropy=float(item_entropy.mean()),
        entropy_quantiles=frozen({str(q): float(np.quantile(item_entropy, q))
                                  for q in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)}),
        mean_top_probability=float(soft.max(axis=1).mean()),
        fleiss_kappa=finite(tallies.kappa) if agreeing else None,
        krippendorff_alpha=finite(tallies.alpha) if agreeing else None,
        class_mass=frozen({kind: _by_class(classes, values) for kind, values in mass.items()}),
        most_ambiguous=tuple(
            AmbiguousItem(item=str(annotations.items[i]), entropy=float(item_entropy[i]),
                          soft=frozen(_by_class(classes, soft[i])))
            for i in listed),
        num_more_ambiguous_tied=int(np.count_nonzero(item_entropy >= item_entropy[listed[-1]]
                                                     - 1e-12)) - len(listed),
        reading=frozen(dict(annotations.reading)), notes=tuple(annotations.notes))


def agreement_note(annotations: Annotations) -> str | None:
    """Why the report has no agreement figures, where it has none."""
    if annotations.is_distribution:
        return PROBABILITIES_NOTE
    return scores.agreement_not_measurable(annotations.counts, annotations.num_annotators)


def _by_class(classes, values) -> dict:
    return {c: float(v) for c, v in zip(classes, values)}


def _dawid_skene_report(annotations: Annotations, dawid_skene: DawidSkene,
                        vote: MajorityVote) -> DawidSkeneSummary:
    """Dawid–Skene's run: iterations, likelihood, class priors, disagreements with the vote."""
    everything_gold = annotations.num_gold == annotations.num_items
    return DawidSkeneSummary(
        iterations=int(dawid_skene.n_iter_), converged=bool(dawid_skene.converged_),
        log_likelihood=float(dawid_skene.log_likelihood_),
        class_priors=frozen(_by_class(annotations.classes, dawid_skene.class_priors_)),
        num_disagree_with_majority=int(np.count_nonzero(dawid_skene.labels_ != vote.labels_)),
        note="every item has a gold answer: Dawid–Skene's labels are the gold answers and its "
             "annotator accuracies are their accuracies on gold; it estimates nothing here"
        if everything_gold else None)


def _posterior_summary(annotations: Annotations, post: Posterior, soft: np.ndarray) -> dict:
    """The posterior's prior, and the budget line: the mean posterior spread of the items with
    each number of annotations."""
    per_item = annotations.annotations_per_item
    spread = post.spread
    line = mean_by_annotations(spread, per_item)
    return {"prior": {"predictions": "predictions", "balance": "class balance",
                      "classes": "one component per true class"}[post.prior],
            **post.prior_summary(),
            "mean_spread": float(spread.mean()),
            "spread_by_annotations": line,
            "definition": "Dirichlet posterior of each item's label distribution: prior "
                          "pseudo-counts (one component per true class mixed by the item's "
                          "class posterior, or the class balance, or predictions) plus the "
                          "annotation counts; spread = sqrt of the summed posterior variances"}


CROWDTRUTH_DEFINITION = (
    "CrowdTruth 2.0 (Dumitrache et al., 2018): item quality = quality-weighted share of agreeing "
    "pairs of an item's annotators; annotator quality = agreement with the other annotators of "
    "the same items x agreement with the rest of each item's annotations; class quality = "
    "how often annotators choose a class where another one did; weighted soft label = class "
    "shares with every annotation weighted by its annotator's quality")


def fit_crowdtruth(annotations: Annotations, crowdtruth: bool | None = None
                   ) -> tuple[CrowdTruth | None, str | None]:
    """The CrowdTruth metrics of ``annotations`` and None, or None and why they are missing.

    ``crowdtruth``: True computes them whenever they can be had, False never, None (``dqlabels
    evaluate``'s default) up to ``CROWDTRUTH_MAX_PAIRS`` ordered pairs of annotations on the same
    item, so that the audit of a very large campaign stays fast and within memory.
    """
    if crowdtruth is False:
        return None, "not computed (switched off)"
    reason = _missing_reason(annotations)
    if reason is not None:
        return None, reason
    pairs = annotation_pairs(annotations)
    if crowdtruth is None and pairs > CROWDTRUTH_MAX_PAIRS:
        return None, (f"not computed: {pairs:,} pairs of annotations on the same items, over the "
                      f"default limit of {CROWDTRUTH_MAX_PAIRS:,} (about 40 bytes of memory and a "
                      f"few hundred ns of 2-core CPU per pair); --crowdtruth computes them")
    return CrowdTruth().fit(annotations), None


def _missing_reason(annotations: Annotations) -> str | None:
    if annotations.annotator_index is None:
        return ("annotator ids are unknown: item quality is the unweighted agreement of each "
                "item's annotations; no annotator or class quality")
    if annotations.has_repeated_pairs:
        return ("an annotator labelled an item more than once (duplicates kept): the "
                "CrowdTruth metrics need one annotation per (item, annotator) pair")
    return None


def item_quality(annotations: Annotations, crowdtruth: CrowdTruth | None = None
                 ) -> np.ndarray | None:
    """Each item's quality: CrowdTruth's when fitted, else the unweighted share of agreeing
    pairs of its annotations (NaN for a single annotation); None for probabilities."""
    if crowdtruth is not None:
        return crowdtruth.item_quality_
    return None if annotations.is_distribution else item_agreement(annotations.counts)


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(values, kind="stable")[:k]`` without sorting everything: the ``k``
    smallest finite values, ties in index order (a partition, then a sort of ``k`` values).

    Examples:
        >>> smallest(np.array([3.0, 1.0, 2.0, 1.0, 0.5]), 3).tolist()
        [4, 1, 3]
    """
    if k >= len(values):
        return np.argsort(values, kind="stable")
    kth = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < kth)
    chosen = np.concatenate([below, np.flatnonzero(values == kth)[:k - len(below)]])
    return chosen[np.argsort(values[chosen], kind="stable")]


def _quality_report(annotations: Annotations, quality: np.ndarray | None,
                    crowdtruth: CrowdTruth | None, reason: str | None = None) -> QualitySummary:
    """Item quality for every item and, with the CrowdTruth metrics, the class quality (keys
    beyond docs/conventions.md §5)."""
    classes = list(annotations.classes)
    if quality is None:  # probabilities: no annotations to agree
        quality = np.full(annotations.num_items, np.nan)
    if crowdtruth is not None:
        run = CrowdTruthRun(available=True, rounds=int(crowdtruth.n_iter_),
                            converged=bool(crowdtruth.converged_),
                            definition=CROWDTRUTH_DEFINITION)
    else:
        run = CrowdTruthRun(available=False, reason=reason or _missing_reason(annotations)
                            or "not computed")
    scored = np.isfinite(quality)
    lowest = np.flatnonzero(scored)[smallest(quality[scored], NUM_AMBIGUOUS)]
    return QualitySummary(
        class_quality=None if crowdtruth is None else
        frozen(_by_class(classes, crowdtruth.class_quality_)),
        crowdtruth=run,
        mean_item_quality=finite(float(quality[scored].mean())) if scored.any() else None,
        lowest_item_quality=tuple(
            LowQualityItem(item=str(annotations.items[i]), quality=float(quality[i]),
                           annotations=frozen({c: int(v) for c, v in
                                               zip(classes, annotations.counts[i]) if v})
                           if not annotations.is_distribution else None)
            for i in lowest))


def labels_table(result: Audit):
    """The hard and soft label table of docs/conventions.md §5 as a pandas DataFrame, drawn from an audit
    (:func:`labels_columns` as a frame).

    Columns: ``item``, ``hard_label``, ``tied``, ``soft_<class>`` per class; with a fitted
    Dawid–Skene model ``ds_label`` and ``ds_<class>`` per class; then ``item_quality``
    (CrowdTruth's, or the unweighted pair agreement without annotator ids; empty for an item
    with one annotation); for counts ``posterior_spread`` (how far the soft label may still be
    from the item's true distribution: :mod:`dqlabels.labels.plan`) and ``shrunk_<class>`` per class
    (the posterior mean); with the CrowdTruth metrics ``weighted_<class>`` per class (the
    worker-weighted soft label) and, with gold answers, ``gold_label`` (empty where none).
    Rows follow the sorted items.
    """
    import pandas as pd

    return pd.DataFrame(labels_columns(result))


def labels_columns(result: Audit) -> dict[str, np.ndarray]:
    """The columns of :func:`labels_table`, by name, as numpy arrays (what the CSV writer
    takes: no frame is built for a file)."""
    return tallied_columns(result.annotations, result, result.models, result.quality)


def tallied_columns(annotations: Annotations, tallies: Tallies | Audit, models=(),
                    quality: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`labels_columns` from what an audit is made of, before it is built: the
    ``annotations``, their :class:`Tallies` (or an :class:`Audit`: its soft labels, vote and
    posterior), the item ``quality`` and the models (``dqlabels evaluate`` writes the file
    while the audit is built)."""
    result = tallies
    classes = np.asarray(annotations.classes, dtype=object)
    columns = {"item": annotations.items, "hard_label": classes[result.vote.labels_],
               "tied": result.vote.tied_}
    for j, name in enumerate(classes):
        columns[f"soft_{name}"] = result.soft[:, j]
    dawid_skene = _first(models, DawidSkene)
    if dawid_skene is not None:
        columns.update(dawid_skene.label_columns(classes))
    if quality is not None:
        columns["item_quality"] = quality
    if result.posterior is not None:
        columns["posterior_spread"] = result.posterior.spread
        mean = result.posterior.mean
        for j, name in enumerate(classes):
            columns[f"shrunk_{name}"] = mean[:, j]
    for model in models:  # CrowdTruth's, then every other aggregator's, in the order given
        if model is not dawid_skene and model.column_prefix is not None:
            columns.update(model.label_columns(classes))
    if annotations.gold is not None:
        columns["gold_label"] = np.where(annotations.gold >= 0,
                                         classes[np.maximum(annotations.gold, 0)], "")
    return columns
