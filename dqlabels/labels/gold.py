"""Gold answers: the known labels of some items (honeypots, control tasks), and what they say
about the annotators and about the labels the audit makes (docs/conventions.md §2, §3).

Gold is kept apart from the annotations: it never votes. It comes from a file of (item, label)
pairs (:func:`read_gold`, ``dqlabels evaluate --gold``) or from an export's own golden columns
(Toloka's ``GOLDEN:``), and ends as ``Annotations.gold``: one class index per item, −1 where
none is known.

Accuracy on gold is a share of n answers, so it comes with a 95% Wilson score interval
(Wilson, 1927), which stays inside [0, 1] and is honest for small n and shares near 0 or 1.

Examples:
    >>> from dqlabels import from_long
    >>> ann = from_long(["a", "a", "b", "b"], ["cat", "dog", "dog", "dog"], ["u1", "u2", "u1", "u2"])
    >>> ann = ann.with_gold([0, 1])  # a is a cat, b a dog
    >>> correct, answered = annotator_gold_answers(ann)
    >>> correct.tolist(), answered.tolist()
    ([2.0, 1.0], [2, 2])
    >>> [round(x, 3) for x in wilson_interval(2, 2)]
    [0.342, 1.0]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dqlabels.errors import InputError
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.readers.annotations import Annotations
from dqlabels.readers.tables import (
    ITEM_ALIASES,
    LABEL_ALIASES,
    column_to_str,
    find_column,
    named_column,
    normalise_ids,
    read_table_file,
    stripped,
)

GOLD_LABEL_ALIASES = ("gold", "gold_label", "golden", "true_label", "truth", "correct",
                      "expected", *LABEL_ALIASES)
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile
HELD_OUT_FOLDS = 5


def read_gold(path: str | os.PathLike, annotations: Annotations, *,
              item_column: str | None = None, label_column: str | None = None) -> np.ndarray:
    """Read a gold file and align it with ``annotations``.

    The file (CSV, TSV or Parquet) has an item column and a label column, named like the
    annotation file's (``item``, ``label``, …) or ``gold``/``true_label``; with exactly two
    columns, the one that is not the item is the label. ``item_column`` and ``label_column``
    name them when they are called otherwise.

    Returns:
        ``(num_items,)`` int64 class index of each item's gold answer, −1 for none.

    Raises:
        InputError: an unreadable file, a missing cell, an item that is not among the
            annotated items, a label that is not one of the classes, or an item given two
            different answers; the message names them.
    """
    path = Path(path)
    table, where = read_table_file(path, "a gold file", lambda names: list(names))
    names = table.column_names
    item_col = named_column(names, item_column, "gold_item_column", path) \
        if item_column is not None else find_column(names, ITEM_ALIASES)
    label_col = named_column(names, label_column, "gold_label_column", path) \
        if label_column is not None else \
        find_column([n for n in names if n != item_col], GOLD_LABEL_ALIASES)
    if label_col is None and item_col is not None and len(names) == 2:
        label_col = next(n for n in names if n != item_col)
    if item_col is None or label_col is None:
        raise InputError(f"{path}: expected an item column and a gold label column (e.g. item, "
                         f"label); found {', '.join(names)}; name them with "
                         f"gold_item_column=NAME and gold_label_column=NAME")
    items = stripped(column_to_str(table.column(item_col)))
    labels = stripped(column_to_str(normalise_ids(table.column(label_col))))
    for name, values in ((item_col, items), (label_col, labels)):
        missing = np.flatnonzero(values == None)  # noqa: E711 - object array comparison
        if missing.size:
            raise InputError(f"{where.row(missing[0])}: missing value in column {name!r}")
    index = {item: i for i, item in enumerate(annotations.items)}  # one entry per item
    rows = np.array([index.get(item, -1) for item in items], dtype=np.int64)  # one per gold row
    unknown = np.flatnonzero(rows < 0)
    if unknown.size:
        named = ", ".join(f"{items[r]!r} ({where.row(r).rsplit(': ', 1)[-1]})"
                          for r in unknown[:3])
        raise InputError(f"{path}: {unknown.size} gold item(s) not among the annotated items: "
                         f"{named}{', …' if unknown.size > 3 else ''}")
    position = {c: i for i, c in enumerate(annotations.classes)}
    codes = np.array([position.get(label, -1) for label in labels], dtype=np.int64)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        named = ", ".join(sorted({repr(labels[r]) for r in unknown})[:5])
        raise InputError(f"{where.row(unknown[0])}: gold label(s) {named} not among the classes "
                         f"({', '.join(annotations.classes)}); pass classes=... to add them")
    gold = np.full(annotations.num_items, -1, dtype=np.int64)
    gold[rows] = codes
    clash = np.flatnonzero(gold[rows] != codes)
    if clash.size:
        r = clash[0]
        other = int(np.flatnonzero((rows == rows[r]) & (codes == gold[rows[r]]))[0])
        first, second = sorted((r, other))
        raise InputError(f"{where.row(first)}: item {items[r]!r} has the gold label "
                         f"{labels[first]!r}, and {where.row(second).rsplit(': ', 1)[-1]} "
                         f"gives it {labels[second]!r}")
    return gold


def wilson_interval(successes, trials, z: float = Z_95):
    """The Wilson score interval of a share ``successes / trials`` (arrays or numbers);
    NaN where ``trials`` is 0."""
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = successes / trials
        denominator = 1 + z**2 / trials
        centre = (share + z**2 / (2 * trials)) / denominator
        half = z * np.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / denominator
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return (float(low), float(high)) if low.ndim == 0 else (low, high)


def annotator_gold_answers(annotations: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """Per annotator: how many of their answers on gold items were right, and how many they
    gave (arrays aligned with ``annotations.annotators``)."""
    if annotations.annotator_index is None or annotations.gold is None:
        raise InputError("per-annotator accuracy on gold needs annotator ids and gold answers")
    gold = annotations.gold[annotations.item_index]
    on_gold = gold >= 0
    who = annotations.annotator_index[on_gold]
    right = annotations.label_index[on_gold] == gold[on_gold]
    size = annotations.num_annotators
    return (np.bincount(who, weights=right, minlength=size),
            np.bincount(who, minlength=size))


def accuracy_on_gold(labels: np.ndarray, gold: np.ndarray) -> dict:
    """Accuracy of per-item ``labels`` on the items with a gold answer: the share, the number
    of items and the 95% Wilson interval."""
    known = gold >= 0
    n = int(np.count_nonzero(known))
    right = int(np.count_nonzero(labels[known] == gold[known]))
    low, high = wilson_interval(right, n)
    return {"accuracy": right / n if n else None, "num_items": n,
            "interval": None if not n else [low, high]}


def held_out_labels(annotations: Annotations, fit, folds: int = HELD_OUT_FOLDS,
                    seed: int = 0) -> np.ndarray:
    """Labels of the gold items from fits that did not see their answers (k-fold).

    A model fitted with gold reproduces those items' answers, so its accuracy on them says
    nothing. Here the gold items are split into ``folds`` seeded random parts; each part is
    labelled by ``fit(gold)`` (a function returning per-item labels) given every other part's
    answers. Returns labels aligned with the items (−1 for items without gold).
    """
    gold = annotations.gold
    known = np.flatnonzero(gold >= 0)
    parts = np.array_split(np.random.default_rng(seed).permutation(known),
                           min(folds, known.size))
    labels = np.full(annotations.num_items, -1, dtype=np.int64)
    for part in parts:
        hidden = gold.copy()
        hidden[part] = -1
        labels[part] = fit(hidden)[part]
    return labels


def annotator_gold_fields(annotations: Annotations) -> list[dict]:
    """Each annotator's accuracy on gold, with the number of answers and a Wilson interval, as
    the fields of its report entry (aligned with ``annotations.annotators``)."""
    right, answered = annotator_gold_answers(annotations)
    low, high = wilson_interval(right, answered)
    return [{"gold_accuracy": float(right[j] / n) if n else None, "gold_answers": n,
             "gold_interval": [float(low[j]), float(high[j])] if n else None}
            for j, n in enumerate(int(a) for a in answered)]


def gold_report(annotations: Annotations, majority_labels: np.ndarray,
                dawid_skene_model=None, crowdtruth_model=None) -> dict:
    """Accuracy on gold of every label the audit makes: the majority vote, the CrowdTruth-
    weighted label and Dawid–Skene (scored by held-out fits with the model's parameters)."""
    gold = annotations.gold
    aggregates = {"majority_vote": accuracy_on_gold(majority_labels, gold)}
    if crowdtruth_model is not None:
        aggregates["crowdtruth_weighted"] = accuracy_on_gold(crowdtruth_model.labels_, gold)
    if dawid_skene_model is not None:
        params = {name: getattr(dawid_skene_model, name) for name in
                  ("max_iter", "tol", "smoothing", "posterior_tol", "engine")}

        def fit(hidden):
            return DawidSkene(**params).fit(annotations, hidden).labels_

        aggregates["dawid_skene"] = {
            **accuracy_on_gold(held_out_labels(annotations, fit), gold),
            "held_out": f"{HELD_OUT_FOLDS}-fold: each gold item labelled by a fit that did not "
                        f"see its answer (the fit used for the labels sees them all)"}
    on_gold = None if annotations.item_index is None else \
        int(np.count_nonzero(gold[annotations.item_index] >= 0))
    return {"num_items": annotations.num_gold, "num_annotations_on_gold": on_gold,
            "aggregates": aggregates, "interval": "95% Wilson score interval"}
