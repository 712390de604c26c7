"""Ids and names as the user wrote them: the spaces around them trimmed (and said), class names
that differ only by case named or merged, and the column names that say a table of class
numbers is an annotator matrix. The readers of :mod:`dqlabels.readers.layouts` call these on
the distinct names of a column (one Python step per name, never per annotation)."""

from __future__ import annotations

import re

import numpy as np

from dqlabels.readers.tables import (
    column_to_str,
    combine,
    encode,
    name_key,
    normalise_ids,
    trim_names,
)
from dqlabels.text import plural

# A column named like an annotator and numbered (ann1, worker_07, rater 3, annotator_id12): the
# column names that settle a table of class numbers as an annotator matrix (format wide).
_ANNOTATOR_NAME = re.compile(r"^(annotator|annot|ann|worker|rater|user|labeler|labeller|judge|"
                             r"participant|coder)(id)?\d+$")


def annotator_like(names) -> bool:
    """Whether every name is an annotator's, numbered (``ann1``, ``worker_07``)."""
    return bool(names) and all(_ANNOTATOR_NAME.match(name_key(n)) for n in names)


def trimmed_ids(column):
    """Item ids of one-row-per-item input as an object array of text, the spaces around them
    trimmed, and how many had such spaces."""
    codes, dictionary = encode(combine(normalise_ids(column)))
    codes, dictionary, trimmed = trim_names(codes, dictionary)
    names = column_to_str(dictionary)
    ids = np.empty(codes.size, dtype=object)
    known = codes >= 0
    ids[known] = names[codes[known]]
    return ids, trimmed


def trim_note(count: int, what: str) -> list[str]:
    return [f"trimmed the spaces around {plural(count, what)}"] if count else []


def tidy_labels(labels, fold_case: bool, classes=None):
    """A label column's ``(codes, dictionary)`` with the spaces around class names trimmed and,
    with ``fold_case``, names that differ only by case merged into their most used spelling
    (ties: the first in text order), or into the spelling of ``classes`` where one of the given
    classes is that name but for case; the notes that say so, or that name such classes."""
    import pyarrow as pa

    codes, dictionary, trimmed = trim_names(*labels)
    notes = trim_note(trimmed, "class name")
    names = [str(n) for n in column_to_str(dictionary)]
    keys = [n.casefold() for n in names]  # one per class name, not per annotation
    given = {str(c).casefold(): str(c) for c in classes or ()} if fold_case else {}
    groups: dict[str, list[int]] = {}
    for j, key in enumerate(keys):
        groups.setdefault(key, []).append(j)
    changed = [sorted(g, key=lambda j: names[j]) for key, g in groups.items()
               if len(g) > 1 or given.get(key, names[g[0]]) != names[g[0]]]
    if not changed:
        return (codes, dictionary), notes
    if not fold_case:
        listed = "; ".join(" and ".join(repr(names[j]) for j in g) for g in changed)
        notes.append(f"classes that differ only by case: {listed} (kept apart; --fold-case, "
                     f"or fold_case=True in Python, merges them)")
        return (codes, dictionary), notes
    used = np.bincount(codes[codes >= 0], minlength=len(names))
    remap = np.arange(len(names), dtype=np.int32)
    spelling = list(names)
    merged = []
    for group in changed:
        keep = max(group, key=lambda j: (used[j], -group.index(j)))
        remap[group] = keep
        spelling[keep] = given.get(keys[keep], names[keep])
        merged.append(f"{', '.join(repr(names[j]) for j in group if names[j] != spelling[keep])}"
                      f" into {spelling[keep]!r}")
    notes.append("merged classes that differ only by case: " + "; ".join(merged))
    kept = np.unique(remap)
    new_code = np.full(len(names), -1, dtype=np.int32)
    new_code[kept] = np.arange(kept.size, dtype=np.int32)
    lookup = np.append(new_code[remap], np.int32(-1))
    return (lookup[codes], pa.array([spelling[j] for j in kept], type=pa.string())), notes
