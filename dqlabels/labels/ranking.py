"""Which annotators are least reliable: the per-annotator estimate that orders them, the
below-chance flag, and each one's disagreements with the consensus (SPEC §3: chosen on
evidence, ``benchmarks/bench_ranking.py``)."""

from __future__ import annotations

import numpy as np

from dqlabels.errors import InputError
from dqlabels.labels.gold import wilson_interval
from dqlabels.readers.annotations import Annotations

NUM_LISTED = 10  # annotators listed with their disagreements
# Annotators with fewer annotations are not listed as least reliable (their scores rest on too
# little; the annotator table and the JSON have everyone): one wrong answer out of one is not a
# finding.
MIN_LISTED_ANNOTATIONS = 10


NUM_EXAMPLES = 5


def disagreements(annotations: Annotations, vote, crowdtruth, dawid_skene, report: dict
                   ) -> dict:
    """The least reliable annotators (by the report's ranking), each with up to NUM_EXAMPLES
    items where their label differs from the consensus: the Dawid–Skene label when fitted,
    else the argmax of the worker-weighted soft label, else the majority vote."""
    key, ordered = annotators_by_reliability(report)
    scored = [a for a in ordered if a.get(key) is not None]
    enough = [a for a in scored if a["num_annotations"] >= MIN_LISTED_ANNOTATIONS]
    ranked = (enough or scored)[:NUM_LISTED]
    if dawid_skene is not None:
        consensus, name = dawid_skene.labels_, "Dawid–Skene label"
    elif crowdtruth is not None:
        consensus = crowdtruth.labels_
        name = "weighted soft label"
    else:
        consensus, name = vote.labels, "majority vote"
    classes = np.asarray(annotations.classes, dtype=object)
    index = {str(name): j for j, name in enumerate(annotations.annotators)}
    differs = np.flatnonzero(annotations.label_index != consensus[annotations.item_index])
    by_whom = annotations.annotator_index[differs]
    out = {"ranked_by": key, "consensus": name, "annotators": [],
           "min_annotations": MIN_LISTED_ANNOTATIONS if enough else 1,
           "num_left_out": len(scored) - len(enough) if enough else 0}
    for entry in ranked:
        rows = differs[by_whom == index[entry["annotator"]]]
        out["annotators"].append({
            "annotator": entry["annotator"], key: entry[key],
            "num_disagreements": int(rows.size),
            "examples": [{"item": str(annotations.items[annotations.item_index[r]]),
                          "label": str(classes[annotations.label_index[r]]),
                          "consensus": str(classes[consensus[annotations.item_index[r]]])}
                         for r in rows[:NUM_EXAMPLES]]})
    return out


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


def ranking_key(rank_by: str, entries: list[dict]) -> str:
    """The report key that orders the annotators: ``rank_by``'s, or for ``auto`` the best
    estimate computed (Dawid–Skene accuracy, else CrowdTruth quality, else agreement)."""
    if rank_by == "auto":
        return next((key for key in ("ds_accuracy", "quality")
                     if any(key in e for e in entries)), "agreement")
    key = RANKING_KEYS[rank_by]
    if not any(key in e for e in entries):
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


def below_chance(entries: list[dict], num_classes: int) -> list[bool | None]:
    """For each annotator entry, whether its Dawid–Skene accuracy is below chance (1/K) beyond
    doubt: the upper end of its 95% Wilson interval over its annotations is below 1/K (None
    without a Dawid–Skene accuracy). Flipped binary answers, or answers systematically moved to
    another class, look like this."""
    scored = [j for j, e in enumerate(entries) if e.get("ds_accuracy") is not None]
    accuracy = np.array([entries[j]["ds_accuracy"] for j in scored])
    given = np.array([entries[j]["num_annotations"] for j in scored])
    high = wilson_interval(accuracy * given, given)[1] if scored else []
    flags: list[bool | None] = [None] * len(entries)
    for j, upper in zip(scored, high):
        flags[j] = bool(upper < 1 / num_classes)
    return flags


ANNOTATOR_COLUMNS = ("annotator", "num_annotations", "quality", "annotator_agreement",
                     "item_agreement", "agreement", "ds_accuracy", "gold_accuracy",
                     "gold_answers", "gold_low", "gold_high", "below_chance")


def annotators_by_reliability(report: dict) -> tuple[str, list[dict]]:
    """The report's annotator entries, least reliable first, and the score they are ordered by
    (the report's ``ranked_by``); annotators without that score last, ties by name."""
    section = report.get("annotators", {})
    entries = section.get("per_annotator", [])
    key = section.get("ranked_by", "agreement")
    return key, sorted(entries, key=lambda e: (e.get(key) is None, e.get(key) or 0.0,
                                               e["annotator"]))
