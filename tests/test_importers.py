"""Real campaigns in: column options, the aliases of real exports, and one fixture per annotation
tool, each written from the tool's public documentation of its export. Expected counts are read
off the fixtures by hand."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import REPO
from dqlabels import InputError, read_annotations
from dqlabels_cli.main import main

EXPORTS = REPO / "tests" / "fixtures" / "exports"


def _by_item(ann):
    return {item: dict(zip(ann.classes, row)) for item, row in zip(ann.items, ann.counts.tolist())}


def test_question_worker_answer_is_read_without_renaming():
    """A public campaign as its authors ship it."""
    ann = read_annotations(EXPORTS / "question_worker_answer.csv")
    assert ann.format == "long" and ann.classes == ("no", "yes")
    assert list(ann.items) == ["q1", "q2", "q3", "q4"] and list(ann.annotators) == ["w1", "w2", "w3"]
    assert ann.counts.tolist() == [[1, 2], [3, 0], [1, 2], [0, 3]]


@pytest.mark.parametrize("header", ["Task ID,Worker ID,Response", "unit_id,WorkerId,judgment",
                                    "question-id,annotator_id,Judgement", "item id,User,RATING"])
def test_aliases_match_ignoring_case_underscores_dashes_and_spaces(write, header):
    ann = read_annotations(write("a.csv", f"{header}\n1,u,x\n1,v,y\n2,u,y\n"))
    assert ann.counts.tolist() == [[1, 1], [0, 1]] and ann.num_annotators == 2


def test_column_options_name_the_columns(write):
    path = write("a.csv", "Bild,Prüfer,Urteil\nb1,p1,Katze\nb1,p2,Hund\nb2,p1,Hund\n")
    with pytest.raises(InputError) as error:
        read_annotations(path)
    # No column is named like an item or a label: the layout is not guessed but asked for.
    assert "cannot tell what a row is" in str(error.value)
    assert "found columns Bild, Prüfer, Urteil" in str(error.value)
    assert "item_column=NAME" in str(error.value)
    ann = read_annotations(path, item_column="bild", annotator_column="PRÜFER",
                           label_column="Urteil")
    assert ann.format == "long" and ann.classes == ("Hund", "Katze")
    assert ann.counts.tolist() == [[1, 1], [1, 0]] and list(ann.annotators) == ["p1", "p2"]
    with pytest.raises(InputError, match=r"no column 'Rater' \(annotator_column=Rater\); found "
                                         r"Bild, Prüfer, Urteil"):
        read_annotations(path, item_column="Bild", annotator_column="Rater", label_column="Urteil")


def test_missing_item_column_names_the_columns_found_and_the_option(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("picture,worker,answer\nx,w1,a\n")
    result = CliRunner().invoke(main, ["evaluate", str(path)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert "no item column" in line and "found picture, worker, answer" in line
    assert "--item-column NAME" in line
    fixed = CliRunner().invoke(main, ["evaluate", str(path), "--item-column", "picture"])
    assert fixed.exit_code == 0, fixed.stderr


def test_label_studio_export():
    """3 tasks; task 101: users 1 and 2 say Cat, user 3 cancelled; 102: Dog, Cat, Dog, and a
    model prediction (Cat) that is not an annotation; 103: user 1 (as an object) and 3, Dog."""
    ann = read_annotations(EXPORTS / "label_studio.json")
    assert ann.format == "label-studio"
    assert _by_item(ann) == {"101": {"Cat": 2, "Dog": 0}, "102": {"Cat": 1, "Dog": 2},
                             "103": {"Cat": 0, "Dog": 2}}
    assert list(ann.annotators) == ["1", "2", "3"]
    assert ann.skipped == {"cancelled annotations": 1}
    by_image = read_annotations(EXPORTS / "label_studio.json", item_column="image")
    assert list(by_image.items) == [f"/data/upload/1/{c}.jpg" for c in "abc"]


def test_label_studio_refusals(tmp_path):
    task = json.loads((EXPORTS / "label_studio.json").read_text())[1]
    task["annotations"][1]["result"][0]["value"]["choices"] = ["Cat", "Dog"]
    (tmp_path / "multi.json").write_text(json.dumps([task]))
    with pytest.raises(InputError, match=r"task 0 \(id 102\), annotation 1: 2 choices in one "
                                         r"result; multi-choice tasks are not supported"):
        read_annotations(tmp_path / "multi.json")
    two_controls = json.loads((EXPORTS / "label_studio.json").read_text())[:1]
    extra = dict(two_controls[0]["annotations"][0]["result"][0], from_name="mood",
                 value={"choices": ["calm"]})
    two_controls[0]["annotations"][0]["result"].append(extra)
    (tmp_path / "two.json").write_text(json.dumps(two_controls))
    with pytest.raises(InputError, match="several choice controls \\(animal, mood\\)"):
        read_annotations(tmp_path / "two.json")
    ann = read_annotations(tmp_path / "two.json", label_column="mood")
    assert ann.classes == ("calm",) and ann.num_annotations == 1


def test_mechanical_turk_batch_results():
    """Image a: Cat (approved), Dog (submitted), Dog (rejected: left out); b: Dog, Dog, Bird."""
    ann = read_annotations(EXPORTS / "mturk_batch_results.csv")
    assert ann.format == "mturk" and ann.classes == ("Bird", "Cat", "Dog")
    assert _by_item(ann) == {"https://example.com/img/a.jpg": {"Bird": 0, "Cat": 1, "Dog": 1},
                             "https://example.com/img/b.jpg": {"Bird": 1, "Cat": 0, "Dog": 2}}
    assert ann.skipped == {"rejected assignments": 1}
    assert "A3SPAMMER00003" not in set(ann.annotators)


def test_mechanical_turk_radio_group_and_several_inputs(write):
    path = write("batch.csv",
                 "HITId,WorkerId,AssignmentStatus,Input.url,Input.caption,"
                 "Answer.mood.happy,Answer.mood.sad\n"
                 "h1,w1,Approved,u1,c1,true,false\n"
                 "h1,w2,Approved,u1,c1,false,true\n"
                 "h2,w1,Approved,u2,c2,false,false\n"
                 "h2,w2,Approved,u2,c2,true,false\n")
    with pytest.raises(InputError, match=r"several Input\.\* columns \(Input\.url, Input\.caption\)"
                                         r"; name the one to use with item_column=NAME"):
        read_annotations(path)
    ann = read_annotations(path, item_column="url")
    assert ann.classes == ("happy", "sad")
    assert _by_item(ann) == {"u1": {"happy": 1, "sad": 1}, "u2": {"happy": 1, "sad": 0}}
    assert ann.num_dropped == 1  # w1 chose nothing on h2


def test_toloka_results_with_golden_answers():
    """a: cat, cat (a third, rejected, left out); g (a control task, golden dog): dog, cat;
    b: dog, dog."""
    ann = read_annotations(EXPORTS / "toloka_results.tsv")
    assert ann.format == "toloka" and ann.classes == ("cat", "dog")
    items = [i.rsplit("/", 1)[1] for i in ann.items]
    assert items == ["a.jpg", "b.jpg", "g.jpg"]
    assert ann.counts.tolist() == [[2, 0], [0, 2], [1, 1]]
    assert ann.gold.tolist() == [-1, -1, 1] and ann.num_gold == 1
    assert ann.skipped == {"rejected assignments": 1}


def test_prodigy_choice_and_binary_tasks(write):
    ann = read_annotations(EXPORTS / "prodigy_choice.jsonl")
    assert ann.format == "prodigy" and ann.classes == ("CAT", "DOG")
    assert list(ann.items) == ["-1320785451", "884212071"]  # integers sort numerically
    assert ann.counts.tolist() == [[1, 1], [0, 3]]
    assert list(ann.annotators) == ["pets-alex", "pets-kim", "pets-sam"]
    assert ann.skipped == {"ignored answers": 1}
    binary = write("binary.jsonl", "\n".join(json.dumps(t) for t in [
        {"text": "great", "label": "POSITIVE", "answer": "accept", "_input_hash": 1,
         "_session_id": "a"},
        {"text": "great", "label": "POSITIVE", "answer": "reject", "_input_hash": 1,
         "_session_id": "b"},
        {"text": "great", "label": "POSITIVE", "answer": "ignore", "_input_hash": 1,
         "_session_id": "c"}]) + "\n")
    ann = read_annotations(binary)
    assert ann.classes == ("POSITIVE", "not POSITIVE") and ann.counts.tolist() == [[1, 1]]


def test_a_rejected_prodigy_choice_is_no_vote(write):
    """A choice task the annotator rejected says 'none of these': it leaves the counts as they
    are and is counted as skipped."""
    tasks = [{"options": [{"id": "CAT"}, {"id": "DOG"}], "accept": ["CAT"], "answer": "accept",
              "_input_hash": 1, "_session_id": "a"},
             {"options": [{"id": "CAT"}, {"id": "DOG"}], "accept": ["DOG"], "answer": "accept",
              "_input_hash": 1, "_session_id": "b"},
             {"options": [{"id": "CAT"}, {"id": "DOG"}], "accept": ["DOG"], "answer": "reject",
              "_input_hash": 1, "_session_id": "c"}]
    ann = read_annotations(write("choice.jsonl", "\n".join(map(json.dumps, tasks)) + "\n"))
    assert ann.counts.tolist() == [[1, 1]] and ann.num_annotations == 2
    assert ann.skipped == {"rejected choice tasks": 1}


def test_forced_format_and_wrong_file_kind(write):
    with pytest.raises(InputError, match="needs a JSON file"):
        read_annotations(EXPORTS / "question_worker_answer.csv", format="prodigy")
    ann = read_annotations(EXPORTS / "toloka_results.tsv", format="toloka")
    assert ann.num_annotations == 6


@pytest.mark.parametrize("name", ["label_studio.json", "mturk_batch_results.csv",
                                  "toloka_results.tsv", "prodigy_choice.jsonl",
                                  "question_worker_answer.csv"])
def test_evaluate_reads_every_export(name, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(EXPORTS / name), "--json",
                                       str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["num_annotations"] >= 5
    if report["skipped"]:
        assert "left out" in result.output


def test_dataset_json_names_the_annotation_columns(tmp_path):
    from PIL import Image

    from dqlabels.data.datasets import load_dataset

    (tmp_path / "images").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (32, 32)).save(tmp_path / "images" / f"{name}.png")
    (tmp_path / "votes.csv").write_text("Bild,Prüfer,Urteil\nimages/a.png,p1,x\n"
                                        "images/b.png,p1,y\nimages/b.png,p2,y\n")
    (tmp_path / "dataset.json").write_text(json.dumps({
        "annotations": "votes.csv", "annotation_columns": {"item": "Bild", "annotator": "Prüfer",
                                                          "label": "Urteil"}}))
    data = load_dataset(tmp_path)
    assert data.annotations.counts.tolist() == [[1, 0], [0, 2]]
    assert np.all([p.endswith(".png") for p in map(str, data.paths)])
