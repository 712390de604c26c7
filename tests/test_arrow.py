"""numpy ↔ Arrow through the buffers (dqlabels._arrow): the same values as pyarrow's own
conversions, on slices, nulls, booleans and text, without importing pandas."""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from dqlabels._arrow import dictionary_codes, from_numpy, text_array, to_numpy


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16", "float32", "float64"])
def test_numbers_round_trip_and_match_pyarrow(dtype):
    values = (np.arange(-5, 20) * 3).astype(dtype) if dtype[0] != "u" else \
        np.arange(25).astype(dtype)
    array = from_numpy(values)
    assert array.type == pa.from_numpy_dtype(np.dtype(dtype))
    assert array.to_pylist() == values.tolist()
    assert to_numpy(array).tolist() == values.tolist()
    assert to_numpy(array.slice(7, 9)).tolist() == values[7:16].tolist()


def test_nulls_become_nan_and_false():
    numbers = pa.array([1, None, 3, None, 5], pa.int32()).slice(1)
    assert np.array_equal(to_numpy(numbers), [np.nan, 3, np.nan, 5], equal_nan=True)
    flags = pa.array([True, None, True, False, True, None, True, True, False, True]).slice(3)
    assert to_numpy(flags).tolist() == [False, True, False, True, True, False, True]
    assert to_numpy(from_numpy(np.array([True, False, True]))).tolist() == [True, False, True]


def test_dictionary_codes_with_nulls_as_minus_one():
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(["b", None, "a", "b", None, "c"]).slice(1))
    assert dictionary_codes(encoded.indices).tolist() == [-1, 0, 1, -1, 2]
    assert encoded.dictionary.to_pylist() == ["a", "b", "c"]
    assert dictionary_codes(pa.array([3, 1], pa.int8())).tolist() == [3, 1]


def test_text_and_chunks():
    words = ["b", "ä", "", "a,b", "x" * 300, "nul\0inside", ""]
    assert text_array(words).to_pylist() == words
    assert to_numpy(text_array(words)).tolist() == words
    assert to_numpy(pa.array(["x", None, "y"])).tolist() == ["x", None, "y"]
    chunked = pa.chunked_array([pa.array([1, 2]), pa.array([3])])
    assert to_numpy(chunked).tolist() == [1, 2, 3]
    assert to_numpy(pa.chunked_array([], pa.int64())).tolist() == []


def test_no_pandas_import():
    code = ("import sys, numpy as np, pyarrow.compute as pc\n"
            "from dqlabels._arrow import dictionary_codes, from_numpy, text_array, to_numpy\n"
            "a = from_numpy(np.arange(5)); t = text_array(['x', 'y'])\n"
            "to_numpy(pc.sort_indices(t)); to_numpy(pc.equal(a, a)); to_numpy(t)\n"
            "print(any(m.split('.')[0] == 'pandas' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_sliced_arrays_nulls_stay_on_their_rows():
    """The validity bitmap is read from the slice's offset, not from the buffer's start."""
    full = pa.array([1.0, None, 3.0, 4.0, None, 6.0, 7.0, None, 9.0, 10.0, 11.0])
    for start, length in ((1, 6), (3, 5), (4, 7)):
        part = full.slice(start, length)
        expected = [np.nan if v is None else v for v in full.to_pylist()[start:start + length]]
        np.testing.assert_array_equal(to_numpy(part), np.array(expected))
    codes = pa.array(["a", None, "b", "a", None, "c", "b"]).dictionary_encode()
    for start, length in ((1, 5), (2, 5)):
        part = codes.slice(start, length)
        # by hand: a→0, b→1, c→2 in order of appearance; None → −1
        expected = [{"a": 0, "b": 1, "c": 2}.get(v, -1)
                    for v in ["a", None, "b", "a", None, "c", "b"][start:start + length]]
        assert dictionary_codes(part.indices).tolist() == expected
