"""Which annotators are least reliable: the per-annotator estimate that orders them, the
below-chance flag, and each one's disagreements with the consensus (docs/conventions.md §3: chosen on
evidence, ``benchmarks/bench_ranking.py``)."""

from __future__ import annotations

import numpy as np

from dqlabels.errors import InputError
from dqlabels.labels.gold import wilson_interval

NUM_LISTED = 10  # annotators listed with their disagreements
# Annotators with fewer annotations are not listed as least reliable (their scores rest on too
# little; the annotator table and the JSON have everyone): one wrong answer out of one is not a
# finding.
MIN_LISTED_ANNOTATIONS = 10


NUM_EXAMPLES = 5


# The report key of each per-annotator estimate that can order the annotators.
RANKING_KEYS = {"dawid-skene": "ds_accuracy", "quality": "quality", "agreement": "agreement",
                "gold": "gold_accuracy"}
RANKING_DEFINITIONS = {
    "ds_accuracy": "Dawid–Skene accuracy: the expected share of the annotator's labels that "
                   "equal the true class, from their estimated confusion matrix",
    "quality": "CrowdTruth quality: agreement with the other annotators of the same items x "
               "agreement with the rest of each item's annotations",
    "agreement": "agreement with the leave-one-out majority of the other annotations",
    "gold_accuracy": "accuracy on the gold answers",
}


def ranking_key(rank_by: str, computed) -> str:
    """The report key that orders the annotators: ``rank_by``'s, or for ``auto`` the best
    estimate computed (Dawid–Skene accuracy, else CrowdTruth quality, else agreement);
    ``computed``: the names of the scores computed beside the leave-one-out agreement."""
    computed = {"agreement", *computed}
    if rank_by == "auto":
        return next((key for key in ("ds_accuracy", "quality") if key in computed), "agreement")
    key = RANKING_KEYS[rank_by]
    if key not in computed:
        raise InputError(f"rank_by={rank_by}: {NOT_COMPUTED[rank_by]}")
    return key


# Why an estimate that ``rank_by`` asks for is missing.
NOT_COMPUTED = {
    "dawid-skene": "Dawid–Skene was not fitted (it needs annotator ids and must not be "
                   "switched off)",
    "quality": "the CrowdTruth metrics were not computed (they need annotator ids, one "
               "annotation per item and annotator, and must not be switched off)",
    "agreement": "agreement needs annotator ids",
    "gold": "there are no gold answers (pass gold=FILE, or an export with golden columns)",
}


def below_chance(accuracy, given, num_classes: int) -> list[bool | None]:
    """For each annotator, whether its Dawid–Skene ``accuracy`` (None where undefined) is below
    chance (1/K) beyond doubt: the upper end of its 95% Wilson interval over its ``given``
    annotations is below 1/K (None without an accuracy). Flipped binary answers, or answers
    systematically moved to another class, look like this.

    Examples:
        >>> below_chance([0.45, 0.10, None], [20, 20, 20], num_classes=2)
        [False, True, None]
    """
    scored = [j for j, a in enumerate(accuracy) if a is not None]
    high = wilson_interval(np.array([accuracy[j] * given[j] for j in scored]),
                           np.array([given[j] for j in scored]))[1] if scored else []
    flags: list[bool | None] = [None] * len(accuracy)
    for j, upper in zip(scored, high):
        flags[j] = bool(upper < 1 / num_classes)
    return flags


ANNOTATOR_COLUMNS = ("annotator", "num_annotations", "quality", "annotator_agreement",
                     "item_agreement", "agreement", "ds_accuracy", "gold_accuracy",
                     "gold_answers", "gold_low", "gold_high", "below_chance", "few_answers")
