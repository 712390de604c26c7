import json

import numpy as np
import pandas as pd
import pytest

from dqlabels import InputError, from_counts, from_long, read_annotations

LONG = """item,annotator,label
b,u1,dog
a,u1,cat
a,u2,cat
a,u3,dog
b,u2,dog
c,u1,
c,u2,fox
"""


def test_long_csv_counts_items_classes(write):
    ann = read_annotations(write("a.csv", LONG))
    assert ann.format == "long"
    assert list(ann.items) == ["a", "b", "c"]
    assert ann.classes == ("cat", "dog", "fox")
    # a: cat cat dog; b: dog dog; c: fox (one label missing, dropped)
    assert ann.counts.tolist() == [[2, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert ann.num_dropped == 1
    assert ann.num_annotations == 6
    assert ann.num_annotators == 2 + 1  # u1 u2 u3
    assert list(ann.annotators) == ["u1", "u2", "u3"]
    # The annotation triplets agree with the counts.
    rebuilt = np.zeros((3, 3), int)
    np.add.at(rebuilt, (ann.item_index, ann.label_index), 1)
    assert rebuilt.tolist() == ann.counts.tolist()


def test_aliases_are_case_insensitive_and_annotator_optional(write):
    ann = read_annotations(write("a.csv", "Task,Answer\nx,1\nx,2\ny,2\n"))
    assert ann.counts.tolist() == [[1, 1], [0, 1]]
    assert ann.annotators is None and ann.num_annotators is None


def test_integer_labels_and_items_sort_numerically(write):
    ann = read_annotations(write("a.csv", "item,label\n10,10\n9,2\n10,1\n2,2\n"))
    assert ann.classes == ("1", "2", "10")
    assert list(ann.items) == ["2", "9", "10"]
    assert ann.counts.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_classes_option_orders_and_adds_unchosen(write):
    ann = read_annotations(write("a.csv", LONG), classes=["fox", "dog", "cat", "owl"])
    assert ann.classes == ("fox", "dog", "cat", "owl")
    assert ann.counts.tolist() == [[0, 1, 2, 0], [0, 2, 0, 0], [1, 0, 0, 0]]


def test_unknown_class_under_classes_names_line(write):
    with pytest.raises(InputError, match=r"line 3: label 'cat' is not one of the classes"):
        read_annotations(write("a.csv", LONG), classes=["dog", "fox"])


def test_tsv_and_parquet_match_csv(write, tmp_path):
    csv_ann = read_annotations(write("a.csv", LONG))
    tsv_ann = read_annotations(write("a.tsv", LONG.replace(",", "\t")))
    pd.read_csv(tmp_path / "a.csv").to_parquet(tmp_path / "a.parquet")
    pq_ann = read_annotations(tmp_path / "a.parquet")
    for other in (tsv_ann, pq_ann):
        assert other.counts.tolist() == csv_ann.counts.tolist()
        assert list(other.items) == list(csv_ann.items)
        assert other.classes == csv_ann.classes


def test_wide_annotator_matrix(write):
    text = "item,alice,bob,carol\ni1,cat,dog,cat\ni2,,dog,\ni3,,,\n"
    ann = read_annotations(write("w.csv", text))
    assert ann.format == "wide"
    assert list(ann.items) == ["i1", "i2"]
    assert list(ann.empty_items) == ["i3"]
    assert ann.counts.tolist() == [[2, 1], [0, 1]]
    assert list(ann.annotators) == ["alice", "bob", "carol"]


def test_wide_with_class_numbers_needs_format(write):
    text = "item,a1,a2\ni1,0,1\ni2,1,\n"
    ann = read_annotations(write("w.csv", text), format="wide")
    assert ann.classes == ("0", "1")
    assert ann.counts.tolist() == [[1, 1], [0, 1]]


def test_counts_and_probs_tables(write):
    counts = read_annotations(write("c.csv", "item,dog,cat\nx,1,3\ny,0,0\nz,2,2\n"),
                              format="counts")
    assert counts.format == "counts"
    assert counts.classes == ("cat", "dog")  # sorted by name
    assert counts.counts.tolist() == [[3, 1], [2, 2]]
    assert list(counts.empty_items) == ["y"]
    probs = read_annotations(write("p.csv", "item,cat,dog\nx,0.25,0.75\nz,0.5,0.5\n"))
    assert probs.format == "probs" and probs.is_distribution
    assert probs.num_annotations is None
    assert probs.counts.tolist() == [[0.25, 0.75], [0.5, 0.5]]


def test_npy_counts_and_classes(tmp_path):
    np.save(tmp_path / "c.npy", np.array([[1, 2], [3, 0]]))
    ann = read_annotations(tmp_path / "c.npy", classes=["a", "b"])
    assert ann.counts.tolist() == [[1, 2], [3, 0]]
    assert ann.classes == ("a", "b") and list(ann.items) == ["0", "1"]


def test_dcic_json_skips_null_labels(write):
    data = [
        {"annotations": [{"image_path": "fold1/a.png", "class_label": "x"},
                         {"image_path": "fold1/b.png", "class_label": None}]},
        {"annotations": [{"image_path": "fold1/a.png", "class_label": "y"},
                         {"image_path": "fold1/b.png", "class_label": "y"}]},
    ]
    ann = read_annotations(write("annotations.json", json.dumps(data)))
    assert ann.format == "dcic"
    assert list(ann.items) == ["fold1/a.png", "fold1/b.png"]
    assert ann.counts.tolist() == [[1, 1], [0, 1]]
    assert ann.num_dropped == 1


def test_duplicates_policies(write):
    text = "item,annotator,label\na,u1,cat\na,u1,dog\na,u2,dog\n"
    path = write("d.csv", text)
    with pytest.raises(InputError, match=r"line 3: annotator 'u1' already labelled item 'a'"):
        read_annotations(path)
    assert read_annotations(path, duplicates="keep").counts.tolist() == [[1, 2]]
    assert read_annotations(path, duplicates="last").counts.tolist() == [[0, 2]]


def test_from_long_and_from_counts():
    ann = from_long(["b", "a", "a"], ["x", "y", None], ["u", "u", "v"])
    assert list(ann.items) == ["a", "b"] and ann.classes == ("x", "y")
    assert ann.counts.tolist() == [[0, 1], [1, 0]]  # a: y (its None dropped); b: x
    assert ann.num_dropped == 1
    ann2 = from_counts([[1, 0], [2, 3]], items=["p", "q"], classes=["a", "b"])
    assert ann2.counts.tolist() == [[1, 0], [2, 3]]
    assert ann2.counts.dtype.kind == "i"


def _fields(ann):
    return (ann.items.tolist(), ann.classes, ann.counts.tolist(), ann.item_index.tolist(),
            ann.label_index.tolist(), ann.annotator_index.tolist(), ann.annotators.tolist(),
            ann.num_dropped, ann.empty_items.tolist())


def test_text_columns_encoded_by_the_csv_reader_match_a_plain_read(write, monkeypatch):
    """A long CSV's item, annotator and label columns arrive dictionary-encoded from the
    reader (a dictionary per 1 MB block); the codes and names equal those of a plain read
    encoded afterwards: ids that first appear in later blocks, missing labels and ids, quoted
    text; and ids that look like numbers stay text as written (7.0 is not 7)."""
    from dqlabels.readers import annotations as module

    rng = np.random.default_rng(3)
    rows, missing = ["item,annotator,label"], 0
    for i in range(60_000):  # about 1.6 MB: several blocks
        item = f"img{rng.integers(0, 9_000 if i < 30_000 else 12_000)}"
        label = ["cat", "dog", '"a, b"', ""][rng.integers(0, 4)]
        missing += label == ""
        rows.append(f"{item},w{rng.integers(0, 40 if i < 50_000 else 45)},{label}")
    text = "\n".join(rows) + "\n"
    numeric = "item,annotator,label\n7.0,u1,1\n7,u2,2\n3,u1,1\n"
    path = write("big.csv", text)
    encoded = read_annotations(path, duplicates="keep")
    monkeypatch.setattr(module, "text_columns", lambda *a, **k: [])
    plain = read_annotations(path, duplicates="keep")
    monkeypatch.undo()
    assert _fields(encoded) == _fields(plain)
    assert encoded.classes == ("a, b", "cat", "dog")
    assert encoded.num_dropped == missing and encoded.num_annotations == 60_000 - missing
    assert encoded.num_annotators == 45
    # "7.0" and "7" are two items as written; "3" < "7" < "7.0" (not all integers: as text)
    assert read_annotations(write("n.csv", numeric)).items.tolist() == ["3", "7", "7.0"]


def test_parquet_dictionary_with_unused_values_makes_no_empty_items(tmp_path):
    """A Parquet file's dictionary may list values no row has (a pandas category never used):
    they are not items."""
    frame = pd.DataFrame({"item": pd.Categorical(["b", "a", "b"], categories=["a", "b", "zz"]),
                          "annotator": ["u1", "u1", "u2"], "label": ["x", "y", "x"]})
    frame.to_parquet(tmp_path / "a.parquet")
    ann = read_annotations(tmp_path / "a.parquet")
    assert ann.items.tolist() == ["a", "b"]
    assert ann.empty_items.tolist() == []
    assert ann.counts.tolist() == [[0, 1], [2, 0]]


def _ids_table(write, rows):
    """item + one column holding a different whole number on each row (a running number)."""
    return write(f"ids{rows}.csv", "item,ref\n" + "".join(f"i{i},{100 + 7 * i}\n"
                                                          for i in range(rows)))


def test_a_column_of_ids_on_ten_rows_is_refused_as_ids_and_on_nine_as_two_readings(write):
    """Both sides of the id-like boundary (ID_LIKE_ROWS = 10): ten rows of distinct whole
    numbers read like ids; nine are too few to say, and the table is refused as one that reads
    two ways (counts or class numbers), never read as counts."""
    with pytest.raises(InputError, match="like ids rather than counts"):
        read_annotations(_ids_table(write, 10))
    with pytest.raises(InputError, match="reads two ways") as refused:
        read_annotations(_ids_table(write, 9))
    assert "like ids" not in str(refused.value)


def test_a_probabilities_file_with_distinct_values_and_whole_cells_is_read(write):
    """Twelve rows of probabilities: column a holds a different value on every row, and some
    cells are whole (0 and 1). Not ids: the rows are fractions."""
    rows = [(0.0, 1.0)] + [(round(0.05 * i, 2), round(1 - 0.05 * i, 2)) for i in range(1, 11)] \
        + [(1.0, 0.0)]
    path = write("p12.csv", "item,a,b\n" + "".join(f"x{i:02d},{a},{b}\n"
                                                   for i, (a, b) in enumerate(rows)))
    ann = read_annotations(path)
    assert ann.format == "probs" and ann.num_items == 12
    np.testing.assert_allclose(ann.counts[:, 0], [r[0] for r in rows])


def test_a_table_of_one_row_per_item_without_an_item_alias_uses_its_first_text_column(write):
    """format=counts on columns no alias names: the first column holding text is the item
    (mutmut's survivors in _from_item_rows); one holding numbers is a class, and items are
    numbered from 0; an empty item cell, and a table of nothing but its item, are refused."""
    named = read_annotations(write("n.csv", "name,cat,dog\nb,1,2\na,3,0\n"), format="counts")
    assert named.items.tolist() == ["a", "b"] and named.classes == ("cat", "dog")
    assert named.counts.tolist() == [[3, 0], [1, 2]]
    numbered = read_annotations(write("m.csv", "x,cat,dog\n5,1,2\n7,3,0\n"), format="counts")
    assert numbered.items.tolist() == ["0", "1"] and numbered.classes == ("cat", "dog", "x")
    with pytest.raises(InputError, match=r"line 3: missing item id in column 'name'"):
        read_annotations(write("e.csv", "name,cat,dog\nb,1,2\n,3,0\n"), format="counts")
    with pytest.raises(InputError, match=r"no class columns found; found only item"):
        read_annotations(write("o.csv", "item\na\nb\n"), format="counts")
