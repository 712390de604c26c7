"""numpy ↔ Arrow for the audit's hot path, through the arrays' buffers.

pyarrow's own conversions (``pa.array(ndarray)``, ``pa.scalar``, ``Array.to_numpy``) import
pandas on their first use, 0.2 s of a large audit's 2 s; these do the same for the types the
audit passes (integers, floats, booleans, text) without it.

Examples:
    >>> to_numpy(from_numpy(np.array([3, 1, 2]))).tolist()
    [3, 1, 2]
    >>> to_numpy(text_array(["b", "ä", ""])).tolist()
    ['b', 'ä', '']
"""

from __future__ import annotations

import numpy as np


def from_numpy(values: np.ndarray):
    """A 1-D numpy array of integers, floats or booleans as an Arrow array without nulls
    (zero-copy for numbers)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.dtype.kind == "b":
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise TypeError(f"from_numpy takes a 1-D array of numbers or booleans, not {values.dtype}")
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [None, pa.py_buffer(values)])


def text_array(values):
    """``str`` of each value (any sequence; None as the empty text) as an Arrow
    ``large_string`` array."""
    import pyarrow as pa

    values = ["" if value is None else value if isinstance(value, str) else str(value)
              for value in values]
    # All joined by NUL and encoded once; each text ends where a NUL is. A text holding a NUL
    # itself is encoded one by one.
    data = np.frombuffer("\0".join(values).encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(data == 0)
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    if len(ends) == max(len(values) - 1, 0):
        offsets[1:-1] = ends - np.arange(len(ends))
        offsets[-1] = len(data) - len(ends)
        data = data[data != 0] if len(ends) else data
    else:
        encoded = [value.encode("utf-8") for value in values]
        np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return pa.Array.from_buffers(pa.large_string(), len(values),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def to_numpy(array) -> np.ndarray:
    """An Arrow array (or chunked array) as numpy: numbers and booleans as their dtype (a null
    number as NaN in a float64 array, a null boolean as False), text and anything else as an
    object array of Python values (None for null)."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    kind = array.type
    n, offset = len(array), array.offset
    if pa.types.is_boolean(kind):
        validity, data = array.buffers()[:2]
        values = _bits(data, offset, n)
        return values & _bits(validity, offset, n) if array.null_count else values
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = _numbers(array)
        if array.null_count:
            values = np.where(_bits(array.buffers()[0], offset, n), values.astype(np.float64),
                              np.nan)
        return values
    return np.array(array.to_pylist(), dtype=object)


def dictionary_codes(array, null: int = -1) -> np.ndarray:
    """An Arrow array of integer codes (dictionary indices) as numpy, ``null`` where null."""
    values = _numbers(array)
    if not array.null_count:
        return values
    return np.where(_bits(array.buffers()[0], array.offset, len(array)), values, null)


def _numbers(array) -> np.ndarray:
    """An Arrow integer or float array's values as numpy (a view of its buffer; whatever its
    null slots hold)."""
    import pyarrow as pa

    kind, n, offset = array.type, len(array), array.offset
    if pa.types.is_floating(kind):
        dtype = np.dtype(f"float{kind.bit_width}")
    else:
        dtype = np.dtype(f"{'int' if pa.types.is_signed_integer(kind) else 'uint'}"
                         f"{kind.bit_width}")
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=offset + n)[offset:] if n else \
        np.empty(0, dtype)


def _bits(buffer, offset: int, n: int) -> np.ndarray:
    """Bits ``offset:offset + n`` of an Arrow bitmap as booleans."""
    return np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little",
                         count=offset + n)[offset:].view(bool)
