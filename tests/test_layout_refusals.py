"""Refusals of readers/layouts.py that the bad-input corpus does not reach (mutmut found them
untested), each message written out by hand from its input: what is wrong, and where."""

import numpy as np
import pytest

from dqlabels import InputError, from_counts, read_annotations


@pytest.fixture
def counts_file(tmp_path):
    path = tmp_path / "cd.csv"
    path.write_text("item,cat,dog\na,1,2\n")
    return path


@pytest.mark.parametrize("classes, message", [
    (["cat", ""], "Expected classes to be non-empty names. Received: ['cat', '']"),
    (["cat", "cat"], "classes: 'cat' is listed twice"),
])
def test_classes_given_must_be_distinct_names(counts_file, classes, message):
    with pytest.raises(InputError) as error:
        read_annotations(counts_file, format="counts", classes=classes)
    assert str(error.value) == message


def test_a_counts_table_names_the_column_that_is_not_a_class(counts_file, tmp_path):
    with pytest.raises(InputError) as error:
        read_annotations(counts_file, format="counts", classes=["cat", "owl"])
    assert str(error.value) == f"{counts_file}: column 'dog' is not one of the classes given " \
                               f"(cat, owl)"
    only_items = tmp_path / "items.csv"
    only_items.write_text("item\na\nb\n")
    with pytest.raises(InputError) as error:
        read_annotations(only_items, format="counts")
    assert str(error.value) == f"{only_items}: no class columns found; found only item"


@pytest.mark.parametrize("counts, message", [
    (np.zeros((0, 2)), "<arrays>: no items"),
    (np.zeros((2, 0)), "<arrays>: no class columns"),
    ([[1.0, 2.0], [1.0, np.nan]], "<arrays>: row 1: column '1' is missing or not finite"),
    ([[1.0, 1.0], [2.0, 1.5]], "<arrays>: row 1: column '1' holds 1.5; counts must be whole "
                               "numbers, and rows of probabilities must sum to 1"),
])
def test_arrays_of_counts_are_refused_where_they_are_wrong(counts, message):
    with pytest.raises(InputError) as error:
        from_counts(counts)
    assert str(error.value) == message


def test_the_first_wrong_cell_is_named_in_arrays_and_npy_files(tmp_path):
    # a zero before the negative cell: only the negative one is named
    with pytest.raises(InputError) as error:
        from_counts([[0, 1], [1, -1]])
    assert str(error.value) == "<arrays>: row 1: column '1' is negative (-1)"
    # two fractional cells: the first one (rows of arrays count from 0)
    with pytest.raises(InputError) as error:
        from_counts([[1.0, 1.0], [0.5, 2.5], [1.5, 0.0]])
    assert str(error.value).startswith("<arrays>: row 1: column '0' holds 0.5; counts must be")
    # an .npy file counts its rows from 1, as a reader of the file would
    negative = tmp_path / "neg.npy"
    np.save(negative, np.array([[0, 1], [1, -1]]))
    with pytest.raises(InputError) as error:
        read_annotations(negative)
    assert str(error.value) == f"{negative}: row 2: column '1' is negative (-1)"
    fractional = tmp_path / "frac.npy"
    np.save(fractional, np.array([[1.0, 1.0], [0.5, 2.5]]))
    with pytest.raises(InputError) as error:
        read_annotations(fractional)
    assert str(error.value).startswith(f"{fractional}: row 2: column '0' holds 0.5")
    with pytest.raises(InputError) as error:
        read_annotations(negative, classes=["a", "b", "c"])
    assert str(error.value) == f"{negative}: 3 classes given for 2 columns"
