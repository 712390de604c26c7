"""Reading a prediction file and aligning it with the annotated items (``--predictions``).

Examples:
    >>> import pathlib, tempfile
    >>> from dqlabels import from_long
    >>> ann = from_long(["a", "b"], ["cat", "dog"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "predictions.csv"
    >>> _ = path.write_text("item,dog,cat\\nb,0.8,0.2\\na,0.1,0.9\\n")
    >>> probs, rows = read_predictions(path, ann)
    >>> probs.tolist(), rows.tolist()
    ([[0.2, 0.8], [0.9, 0.1]], [1, 0])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dqlabels.errors import InputError
from dqlabels.readers.annotations import Annotations
from dqlabels.readers.tables import (
    ITEM_ALIASES,
    LABEL_ALIASES,
    column_to_str,
    find_column,
    read_table_file,
    stripped,
)

PREDICTION_SUM_TOLERANCE = 1e-3


def aligned_predictions(predictions: np.ndarray | None, rows: np.ndarray | None,
                        num_items: int) -> np.ndarray | None:
    """``predictions`` of the items at ``rows`` (all items in order when None) as one row per
    item, NaN rows for items without a prediction; None without predictions."""
    if predictions is None:
        return None
    aligned = np.full((num_items, predictions.shape[1]), np.nan)
    aligned[np.arange(len(predictions)) if rows is None else rows] = predictions
    return aligned


def read_predictions(path: str | os.PathLike, annotations: Annotations):
    """Read predictions and align them with ``annotations``.

    Accepts a CSV/TSV/Parquet with an item column plus one column per class (probabilities, in
    any column order), or an item column plus a label column (one-hot). Every predicted item
    must be an annotated item and every class column a known class; rows must sum to 1 within
    1e-3 (then renormalised). Items without a prediction are not scored.

    Returns:
        ``(predictions, rows)``: the ``(num_scored, num_classes)`` distributions and the index
        of each in ``annotations.items``.
    """
    import pyarrow as pa

    path = Path(path)
    classes = list(annotations.classes)

    def id_columns(names):  # the item and label columns: text as written, as the annotations'
        others = [n for n in names if n not in classes]  # a class may be called like an alias
        return [n for n in (find_column(others, ITEM_ALIASES) or names[0],
                            find_column(others, LABEL_ALIASES)) if n is not None]

    table, where = read_table_file(path, "predictions", id_columns)
    names = table.column_names
    others = [n for n in names if n not in classes]
    item_col = find_column(others, ITEM_ALIASES) or names[0]
    item_ids = stripped(column_to_str(table.column(item_col)))
    missing = np.flatnonzero(item_ids == None)  # noqa: E711
    if missing.size:
        raise InputError(f"{where.row(missing[0])}: missing item id")
    label_col = find_column(others, LABEL_ALIASES)
    value_cols = [n for n in names if n != item_col]
    if label_col is not None and len(value_cols) == 1:
        labels = stripped(column_to_str(table.column(label_col)))
        position = {c: i for i, c in enumerate(classes)}
        codes = np.array([position.get(v, -1) for v in labels])  # one per predicted item
        if np.any(codes < 0):
            bad = int(np.flatnonzero(codes < 0)[0])
            raise InputError(f"{where.row(bad)}: predicted label {labels[bad]!r} is not one of the "
                             f"classes ({', '.join(classes)})")
        probs = np.eye(len(classes))[codes]
    else:
        unknown = [c for c in value_cols if c not in classes]
        if unknown:
            raise InputError(f"{path}: column {unknown[0]!r} is not one of the annotation classes "
                             f"({', '.join(classes)})")
        absent = [c for c in classes if c not in value_cols]
        if absent:
            raise InputError(f"{path}: no column for class {absent[0]!r}; predictions need one "
                             f"column per class ({', '.join(classes)})")
        probs = np.empty((table.num_rows, len(classes)))
        for j, name in enumerate(classes):
            column = table.column(name)
            if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
                raise InputError(f"{where.column(name)}: expected probabilities, found "
                                 f"{column.type} values")
            probs[:, j] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.argwhere(~np.isfinite(probs) | (probs < 0))
        if bad.size:
            r, j = bad[0]
            raise InputError(f"{where.row(r)}: column {classes[j]!r} is missing, negative or not "
                             f"a number")
        sums = probs.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1) > PREDICTION_SUM_TOLERANCE)
        if off.size:
            raise InputError(f"{where.row(off[0])}: predicted probabilities sum to "
                             f"{sums[off[0]]:.6g}, expected 1")
        probs /= sums[:, None]
    rows = _match_items(item_ids, annotations.items, where)
    return probs, rows


def _match_items(pred_items, items, where):
    index = {item: i for i, item in enumerate(items)}  # one entry per item, not per annotation
    rows = np.array([index.get(item, -1) for item in pred_items], dtype=np.int64)
    if np.any(rows < 0):
        bad = int(np.flatnonzero(rows < 0)[0])
        raise InputError(f"{where.row(bad)}: item {pred_items[bad]!r} has a prediction but no "
                         f"annotation")
    unique, first = np.unique(rows, return_index=True)
    if unique.size != rows.size:
        seen = np.zeros(rows.size, dtype=bool)
        seen[first] = True
        bad = int(np.flatnonzero(~seen)[0])
        raise InputError(f"{where.row(bad)}: item {pred_items[bad]!r} is predicted twice")
    return rows
