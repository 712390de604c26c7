"""What the user wrote comes back as written: ids stay text in every reader and every output
(joined back to the input on their ids), a table that reads two ways is refused or settled by
its names, spaces and case are said aloud, guesses are said, and small samples are marked."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dqlabels import read_annotations
from dqlabels.readers.tables import natural_order
from dqlabels_cli.main import main

# Ids a spreadsheet or a number parser would change: leading zeros, integers past int64, text
# that parses as a float, an exponent or hex.
AWKWARD = ["001", "01", "1", "1.0", "1e3", "0x1F", "12345678901234567890",
           "12345678901234567891", "-5", "007"]
ANNOTATORS = ["007", "7", "0x1F", "12345678901234567890"]


def _write(path, header, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _column(path, name):
    with open(path, newline="", encoding="utf-8") as f:
        return [row[name] for row in csv.DictReader(f)]


def _campaign(tmp_path):
    # item i: its first i % 4 annotators say dog, the others cat (unanimous to split 2:2)
    rows = [(item, annotator, "dog" if a < i % 4 else "cat")
            for i, item in enumerate(AWKWARD) for a, annotator in enumerate(ANNOTATORS)]
    return _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)


def _evaluate(*args):
    result = CliRunner().invoke(main, ["evaluate", *map(str, args)])
    return result


def test_natural_order_keeps_ids_apart_and_sorts_big_integers():
    names = np.array(["10", "9", "001", "1", "01", "12345678901234567890", "-3",
                      "12345678901234567889"], dtype=object)
    # by value: -3, then the three ones (by their text: "001" < "01" < "1"), 9, 10, the two big
    expected = ["-3", "001", "01", "1", "9", "10", "12345678901234567889",
                "12345678901234567890"]
    assert names[natural_order(names)].tolist() == expected
    small = np.array(["10", "9", "001", "1", "01", "-3"], dtype=object)  # within int64
    assert small[natural_order(small)].tolist() == ["-3", "001", "01", "1", "9", "10"]


def test_every_output_joins_back_on_the_ids_as_written(tmp_path):
    path = _campaign(tmp_path)
    gold = _write(tmp_path / "gold.csv", ["item", "label"], [("001", "cat"), ("1", "dog")])
    predictions = _write(tmp_path / "p.csv", ["item", "cat", "dog"],
                         [(item, 0.3, 0.7) for item in AWKWARD])
    out = {name: tmp_path / name for name in ("l.csv", "a.csv", "r.json", "r.html", "plan.csv")}
    result = _evaluate(path, "--gold", gold, "--predictions", predictions, "--labels",
                       out["l.csv"], "--annotators", out["a.csv"], "--json", out["r.json"],
                       "--html", out["r.html"], "--plan-budget", 8, "--plan-out",
                       out["plan.csv"], "--no-crowdtruth")
    assert result.exit_code == 0, result.stderr
    assert sorted(_column(out["l.csv"], "item")) == sorted(AWKWARD)
    assert sorted(_column(out["a.csv"], "annotator")) == sorted(ANNOTATORS)
    assert set(_column(out["plan.csv"], "item")) <= set(AWKWARD)
    assert _column(out["plan.csv"], "item")  # the plan asked for something
    report = json.loads(out["r.json"].read_text())
    assert report["num_items"] == len(AWKWARD)
    assert sorted(a["annotator"] for a in report["annotators"]["per_annotator"]) == \
        sorted(ANNOTATORS)
    assert {e["item"] for e in report["most_ambiguous"]} <= set(AWKWARD)
    assert report["num_scored_items"] == len(AWKWARD)  # every prediction joined on its id
    assert report["gold"]["num_items"] == 2  # "001" and "1" are two gold items
    page = out["r.html"].read_text()
    for item in AWKWARD:
        assert f">{item}<" in page
    assert report["reading"]["item"] == "item" and report["reading"]["guessed"] is True


def test_parquet_integer_and_string_ids_keep_their_values(tmp_path):
    table = pa.table({"item": pa.array([7, 7, 12345678901234567, 3], pa.int64()),
                      "annotator": pa.array(["007", "7", "007", "7"]),
                      "label": pa.array(["a", "b", "a", "b"])})
    pq.write_table(table, tmp_path / "ann.parquet")
    ann = read_annotations(tmp_path / "ann.parquet")
    assert ann.items.tolist() == ["3", "7", "12345678901234567"]
    assert sorted(ann.annotators.tolist()) == ["007", "7"]


def test_a_table_of_class_numbers_is_wide_by_its_names_or_refused(tmp_path):
    rows = [(f"i{i}", i % 10, (i * 3) % 10, (i * 7) % 10) for i in range(12)]
    numbered = _write(tmp_path / "numbered.csv", ["item", "ann1", "ann2", "ann3"], rows)
    ann = read_annotations(numbered)
    assert ann.format == "wide" and ann.annotators.tolist() == ["ann1", "ann2", "ann3"]
    assert ann.num_classes == 10 and ann.num_annotations == 36
    named = _write(tmp_path / "named.csv", ["item", "alice", "bob", "carol"], rows)
    result = _evaluate(named)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--format counts or --format wide" in result.stderr
    assert read_annotations(named, format="wide").num_annotators == 3
    assert read_annotations(named, format="counts").classes == ("alice", "bob", "carol")
    # the classes given settle it: the columns are classes
    assert read_annotations(named, classes=["alice", "bob", "carol"]).format == "counts"
    probs = _write(tmp_path / "probs.csv", ["item", "cat", "dog"], [("a", 0.25, 0.75)])
    assert read_annotations(probs).format == "probs"  # fractions read one way only


def test_spaces_are_trimmed_and_said_and_case_variants_named_or_merged(tmp_path):
    rows = [("a", "u1", "cat"), ("a", "u2", "cat "), ("b", "u1", "Cat"), ("b ", "u2", "dog"),
            ("c", "u1", "cat")]
    path = _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    ann = read_annotations(path)
    assert ann.classes == ("Cat", "cat", "dog") and ann.items.tolist() == ["a", "b", "c"]
    assert ann.counts.tolist() == [[0, 2, 0], [1, 0, 1], [0, 1, 0]]
    assert "trimmed the spaces around 1 item id" in ann.notes
    assert "trimmed the spaces around 1 class name" in ann.notes
    assert any("'Cat' and 'cat'" in note for note in ann.notes)
    merged = read_annotations(path, fold_case=True)  # "cat" is used 3 times, "Cat" once
    assert merged.classes == ("cat", "dog")
    assert merged.counts.tolist() == [[2, 0], [1, 1], [1, 0]]
    result = _evaluate(path)
    assert "note: classes that differ only by case: 'Cat' and 'cat'" in result.output
    assert "--fold-case" in result.output


def test_the_first_line_says_what_was_guessed(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_bytes("\ufeffitem;worker;answer\na;w1;x\na;w2;y\nb;w1;x\n".encode())
    first = _evaluate(path).output.splitlines()[0]
    assert first == (f"Annotations: {path} (long, guessed; separator ';', UTF-8 with BOM; "
                     f"item 'item', annotator 'worker', label 'answer')")
    given = _evaluate(path, "--format", "long").output.splitlines()[0]
    assert "(long; separator ';'" in given


def test_one_annotator_makes_agreement_not_measurable(tmp_path):
    path = _write(tmp_path / "one.csv", ["item", "annotator", "label"],
                  [(f"i{i}", "solo", "ab"[i % 2]) for i in range(6)])
    result = _evaluate(path, "--json", tmp_path / "r.json")
    assert "unanimous items             not measurable" in result.output
    assert "agreement is not measurable: one annotator" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["num_unanimous"] is None and report["fleiss_kappa"] is None


@pytest.mark.parametrize("rows, extra, note", [
    ([("i0", "solo", "a"), ("i1", "solo", "b"), ("i2", "solo", "a")], [],
     "Agreement is not measurable: one annotator."),
    ([("i0", "0.2", "0.8"), ("i1", "1", "0")], ["--format", "probs"],
     "Soft labels given as probabilities carry no annotations to agree"),
])
def test_the_html_page_says_agreement_is_not_measurable(tmp_path, rows, extra, note):
    # the page once failed with a TypeError where the text said "not measurable"
    header = ["item", "cat", "dog"] if extra else ["item", "annotator", "label"]
    path = _write(tmp_path / "in.csv", header, rows)
    page = tmp_path / "r.html"
    result = _evaluate(path, "--html", page, *extra)
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<td>unanimous items</td><td class=\"n\">not measurable</td>" in text
    assert note in text.replace("&#x27;", "'")


def test_annotators_with_few_answers_are_listed_apart(tmp_path):
    # "busy" and "steady" answer 12 items each; "once" answers one item, against the others
    rows = [(f"i{i}", who, "a" if i % 3 else "b") for i in range(12) for who in
            ("busy", "steady")] + [("i0", "once", "a")]
    path = _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    out = tmp_path / "a.csv"
    result = _evaluate(path, "--annotators", out, "--html", tmp_path / "r.html",
                       "--no-crowdtruth")
    assert result.exit_code == 0, result.stderr
    lowest = next(line for line in result.output.splitlines() if "lowest:" in line)
    assert "once" not in lowest
    assert "1 annotator with fewer than 10 annotations not ranked" in result.output
    assert _column(out, "annotator")[-1] == "once"
    assert dict(zip(_column(out, "annotator"), _column(out, "few_answers"))) == \
        {"busy": "False", "steady": "False", "once": "True"}
    page = (tmp_path / "r.html").read_text()
    assert "Only annotators with at least 10 annotations are ranked" in page
    assert "Too few answers to rank (1)" in page


@pytest.mark.parametrize("ties", [3, 12])
def test_most_ambiguous_says_how_many_more_tie(tmp_path, ties):
    rows = [(f"t{i}", w, "ab"[k]) for i in range(ties) for k, w in enumerate(("u1", "u2"))]
    rows += [(f"s{i}", w, "a") for i in range(4) for w in ("u1", "u2")]
    path = _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    output = _evaluate(path, "--no-crowdtruth").output
    if ties > 5:  # five shown, the rest named as a count
        assert f"({ties - 5} more items with the same entropy, 0.693, not shown)" in output
    else:  # three ties and two of the four sure items shown: two more sure ones
        assert "(2 more items with the same entropy, 0.000, not shown)" in output


def test_an_annotator_with_exactly_ten_answers_is_ranked(tmp_path):
    """The rule is "fewer than 10": 10 answers are enough to be ranked, 9 are not."""
    rows = [(f"i{i}", who, "a" if i % 3 else "b") for i in range(12) for who in ("u1", "u2")]
    rows += [(f"i{i}", "ten", "b" if i % 3 else "a") for i in range(10)]
    rows += [(f"i{i}", "nine", "a") for i in range(9)]
    path = _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    out = tmp_path / "a.csv"
    result = _evaluate(path, "--annotators", out, "--no-crowdtruth")
    assert result.exit_code == 0, result.stderr
    few = dict(zip(_column(out, "annotator"), _column(out, "few_answers")))
    assert few == {"u1": "False", "u2": "False", "ten": "False", "nine": "True"}
    assert _column(out, "annotator")[-1] == "nine"
    least = result.output.split("least reliable annotators with at least 10 annotations")[1]
    assert "ten" in least.splitlines()[1]  # the worst of those ranked: it always disagrees


def test_a_dataset_folders_json_settles_a_table_that_reads_two_ways(tmp_path):
    """An annotation file that dataset.json names is read as dataset.json says: its
    annotations_format, or its classes (the columns are classes: counts); a file it does not
    name is refused as before."""
    import json as json_module

    rows = [(f"i{i}", i % 3, 3 - i % 3) for i in range(12)]
    path = _write(tmp_path / "annotations.csv", ["item", "cat", "dog"], rows)
    (tmp_path / "dataset.json").write_text(json_module.dumps({"classes": ["cat", "dog"]}))
    assert read_annotations(path).format == "counts"
    (tmp_path / "dataset.json").write_text(json_module.dumps({"annotations_format": "counts"}))
    ann = read_annotations(path)
    assert ann.format == "counts" and ann.reading["settled_by"] == "dataset.json"
    assert "(counts, as dataset.json says;" in _evaluate(path).output.splitlines()[0]
    other = _write(tmp_path / "other.csv", ["item", "cat", "dog"], rows)
    with pytest.raises(Exception, match="reads two ways"):
        read_annotations(other)


def test_disagreements_and_mean_agreement_by_hand(tmp_path):
    """Two annotators who agree and one who always answers the other class, on 12 items
    (mutmut's survivors in audit/annotators.py). Leave-one-out: each good annotation has one
    agreeing and one disagreeing other, a 2-way tie (credit 1/2); each bad one has two
    disagreeing others (0); mean over annotators (0.5 + 0.5 + 0) / 3. The majority vote is the
    good pair's label, so the bad annotator disagrees on all 12 items, the good ones on none."""
    rows = []
    for i in range(12):
        good, bad = ("b", "a") if i % 3 == 0 else ("a", "b")
        rows += [(f"i{i:02d}", "good1", good), (f"i{i:02d}", "good2", good),
                 (f"i{i:02d}", "bad", bad)]
    path = _write(tmp_path / "ann.csv", ["item", "annotator", "label"], rows)
    for switches, consensus in ((("--no-dawid-skene", "--no-crowdtruth"), "majority vote"),
                                (("--dawid-skene", "--no-crowdtruth"), "Dawid–Skene label"),
                                (("--no-dawid-skene", "--crowdtruth"), "weighted soft label")):
        result = _evaluate(path, *switches, "--json", tmp_path / "r.json", "--overwrite")
        assert result.exit_code == 0, result.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        table = report["annotators"]
        assert table["mean_agreement"] == pytest.approx(1 / 3)
        assert "leave-one-out majority" in table["agreement_definition"]
        assert {a["annotator"]: a["agreement"] for a in table["per_annotator"]} == \
            pytest.approx({"good1": 0.5, "good2": 0.5, "bad": 0.0})
        listed = report["annotator_disagreements"]
        assert listed["consensus"] == consensus
        by_name = {a["annotator"]: a for a in listed["annotators"]}
        assert by_name["bad"]["num_disagreements"] == 12
        assert by_name["good1"]["num_disagreements"] == by_name["good2"]["num_disagreements"] == 0
        assert by_name["bad"]["examples"][0] == {"item": "i00", "label": "a", "consensus": "b"}
        assert by_name["bad"]["examples"][1] == {"item": "i01", "label": "b", "consensus": "a"}


@pytest.mark.parametrize("case", ["counts", "counts-named-item", "wide-numbered", "wide-given",
                                  "long-named", "long-label-only", "mturk"])
def test_every_layout_keeps_ids_and_names_as_written(tmp_path, case):
    """The columns read as text are chosen per layout (mutmut's survivors in text_columns):
    a counts or wide table's item column, a numbered annotator matrix's cells (class numbers
    as written), long columns named by option, and every field of a tool's export."""
    ids = ["001", "01", "1", "1.0"]
    if case.startswith("counts"):
        header = ["Frage" if case == "counts-named-item" else "item", "cat", "dog"]
        path = _write(tmp_path / "t.csv", header, [(i, 2, 1) for i in ids])
        options = {"format": "counts"}
        if case == "counts-named-item":
            options["item_column"] = "Frage"
        ann = read_annotations(path, **options)
        assert ann.items.tolist() == ["001", "01", "1", "1.0"]
        return
    if case.startswith("wide"):
        header = ["item", "ann1", "ann2"] if case == "wide-numbered" else ["item", "alice", "bob"]
        path = _write(tmp_path / "t.csv", header, [(i, "01", "1") for i in ids])
        ann = read_annotations(path, **({} if case == "wide-numbered" else {"format": "wide"}))
        assert ann.format == "wide" and ann.items.tolist() == ids
        assert ann.classes == ("01", "1")  # class numbers as written: two classes
        return
    if case.startswith("long"):
        header = ["Frage", "Person", "Antwort"]
        path = _write(tmp_path / "t.csv", header, [(i, "007", "03") for i in ids]
                      + [(i, "7", "3") for i in ids])
        options = {"item_column": "Frage", "label_column": "Antwort"}
        if case == "long-named":
            options["annotator_column"] = "Person"
        ann = read_annotations(path, **options)
        assert ann.items.tolist() == ids and ann.classes == ("03", "3")
        if case == "long-named":
            assert sorted(ann.annotators.tolist()) == ["007", "7"]
        return
    header = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Input.image",
              "Answer.label"]
    path = _write(tmp_path / "t.csv", header,
                  [(f"h{k}", f"a{k}{w}", worker, "Approved", item, "01")
                   for k, item in enumerate(ids) for w, worker in enumerate(("007", "7"))])
    ann = read_annotations(path)
    assert ann.format == "mturk" and ann.items.tolist() == ids
    assert sorted(ann.annotators.tolist()) == ["007", "7"] and ann.classes == ("01",)
