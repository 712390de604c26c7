"""The annotators' part of the audit: every annotator's scores, the ranking, and the
disagreements of the least reliable with the consensus (:class:`~dqlabels.audit.sections.
AnnotatorTable` and :class:`~dqlabels.audit.sections.Disagreements`); the estimates and the rule
that picks one are :mod:`dqlabels.labels.ranking`'s."""

from __future__ import annotations

import numpy as np

from dqlabels.audit.sections import (
    GOLD_SCORES,
    AnnotatorScores,
    AnnotatorTable,
    DisagreeingAnnotator,
    Disagreement,
    Disagreements,
    finite,
    frozen,
)
from dqlabels.labels import gold as gold_answers
from dqlabels.labels.ranking import (
    MIN_LISTED_ANNOTATIONS,
    NUM_EXAMPLES,
    NUM_LISTED,
    RANKING_DEFINITIONS,
    below_chance,
    ranking_key,
)
from dqlabels.readers.annotations import Annotations


def annotator_table(annotations: Annotations, agreement: tuple[np.ndarray, np.ndarray],
                    dawid_skene=None, crowdtruth=None, rank_by: str = "auto") -> AnnotatorTable:
    """Each annotator's numbers (``agreement``: the leave-one-out agreement and the annotations
    it scored, :func:`dqlabels.labels.scores.annotator_agreement`), their ranking and who
    answers below chance."""
    agreement, num_scored = agreement
    given = np.bincount(annotations.annotator_index, minlength=annotations.num_annotators)
    columns: dict[str, list] = {}
    if dawid_skene is not None:
        columns["ds_accuracy"] = [finite(float(v)) for v in dawid_skene.annotator_accuracy_]
    if crowdtruth is not None:
        for name, values in (("quality", crowdtruth.annotator_quality_),
                             ("annotator_agreement", crowdtruth.annotator_annotator_agreement_),
                             ("item_agreement", crowdtruth.annotator_item_agreement_)):
            columns[name] = [finite(float(v)) for v in values]
    if annotations.gold is not None:
        gold = gold_answers.annotator_gold_fields(annotations)
        for name in GOLD_SCORES:
            columns[name] = [frozen(fields[name]) for fields in gold]
    computed = tuple(columns)
    if dawid_skene is not None:
        columns["below_chance"] = below_chance(columns["ds_accuracy"], given,
                                               annotations.num_classes)
    per_annotator = tuple(
        AnnotatorScores(annotator=str(name), num_annotations=int(g), agreement=finite(float(a)),
                        **{column: values[j] for column, values in columns.items()})
        for j, (name, g, a) in enumerate(zip(annotations.annotators, given, agreement)))
    key = ranking_key(rank_by, computed)
    return AnnotatorTable(
        agreement_definition="mean credit vs the leave-one-out majority of the other "
                             "annotations of the item (1/t for a t-way tie)",
        mean_agreement=finite(float(np.nanmean(agreement)) if np.any(num_scored) else
                               float("nan")),
        ranked_by=key, ranking_definition=RANKING_DEFINITIONS[key],
        below_chance=tuple(e.annotator for e in per_annotator if e.below_chance),
        per_annotator=per_annotator, computed=computed)


def disagreements(annotations: Annotations, vote, crowdtruth, dawid_skene, key: str,
                  ranked: tuple[AnnotatorScores, ...]) -> Disagreements:
    """The least reliable annotators (``ranked``, least reliable first by the score ``key``),
    each with up to NUM_EXAMPLES items where their label differs from the consensus (only
    annotators with MIN_LISTED_ANNOTATIONS annotations or more: fewer are too few to rank); the
    Dawid–Skene label when fitted, else the argmax of the worker-weighted soft label, else the
    majority vote."""
    scored = [a for a in ranked if a.score(key) is not None]
    enough = [a for a in scored if a.num_annotations >= MIN_LISTED_ANNOTATIONS]
    if dawid_skene is not None:
        consensus, name = dawid_skene.labels_, "Dawid–Skene label"
    elif crowdtruth is not None:
        consensus, name = crowdtruth.labels_, "weighted soft label"
    else:
        consensus, name = vote.labels_, "majority vote"
    classes = np.asarray(annotations.classes, dtype=object)
    index = {str(name): j for j, name in enumerate(annotations.annotators)}
    differs = np.flatnonzero(annotations.label_index != consensus[annotations.item_index])
    by_whom = annotations.annotator_index[differs]
    listed = []
    for entry in enough[:NUM_LISTED]:
        rows = differs[by_whom == index[entry.annotator]]
        listed.append(DisagreeingAnnotator(
            annotator=entry.annotator, score=entry.score(key), num_disagreements=int(rows.size),
            examples=tuple(Disagreement(item=str(annotations.items[annotations.item_index[r]]),
                                        label=str(classes[annotations.label_index[r]]),
                                        consensus=str(classes[consensus[
                                            annotations.item_index[r]]]))
                           for r in rows[:NUM_EXAMPLES])))
    return Disagreements(ranked_by=key, consensus=name, annotators=tuple(listed),
                         min_annotations=MIN_LISTED_ANNOTATIONS,
                         num_left_out=len(scored) - len(enough))
