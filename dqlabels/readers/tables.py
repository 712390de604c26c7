"""The table layer under every reader: sniffing, CSV/TSV/Parquet reading, column aliases,
column encoding and natural order.

Generic: nothing here knows about annotations or classes. :mod:`dqlabels.readers.annotations` builds
counts matrices on top of it, and the audit reads prediction files with it. Columns stay pyarrow
arrays and are encoded to integer codes (``encode``): no Python object per row.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from dqlabels._arrow import dictionary_codes, text_array, to_numpy
from dqlabels.errors import InputError

# Column names real exports use, in order of preference. They match a column's name
# case-insensitively once ``_``, ``-`` and spaces are dropped (``Worker ID`` is ``workerid``).
ITEM_ALIASES = ("item", "task", "image", "id", "image_path", "item_id", "task_id", "image_id",
                "question", "question_id", "unit", "unit_id", "example", "example_id", "document",
                "doc_id", "file", "filename", "url", "image_url")
ANNOTATOR_ALIASES = ("annotator", "worker", "rater", "user", "annotator_id", "worker_id",
                     "rater_id", "user_id", "labeler", "labeller", "labeler_id", "judge",
                     "participant", "coder")
LABEL_ALIASES = ("label", "class", "answer", "class_label", "response", "judgment", "judgement",
                 "category", "label_id", "class_id", "annotation", "rating")

_INTEGER_TEXT = re.compile(r"^-?\d+$")


class Location:
    """Turns a 0-based data row index into 'file: line N' (CSV) or 'file: row N'."""

    def __init__(self, source: str, unit: str, offset: int):
        self.source, self.unit, self.offset = source, unit, offset

    def row(self, index: int) -> str:
        return f"{self.source}: {self.unit} {int(index) + self.offset}"

    def column(self, name: str) -> str:
        return f"{self.source}: column {name!r}"


def check_readable(path: Path) -> None:
    """Raise InputError unless ``path`` is a readable, non-empty file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an annotation file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")


def file_kind(path: Path) -> str:
    """``"csv"``, ``"tsv"``, ``"parquet"``, ``"npy"``, ``"json"`` or ``"jsonl"`` (JSON Lines), from
    the first bytes and the suffix; a binary file of another kind is an InputError."""
    with open(path, "rb") as f:
        head = f.read(65536)
    suffix = path.suffix.lower()
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".npy":
        return "npy"
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if b"\x00" in head:
        raise InputError(f"{path}: looks like a binary file, expected CSV, TSV, Parquet, .npy or JSON")
    if suffix in (".tsv", ".tab"):
        return "tsv"
    message_line = head.split(b"\n", 1)[0]
    if b"\t" in message_line and b"," not in message_line:
        return "tsv"
    return "csv"


def read_table(path: Path, kind: str, text_columns=None):
    """A CSV/TSV/Parquet file as a pyarrow Table with stripped, unique (case-insensitively)
    column names, and the :class:`Location` that names its rows in messages.

    ``text_columns``: for a CSV or TSV file, a function of the (stripped) column names that
    names the columns of ids and names (item, annotator, label). They are read as text exactly
    as written (``001`` stays ``001``, a 20-digit id stays itself, ``1.0`` is not ``1``), and
    arrive dictionary-encoded (the parser's threads encode each block as they read it, instead
    of one hash pass per column afterwards). A Parquet file's columns keep their own types."""
    import pyarrow as pa

    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({message_line(exc)})") from None
        where = Location(str(path), "row", 1)
    else:
        table = read_csv(path, "\t" if kind == "tsv" else text_delimiter(path), text_columns)
        where = Location(str(path), "line", 2)
    if table.num_columns == 0:
        raise InputError(f"{path}: no columns found")
    if table.num_rows == 0:
        raise InputError(f"{path}: no data rows (only a header)")
    names = [str(n).strip() for n in table.column_names]
    seen = {}
    for i, name in enumerate(names):
        if not name:
            raise InputError(f"{path}: column {i + 1} has an empty name")
        if name.lower() in seen:
            raise InputError(f"{path}: column {name!r} appears twice in the header (also as "
                             f"{seen[name.lower()]!r}; names are case-insensitive)")
        seen[name.lower()] = name
    return table.rename_columns(names), where


def text_delimiter(path: Path) -> str:
    """``;`` for a CSV file whose header has semicolons and no comma (the CSV of spreadsheets in
    locales with a decimal comma), else ``,``."""
    with open(path, "rb") as f:
        header = f.readline(65536)
    return ";" if b";" in header and b"," not in header else ","


def read_table_file(path, what: str, text_columns=None):
    """A CSV, TSV or Parquet file (a predictions or gold file, say: ``what``) as
    :func:`read_table` gives it; any other file is an InputError."""
    path = Path(path)
    check_readable(path)
    kind = file_kind(path)
    if kind not in ("csv", "tsv", "parquet"):
        raise InputError(f"{path}: {what} must be CSV, TSV or Parquet")
    return read_table(path, kind, text_columns)


def text_layout(path: Path, kind: str) -> dict:
    """How a table file was read, for the report's first line: ``separator`` (for CSV and
    TSV) and ``encoding`` (``UTF-8``, or ``UTF-8 with BOM`` when the file starts with one)."""
    if kind not in ("csv", "tsv"):
        return {}
    with open(path, "rb") as f:
        bom = f.read(3) == b"\xef\xbb\xbf"
    return {"separator": "\t" if kind == "tsv" else text_delimiter(path),
            "encoding": "UTF-8 with BOM" if bom else "UTF-8"}


def read_csv(path: Path, delimiter: str, text_columns=None):
    """A CSV or TSV file as a pyarrow Table; a row with the wrong number of fields, text that
    is not UTF-8 or a malformed file is one InputError naming the line. ``text_columns``: as
    :func:`read_table`.

    No Python callback runs inside pyarrow's reader threads (an ``invalid_row_handler`` did:
    its exceptions surfaced as "Exception ignored" tracebacks, and the process could abort at
    exit); on any parse error the file is scanned once more, in Python, for the first bad line.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text_types = {}  # worked out once from the header, kept for the slower retry

    def read(newlines_in_values: bool):
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values)
        convert = pacsv.ConvertOptions(strings_can_be_null=True)
        if text_columns is not None:
            if "types" not in text_types:
                text_types["types"] = _text_types(path, parse, convert, text_columns)
            convert.column_types = text_types["types"]
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)

    try:
        # Quoted values with line breaks in them (an item id "two\nlines") need pyarrow's
        # slower serial mode: tried only when the fast mode fails.
        try:
            table = read(False)
        except pa.ArrowInvalid:
            table = read(True)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise InputError(f"{path}: the file is empty") from None
        raise InputError(_find_bad_text_line(path, delimiter) or
                         f"{path}: not a readable CSV file ({message_line(exc)[:120]})") from None
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            raise InputError(_find_bad_text_line(path, delimiter) or
                             f"{path}: column {name!r} is not valid UTF-8 text")
    return table


def _text_types(path: Path, parse, convert, text_columns) -> dict:
    """``{name: dictionary<int32, string>}`` for the columns ``text_columns`` names (given the
    header's stripped names), whatever pyarrow would infer: an id is text as written, never a
    number (``007`` is not ``7``; two 20-digit ids do not become one int64)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with pacsv.open_csv(path, parse_options=parse, convert_options=convert) as reader:
        names = list(reader.schema.names)
    by_name = {str(name).strip(): name for name in names}
    wanted = set(text_columns(list(by_name)))
    return {raw: pa.dictionary(pa.int32(), pa.string())
            for name, raw in by_name.items() if name in wanted}


def _find_bad_text_line(path: Path, delimiter: str) -> str | None:
    """Error path only: a message naming the first line that is not UTF-8 text or has another
    number of fields than the header; None when every line is fine."""
    with open(path, "rb") as f:
        raw = f.read()
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return (f"{path}: line {number} is not valid UTF-8 text (byte 0x{line[exc.start]:02x} "
                    f"at column {exc.start + 1}); save the file as UTF-8")
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=delimiter)
    expected = None
    for fields in reader:
        if not fields or not any(f.strip() for f in fields):
            continue
        if expected is None:
            expected = len(fields)
        elif len(fields) != expected:
            return (f"{path}: line {reader.line_num} has {len(fields)} fields where the header "
                    f"has {expected}")
    return None


def message_line(exc: BaseException) -> str:
    """The first line of an exception's message (for one-line errors)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class NpyRefused(Exception):
    """Why :func:`load_npy` refused a file: ``kind`` is ``"objects"`` (Python objects, never
    unpickled), ``"archive"`` (an .npz archive under an .npy name) or ``"unreadable"`` (then
    ``detail`` is numpy's first line)."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


def load_npy(path) -> np.ndarray:
    """One array from an .npy file, never unpickled: the readers' and the t-SNE's one way to
    load a file they were given; each turns :class:`NpyRefused` into its own one-line error."""
    import zipfile

    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise NpyRefused("objects") from None
        raise NpyRefused("unreadable", message_line(exc)) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a zip signature: read as .npz
        raise NpyRefused("unreadable", message_line(exc)) from None
    if not isinstance(array, np.ndarray):  # an .npz archive under an .npy name
        array.close()
        raise NpyRefused("archive")
    return array


def name_key(name: str) -> str:
    """A column name as aliases match it: lower case, without ``_``, ``-`` and spaces."""
    return re.sub(r"[\s_-]+", "", str(name)).lower()


def find_column(names, aliases):
    """The column of ``names`` that matches the first possible of ``aliases`` (see
    :func:`name_key`); ``None`` when none does."""
    keys = {}
    for name in names:
        keys.setdefault(name_key(name), name)
    for alias in aliases:
        if name_key(alias) in keys:
            return keys[name_key(alias)]
    return None


def named_column(names, name: str, parameter: str, source) -> str:
    """The column a user named (``item_column="Question"``): exactly, else case-insensitively
    as :func:`name_key` matches; an InputError that lists the columns found otherwise."""
    if name in names:
        return name
    found = find_column(names, (name,))
    if found is None:
        raise InputError(f"{source}: no column {name!r} ({parameter}={name}); found "
                         f"{', '.join(map(str, names))}")
    return found


def is_numeric(arrow_type) -> bool:
    """Integer, floating-point or all-null pyarrow type."""
    import pyarrow as pa

    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or \
        pa.types.is_null(arrow_type)


def first_non_numeric(column) -> int:
    """Row of the first cell that is not a number (error path only)."""
    values = column.to_numpy(zero_copy_only=False)
    for i, v in enumerate(values):  # error path only
        try:
            float(v)
        except (TypeError, ValueError):
            if v is not None:
                return i
    return 0


def cell(column, index):
    """One cell of a pyarrow column as a Python value."""
    return column.slice(index, 1).to_pylist()[0]


def column_to_str(column) -> np.ndarray:
    """Item ids as an object array of str (None where missing); integers print without '.0'."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = normalise_ids(column)
    # to_pylist, not to_numpy: as fast, and pyarrow's numpy conversion imports pandas (0.2 s).
    return np.array(pc.cast(column, pa.string()).to_pylist(), dtype=object)


def stripped(values: np.ndarray) -> np.ndarray:
    """Ids or names of one row per item with the spaces around them trimmed, as the annotation
    readers trim them (None stays None)."""
    return np.asarray([v if v is None else v.strip() for v in values], dtype=object)


def combine(column):
    """One contiguous array from a chunked column."""
    import pyarrow as pa

    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def encode(column):
    """Dictionary-encode a column: int32 codes (−1 for null) and the dictionary.

    pyarrow encodes the chunks of a column with one shared memo table, so every chunk's
    dictionary is a prefix of the last one and the chunk indices can be concatenated as they
    are, without first copying the strings into one chunk.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        # Encoded already (by the CSV reader: a dictionary per block): one shared dictionary,
        # in order of first appearance as dictionary_encode gives it, the indices translated.
        unified = column.unify_dictionaries() if isinstance(column, pa.ChunkedArray) else \
            pa.chunked_array([column])
        if unified.num_chunks:
            codes = np.concatenate([dictionary_codes(c.indices) for c in unified.chunks]).astype(
                np.int32, copy=False)
            dictionary = unified.chunk(0).dictionary
            # Every value used once at least, none null (as the CSV reader's are; a Parquet
            # file's dictionary may list values no row has): else encoded afresh below.
            if not dictionary.null_count and np.bincount(
                    codes[codes >= 0], minlength=len(dictionary)).all():
                return codes, dictionary
        column = pc.cast(column, column.type.value_type)
    encoded = pc.dictionary_encode(column)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.empty(0, np.int32), pa.array([], type=pa.string())
    dictionary = chunks[-1].dictionary
    if not all(dictionary.slice(0, len(c.dictionary)).equals(c.dictionary) for c in chunks[-2:]):
        return encode(combine(column))
    codes = np.concatenate([dictionary_codes(c.indices) for c in chunks]).astype(np.int32, copy=False)
    return codes, dictionary


def normalise_ids(column):
    """Float columns of whole numbers (ints with NaN) become int64, so '3.0' reads as '3'."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        finite = values[~np.isnan(values)]
        if np.all(finite == np.round(finite)):
            return pc.cast(column, pa.int64(), safe=False)
    if pa.types.is_dictionary(column.type) and not pa.types.is_string(column.type.value_type):
        return pc.cast(column, column.type.value_type)
    return column


def natural_order(names: np.ndarray) -> np.ndarray:
    """Indices that sort names numerically when all are integers, else as text.

    Integers longer than int64 (a 20-digit id) are compared as whole numbers too, and ids that
    are equal as numbers but written differently (``01`` and ``1``) stay apart, ordered by
    their text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = names if isinstance(names, pa.Array) else text_array(names)
    if len(array) and pc.all(pc.match_substring_regex(array, _INTEGER_TEXT.pattern)).as_py():
        if pc.max(pc.utf8_length(array)).as_py() > 18:  # beyond int64: Python's integers
            values = array.to_pylist()
            return np.asarray(sorted(range(len(values)), key=lambda i: (int(values[i]),
                                                                         values[i])), np.int64)
        numbers = to_numpy(pc.cast(array, pa.int64()))
        if _ascending(numbers):
            return np.arange(len(array))
        order = np.argsort(numbers, kind="stable")
        if np.any(numbers[order][1:] == numbers[order][:-1]):  # "01" and "1": by their text
            text_rank = np.empty(len(array), np.int64)
            text_rank[to_numpy(pc.sort_indices(array))] = np.arange(len(array))
            order = np.lexsort((text_rank, numbers))
        return order
    if _ascending(array):  # ids listed in order (a file grouped by sorted item): no sort
        return np.arange(len(array))
    return to_numpy(pc.sort_indices(array))


def _ascending(array) -> bool:
    """Whether every value is below the next (one pass; a numpy or an Arrow array)."""
    import pyarrow.compute as pc

    if isinstance(array, np.ndarray):
        return bool(np.all(array[:-1] < array[1:]))
    return len(array) < 2 or bool(pc.all(pc.less(array.slice(0, len(array) - 1),
                                                 array.slice(1))).as_py())


def trim_names(codes: np.ndarray, dictionary):
    """Ids or class names with the spaces around them trimmed: ``(codes, dictionary,
    num_trimmed)``, where names that differ only by those spaces (``"cat "`` and ``"cat"``)
    become one and ``num_trimmed`` counts the distinct names that had spaces. One pass over
    the distinct names; the codes are remapped only when two names became one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dictionary = pc.cast(dictionary, pa.string()) if not pa.types.is_string(dictionary.type) \
        else dictionary
    trimmed = pc.utf8_trim_whitespace(dictionary)
    changed = int(pc.sum(pc.not_equal(trimmed, dictionary)).as_py() or 0)
    if not changed:
        return codes, dictionary, 0
    encoded = pc.dictionary_encode(trimmed)
    if len(encoded.dictionary) == len(trimmed):  # no two names became one
        return codes, trimmed, changed
    remap = dictionary_codes(encoded.indices).astype(np.int32)
    remap = np.append(remap, np.int32(-1))  # code -1 (null) stays -1
    return remap[codes], encoded.dictionary, changed


def as_list(values):
    """A Python list with NaN as None (pyarrow reads None as null)."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [None if (isinstance(v, float) and np.isnan(v)) else v for v in values]

