"""Reading raw annotations into a counts matrix.

Every accepted input (docs/conventions.md §2) ends as an :class:`Annotations`: a counts matrix ``C`` (items ×
classes) with sorted item ids and class names, plus, for inputs with one row per annotation, the
annotation triplets as integer codes (``item_index``, ``annotator_index``, ``label_index``) that
Dawid–Skene and the per-annotator audit need.

Nothing holds a Python object per annotation: columns are read with pyarrow, encoded to
integer codes and counted with ``np.bincount`` (:mod:`dqlabels.readers.layouts`, which also defines
:class:`Annotations`); annotation tools' exports are read by :mod:`dqlabels.readers.importers`.

Formats:

- ``long``: one row per annotation; an item, an optional annotator and a label column, found by
  their names (aliases such as item/task/image/question, annotator/worker/worker_id,
  label/class/answer/response, matched ignoring case, ``_``, ``-`` and spaces) or named with
  ``item_column``, ``annotator_column``, ``label_column``.
- ``wide``: one row per item, one column per annotator, each cell a class or empty.
- ``counts``: one row per item, one numeric column per class.
- ``probs``: like counts, each row a distribution (sums to 1 within 1e-6).
- ``dcic``: the DCIC benchmark's ``annotations.json``.
- ``label-studio``, ``mturk``, ``toloka``, ``prodigy``: annotation tools' exports
  (:mod:`dqlabels.readers.importers`).

Auto-detection: ``.jsonl`` is Prodigy; ``.json`` is Label Studio when its tasks carry
``annotations`` with ``result``/``completed_by``, else DCIC; a table with ``HITId``/``WorkerId``
is Mechanical Turk, one with ``INPUT:``/``OUTPUT:``/``ASSIGNMENT:`` columns Toloka; ``.npy`` is
counts or probs; a table with a label column is long; a table whose non-item columns are all
numeric is counts or probs (rows sum to 1); any other table is wide. A table of whole numbers
reads both as counts and as an annotator matrix of class *numbers*: it is read as wide when its
columns are numbered annotators (``ann1``, ``worker_07``), as counts when they are the
``classes`` given, and refused otherwise (``format="counts"`` or ``format="wide"`` says which).

Ids and names come back as written: item and annotator ids and class names are text (``001``
is not ``1``; a 20-digit id is itself), the spaces around them trimmed and said in
``Annotations.notes``; classes that differ only by case are named there, and merged with
``fold_case=True``. ``Annotations.reading`` says what was guessed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dqlabels.config import DUPLICATE_RULES, check_choice
from dqlabels.errors import InputError
from dqlabels.readers import importers
from dqlabels.readers.annotations_type import Annotations
from dqlabels.readers.layouts import (
    check_classes,
    from_long_table,
    from_matrix,
    from_table,
    read_npy,
    text_columns,
)
from dqlabels.readers.tables import (
    Location,
    as_list,
    check_readable,
    file_kind,
    read_table,
    text_layout,
)
from dqlabels.registry import formats

__all__ = ["Annotations", "from_counts", "from_long", "read_annotations"]


# ----------------------------------------------------------------------------------------------
# Public entry points


def read_annotations(
    path: str | os.PathLike,
    format: str | None = None,
    classes: list[str] | tuple[str, ...] | None = None,
    duplicates: str = "error",
    *,
    item_column: str | None = None,
    annotator_column: str | None = None,
    label_column: str | None = None,
    fold_case: bool = False,
) -> Annotations:
    """Read an annotation file into :class:`Annotations`.

    Args:
        path: a CSV, TSV, Parquet, ``.npy``, DCIC ``annotations.json`` file, or an annotation
            tool's export (Label Studio JSON, Mechanical Turk CSV, Toloka TSV, Prodigy JSONL).
        format: one of ``long``, ``wide``, ``counts``, ``probs``, ``dcic``, ``label-studio``,
            ``mturk``, ``toloka``, ``prodigy``; ``None`` detects it.
        classes: class names in the order to use; may include classes nobody chose. By default
            the classes found, sorted (numerically when all are integers).
        duplicates: what to do with a repeated (item, annotator) pair: ``error`` (default),
            ``keep`` (count every annotation) or ``last`` (keep the last one in file order).
        item_column, annotator_column, label_column: the columns that hold the item, the
            annotator and the label, when their names are none of the aliases (matched like
            them: case-insensitively, ignoring ``_``, ``-`` and spaces). A label or annotator
            column makes the file long format. For tool exports they choose among the export's
            fields (see :mod:`dqlabels.readers.importers`).
        fold_case: merge class names that differ only by case (``Cat`` and ``cat``) into their
            most used spelling, or into the spelling of ``classes`` where given (a file's
            ``Cat`` then reads as the given ``cat``); without it such classes stay apart and a
            note names them.

    Returns:
        The annotations, with items sorted and empty items excluded; with an export's gold
        answers in ``gold`` and the answers it marked as not to be used counted in ``skipped``.

    Raises:
        InputError: the file is missing, unreadable or malformed; the message names the file and
            the line or column.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "annotations.csv"
        >>> _ = path.write_text("item,annotator,label\\nx,u1,cat\\nx,u2,dog\\ny,u1,dog\\n")
        >>> ann = read_annotations(path)
        >>> ann.counts.tolist(), ann.classes, ann.num_annotators
        ([[1, 1], [0, 1]], ('cat', 'dog'), 2)
    """
    if format is not None:
        check_choice("format", format, formats())
    check_choice("duplicates", duplicates, DUPLICATE_RULES)
    classes = check_classes(classes)
    columns = {"item_column": item_column, "annotator_column": annotator_column,
               "label_column": label_column}
    path = Path(path)
    check_readable(path)
    kind = file_kind(path)
    hint = dataset_hint(path) if format is None else {}
    annotations = _read(path, kind, format or hint.get("format"), classes, duplicates, columns,
                        bool(fold_case), hint.get("classes"))
    reading = {"format": annotations.format, "guessed": format is None and not hint,
               **({"settled_by": "dataset.json"} if hint else {}),
               **text_layout(path, kind), **annotations.reading}
    return annotations.replaced(reading=reading)


def dataset_hint(path: Path) -> dict:
    """What the ``dataset.json`` beside an annotation file says of it, when it names this file
    as its annotations: its ``format`` (``annotations_format``) and ``classes``; empty
    otherwise (an unreadable ``dataset.json`` is the dataset loader's to refuse)."""
    import json

    info_path = path.parent / "dataset.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict) or info.get("annotations", "annotations.csv") != path.name:
        return {}
    hint = {}
    if info.get("annotations_format") in formats():
        hint["format"] = info["annotations_format"]
    if isinstance(info.get("classes"), list):
        hint["classes"] = [str(c) for c in info["classes"]]
    return hint


def _read(path: Path, kind: str, format, classes, duplicates, columns, fold_case,
          known_classes=None):
    """The reader of ``kind`` and ``format`` (``known_classes``: a dataset folder's, which
    settle a table that reads two ways)."""
    json_formats = importers.tool_formats("json")
    if kind in ("json", "jsonl"):
        if format not in (None, *json_formats):
            raise InputError(f"{path}: a JSON file is read as format "
                             f"{', '.join(json_formats[:-1])} or {json_formats[-1]}, not "
                             f"{format!r}")
        records, layout = importers.read_json_records(path)
        table = importers.read_export(path, format or importers.json_tool(records, layout),
                                      records, layout, **columns)
        return from_long_table(table, classes, duplicates, fold_case)
    if format in json_formats:
        raise InputError(f"{path}: format {format!r} needs a JSON file")
    if kind == "npy":
        if format not in (None, "counts", "probs"):
            raise InputError(f"{path}: a .npy file holds counts or probs, not format {format!r}")
        return read_npy(path, format, classes)
    table, where = read_table(path, kind, lambda names: text_columns(names, format, **columns))
    tool = format if format in importers.tool_formats("table") else (
        importers.table_tool(table.column_names) if format is None else None)
    if tool is not None:
        return from_long_table(importers.read_export(path, tool, table, where, **columns),
                               classes, duplicates, fold_case)
    return from_table(table, str(path), where, format, classes, duplicates, **columns,
                      fold_case=fold_case, known_classes=known_classes)


def from_long(
    items,
    labels,
    annotators=None,
    classes: list[str] | tuple[str, ...] | None = None,
    duplicates: str = "error",
) -> Annotations:
    """Build :class:`Annotations` from one-annotation-per-entry arrays.

    Args:
        items: item id of each annotation.
        labels: chosen class of each annotation (``None``/NaN for a missing label).
        annotators: annotator id of each annotation, or ``None`` when unknown.
        classes: class order (see :func:`read_annotations`).
        duplicates: ``error``, ``keep`` or ``last`` for repeated (item, annotator) pairs.

    Examples:
        >>> ann = from_long(["a", "a", "b"], ["cat", "dog", "cat"], ["u1", "u2", "u1"])
        >>> ann.counts.tolist()
        [[1, 1], [1, 0]]
    """
    import pyarrow as pa

    columns = {"item": pa.array(as_list(items)), "label": pa.array(as_list(labels))}
    if annotators is not None:
        columns["annotator"] = pa.array(as_list(annotators))
    table = pa.table(columns)
    return from_table(table, "<arrays>", Location("<arrays>", "entry", 0), "long",
                       check_classes(classes), duplicates)



def from_counts(counts, items=None, classes=None) -> Annotations:
    """Build :class:`Annotations` from a counts (or probabilities) matrix.

    Args:
        counts: ``(num_items, num_classes)`` array of whole-number counts, or rows that sum to 1.
        items: item ids; default ``"0"``, ``"1"``, ...
        classes: class names; default ``"0"``, ``"1"``, ...

    Examples:
        >>> from_counts([[2, 1], [0, 3]], classes=["cat", "dog"]).counts.tolist()
        [[2, 1], [0, 3]]
    """
    matrix = np.asarray(counts)
    if matrix.ndim != 2 or matrix.dtype.kind not in "iuf":
        raise InputError(f"<arrays>: expected a 2-D numeric counts matrix, got shape "
                         f"{matrix.shape} dtype {matrix.dtype}")
    names = check_classes(classes)
    if names is not None and len(names) != matrix.shape[1]:
        raise InputError(f"<arrays>: {len(names)} class names for {matrix.shape[1]} columns")
    item_ids = None if items is None else np.asarray([str(i) for i in items], dtype=object)
    return from_matrix(matrix.astype(np.float64), item_ids, names, "<arrays>",
                        Location("<arrays>", "row", 0), None)
