"""The :class:`Annotations` type, one campaign as a counts matrix aligned with its items and
classes (with the long-form codes, gold answers and what was skipped), and how codes become one:
classes in order, items in natural order, repeated (item, annotator) pairs checked, annotations
counted (:func:`build_annotations`, the shared tail of every reader in :mod:`dqlabels.readers.layouts`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dqlabels.errors import InputError
from dqlabels.readers.tables import column_to_str, natural_order


@dataclass(frozen=True, eq=False)
class Annotations:
    """Annotations of a campaign, as a counts matrix aligned with item ids and class names.

    Attributes:
        counts: ``(num_items, num_classes)`` array; int64 counts, or float64 rows that sum to 1
            for ``probs`` input (``is_distribution``).
        items: ``(num_items,)`` object array of item ids (str), sorted (numerically when all
            ids are integers).
        classes: class names in column order.
        item_index, label_index: ``(num_annotations,)`` int32 codes of each annotation, for
            inputs with one row per annotation (long, wide, dcic); ``None`` otherwise.
        annotator_index: ``(num_annotations,)`` int32 annotator codes, ``None`` when unknown.
        annotators: annotator ids (str) for ``annotator_index``, ``None`` when unknown.
        format: the input format that was read.
        num_dropped: annotations without a label, dropped.
        empty_items: ids of items that had no annotation, excluded from ``counts``.
        source: where the annotations came from (a path or a short description).
        gold: ``(num_items,)`` int64 class index of each item's known answer (−1: none), or
            ``None`` without gold answers. Gold scores annotators and aggregates; it never
            votes (``counts`` holds the annotations only).
        skipped: answers an annotation tool marked as not to be used, left out, by reason
            (``{"rejected assignments": 3}``).
        reading: how the file was read, what was guessed included: ``format``, ``guessed``
            (whether the format was detected rather than given), ``separator``, ``encoding``
            and the ``item``, ``annotator`` and ``label`` columns where they apply.
        notes: what the reader changed or noticed and says aloud, one sentence each (spaces
            trimmed around ids or class names, classes that differ only by case).
    """

    counts: np.ndarray
    items: np.ndarray
    classes: tuple[str, ...]
    item_index: np.ndarray | None = None
    label_index: np.ndarray | None = None
    annotator_index: np.ndarray | None = None
    annotators: np.ndarray | None = None
    format: str = "counts"
    num_dropped: int = 0
    empty_items: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    source: str = "<memory>"
    gold: np.ndarray | None = None
    skipped: dict = field(default_factory=dict)
    reading: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def num_items(self) -> int:
        return int(self.counts.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.counts.shape[1])

    @property
    def is_distribution(self) -> bool:
        """True when rows are probabilities rather than counts of annotations."""
        return self.counts.dtype.kind == "f"

    @property
    def num_annotations(self) -> int | None:
        """Total number of annotations; ``None`` for probabilities."""
        return None if self.is_distribution else int(self.counts.sum())

    @property
    def num_annotators(self) -> int | None:
        """Number of distinct annotators; ``None`` when annotators are unknown."""
        return None if self.annotators is None else len(self.annotators)

    @property
    def annotations_per_item(self) -> np.ndarray | None:
        """Annotations per item; ``None`` for probabilities."""
        return None if self.is_distribution else self.counts.sum(axis=1)

    @property
    def num_gold(self) -> int:
        """Items with a known answer."""
        return 0 if self.gold is None else int(np.count_nonzero(self.gold >= 0))

    def with_gold(self, gold) -> Annotations:
        """These annotations with gold answers added: ``gold`` is aligned with ``items`` (class
        index, −1 for none), e.g. from :func:`dqlabels.labels.gold.read_gold`. An item whose answer
        the annotations already carry (an export's golden column) must agree."""
        gold = np.asarray(gold, dtype=np.int64)
        if gold.shape != (self.num_items,):
            raise InputError(f"Expected gold of shape ({self.num_items},) aligned with the items. "
                             f"Received shape {gold.shape}")
        if np.any((gold < -1) | (gold >= self.num_classes)):
            raise InputError(f"Expected gold class indices in -1..{self.num_classes - 1}")
        if self.gold is not None:
            clash = np.flatnonzero((gold >= 0) & (self.gold >= 0) & (gold != self.gold))
            if clash.size:
                i = clash[0]
                raise InputError(f"gold: item {self.items[i]!r} has the answer "
                                 f"{self.classes[gold[i]]!r}, but {self.source} gives "
                                 f"{self.classes[self.gold[i]]!r}")
            gold = np.where(gold >= 0, gold, self.gold)
        return self.replaced(gold=gold)

    def replaced(self, **changes) -> Annotations:
        """These annotations with ``changes`` (``dataclasses.replace``), keeping what the reader
        already knows of their repeated pairs (no second sort of a large file's pairs)."""
        result = dataclasses.replace(self, **changes)
        if "has_repeated_pairs" in self.__dict__ and not {"item_index", "annotator_index"} & set(
                changes):
            result.__dict__["has_repeated_pairs"] = self.__dict__["has_repeated_pairs"]
        return result

    @cached_property
    def has_repeated_pairs(self) -> bool:
        """True when an annotator labelled an item more than once (read with
        ``duplicates="keep"``); False when annotators are unknown."""
        if self.annotator_index is None or self.item_index is None:
            return False
        return bool(repeated_keys(pair_keys(self.item_index, self.annotator_index,
                                         len(self.annotators))).any())


def build_annotations(item_codes, item_names, labels, annot_codes, annot_names, source, where,
           classes, duplicates, fmt, row_of):
    """Shared tail of long, wide and DCIC reading: codes → sorted, checked Annotations.

    ``labels`` is ``(codes, dictionary)`` from :func:`encode`. ``row_of`` maps each annotation
    to its input row for messages (``None``: the annotation's own position is its row).
    """
    label_codes, label_dict = labels
    found = column_to_str(label_dict)

    def row(i):
        return where.row(i if row_of is None else row_of[i])

    class_names, remap = _class_order(found, classes, label_codes, row)
    if not class_names:
        raise InputError(f"{source}: every label is missing")

    labelled = label_codes >= 0
    num_dropped = int(labelled.size - np.count_nonzero(labelled))
    keep_rows = None
    if num_dropped:
        keep_rows = np.flatnonzero(labelled)
        label_codes = label_codes[keep_rows]
        item_codes = item_codes[keep_rows]
        if annot_codes is not None:
            annot_codes = annot_codes[keep_rows]
    label_codes = remap.astype(np.int32)[label_codes]

    # Items sorted naturally; codes follow.
    item_codes, sorted_items = _sort_codes(item_codes, item_names)

    def original(i):
        return i if keep_rows is None else keep_rows[i]

    if annot_codes is not None:
        annot_codes, annot_names = _sort_codes(annot_codes, annot_names)
        keep = _handle_duplicates(item_codes, annot_codes, len(annot_names), duplicates,
                                  lambda i: row(original(i)), sorted_items, annot_names)
        if keep is not None:
            item_codes, annot_codes, label_codes = item_codes[keep], annot_codes[keep], label_codes[keep]

    num_items, num_classes = len(sorted_items), len(class_names)
    cell = item_codes.astype(np.int64)
    cell *= num_classes
    cell += label_codes
    counts = np.bincount(cell, minlength=num_items * num_classes).reshape(num_items, num_classes)
    del cell
    nonempty = counts.any(axis=1)
    empty_items = sorted_items[~nonempty]
    if empty_items.size:
        new_code = (np.cumsum(nonempty) - 1).astype(np.int32)
        item_codes = new_code[item_codes]
        counts = counts[nonempty]
        sorted_items = sorted_items[nonempty]
    if counts.shape[0] == 0:
        raise InputError(f"{source}: no item has a labelled annotation")
    result = Annotations(
        counts=counts,
        items=sorted_items,
        classes=tuple(class_names),
        item_index=item_codes,
        label_index=label_codes,
        annotator_index=annot_codes,
        annotators=annot_names,
        format=fmt,
        num_dropped=num_dropped,
        empty_items=empty_items,
        source=source,
    )
    if annot_codes is not None and duplicates != "keep":
        # The pairs were just checked (or made unique): the cached answer, not a second sort.
        result.__dict__["has_repeated_pairs"] = False
    return result


def _class_order(found: np.ndarray, classes, label_codes: np.ndarray, row):
    """The classes (the order given, or the found names in natural order) and, for each found
    name, its class index; a label outside the given classes is refused at its row."""
    if classes is None:
        class_order = natural_order(found)
        remap = np.empty(len(found), dtype=np.int64)
        remap[class_order] = np.arange(len(found))
        return tuple(found[class_order]), remap
    position = {c: i for i, c in enumerate(classes)}
    remap = np.array([position.get(name, -1) for name in found], dtype=np.int64)
    if np.any(remap < 0):
        unknown = int(np.flatnonzero(remap < 0)[0])
        first = int(np.flatnonzero(label_codes == unknown)[0])
        raise InputError(f"{row(first)}: label {found[unknown]!r} is not one of the classes "
                         f"given ({', '.join(classes)})")
    return classes, remap


def _handle_duplicates(item_codes, annot_codes, num_annotators, policy, row, items, annotators):
    """Check repeated (item, annotator) pairs; return the annotations to keep (None: all)."""
    if policy == "keep" or item_codes.size == 0:
        return None
    keys = pair_keys(item_codes, annot_codes, num_annotators)
    sorted_keys = np.sort(keys, kind="stable")  # runs-aware: fast on a file grouped by item
    repeated = repeated_keys(sorted_keys, presorted=True)
    if not repeated.any():
        return None
    if policy == "error":
        key = sorted_keys[1:][repeated][0]
        first, second = np.flatnonzero(keys == key)[:2]
        raise InputError(
            f"{row(second)}: annotator {annotators[annot_codes[second]]!r} already labelled item "
            f"{items[item_codes[second]]!r} ({row(first).rsplit(': ', 1)[-1]}); pass "
            f"duplicates=keep or duplicates=last to accept repeats"
        )
    # "last": keep the last occurrence of each pair in input order.
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    is_last = np.ones(ordered.size, dtype=bool)
    is_last[:-1] = ordered[1:] != ordered[:-1]
    return np.sort(order[is_last])


def pair_keys(item_codes, annot_codes, num_annotators) -> np.ndarray:
    """One int64 key per (item, annotator) pair."""
    keys = item_codes.astype(np.int64)
    keys *= num_annotators
    keys += annot_codes
    return keys


def repeated_keys(keys, presorted=False) -> np.ndarray:
    """``repeated[i]``: sorted key i + 1 equals key i. A sort, not ``np.unique``: numpy 2.4's
    hashing ``unique`` is far slower on millions of keys (benchmarks/README.md). The stable
    sort finds the runs of a file grouped by item: 15× faster there, no slower on shuffled
    keys."""
    sorted_keys = keys if presorted else np.sort(keys, kind="stable")
    return sorted_keys[1:] == sorted_keys[:-1]


def _sort_codes(codes: np.ndarray, names: np.ndarray):
    """Renumber codes so that they follow the natural order of their names."""
    order = natural_order(names)
    if np.array_equal(order, np.arange(order.size)):  # already sorted (a common file layout)
        return codes.astype(np.int32, copy=False), names
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    return rank[codes], names[order]
