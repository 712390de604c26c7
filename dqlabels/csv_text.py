"""A table as CSV text without a Python step per row: the labels file of millions of items.

Each column becomes fixed-width byte cells (a ``uint8`` matrix per column, each cell's text
followed by zero bytes), a block of rows is laid side by side with the separators and the zero
bytes are dropped in one pass, leaving the file's bytes. Floats are printed as Python's
``f"{v:.6g}"`` by numpy arithmetic (decimal exponent, six rounded digits, the ``%g`` layout for
that exponent and number of digits); the few values too close to a rounding half for float
arithmetic to decide are printed by Python. Columns with few distinct values (soft labels, class
names, True/False) format each distinct value once. The bytes equal those of Python's ``csv``
module writing the same rows (minimal quoting, ``\n`` line ends): tests/test_audit.py compares
the two. Text with a NUL character, which the zero padding cannot carry, is written row by row
by the ``csv`` module.
"""

from __future__ import annotations

import csv
import functools
import io

import numpy as np

from dqlabels._arrow import from_numpy, text_array, to_numpy

_POW10 = 10.0 ** np.arange(-22, 23)
_EMIN, _EMAX = -300, 300  # exponents outside are printed by Python (subnormals, overflow)
_WIDTH_6G = 13  # the longest %.6g text: "-1.23456e-100"
_BLOCK_BYTES = 1 << 22  # one block of rows as padded cells: at most this many bytes
_GATHER_WIDTH = 48  # texts up to this long are padded place by place (item ids, class names)


def csv_field(text: str) -> str:
    """A field as the ``csv`` module's minimal quoting writes it (with ``\n`` line ends it
    quotes a comma, a quote or a line feed, not a lone carriage return)."""
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def format_6g(values: np.ndarray) -> list[str]:
    """``f"{v:.6g}"`` of every value, NaN as an empty string, computed as the CSV writer does.

    Examples:
        >>> format_6g(np.array([0.5, 1 / 3, np.nan, 1e-7, 2.0, 1234567.0, -0.0]))
        ['0.5', '0.333333', '', '1e-07', '2', '1.23457e+06', '-0']
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    text = np.zeros((len(values), _WIDTH_6G + 1), dtype=np.uint8)
    _float_cells(values, text[:, :-1])
    text[:, -1] = 10
    flat = text.reshape(-1)
    return flat[flat != 0].tobytes().decode("ascii").split("\n")[:-1]


def write_frame_csv(table, file) -> None:
    """Write a table (a pandas DataFrame, or a mapping of column names to equal-length arrays
    or :func:`prepare_column` columns) as CSV to the binary ``file``: a header, then one line per row; floats as ``%.6g`` with NaN
    as an empty field, booleans as ``True``/``False``, other values as ``str``, quoted as the
    ``csv`` module quotes them. Blocks of rows are rendered on the shared thread pool and
    written in order, a few at a time (memory stays a few blocks, whatever the length)."""
    from dqlabels._parallel import num_workers, pool

    names = list(table.keys())
    file.write((",".join(csv_field(str(name)) for name in names) + "\n").encode("utf-8"))
    columns = [prepare_column(table[name]) for name in names]
    n = len(columns[0].values) if columns else 0
    if not n:
        return
    if any(column.has_nul for column in columns):
        _write_rows([column.values for column in columns], file)
        return
    step = max(1, min(n, _BLOCK_BYTES // sum(column.width + 1 for column in columns)))
    blocks = [slice(begin, min(n, begin + step)) for begin in range(0, n, step)]
    window = 2 * num_workers()
    for first in range(0, len(blocks), window):
        part = blocks[first:first + window]
        for text in (pool().map(_render, [columns] * len(part), part) if len(part) > 1
                     else map(_render, [columns], part)):
            file.write(text)


def prepare_column(values):
    """A column ready for :func:`write_frame_csv` (its distinct values found and formatted, its
    text quoted): a table given to the writer may hold such columns, prepared ahead, for
    example while other work finishes."""
    return values if isinstance(values, _Column) else _Column(np.asarray(values))


def _render(columns: list[_Column], rows: slice) -> bytes:
    """The CSV lines of a block of rows: the cells side by side with the separators, the zero
    padding dropped."""
    widths = [column.width + 1 for column in columns]
    text = np.zeros((rows.stop - rows.start, sum(widths)), dtype=np.uint8)
    left = 0
    for column, width in zip(columns, widths):
        column.fill(rows, text[:, left:left + width - 1])
        text[:, left + width - 1] = 44
        left += width
    text[:, -1] = 10
    flat = text.reshape(-1)
    return flat[flat != 0].tobytes()


def _write_rows(columns: list[np.ndarray], file) -> None:
    """The rows through the ``csv`` module (the slow path, for text the fast one cannot hold)."""
    out = io.TextIOWrapper(file, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(out, lineterminator="\n")
    for row in zip(*(values.tolist() for values in columns)):
        writer.writerow(["" if isinstance(v, float) and v != v else
                         f"{v:.6g}" if isinstance(v, float) else v for v in row])
    out.detach()


class _Column:
    """One column ready to be cut into blocks of cells: distinct values formatted once where
    they are few (Arrow's hash table finds them; floats by their bits, so that -0.0 stays
    apart from 0.0); other floats as %.6g block by block; text quoted once."""

    def __init__(self, values: np.ndarray):
        self.values, self.codes, self.distinct, self.has_nul = values, None, None, False
        self.width = _WIDTH_6G
        kind = values.dtype.kind
        if kind == "f":
            values = self.values = np.ascontiguousarray(values, dtype=np.float64)
        sample = values[:: max(1, len(values) // 4096)]
        distinct = len(np.unique(sample.view(np.int64))) if kind == "f" else \
            len(set(map(str, sample.tolist())))
        if distinct * 8 > len(sample) and kind in "fO":  # many distinct values
            if kind == "O":
                self.distinct = self._text(_arrow_text(values))
                self.width = self.distinct.shape[1]
                self.codes = np.arange(len(values))
            return
        codes, dictionary = _factorize(values)
        if kind == "f":  # NaN formats as the empty cell
            self.distinct = np.zeros((len(dictionary), _WIDTH_6G), dtype=np.uint8)
            _float_cells(to_numpy(dictionary).view(np.float64), self.distinct)
            # As wide as the longest text ("0.2" for soft labels, not 13 places): every byte
            # of padding is zeroed, copied and dropped once per row.
            used = np.flatnonzero(self.distinct.any(axis=0))
            self.distinct = self.distinct[:, :max(1, used[-1] + 1 if used.size else 1)]
        elif kind == "b":
            self.distinct = _text_cells(["True" if v else "False" for v in dictionary.to_pylist()])
        elif kind == "O":
            self.distinct = self._text(dictionary)
        else:
            self.distinct = _text_cells([str(v) for v in dictionary.to_pylist()])
        self.codes = codes
        self.width = self.distinct.shape[1]

    def _text(self, text) -> np.ndarray:
        """An Arrow text array quoted as the csv module quotes, as cells."""
        import pyarrow as pa
        import pyarrow.compute as pc

        self.has_nul = pc.any(pc.match_substring(text, "\0")).as_py() or False
        special = np.flatnonzero(to_numpy(pc.match_substring_regex(text, '[,"\n]')))
        if special.size:
            quoted = [csv_field(field) for field in text.take(from_numpy(special)).to_pylist()]
            mask = np.zeros(len(text), dtype=bool)
            mask[special] = True
            text = pc.replace_with_mask(text, from_numpy(mask), text_array(quoted))
        text = text.cast(pa.large_string())
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=len(text) + 1,
                                offset=8 * text.offset)
        data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        return _padded(data, offsets - offsets[0])

    def fill(self, rows: slice, out: np.ndarray) -> None:
        """Write the cells of ``rows`` into ``out`` (zeros, one row per row)."""
        if self.distinct is None:
            _float_cells(self.values[rows], out)
        else:
            out[:] = self.distinct[self.codes[rows]]


def _arrow_text(values: np.ndarray):
    """``str`` of each value as an Arrow large_string array (None as the empty text, which
    the CSV writes for it)."""
    return text_array(values.tolist())


def _factorize(values: np.ndarray):
    """``(codes, dictionary)``: each value's index into the Arrow array of distinct values (in
    order of first appearance); floats are told apart by their bits."""
    import pyarrow.compute as pc

    kind = values.dtype.kind
    if kind == "f":
        array = from_numpy(values.view(np.int64))
    elif kind == "b":
        array = from_numpy(values.view(np.uint8))
    elif kind in "iu":
        array = from_numpy(values)
    else:
        array = _arrow_text(values)
    encoded = pc.dictionary_encode(array)
    return to_numpy(encoded.indices), encoded.dictionary


def _text_cells(texts: list[str]) -> np.ndarray:
    """Strings as UTF-8 cells padded with zero bytes."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in encoded], out=offsets[1:])
    return _padded(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)


def _padded(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Variable-length byte strings (``data[offsets[i]:offsets[i + 1]]``) as rows of a matrix
    padded with zero bytes."""
    lengths = np.diff(offsets)
    width = max(1, int(lengths.max(initial=0)))
    text = np.zeros((len(lengths), width), dtype=np.uint8)
    if width <= _GATHER_WIDTH:  # one gather per place: no temporaries of a byte's size
        starts, last = offsets[:-1], max(len(data) - 1, 0)
        for j in range(width if len(data) else 0):
            text[:, j] = np.where(lengths > j, data[np.minimum(starts + j, last)], 0)
        return text
    text.reshape(-1)[np.repeat(np.arange(len(lengths)) * width - offsets[:-1], lengths)
                     + np.arange(len(data))] = data
    return text


def _scale(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """a · 10**k by exact powers of ten: one product, and for the values beyond 10**±22 (tiny
    probabilities) more, on those values only."""
    step = np.clip(k, -22, 22)
    out = a * _POW10[step + 22]
    far = np.flatnonzero(step != k)
    rest = (k - step)[far]
    while far.size:
        step = np.clip(rest, -22, 22)
        out[far] *= _POW10[step + 22]
        rest = rest - step
        keep = rest != 0
        far, rest = far[keep], rest[keep]
    return out


@functools.cache
def _layout(key: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unsigned %.6g layout of a decimal exponent and a number of significant digits
    (``key = (exponent − _EMIN) · 6 + digits − 1``): the places that take a digit, which of the
    six digits each takes, and the constant characters elsewhere (zero after the end)."""
    e, digits = divmod(key, 6)
    e, digits = e + _EMIN, digits + 1
    letters = "ABCDEF"
    if 0 <= e < 6:
        text = letters[:e + 1] + ("." + letters[e + 1:digits] if digits > e + 1 else "")
    elif -4 <= e < 0:
        text = "0." + "0" * (-e - 1) + letters[:digits]
    else:
        text = "A" + ("." + letters[1:digits] if digits > 1 else "") + f"e{e:+03d}"
    constant = np.zeros(_WIDTH_6G - 1, dtype=np.uint8)
    constant[:len(text)] = np.frombuffer(text.encode(), dtype=np.uint8)
    place = np.array([j for j, c in enumerate(text) if c in letters], dtype=np.intp)
    source = np.array([letters.index(text[j]) for j in place], dtype=np.intp)
    return place, source, constant


def _float_cells(v: np.ndarray, text: np.ndarray) -> None:
    """Write ``%.6g`` of each value into the zero rows of ``text`` (NaN: nothing)."""
    regular = np.flatnonzero(np.isfinite(v) & (v != 0))
    a = np.abs(v[regular])
    e = np.floor(np.log10(a)).astype(np.intp)
    s = _scale(a, 5 - e)
    # Where log10 was a place off, the exponent moves and that value is scaled again; the
    # others keep their product (the same one, computed once).
    off = np.flatnonzero((s < 1e5) | (s >= 1e6))
    e[off] += (s[off] >= 1e6).astype(np.intp) - (s[off] < 1e5)
    s[off] = _scale(a[off], 5 - e[off])  # now in [1e5, 1e6), up to rounding
    floor = np.floor(s)
    m = floor + (s - floor >= 0.5)
    # %g rounds the exact binary value: where float arithmetic lands this close to a half, or
    # the exponent is extreme, Python decides below.
    python = (np.abs(s - floor - 0.5) < 1e-6) | (e <= _EMIN) | (e >= _EMAX)
    carry = m >= 1e6
    m[carry] = 1e5
    e += carry
    rest = m.astype(np.int32)
    digits = np.empty((len(regular), 8), dtype=np.uint8)  # 6 used: one uint64 per value
    count = np.full(len(regular), 6, dtype=np.intp)  # significant digits without trailing 0s
    for j in range(5, -1, -1):
        rest, digits[:, j] = np.divmod(rest, 10)
        if j:
            count -= (count == j + 1) & (digits[:, j] == 0)
    digits += 48
    negative = v[regular] < 0
    layout = ((np.clip(e, _EMIN, _EMAX) - _EMIN) * 12 + (count - 1) * 2 + negative)
    layout = layout.astype(np.int16)
    order = np.argsort(layout, kind="stable")  # a radix sort for 16-bit keys
    ordered = layout[order]
    digits = digits.view(np.uint64)[:, 0][order].view(np.uint8).reshape(-1, 8)
    cells = np.zeros((len(order), 16), dtype=np.uint8)  # 13 used: one 16-byte item a value
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(order)] if len(order) else []):
        which, minus = divmod(int(ordered[lo]), 2)
        place, source, constant = _layout(which)
        block = cells[lo:hi, minus:minus + _WIDTH_6G - 1]
        block[:] = constant
        block[:, place] = digits[lo:hi][:, source]
        if minus:
            cells[lo:hi, 0] = 45
    # Back in the values' order: a gather of 16-byte items (a scatter of 13-byte rows is 2-5×
    # slower), then one copy.
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    cells = cells.view(np.dtype((np.void, 16)))[:, 0][inverse].view(np.uint8).reshape(-1, 16)
    if len(regular) == len(v):
        text[:] = cells[:, :_WIDTH_6G]
    else:
        text[regular] = cells[:, :_WIDTH_6G]
    zero = np.flatnonzero(v == 0)
    minus = np.signbit(v[zero])
    text[zero[~minus], 0] = 48
    text[zero[minus], :2] = (45, 48)
    for i in [*np.flatnonzero(np.isinf(v)).tolist(), *regular[python].tolist()]:
        t = f"{v[i]:.6g}".encode()
        text[i] = 0
        text[i, :len(t)] = np.frombuffer(t, np.uint8)
