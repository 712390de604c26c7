"""Annotation tools' table exports into the long table of :mod:`dqlabels.readers.importers`: Amazon
Mechanical Turk's batch results CSV (``mturk``) and Toloka's results TSV (``toloka``), with
rejected assignments skipped and Toloka's golden answers kept (the formats are described in
:mod:`dqlabels.readers.importers`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqlabels.errors import InputError
from dqlabels.readers.importers import LongTable
from dqlabels.readers.tables import Location, column_to_str, named_column, read_table


def read_mturk(path, table=None, where=None, *, item_column=None, label_column=None,
               annotator_column=None) -> LongTable:
    """An Amazon Mechanical Turk batch results CSV (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    path, source, table, where = _export_table(path, table, where, "csv")
    names = table.column_names
    worker = named_column(names, annotator_column or "WorkerId", "annotator_column", source)
    item = _prefixed(names, "Input.", item_column, "item_column", source, "HITId")
    answers = [n for n in names if n.startswith("Answer.")]
    if label_column is not None:
        label = pc.cast(table.column(_prefixed(names, "Answer.", label_column, "label_column",
                                               source)), pa.string())
    elif len(answers) == 1:
        label = table.column(answers[0])
    elif not answers:
        raise InputError(f"{source}: no Answer.* column in the Mechanical Turk results")
    else:
        label = _radio_group(table, answers, where, source)
    keep, skipped = _accepted(table, "AssignmentStatus", "rejected assignments",
                              ("rejected",))
    return _table_rows(table, item, label, worker, keep, where, "mturk", skipped)


def _export_table(path, table, where, kind):
    """The path, its name in messages, and the table (read from the file unless given)."""
    path = Path(path)
    if table is None:
        table, where = read_table(path, kind)
    return path, str(path), table, where


def _prefixed(names, prefix, chosen, parameter, source, fallback=None):
    """The column named ``chosen`` (with or without ``prefix``), else the one column with the
    prefix, else ``fallback``."""
    if chosen is not None:
        if chosen in names or prefix + chosen not in names:
            return named_column(names, chosen, parameter, source)
        return prefix + chosen
    candidates = [n for n in names if n.startswith(prefix)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates and fallback is not None and fallback in names:
        return fallback
    if not candidates:
        raise InputError(f"{source}: no {prefix}* column; name the column with "
                         f"{parameter}=NAME")
    raise InputError(f"{source}: several {prefix}* columns ({', '.join(candidates)}); name the "
                     f"one to use with {parameter}=NAME")


def _radio_group(table, answers, where, source):
    """Labels from one true/false column per choice (``Answer.<question>.<choice>``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    prefixes = {n.rsplit(".", 1)[0] for n in answers}
    flags = []
    for name in answers:
        values = pc.cast(table.column(name), pa.string()) if not \
            pa.types.is_boolean(table.column(name).type) else table.column(name)
        if not pa.types.is_boolean(values.type):
            text = pc.utf8_lower(values)
            if not pc.all(pc.is_in(pc.fill_null(text, "false"),
                                   value_set=pa.array(["true", "false", "on", ""]))).as_py():
                raise InputError(f"{source}: several Answer.* columns ({', '.join(answers)}); "
                                 f"name the one to use with label_column=NAME")
            values = pc.is_in(text, value_set=pa.array(["true", "on"]))
        flags.append(np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False),
                                dtype=bool))
    if len(prefixes) != 1:
        raise InputError(f"{source}: Answer.* columns of several questions "
                         f"({', '.join(sorted(prefixes))}); name the one to use with "
                         f"label_column=NAME")
    matrix = np.column_stack(flags)
    chosen = matrix.sum(axis=1)
    if np.any(chosen > 1):
        row = int(np.flatnonzero(chosen > 1)[0])
        raise InputError(f"{where.row(row)}: {int(chosen[row])} choices marked true; "
                         f"multi-choice answers are not supported (one class per annotation)")
    choices = np.asarray([n.rsplit(".", 1)[1] for n in answers], dtype=object)
    labels = np.where(chosen == 1, choices[matrix.argmax(axis=1)], None)
    return pa.array(labels.tolist(), type=pa.string())


def read_toloka(path, table=None, where=None, *, item_column=None, label_column=None,
                annotator_column=None) -> LongTable:
    """A Toloka results TSV (see the module docstring)."""
    path, source, table, where = _export_table(path, table, where, "tsv")
    names = table.column_names
    if annotator_column is None and "ASSIGNMENT:worker_id" not in names:
        raise InputError(f"{source}: missing field 'ASSIGNMENT:worker_id' in the Toloka results")
    worker = named_column(names, annotator_column or "ASSIGNMENT:worker_id", "annotator_column",
                          source)
    item = _prefixed(names, "INPUT:", item_column, "item_column", source)
    label_name = _prefixed(names, "OUTPUT:", label_column, "label_column", source)
    golden = "GOLDEN:" + label_name.split(":", 1)[-1]
    keep, skipped = _accepted(table, "ASSIGNMENT:status", "rejected assignments", ("rejected",))
    gold = table.column(golden) if golden in names else None
    return _table_rows(table, item, table.column(label_name), worker, keep, where, "toloka",
                       skipped, gold)


def _accepted(table, status_column, what, refused):
    """Rows to keep (None: all) and the count of refused ones, by a status column if any."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if status_column not in table.column_names:
        return None, {}
    status = pc.utf8_lower(pc.cast(table.column(status_column), pa.string()))
    refused_rows = np.asarray(pc.fill_null(pc.is_in(status, value_set=pa.array(list(refused))),
                                           False).to_numpy(zero_copy_only=False), dtype=bool)
    if not refused_rows.any():
        return None, {}
    return np.flatnonzero(~refused_rows), {what: int(refused_rows.sum())}


def _table_rows(table, item, label, worker, keep, where, fmt, skipped, gold=None):
    import pyarrow as pa

    item_values = table.column(item)
    worker_values = table.column(worker)
    if keep is not None:
        rows = pa.array(keep)
        item_values, worker_values = item_values.take(rows), worker_values.take(rows)
        label = label.take(rows)
        gold = None if gold is None else gold.take(rows)
        where = _KeptRows(where, keep)
    if len(item_values) == 0:
        raise InputError(f"{where.source}: no accepted answers in the export")
    return LongTable(item=item_values, label=label, annotator=worker_values, where=where,
                     columns=(item, worker), format=fmt,
                     gold=None if gold is None else pa.array(column_to_str(gold),
                                                             type=pa.string()),
                     skipped=skipped)


class _KeptRows(Location):
    """Rows numbered in the file, for a table whose refused rows were taken out."""

    def __init__(self, where: Location, keep: np.ndarray):
        super().__init__(where.source, where.unit, where.offset)
        self.keep = keep

    def row(self, index: int) -> str:
        return super().row(self.keep[int(index)])
