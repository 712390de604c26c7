"""What mutmut's survivors of ``dqlabels/readers/layouts.py`` showed no test looked at
(issue 37; benchmarks/README.md, "mutmut"): an export's gold answers, whole refusals word for
word (each written out here from its input), the columns read as text, annotator matrices with
an empty annotator or without an item column, and ``.npy`` edge cases."""

import numpy as np
import pytest

from dqlabels import InputError, read_annotations
from dqlabels.readers.layouts import check_classes, text_columns

TOLOKA = "INPUT:image\tOUTPUT:result\tGOLDEN:result\tASSIGNMENT:worker_id\n"


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path, **options):
    with pytest.raises(InputError) as refused:
        read_annotations(path, **options)
    return str(refused.value)


# ----------------------------------------------------------------------------------------------
# An export's gold answers


def test_export_gold_of_the_first_class_and_of_an_item_without_answers(tmp_path):
    """Item 001's gold is cat, the first class (index 0); 002 has none; 003's only row has a
    gold answer but no answer, so 003 is not an item and its gold is dropped."""
    path = _file(tmp_path, "t.tsv", TOLOKA + "001\tcat\tcat\tw1\n001\tdog\tcat\tw2\n"
                                             "002\tdog\t\tw1\n003\t\tdog\tw1\n")
    ann = read_annotations(path)
    assert ann.items.tolist() == ["001", "002"] and ann.classes == ("cat", "dog")
    assert ann.gold.tolist() == [0, -1]
    assert ann.counts.tolist() == [[1, 1], [0, 1]]


def test_export_gold_not_a_class_names_its_first_row(tmp_path):
    path = _file(tmp_path, "u.tsv", TOLOKA + "001\tcat\tcat\tw1\n001\tdog\tbird\tw2\n"
                                             "002\tdog\tfish\tw1\n")
    assert _refusal(path) == (f"{path}: line 3: gold answer 'bird' is not one of the classes "
                              f"(cat, dog); pass classes=... to add it")


def test_export_gold_that_contradicts_itself_names_the_first_clash(tmp_path):
    """Lines 2 and 5 give item 001 cat and dog, lines 3 and 4 give 002 dog and cat; the later
    row is kept, so line 2 is the first that disagrees (line 3 the second)."""
    path = _file(tmp_path, "v.tsv", TOLOKA + "001\tcat\tcat\tw1\n002\tdog\tdog\tw1\n"
                                             "002\tcat\tcat\tw2\n001\tdog\tdog\tw2\n")
    assert _refusal(path) == (f"{path}: line 2: gold answer 'cat' for item '001' contradicts "
                              f"another row's 'dog'")


def test_an_export_with_an_empty_gold_column_has_no_gold(tmp_path):
    path = _file(tmp_path, "w.tsv", TOLOKA + "001\tcat\t\tw1\n002\tdog\t\tw2\n")
    assert read_annotations(path).gold is None


# ----------------------------------------------------------------------------------------------
# Columns and layouts, refused word for word


def test_a_named_column_that_is_not_there(tmp_path):
    path = _file(tmp_path, "a.csv", "item,label\nx,cat\n")
    assert _refusal(path, item_column="nope") == (
        f"{path}: no column 'nope' (item_column=nope); found item, label")
    assert _refusal(path, label_column="nope") == (
        f"{path}: no column 'nope' (label_column=nope); found item, label")


def test_an_annotator_column_alone_makes_a_long_table_that_needs_an_item(tmp_path):
    path = _file(tmp_path, "b.csv", "a,b,c\nx,w,cat\n")
    assert _refusal(path, annotator_column="b") == (
        f"{path}: no item column (none is called item, task, image, id, …); found a, b, c; "
        f"name it with item_column=NAME")


def test_a_long_table_without_an_item_or_a_label_column(tmp_path):
    path = _file(tmp_path, "c.csv", "a,label\nx,cat\n")
    assert _refusal(path, format="long") == (
        f"{path}: no item column (none is called item, task, image, id, …); found a, label; "
        f"name it with item_column=NAME")
    path = _file(tmp_path, "d.csv", "item,a\nx,cat\n")
    assert _refusal(path, format="long") == (
        f"{path}: no label column (none is called label, class, answer, class_label, …); "
        f"found item, a; name it with label_column=NAME")


def test_an_item_column_alone(tmp_path):
    path = _file(tmp_path, "e.csv", "item\nx\ny\n")
    assert _refusal(path) == f"{path}: no class columns found; found only item"
    assert _refusal(path, format="counts") == f"{path}: no class columns found; found only item"


def test_a_table_of_no_known_columns_says_how_many_are_numbers(tmp_path):
    path = _file(tmp_path, "f.csv", "a,b,c\nx,1,2\n")
    assert _refusal(path) == (
        f"{path}: cannot tell what a row is: no column is named like an item (item, task, "
        f"image, id, …) or a label (label, class, answer, …); found columns a, b, c (2 of them "
        f"numbers). For one row per annotation pass item_column=NAME and label_column=NAME "
        f"(annotator_column=NAME too); for one row per item pass format=counts, format=probs "
        f"or format=wide with item_column=NAME")


def test_counts_refusals_name_the_cell(tmp_path):
    path = _file(tmp_path, "g.csv", "item,cat,dog\nx,1,2\ny,,1\n")
    assert _refusal(path, format="counts") == (
        f"{path}: line 3: missing value in column 'cat' (counts and probs need every cell; an "
        f"annotator matrix needs format=wide)")
    path = _file(tmp_path, "h.csv", "item,cat,dog\nx,,2\ny,,1\n")  # a column with no value
    assert _refusal(path, format="counts") == (
        f"{path}: line 2: missing value in column 'cat' (counts and probs need every cell; an "
        f"annotator matrix needs format=wide)")
    path = _file(tmp_path, "i.csv", "item,cat,dog\n,1,2\n")
    assert _refusal(path, format="counts") == f"{path}: line 2: missing item id in column 'item'"
    path = _file(tmp_path, "j.csv", "item,cat,dog\nx,1,2\ny,1,2.5\nz,0.5,1\n")
    assert _refusal(path, format="counts") == (
        f"{path}: line 3: column 'dog' holds 2.5, expected a whole-number count")
    assert _refusal(path) == (
        f"{path}: line 3: column 'dog' holds 2.5; counts must be whole numbers, and rows of "
        f"probabilities must sum to 1")


def test_an_item_on_two_rows_names_both(tmp_path):
    """Sorted, the ids are a, b, b: the repeat is not at the start of the order."""
    path = _file(tmp_path, "k.csv", "item,cat,dog\nb,1,2\na,1,0\nb,0,1\n")
    assert _refusal(path, format="counts") == (
        f"{path}: line 4: item 'b' repeats the item of line 2 (read as one row per item; for one "
        f"row per annotation name the columns with item_column=NAME and label_column=NAME)")
    path = _file(tmp_path, "l.csv", "item,ann1,ann2\nb,cat,dog\na,cat,cat\nb,dog,dog\n")
    assert _refusal(path) == (
        f"{path}: line 4: item 'b' repeats the item of line 2 (read as one row per item; for one "
        f"row per annotation name the columns with item_column=NAME and label_column=NAME)")


def test_ids_like_counts_name_the_item_column(tmp_path):
    rows = "".join(f"q{i},{100 + i},{i % 2}\n" for i in range(10))
    path = _file(tmp_path, "m.csv", "question,a,b\n" + rows)
    message = _refusal(path, classes=("a", "b"))
    assert message == (
        f"{path}: column 'a' holds a different number on each of its 10 rows, like ids rather "
        f"than counts of annotations; read as counts it would be wrong. For one row per "
        f"annotation pass item_column=question and label_column=NAME (annotator_column=NAME "
        f"too); if these are counts, pass format=counts")


@pytest.mark.parametrize("columns, shown", [("a,b,c,d", "a, b, c, d"),
                                            ("a,b,c,d,e", "a, b, c, d, …")])
def test_whole_numbers_that_read_two_ways_show_four_columns(tmp_path, columns, shown):
    width = columns.count(",") + 1
    path = _file(tmp_path, "n.csv", f"item,{columns}\nx,{','.join(['1'] * width)}\n")
    assert _refusal(path) == (
        f"{path}: one row per item whose cells are whole numbers reads two ways: as counts "
        f"(columns {shown} are classes) or as an annotator matrix (they are annotators, each "
        f"cell a class number); say which with format=counts or format=wide")


def test_classes_listed_twice_names_the_repeated_one():
    with pytest.raises(InputError) as refused:
        check_classes("a,b,b")
    assert str(refused.value) == "classes: 'b' is listed twice"


# ----------------------------------------------------------------------------------------------
# What a one-row-per-item table keeps


def test_counts_keep_their_source_reading_and_notes(tmp_path):
    """The item column need not come first; spaces around ids are trimmed and said."""
    path = _file(tmp_path, "o.csv", "cat,dog,item\n1,2, x \n0,1,y\n")
    ann = read_annotations(path, format="counts")
    assert ann.items.tolist() == ["x", "y"] and ann.items.dtype == object
    assert ann.counts.tolist() == [[1, 2], [0, 1]] and ann.source == str(path)
    assert ann.reading["item"] == "item"
    assert "trimmed the spaces around 1 item id" in ann.notes


def test_an_annotator_matrix_keeps_its_source_annotators_notes_and_classes(tmp_path):
    """Annotator ann2 answered nothing (an empty column); Cat and cat are one class, cat (the
    more used spelling), with fold_case; a class given but never chosen is kept."""
    path = _file(tmp_path, "p.csv", "item,ann1,ann2,ann3\n x ,Cat,,cat\ny,cat,,dog\n")
    ann = read_annotations(path, format="wide", classes=("cat", "dog", "bird"), fold_case=True)
    assert ann.items.tolist() == ["x", "y"] and ann.source == str(path)
    assert ann.classes == ("cat", "dog", "bird") and ann.counts.tolist() == [[2, 0, 0],
                                                                             [1, 1, 0]]
    assert list(ann.annotators) == ["ann1", "ann2", "ann3"]
    assert sorted(zip(ann.item_index.tolist(), ann.annotator_index.tolist())) == \
        [(0, 0), (0, 2), (1, 0), (1, 2)]
    assert ann.reading["item"] == "item"
    assert "trimmed the spaces around 1 item id" in ann.notes
    assert read_annotations(_file(tmp_path, "q.csv", "item,ann1,ann2\nx,1,2\n")).format == "wide"


def test_an_annotator_matrix_refuses_a_class_not_given_on_its_line(tmp_path):
    path = _file(tmp_path, "r.csv", "item,ann1,ann2\nx,cat,cat\ny,cat,owl\n")
    message = _refusal(path, format="wide", classes=("cat", "dog"))
    assert message.startswith(f"{path}: line 3: ") and "'owl'" in message


def test_an_annotator_matrix_without_an_item_column_numbers_its_rows(tmp_path):
    path = _file(tmp_path, "s.csv", "ann1,ann2\n0,1\n1,1\n")
    ann = read_annotations(path, format="wide")
    assert ann.items.tolist() == ["0", "1"] and ann.counts.tolist() == [[1, 1], [0, 2]]


def test_a_long_table_with_an_empty_annotator_column_has_no_annotators(tmp_path):
    path = _file(tmp_path, "t.csv", "item,annotator,label\nx,,cat\ny,,dog\n")
    ann = read_annotations(path)
    assert ann.annotators is None and ann.counts.tolist() == [[1, 0], [0, 1]]
    path = _file(tmp_path, "u.csv", "item,annotator,label\nx, w1 ,cat\ny,w1,dog\n")
    assert "trimmed the spaces around 1 annotator id" in read_annotations(path).notes
    path = _file(tmp_path, "v.csv", "question,who,answer\nx,w1,cat\n,w1,dog\n")
    assert _refusal(path) == f"{path}: line 3: missing item id in column 'question'"


# ----------------------------------------------------------------------------------------------
# The columns read as text, from the header alone


def test_text_columns_by_hand():
    assert text_columns(["item", "label"]) == ["item", "label"]  # a label found: long
    assert text_columns(["item", "label", "annotator"]) == ["item", "label", "annotator"]
    assert text_columns(["item", "annotator", "x"], format="long") == ["item", "annotator"]
    assert text_columns(["id", "who", "what"], item_column="id", annotator_column="who") == \
        ["id", "who"]
    assert text_columns(["a", "b"]) == []  # no item column: nothing to keep as text
    assert text_columns(["item", "cat", "dog"]) == ["item"]  # counts: the ids only
    assert text_columns(["item", "ann1", "ann2"]) == ["item", "ann1", "ann2"]  # wide
    # A JSON tool's name is not a table export's: its columns are not all text.
    assert text_columns(["item", "label", "extra"], format="prodigy") == ["item"]
    toloka = ["INPUT:image", "OUTPUT:result", "extra"]
    assert text_columns(toloka) == toloka and text_columns(toloka, format="toloka") == toloka


# ----------------------------------------------------------------------------------------------
# .npy


def test_npy_of_booleans_given_classes_and_probabilities(tmp_path):
    np.save(tmp_path / "b.npy", np.array([[True, False], [True, True]]))
    ann = read_annotations(tmp_path / "b.npy", classes=("zebra", "ant"))
    assert ann.classes == ("zebra", "ant") and ann.counts.tolist() == [[1, 0], [1, 1]]
    assert ann.items.tolist() == ["0", "1"] and ann.items.dtype == object
    assert ann.source == str(tmp_path / "b.npy")
    np.save(tmp_path / "p.npy", np.eye(2))
    assert read_annotations(tmp_path / "p.npy", format="probs").is_distribution
    assert not read_annotations(tmp_path / "p.npy").is_distribution  # whole numbers: counts


def test_npy_refusals_word_for_word(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.array([[1 + 2j, 0]]))
    assert _refusal(path) == f"{path}: expected numbers, got dtype complex128"
    import zipfile

    # A broken header, and a zip signature (numpy then reads an .npz): numpy's reason, as numpy
    # words it.
    for name, content in (("t.npy", b"\x93NUMPY\x01\x00"), ("zip.npy", b"PK\x03\x04")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises((ValueError, zipfile.BadZipFile)) as numpy_says:
            np.load(path, allow_pickle=False)
        assert _refusal(path) == (f"{path}: not a readable .npy file "
                                  f"({str(numpy_says.value).splitlines()[0]})")
    np.savez(tmp_path / "two.npz", a=np.eye(2), b=np.eye(3))
    (tmp_path / "two.npz").rename(tmp_path / "two.npy")
    assert _refusal(tmp_path / "two.npy") == (f"{tmp_path / 'two.npy'}: an .npz archive of "
                                              f"arrays; expected one .npy matrix (save it with "
                                              f"numpy.save)")
    # Python objects (never unpickled), a class count that is not the columns', and a bad cell
    # named by its row, counted from 1.
    path = tmp_path / "o.npy"
    np.save(path, np.array([[{"a": 1}, 2]], dtype=object), allow_pickle=True)
    assert _refusal(path) == (f"{path}: holds Python objects (object dtype); expected a numeric "
                              f"counts or probs matrix")
    path = tmp_path / "n.npy"
    np.save(path, np.array([[1, 0], [0, 1], [2, -1]]))
    assert _refusal(path, classes=("a", "b", "c")) == f"{path}: 3 classes given for 2 columns"
    assert _refusal(path) == f"{path}: row 3: column '1' is negative (-1)"


def test_fold_case_takes_the_spelling_of_the_classes_given(tmp_path):
    """Cat is the more used spelling, but the classes given spell it cat: with fold_case every
    spelling becomes the given one (Dog, alone, too); without, the file's Cat is refused."""
    path = _file(tmp_path, "w.csv", "item,annotator,label\nx,a,Cat\nx,b,Cat\nx,c,cat\ny,a,Dog\n")
    ann = read_annotations(path, classes=("cat", "dog"), fold_case=True)
    assert ann.classes == ("cat", "dog") and ann.counts.tolist() == [[3, 0], [0, 1]]
    assert "merged classes that differ only by case: 'Cat', 'cat' into 'cat'; 'Dog' into 'dog'" \
        not in ann.notes  # the given spelling itself is not listed as merged
    assert "merged classes that differ only by case: 'Cat' into 'cat'; 'Dog' into 'dog'" in ann.notes
    assert _refusal(path, classes=("cat", "dog")).startswith(f"{path}: line 2: ")
    alone = read_annotations(path, fold_case=True)  # no classes given: the most used spelling
    assert alone.classes == ("Cat", "Dog") and alone.counts.tolist() == [[3, 0], [0, 1]]
    assert "merged classes that differ only by case: 'cat' into 'Cat'" in alone.notes


def test_an_annotator_matrix_of_class_names_and_case(tmp_path):
    """Without fold_case a Cat beside the classes given (cat, dog) is refused on its line;
    with it, Cat and cat become the given cat even where Cat is the more used."""
    path = _file(tmp_path, "x.csv", "item,ann1,ann2,ann3\nx,Cat,Cat,cat\ny,dog,dog,dog\n")
    assert _refusal(path, format="wide", classes=("cat", "dog")).startswith(f"{path}: line 2: ")
    ann = read_annotations(path, format="wide", classes=("cat", "dog"), fold_case=True)
    assert ann.classes == ("cat", "dog") and ann.counts.tolist() == [[3, 0], [0, 3]]


def test_a_parquet_annotator_matrix_of_class_numbers_reads_as_wide(tmp_path):
    """Integer cells under numbered annotators (ann1, ann2) are class numbers, not counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"item": ["x", "y"], "ann1": [0, 1], "ann2": [2, 1]}),
                   tmp_path / "m.parquet")
    ann = read_annotations(tmp_path / "m.parquet")
    assert ann.format == "wide" and ann.classes == ("0", "1", "2")
    assert ann.counts.tolist() == [[1, 0, 1], [0, 2, 0]]


def test_case_variants_named_merged_and_tied_by_hand(tmp_path):
    """Without fold_case two groups are named, apart; with it three spellings merge into the
    most used, a tie goes to the first in text order ("Cat" before "cat"), a missing label
    stays missing, and a file without spaces or case variants gets no note."""
    path = _file(tmp_path, "y.csv", "item,label\nx,Cat\nx2,cat\ny,Dog\ny2,dog\n")
    assert "classes that differ only by case: 'Cat' and 'cat'; 'Dog' and 'dog' (kept apart; " \
        "--fold-case, or fold_case=True in Python, merges them)" in read_annotations(path).notes
    path = _file(tmp_path, "z.csv", "item,label\nx,cat\nx2,CAT\nx3,Cat\nx4,cat\ny,\nz,dog\n")
    ann = read_annotations(path, fold_case=True)
    assert ann.classes == ("cat", "dog") and ann.counts.sum() == 5  # the empty label dropped
    assert "merged classes that differ only by case: 'CAT', 'Cat' into 'cat'" in ann.notes
    tie = read_annotations(_file(tmp_path, "t.csv", "item,label\nx,cat\ny,Cat\n"),
                           fold_case=True)
    assert tie.classes == ("Cat",) and tie.counts.tolist() == [[1], [1]]
    clean = read_annotations(_file(tmp_path, "c.csv", "item,label\nx,cat\ny,dog\n"))
    assert clean.notes == ()
    both = read_annotations(_file(tmp_path, "b.csv", "item,label\nx,Cat\ny,dog\n"),
                            classes=("Cat", "cat", "dog"))
    assert both.notes == ()  # Cat is a class given as written: nothing to say
