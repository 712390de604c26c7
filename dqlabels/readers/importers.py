"""Annotation tools' exports, each read into the same long table (docs/conventions.md §2).

Every importer is one function from a file to a :class:`LongTable`: one row per annotation with
the item, the annotator and the label, and, where the export has them, gold answers. Nothing
after this module knows which tool a file came from. Answers a tool marks as not to be used
(cancelled, rejected, ignored) are left out and counted in ``skipped``.

- **Label Studio** JSON export of a choices task (``label-studio``): a list of tasks, each with
  ``annotations[]``, each with ``completed_by`` and ``result[].value.choices``. The item is the
  task's ``id`` (``item_column`` names a key of its ``data`` instead, e.g. ``image``);
  cancelled annotations (``was_cancelled``) are skipped; a result with several choices is
  refused; the export's ``predictions`` are a model's, not annotations, and are not read.
  With several choice controls, ``label_column`` names the one to read (its ``from_name``).
- **Amazon Mechanical Turk** batch results CSV (``mturk``): ``HITId``, ``WorkerId``,
  ``AssignmentStatus``, ``Input.*``, ``Answer.*``. Rejected assignments are skipped. The item is
  the one ``Input.*`` column and the label the one ``Answer.*`` column (or, for a radio group
  written as one true/false column per choice, ``Answer.<question>.<choice>``, the choice
  that is true); with several, ``item_column`` / ``label_column`` choose (with or without
  the prefix).
- **Toloka** results TSV (``toloka``): ``INPUT:*``, ``OUTPUT:*``, ``GOLDEN:*``,
  ``ASSIGNMENT:worker_id``, ``ASSIGNMENT:status``. Rejected assignments are skipped; a row
  whose ``GOLDEN:`` column (named like the label's ``OUTPUT:``) holds a value makes that value
  the item's gold answer.
- **Prodigy** JSONL from ``prodigy db-out`` (``prodigy``): one task per line. The annotator is
  ``_session_id``; the item is ``_input_hash`` (``item_column`` names another key, e.g.
  ``_task_hash`` for binary tasks asked with several labels); a choice task's ``accept`` list
  gives the label, a binary task's ``answer`` gives its ``label`` (accept) or ``not <label>``
  (reject). ``ignore`` answers, and rejected choice tasks, are skipped.

The two table exports (Mechanical Turk, Toloka) are read by :mod:`dqlabels.readers.table_exports`.
JSON exports are read with Python's ``json`` (a Python object per annotation while reading):
fine for the exports these tools write, which stay far below a million annotations.

Examples:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "export.json"
    >>> task = {"id": 7, "data": {"image": "a.png"}, "annotations": [
    ...     {"completed_by": 1, "result": [{"type": "choices", "from_name": "c",
    ...      "value": {"choices": ["Cat"]}}]}]}
    >>> _ = path.write_text(json.dumps([task]))
    >>> table = read_label_studio(path)
    >>> table.item.to_pylist(), table.annotator.to_pylist(), table.label.to_pylist()
    (['7'], ['1'], ['Cat'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dqlabels.errors import InputError
from dqlabels.readers.tables import Location
from dqlabels.registry import IMPORTERS, resolve


@dataclass
class LongTable:
    """One row per annotation, from any input.

    Attributes:
        item, label: string arrays (a null label is a missing answer, dropped and counted).
        annotator: string array, or ``None`` when annotators are unknown.
        gold: string array of each row's gold answer for its item (null: none), or ``None``.
        where: names a row in messages.
        columns: what the item and annotator are called in the file (for messages).
        format: the format name.
        skipped: answers left out, by reason (``{"cancelled annotations": 2}``).
    """

    item: object  # pyarrow arrays (pyarrow is imported where a file is read)
    label: object
    annotator: object | None
    where: Location
    columns: tuple[str, str | None]
    format: str
    gold: object | None = None
    skipped: dict = field(default_factory=dict)


class RecordLocation(Location):
    """Names the rows of a JSON export by the records they came from (``task 3 (id 12),
    annotation 0``)."""

    def __init__(self, source: str, unit: str, records: list[str]):
        super().__init__(source, unit, 0)
        self.records = records

    def row(self, index: int) -> str:
        return f"{self.source}: {self.records[int(index)]}"


def _strings(values):
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


# ----------------------------------------------------------------------------------------------
# Detection


# The registered importers (dqlabels.registry.IMPORTERS) name these: each reads or detects one
# tool's export.


def looks_like_label_studio(data, layout: str = "json") -> bool:
    """Whether parsed JSON looks like a Label Studio export (one JSON document: a JSON Lines
    file is Prodigy's)."""
    if layout == "jsonl":
        return False
    tasks = data if isinstance(data, list) else [data]
    for task in tasks[:50]:
        if not isinstance(task, dict):
            return False
        if "data" in task and "annotations" in task:
            return True
        entries = task.get("annotations")
        if isinstance(entries, list) and any(
                isinstance(e, dict) and ("result" in e or "completed_by" in e) for e in entries):
            return True
    return False


def looks_like_prodigy(data, layout: str = "json") -> bool:
    """Whether a JSON file is Prodigy's: JSON Lines (one task per line)."""
    return layout == "jsonl"


def looks_like_mturk(names) -> bool:
    """Whether a table's columns are Mechanical Turk's batch results."""
    names = set(map(str, names))
    return {"HITId", "WorkerId"} <= names or {"AssignmentId", "WorkerId"} <= names


def looks_like_toloka(names) -> bool:
    """Whether a table's columns are Toloka's results (``INPUT:``, ``OUTPUT:`` … prefixes)."""
    return any(str(n).startswith(("INPUT:", "OUTPUT:", "ASSIGNMENT:", "GOLDEN:")) for n in names)


def import_dcic(path, records, layout, **columns) -> LongTable:
    """The DCIC importer's entry (:func:`read_dcic`)."""
    return read_dcic(path, records, **columns)


def import_label_studio(path, records, layout, **columns) -> LongTable:
    """The Label Studio importer's entry (:func:`read_label_studio`)."""
    return read_label_studio(path, records, **columns)


def import_prodigy(path, records, layout, **columns) -> LongTable:
    """The Prodigy importer's entry (:func:`read_prodigy`: JSON Lines as read, or the file
    again when it was one JSON document)."""
    return read_prodigy(path, records if layout == "jsonl" else None, **columns)


def tool_formats(kind: str | None = None) -> tuple[str, ...]:
    """The registered importers' names (of ``kind``, ``"json"`` or ``"table"``, if given)."""
    return tuple(name for name, importer in IMPORTERS.items()
                 if kind is None or importer.kind == kind)


def table_tool(names) -> str | None:
    """The table importer whose export has these columns, or ``None``."""
    return next((name for name, importer in IMPORTERS.items() if importer.kind == "table"
                 and importer.detect is not None and resolve(importer.detect)(names)), None)


def json_tool(records, layout: str) -> str:
    """The JSON importer of these records: the first that detects them, else the first
    without a detector (DCIC's)."""
    found = [(name, importer) for name, importer in IMPORTERS.items() if importer.kind == "json"]
    return next((name for name, importer in found if importer.detect is not None
                 and resolve(importer.detect)(records, layout)),
                next(name for name, importer in found if importer.detect is None))


def read_export(path, format: str, *data, **columns) -> LongTable:
    """The long table of ``path`` read by the importer ``format``: ``data`` is ``(records,
    layout)`` for JSON, ``(table, where)`` for a table."""
    return resolve(IMPORTERS[format].read)(path, *data, **columns)


def read_json_records(path: Path):
    """A JSON file, or JSON Lines (one object per line; a ``.jsonl``/``.ndjson`` file, or a
    ``.json`` file with more than one value) as a list of (line number, value); the second
    element says which (``"json"`` or ``"jsonl"``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid UTF-8 text") from None
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        try:
            return json.loads(text), "json"
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise InputError(f"{path}: line {exc.lineno} column {exc.colno}: broken JSON "
                                 f"({exc.msg})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {number} column {exc.colno}: broken JSON "
                             f"({exc.msg})") from None
    return records, "jsonl"


def _no_option(source, tool, **given) -> None:
    for name, value in given.items():
        if value is not None:
            raise InputError(f"{source}: {name} does not apply to a {tool} export "
                             f"(received {name}={value})")


# ----------------------------------------------------------------------------------------------
# DCIC


def read_dcic(path, data, *, item_column=None, label_column=None,
              annotator_column=None) -> LongTable:
    """The DCIC benchmark's ``annotations.json``: a list of annotation sets, each with
    ``annotations: [{image_path, class_label}]`` (a null label is a missing answer; the
    annotators are unknown)."""
    path = Path(path)
    _no_option(str(path), "DCIC", item_column=item_column, label_column=label_column,
               annotator_column=annotator_column)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a list of annotation sets with 'annotations' lists")
    images, labels = [], []
    for s, annotation_set in enumerate(data):
        entries = annotation_set.get("annotations") if isinstance(annotation_set, dict) else None
        if not isinstance(entries, list):
            raise InputError(f"{path}: annotation set {s} has no 'annotations' list")
        for e, entry in enumerate(entries):
            if not isinstance(entry, dict) or "image_path" not in entry or "class_label" not in entry:
                raise InputError(f"{path}: annotation set {s}, entry {e}: expected keys "
                                 f"'image_path' and 'class_label'")
            if entry["image_path"] in (None, ""):
                raise InputError(f"{path}: annotation set {s}, entry {e}: missing image_path")
            images.append(str(entry["image_path"]))
            label = entry["class_label"]
            labels.append(None if label is None or label == "" else str(label))
    if not images:
        raise InputError(f"{path}: no annotations found")
    return LongTable(item=_strings(images), label=_strings(labels), annotator=None,
                     where=Location(str(path), "annotation", 1), columns=("image_path", None),
                     format="dcic")


# ----------------------------------------------------------------------------------------------
# Label Studio


def read_label_studio(path, data=None, *, item_column=None, label_column=None,
                      annotator_column=None) -> LongTable:
    """A Label Studio JSON export of a choices task (see the module docstring)."""
    path = Path(path)
    source = str(path)
    _no_option(source, "Label Studio", annotator_column=annotator_column)
    if data is None:
        data, _ = read_json_records(path)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of Label Studio tasks")
    items, annotators, labels, records = [], [], [], []
    cancelled = 0
    for t, task in enumerate(data):
        if not isinstance(task, dict):
            raise InputError(f"{path}: task {t}: expected an object, found {type(task).__name__}")
        name = f"task {t}" + (f" (id {task['id']})" if "id" in task else "")
        entries = task.get("annotations")
        if not isinstance(entries, list):
            raise InputError(f"{path}: {name}: missing field 'annotations'")
        item = _task_item(path, task, name, item_column)
        for a, entry in enumerate(entries):
            where = f"{name}, annotation {a}"
            if not isinstance(entry, dict):
                raise InputError(f"{path}: {where}: expected an object")
            if entry.get("was_cancelled"):
                cancelled += 1
                continue
            if "completed_by" not in entry:
                raise InputError(f"{path}: {where}: missing field 'completed_by'")
            if not isinstance(entry.get("result"), list):
                raise InputError(f"{path}: {where}: missing field 'result'")
            who = entry["completed_by"]
            if isinstance(who, dict):
                who = who.get("id", who.get("email"))
            items.append(item)
            annotators.append(who)
            labels.append(_choice(path, where, entry["result"], label_column))
            records.append(where)
    if not records:
        raise InputError(f"{path}: no annotations found in the Label Studio export"
                         + (f" ({cancelled} cancelled)" if cancelled else ""))
    return LongTable(item=_strings(items), label=_strings(labels), annotator=_strings(annotators),
                     where=RecordLocation(source, "annotation", records),
                     columns=("id" if item_column is None else f"data.{item_column}",
                              "completed_by"),
                     format="label-studio",
                     skipped={"cancelled annotations": cancelled} if cancelled else {})


def _task_item(path, task, name, item_column):
    if item_column is None:
        if "id" not in task:
            raise InputError(f"{path}: {name}: missing field 'id' (or name a key of the task's "
                             f"data with item_column=KEY)")
        return task["id"]
    values = task.get("data") if isinstance(task.get("data"), dict) else {}
    if item_column not in values:
        raise InputError(f"{path}: {name}: no key {item_column!r} in the task's data "
                         f"(item_column={item_column}); found {', '.join(values) or 'none'}")
    return values[item_column]


def _choice(path, where, result, label_column):
    """The one choice of an annotation's result list (None when it chose nothing)."""
    choices = [r for r in result if isinstance(r, dict) and
               (r.get("type") == "choices" or "choices" in (r.get("value") or {}))]
    if label_column is not None:
        choices = [r for r in choices if r.get("from_name") == label_column]
    controls = sorted({str(r.get("from_name")) for r in choices})
    if len(controls) > 1:
        raise InputError(f"{path}: {where}: results of several choice controls "
                         f"({', '.join(controls)}); name the one to read with "
                         f"label_column=FROM_NAME")
    if not choices:
        return None
    values = (choices[0].get("value") or {}).get("choices")
    if not isinstance(values, list):
        raise InputError(f"{path}: {where}: missing field 'value.choices'")
    if len(values) > 1 or len(choices) > 1:
        raise InputError(f"{path}: {where}: {max(len(values), len(choices))} choices in one "
                         f"result; multi-choice tasks are not supported (dqlabels reads one "
                         f"class per annotation)")
    return values[0] if values else None


# ----------------------------------------------------------------------------------------------
# Prodigy


def read_prodigy(path, records=None, *, item_column=None, label_column=None,
                 annotator_column=None) -> LongTable:
    """A Prodigy ``db-out`` JSONL file (see the module docstring)."""
    path = Path(path)
    source = str(path)
    _no_option(source, "Prodigy", label_column=label_column)
    if records is None:
        records, kind = read_json_records(path)
        if kind == "json":
            records = list(enumerate(records if isinstance(records, list) else [records], 1))
    item_key = item_column or "_input_hash"
    annotator_key = annotator_column or "_session_id"
    items, annotators, labels, lines = [], [], [], []
    skipped = {"ignored answers": 0, "rejected choice tasks": 0}
    for number, task in records:
        where = f"line {number}"
        if not isinstance(task, dict):
            raise InputError(f"{path}: {where}: expected a JSON object")
        if "answer" not in task:
            raise InputError(f"{path}: {where}: missing field 'answer'")
        answer = task["answer"]
        if answer == "ignore":
            skipped["ignored answers"] += 1
            continue
        if answer not in ("accept", "reject"):
            raise InputError(f"{path}: {where}: field 'answer' is {answer!r}, expected accept, "
                             f"reject or ignore")
        if item_key not in task:
            raise InputError(f"{path}: {where}: missing field {item_key!r}"
                             + ("" if item_column else " (name the item with item_column=KEY)"))
        if "accept" in task or "options" in task:  # a choice task
            if answer == "reject":
                skipped["rejected choice tasks"] += 1
                continue
            chosen = task.get("accept") or []
            if len(chosen) > 1:
                raise InputError(f"{path}: {where}: {len(chosen)} options accepted; "
                                 f"multi-choice tasks are not supported (one class per "
                                 f"annotation)")
            label = chosen[0] if chosen else None
        elif "label" in task:  # a binary task
            label = task["label"] if answer == "accept" else f"not {task['label']}"
        else:
            raise InputError(f"{path}: {where}: missing field 'accept' (choice task) or "
                             f"'label' (binary task)")
        items.append(task[item_key])
        annotators.append(task.get(annotator_key))
        labels.append(label)
        lines.append(number)
    if not lines:
        raise InputError(f"{path}: no usable answers in the Prodigy export")
    known = [a is not None for a in annotators]
    if any(known) and not all(known):
        raise InputError(f"{path}: line {lines[known.index(False)]}: missing field "
                         f"{annotator_key!r}")
    where = RecordLocation(source, "line", [f"line {n}" for n in lines])
    return LongTable(item=_strings(items), label=_strings(labels),
                     annotator=_strings(annotators) if all(known) else None, where=where,
                     columns=(item_key, annotator_key), format="prodigy",
                     skipped={k: v for k, v in skipped.items() if v})
