"""From columns to a counts matrix: the :class:`Annotations` type and the machinery under
:func:`dqlabels.read_annotations` (tables, annotator matrices, long columns, ``.npy``).

Nothing here holds a Python object per annotation: columns are read with pyarrow, encoded to
integer codes with ``dictionary_encode`` and counted with ``np.bincount``. Only the item ids
(one per item) and the class and annotator names become Python strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqlabels._parallel import map_blocks
from dqlabels.errors import InputError
from dqlabels.readers.annotations_type import Annotations, build_annotations
from dqlabels.readers.importers import LongTable, table_tool, tool_formats
from dqlabels.readers.names import annotator_like, tidy_labels, trim_note, trimmed_ids
from dqlabels.readers.tables import (
    ANNOTATOR_ALIASES,
    ITEM_ALIASES,
    LABEL_ALIASES,
    Location,
    NpyRefused,
    cell,
    column_to_str,
    combine,
    encode,
    find_column,
    first_non_numeric,
    is_numeric,
    load_npy,
    named_column,
    natural_order,
    normalise_ids,
    trim_names,
)

PROBS_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------------
# Options


def check_classes(classes):
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(",")]
    names = tuple(str(c) for c in classes)
    if not names or any(not n for n in names):
        raise InputError(f"Expected classes to be non-empty names. Received: {list(names)!r}")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"classes: {dup!r} is listed twice")
    return names


# ----------------------------------------------------------------------------------------------
# Tables → counts


def _chosen_columns(names, source, item_column, annotator_column, label_column):
    """The item, label and annotator columns: the ones named, else the first alias found."""

    def column(chosen, aliases, parameter):
        if chosen is not None:
            return named_column(names, chosen, parameter, source)
        return find_column(names, aliases)

    return (column(item_column, ITEM_ALIASES, "item_column"),
            column(label_column, LABEL_ALIASES, "label_column"),
            column(annotator_column, ANNOTATOR_ALIASES, "annotator_column"))


def _reads_long(format, label_col, item_column, annotator_column, label_column) -> bool:
    """Whether :func:`from_table` reads the table as one row per annotation."""
    return format == "long" or (format is None and (
        label_column is not None or annotator_column is not None or label_col is not None))


def text_columns(names, format=None, item_column=None, annotator_column=None,
                 label_column=None) -> list[str]:
    """The columns of ids and names that :func:`from_table` reads as text exactly as written,
    from the header alone: a long table's item, label and annotator; every column of a tool's
    export; a one-row-per-item table's item column (and, for an annotator matrix, its cells).
    Empty when a column is missing (:func:`from_table` says so itself)."""
    if format in tool_formats("table") or (format is None and table_tool(names) is not None):
        return list(names)
    try:
        chosen = _chosen_columns(names, "", item_column, annotator_column, label_column)
    except InputError:
        return []
    if _reads_long(format, chosen[1], item_column, annotator_column, label_column):
        return [name for name in chosen if name is not None]
    item = chosen[0]
    rest = [n for n in names if n != item]
    if item is not None and (format == "wide" or (format is None and annotator_like(rest))):
        return list(names)
    return [] if item is None else [item]


def from_table(table, source, where, format, classes, duplicates, item_column=None,
               annotator_column=None, label_column=None, fold_case=False, known_classes=None):
    names = table.column_names
    item_col, label_col, annot_col = _chosen_columns(names, source, item_column,
                                                     annotator_column, label_column)
    if _reads_long(format, label_col, item_column, annotator_column, label_column):
        format = "long"

    if format is None:
        if item_col is not None and annot_col is not None:
            raise _no_column(source, "label", LABEL_ALIASES, names)
        if item_col is None:  # a guess without an item column is a guess too far
            raise _unknown_layout(table, source)
        rest = [n for n in names if n != item_col]
        if not rest:
            raise InputError(f"{source}: no class columns found; found only {', '.join(names)}")
        format = _per_item_format(table, rest, classes or known_classes, source)

    if format == "long":
        if item_col is None:
            raise _no_column(source, "item", ITEM_ALIASES, names)
        if label_col is None:
            raise _no_column(source, "label", LABEL_ALIASES, names)
        return from_long_table(LongTable(
            item=table.column(item_col), label=table.column(label_col),
            annotator=None if annot_col is None else table.column(annot_col), where=where,
            columns=(item_col, annot_col), format="long"), classes, duplicates, fold_case,
            label_name=label_col)

    return _from_item_rows(table, item_col, source, where, format, classes, duplicates,
                           fold_case)


def _from_item_rows(table, item_col, source, where, format, classes, duplicates, fold_case):
    """One row per item (wide, counts, probs) → Annotations. ``format`` ``ambiguous``: whole
    numbers that read as counts and as class numbers alike, refused once the cells are known
    to be valid counts (a missing or negative cell says so itself)."""
    names = table.column_names
    # The item column is the named one, else the first non-numeric column.
    if item_col is None and not is_numeric(table.column(names[0]).type):
        item_col = names[0]
    value_cols = [n for n in names if n != item_col]
    if not value_cols:
        raise InputError(f"{source}: no class columns found; found only {', '.join(names)}")
    item_ids, notes = None, []
    if item_col is not None:
        item_ids, trimmed = trimmed_ids(table.column(item_col))
        missing = np.flatnonzero(item_ids == None)  # noqa: E711 - object array comparison
        if missing.size:
            raise InputError(f"{where.row(missing[0])}: missing item id in column {item_col!r}")
        notes += trim_note(trimmed, "item id")

    if format == "wide":
        annotations = _from_wide(table, item_ids, value_cols, source, where, classes,
                                 duplicates, fold_case)
        return annotations.replaced(notes=tuple(notes) + annotations.notes,
                                   reading={"item": item_col})

    columns = []
    for name in value_cols:
        column = table.column(name)
        if not is_numeric(column.type) and column.null_count != len(table):
            bad = first_non_numeric(column)
            raise InputError(f"{where.row(bad)}: column {name!r} holds {cell(column, bad)!r}, "
                             f"expected a number (counts/probs format)")
        values = column.to_numpy(zero_copy_only=False).astype(np.float64) if column.null_count != \
            len(table) else np.full(len(table), np.nan)
        if column.null_count:
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise InputError(f"{where.row(row)}: missing value in column {name!r} (counts and "
                             f"probs need every cell; an annotator matrix needs format=wide)")
        columns.append(values)
    matrix = np.column_stack(columns)
    if format in ("guessed-counts-or-probs", "ambiguous"):
        _refuse_id_like_counts(matrix, value_cols, item_col, source)
    kind = None if format in ("guessed-counts-or-probs", "ambiguous") else format
    matrix, col_names = _order_class_columns(matrix, [str(n) for n in value_cols], classes, source)
    annotations = from_matrix(matrix, item_ids, col_names, source, where, kind,
                              sort_columns=classes is None)
    if format == "ambiguous" and not annotations.is_distribution:
        shown = ", ".join(map(str, value_cols[:4])) + (", …" if len(value_cols) > 4 else "")
        raise InputError(
            f"{source}: one row per item whose cells are whole numbers reads two ways: as counts "
            f"(columns {shown} are classes) or as an annotator matrix (they are annotators, "
            f"each cell a class number); say which with format=counts or format=wide")
    return annotations.replaced(notes=tuple(notes), reading={"item": item_col})


def _per_item_format(table, value_cols, classes, source) -> str:
    """A one-row-per-item table's format when none was given: ``wide`` (an annotator matrix),
    ``guessed-counts-or-probs``, or ``ambiguous`` where the table may read both ways.

    Cells that are not all numbers can only be class names: wide. Numbers with a fraction can
    only be probabilities (or counts, refused later as such). Whole numbers read both as counts
    (the columns are classes) and as an annotator matrix of class numbers (the columns are
    annotators): the columns' names settle it when they are the ``classes`` given (counts) or
    all numbered annotators (``ann1``, ``worker_07``: wide); otherwise it is ``ambiguous``:
    read as probabilities when rows sum to 1 with fractions, refused (with the option that
    says which) when its cells are whole numbers."""
    if annotator_like(value_cols):
        return "wide"
    numeric = [n for n in value_cols if is_numeric(table.column(n).type)
               or table.column(n).null_count == len(table)]
    if len(numeric) < len(value_cols):
        return "wide"
    if classes is not None and set(map(str, value_cols)) <= set(classes):
        return "guessed-counts-or-probs"
    return "ambiguous"


# A guessed counts table whose class column holds a different whole number on each of at least
# this many rows is refused: counts of annotations repeat (most cells are 0 or a few), ids do not.
ID_LIKE_ROWS = 10


def _unknown_layout(table, source) -> InputError:
    """The error for a table whose layout is a guess without an item column: what was found,
    and the options that say what it is."""
    names = table.column_names
    numeric = sum(is_numeric(table.column(n).type) for n in names)
    kinds = "all numbers" if numeric == len(names) else (
        "no numbers" if numeric == 0 else f"{numeric} of them numbers")
    return InputError(
        f"{source}: cannot tell what a row is: no column is named like an item "
        f"({', '.join(ITEM_ALIASES[:4])}, …) or a label ({', '.join(LABEL_ALIASES[:3])}, …); "
        f"found columns {', '.join(map(str, names))} ({kinds}). For one row per annotation "
        f"pass item_column=NAME and label_column=NAME (annotator_column=NAME too); for one row "
        f"per item pass format=counts, format=probs or format=wide with item_column=NAME")


def _refuse_id_like_counts(matrix, value_cols, item_col, source) -> None:
    """A guessed counts table with a column of ids (a different whole number on every row) is
    most likely one row per annotation whose columns have unknown names."""
    if matrix.shape[0] < ID_LIKE_ROWS or not np.all(matrix == np.round(matrix)):
        return
    for j, name in enumerate(value_cols):
        if np.unique(matrix[:, j]).size == matrix.shape[0]:
            raise InputError(
                f"{source}: column {name!r} holds a different number on each of its "
                f"{matrix.shape[0]:,} rows, like ids rather than counts of annotations; read as "
                f"counts it would be wrong. For one row per annotation pass "
                f"item_column={item_col} and label_column=NAME (annotator_column=NAME too); if "
                f"these are counts, pass format=counts")


def _no_column(source, what, aliases, names) -> InputError:
    """The error for a table without an item or label column: what was looked for, what was
    found, and the option that names it."""
    return InputError(f"{source}: no {what} column (none is called {', '.join(aliases[:4])}, …); "
                      f"found {', '.join(map(str, names))}; name it with {what}_column=NAME")


def _order_class_columns(matrix, col_names, classes, source):
    if classes is None:
        return matrix, col_names
    unknown = [c for c in col_names if c not in classes]
    if unknown:
        raise InputError(f"{source}: column {unknown[0]!r} is not one of the classes given "
                         f"({', '.join(classes)})")
    out = np.zeros((matrix.shape[0], len(classes)))
    position = {c: i for i, c in enumerate(classes)}
    for j, name in enumerate(col_names):
        out[:, position[name]] = matrix[:, j]
    return out, list(classes)


def from_matrix(matrix, item_ids, class_names, source, where, kind, sort_columns=False):
    """Counts or probs matrix → Annotations. ``kind`` None means detect counts vs probs."""
    n, k = matrix.shape
    if n == 0:
        raise InputError(f"{source}: no items")
    if k == 0:
        raise InputError(f"{source}: no class columns")
    if class_names is None:
        class_names = [str(j) for j in range(k)]
    if not np.all(np.isfinite(matrix)):
        r, c = np.argwhere(~np.isfinite(matrix))[0]
        raise InputError(f"{where.row(r)}: column {class_names[c]!r} is missing or not finite")
    if np.any(matrix < 0):
        r, c = np.argwhere(matrix < 0)[0]
        raise InputError(f"{where.row(r)}: column {class_names[c]!r} is negative ({matrix[r, c]:g})")
    whole = matrix == np.round(matrix)
    if kind is None:
        kind = "counts" if whole.all() else "probs"
        if kind == "probs" and not np.all(np.abs(matrix.sum(axis=1) - 1) <= PROBS_TOLERANCE):
            r, c = np.argwhere(~whole)[0]
            raise InputError(f"{where.row(r)}: column {class_names[c]!r} holds {matrix[r, c]:g}; "
                             f"counts must be whole numbers, and rows of probabilities must sum to 1")
    if kind == "counts":
        if not whole.all():
            r, c = np.argwhere(~whole)[0]
            raise InputError(f"{where.row(r)}: column {class_names[c]!r} holds {matrix[r, c]:g}, "
                             f"expected a whole-number count")
        matrix = matrix.astype(np.int64)
    else:
        sums = matrix.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1) > PROBS_TOLERANCE)
        if bad.size:
            raise InputError(f"{where.row(bad[0])}: probabilities sum to {sums[bad[0]]:.6g}, "
                             f"expected 1 (within {PROBS_TOLERANCE:g})")
    item_ids, order = _unique_item_ids(item_ids, n, where)
    sorted_ids = item_ids[order]
    matrix = matrix[order]
    if sort_columns:
        col_order = natural_order(np.asarray(class_names, dtype=object))
        matrix = matrix[:, col_order]
        class_names = [class_names[j] for j in col_order]
    nonempty = matrix.sum(axis=1) > 0
    return Annotations(
        counts=matrix[nonempty],
        items=sorted_ids[nonempty],
        classes=tuple(class_names),
        format=kind,
        empty_items=sorted_ids[~nonempty],
        source=source,
    )


def _unique_item_ids(item_ids, n, where):
    """Item ids of one-row-per-item input (default ``"0"…"n−1"``) and their natural order;
    an id on two rows is an error naming both."""
    if item_ids is None:
        item_ids = np.asarray([str(i) for i in range(n)], dtype=object)
    order = natural_order(item_ids)
    sorted_ids = item_ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if repeated.size:
        dup = sorted_ids[repeated[0]]
        rows = np.flatnonzero(item_ids == dup)[:2]
        raise InputError(f"{where.row(rows[1])}: item {dup!r} repeats the item of "
                         f"{where.unit} {rows[0] + where.offset} (read as one row per item; for "
                         f"one row per annotation name the columns with item_column=NAME and "
                         f"label_column=NAME)")
    return item_ids, order


def _from_wide(table, item_ids, annotator_cols, source, where, classes, duplicates,
               fold_case=False):
    """Annotator matrix → long columns (annotator = column), then the long path."""
    import pyarrow as pa

    n = table.num_rows
    item_ids, _ = _unique_item_ids(item_ids, n, where)
    item_labels, annot_labels, label_chunks = [], [], []
    for j, name in enumerate(annotator_cols):
        cells = pa.array(column_to_str(table.column(name)), type=pa.string())
        valid = np.flatnonzero(~np.asarray(cells.is_null()))
        item_labels.append(valid.astype(np.int32))
        annot_labels.append(np.full(valid.size, j, dtype=np.int32))
        label_chunks.append(cells.take(pa.array(valid)))
    rows = np.concatenate(item_labels)
    labels, notes = tidy_labels(encode(pa.chunked_array(label_chunks, type=pa.string())),
                                 fold_case, classes)
    annotations = build_annotations(
        item_codes=rows, item_names=item_ids, labels=labels,
        annot_codes=np.concatenate(annot_labels),
        annot_names=np.asarray([str(c) for c in annotator_cols], dtype=object),
        source=source, where=where, classes=classes, duplicates=duplicates, fmt="wide",
        row_of=rows,
    )
    return annotations.replaced(notes=tuple(notes))


def from_long_table(table: LongTable, classes, duplicates, fold_case=False,
                    label_name=None) -> Annotations:
    """One row per annotation (a long file, an export) → Annotations, with the export's gold
    answers and skipped answers. Ids and class names are text as written, the spaces around
    them trimmed (and said in ``notes``); ``fold_case`` merges classes that differ only by
    case."""
    item_column, label_column, annot_column = table.item, table.label, table.annotator
    where, source = table.where, table.where.source
    if item_column.null_count:
        row = int(np.flatnonzero(np.asarray(combine(item_column).is_null()))[0])
        raise InputError(f"{where.row(row)}: missing item id in column {table.columns[0]!r}")
    if annot_column is not None:
        if annot_column.null_count == len(annot_column):
            annot_column = None
        elif annot_column.null_count:
            row = int(np.flatnonzero(np.asarray(combine(annot_column).is_null()))[0])
            raise InputError(f"{where.row(row)}: missing annotator id in column "
                             f"{table.columns[1]!r}")
    label_column = normalise_ids(label_column)
    if label_column.null_count == len(label_column):
        raise InputError(f"{source}: every label is missing")
    columns = [normalise_ids(item_column), label_column]
    if annot_column is not None:
        columns.append(normalise_ids(annot_column))
    # Hash-encoding a column is single-threaded in pyarrow; encode the columns side by side.
    encoded = map_blocks(encode, columns, size=len(item_column) * len(columns))
    item_codes, item_dictionary, trimmed = trim_names(*encoded[0])
    notes = trim_note(trimmed, "item id")
    item_names = column_to_str(item_dictionary)
    annot_codes = annot_names = None
    if annot_column is not None:
        annot_codes, annot_dictionary, trimmed = trim_names(*encoded[2])
        notes += trim_note(trimmed, "annotator id")
        annot_names = column_to_str(annot_dictionary)
    labels, label_notes = tidy_labels(encoded[1], fold_case, classes)
    annotations = build_annotations(item_codes, item_names, labels, annot_codes, annot_names,
                                    source, where, classes, duplicates, table.format,
                                    row_of=None)
    annotations = annotations.replaced(
        notes=tuple(notes + label_notes),
        reading={"item": table.columns[0], "annotator": table.columns[1], "label": label_name},
        skipped=dict(table.skipped))
    if table.gold is not None and table.gold.null_count < len(table.gold):
        annotations = _with_export_gold(annotations, columns[0], table.gold, where)
    return annotations


def _with_export_gold(annotations: Annotations, items, gold, where) -> Annotations:
    """The gold answers an export gives per row (Toloka's ``GOLDEN:``), one per item."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = np.flatnonzero(~np.asarray(combine(gold).is_null()))
    names = pa.array(column_to_str(combine(items).take(pa.array(rows))), type=pa.string())
    index = pc.index_in(names, value_set=pa.array(annotations.items.tolist(), type=pa.string()))
    item_rows = np.asarray(index.to_numpy(zero_copy_only=False))
    answers = column_to_str(combine(gold).take(pa.array(rows)))
    position = {c: i for i, c in enumerate(annotations.classes)}
    codes = np.array([position.get(a, -1) for a in answers], dtype=np.int64)  # gold rows only
    if np.any(codes < 0):
        bad = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"{where.row(rows[bad])}: gold answer {answers[bad]!r} is not one of "
                         f"the classes ({', '.join(annotations.classes)}); pass classes=... to "
                         f"add it")
    valid = ~np.isnan(item_rows.astype(np.float64)) if item_rows.dtype.kind == "f" else \
        np.ones(item_rows.size, dtype=bool)
    item_rows = item_rows[valid].astype(np.int64)  # items left out (no labelled annotation)
    codes, rows = codes[valid], rows[valid]
    result = np.full(annotations.num_items, -1, dtype=np.int64)
    result[item_rows] = codes
    clash = np.flatnonzero(result[item_rows] != codes)
    if clash.size:
        i = item_rows[clash[0]]
        raise InputError(f"{where.row(rows[clash[0]])}: gold answer "
                         f"{annotations.classes[codes[clash[0]]]!r} for item "
                         f"{annotations.items[i]!r} contradicts another row's "
                         f"{annotations.classes[result[i]]!r}")
    return annotations.replaced(gold=result)


# ----------------------------------------------------------------------------------------------
# .npy and DCIC JSON


def read_npy(path: Path, format, classes):
    try:
        matrix = load_npy(path)
    except NpyRefused as refused:
        raise InputError(f"{path}: " + {
            "objects": "holds Python objects (object dtype); expected a numeric counts or "
                       "probs matrix",
            "archive": "an .npz archive of arrays; expected one .npy matrix (save it with "
                       "numpy.save)",
        }.get(refused.kind, f"not a readable .npy file ({refused.detail})")) from None
    if matrix.ndim != 2:
        raise InputError(f"{path}: expected a 2-D items × classes matrix, got shape {matrix.shape}")
    if matrix.dtype.kind not in "iuf" and matrix.dtype.kind != "b":
        raise InputError(f"{path}: expected numbers, got dtype {matrix.dtype}")
    if classes is not None and len(classes) != matrix.shape[1]:
        raise InputError(f"{path}: {len(classes)} classes given for {matrix.shape[1]} columns")
    return from_matrix(matrix.astype(np.float64), None, None if classes is None else list(classes),
                        str(path), Location(str(path), "row", 1), format)
