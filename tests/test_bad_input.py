"""The malformed-input corpus (tests/corpus/bad): every case exits 2 with one line that names
the problem and where, prints no traceback and leaves no output file behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dqlabels_cli.main import main

CORPUS = Path(__file__).parent / "corpus"
BAD = CORPUS / "bad"
GOOD = CORPUS / "good_annotations.csv"

# (file in the corpus, extra options, what the message must say)
CASES = [
    ("empty.csv", [], "empty.csv: the file is empty"),
    ("header_only.csv", [], "no data rows"),
    ("no_label_column.csv", [], "no label column"),
    ("negative_count.csv", [], "line 3: column 'cat' is negative"),
    ("fractional_count.csv", [], "line 3: column 'cat' holds 1.5"),
    ("missing_count.csv", [], "line 3: missing value in column 'cat'"),
    ("probs_not_one.csv", ["--format", "probs"], "line 3: probabilities sum to 0.9"),
    ("probs_negative.csv", ["--format", "probs"], "line 2: column 'dog' is negative"),
    ("binary_garbage.csv", [], "looks like a binary file"),
    ("bad_encoding.csv", [], "line 3 is not valid UTF-8"),
    ("ragged.csv", [], "line 3 has 4 fields where the header has 3"),
    ("latin1_ragged_last_line.csv", [], "line 2 is not valid UTF-8 text (byte 0xe9 at column 9)"),
    ("duplicate_pair.csv", [], "line 4: annotator 'u1' already labelled item 'a' (line 2)"),
    ("unknown_class.csv", ["--classes", "cat,dog"], "line 3: label 'owl' is not one of the classes"),
    ("missing_item.csv", [], "line 3: missing item id"),
    ("missing_annotator.csv", [], "line 3: missing annotator id"),
    ("all_labels_missing.csv", [], "every label is missing"),
    ("duplicate_header.csv", [], "column 'Label' appears twice"),
    ("counts_text_cell.csv", ["--format", "counts"], "line 3: column 'cat' holds 'many'"),
    ("duplicate_item_counts.csv", [], "line 3: item 'x' repeats the item of line 2"),
    ("broken.json", [], "line 2 column 1: broken JSON"),
    ("wrong_structure.json", [], "has no 'annotations' list"),
    ("empty_list.json", [], "expected a list of annotation sets"),
    ("dcic_missing_key.json", [], "expected keys 'image_path' and 'class_label'"),
    ("broken.parquet", [], "not a readable Parquet file"),
    ("object_dtype.npy", [], "holds Python objects (object dtype)"),
    ("one_dimensional.npy", [], "expected a 2-D items × classes matrix"),
    ("truncated.npy", [], "not a readable .npy file"),
    ("a_directory", [], "a_directory: is a directory"),
    ("does_not_exist.csv", [], "does_not_exist.csv: no such file"),
    ("label_studio_no_completed_by.json", [], "task 0 (id 1), annotation 0: missing field "
                                              "'completed_by'"),
    ("label_studio_multi_choice.json", [], "2 choices in one result; multi-choice tasks are not"),
    ("mturk_no_answer.csv", [], "no Answer.* column in the Mechanical Turk results"),
    ("toloka_no_worker.tsv", [], "missing field 'ASSIGNMENT:worker_id'"),
    ("prodigy_no_answer.jsonl", [], "line 2: missing field 'answer'"),
    ("prodigy_no_input_hash.jsonl", [], "line 1: missing field '_input_hash' (name the item with "
                                        "--item-column KEY)"),
    # A guessed layout is never a finding (issue 26): integer ids, string ids, a header that
    # looks like class names, a running number read as counts.
    ("misread_integer_ids.csv", [], "cannot tell what a row is: no column is named like an item "
                                    "(item, task, image, id, …) or a label (label, class, answer, "
                                    "…); found columns img, person, tag (all numbers). For one row "
                                    "per annotation pass --item-column NAME and --label-column "
                                    "NAME"),
    ("misread_string_ids.csv", [], "found columns img, person, tag (no numbers)"),
    ("misread_class_header.csv", [], "found columns cat, dog, bird (all numbers)"),
    ("misread_id_counts.csv", [], "column 'seq' holds a different number on each of its 12 rows, "
                                  "like ids rather than counts of annotations"),
    # A semicolon-separated file is read with its own delimiter (the error is the data's).
    ("semicolon_duplicate_pair.csv", [], "line 3: annotator 'u1' already labelled item 'a'"),
]

PREDICTION_CASES = [
    ("predictions_wrong_class.csv", "column 'owl' is not one of the annotation classes"),
    ("predictions_missing_class.csv", "no column for class 'dog'"),
    ("predictions_unknown_item.csv", "line 3: item 'zzz' has a prediction but no annotation"),
    ("predictions_bad_sum.csv", "line 2: predicted probabilities sum to 1.2"),
    ("predictions_unknown_label.csv", "line 2: predicted label 'owl' is not one of the classes"),
]


def _outputs(tmp_path):
    return ["--json", str(tmp_path / "out.json"), "--labels", str(tmp_path / "labels.csv"),
            "--annotators", str(tmp_path / "annotators.csv"), "--html",
            str(tmp_path / "report.html"), "--plots", str(tmp_path / "plots")]


def _check(result, tmp_path, fragment, named):
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dqlabels: error: ")
    assert fragment in lines[0]
    assert named in lines[0]
    assert "Traceback" not in result.output + result.stderr
    for name in ("out.json", "labels.csv", "annotators.csv", "report.html", "plots"):
        assert not (tmp_path / name).exists(), name


def test_corpus_is_big_enough():
    assert len(CASES) + len(PREDICTION_CASES) >= 25
    listed = {name for name, *_ in CASES} | {name for name, _ in PREDICTION_CASES}
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk <= listed, on_disk - listed  # no file in the corpus goes untested


@pytest.mark.parametrize(("name", "options", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_annotations(name, options, fragment, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(BAD / name), *options, *_outputs(tmp_path)])
    _check(result, tmp_path, fragment, name)


@pytest.mark.parametrize(("name", "fragment"), PREDICTION_CASES, ids=[c[0] for c in PREDICTION_CASES])
def test_bad_predictions(name, fragment, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(GOOD), "--predictions", str(BAD / name),
                                       *_outputs(tmp_path)])
    _check(result, tmp_path, fragment, name)


@pytest.mark.parametrize(("name", "fragment"), [
    ("ragged.csv", "line 3 has 4 fields"),
    ("latin1_ragged_last_line.csv", "line 2 is not valid UTF-8 text"),
])
def test_real_process_exit_status_and_stderr(tmp_path, name, fragment):
    """As a user runs it, twice: pyarrow's reader threads once called back into Python
    (an invalid-row handler), which printed 'Exception ignored' tracebacks and could abort
    the process at exit (status -6)."""
    out = tmp_path / "out.json"
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "dqlabels_cli", "evaluate", str(BAD / name),
                               "--json", str(out)], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and fragment in proc.stderr, proc.stderr
        assert proc.stdout == "" and not out.exists()


def test_the_process_exit_flushes_every_line_and_keeps_the_status(tmp_path):
    """The command's process ends without the interpreter's teardown (commandline.exit_process):
    everything printed still reaches a pipe, to the last line, the outputs are whole, and the
    exit status is the command's."""
    from conftest import REPO

    out = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a buffered pipe
    proc = subprocess.run([sys.executable, "-m", "dqlabels_cli", "evaluate",
                           str(REPO / "examples" / "annotations.csv"), "--json", str(out)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Annotations: ")
    assert proc.stdout.rstrip("\n").splitlines()[-1] == f"Wrote {out}"
    assert json.loads(out.read_text())["num_items"] > 0
    proc = subprocess.run([sys.executable, "-m", "dqlabels_cli", "evaluate",
                           str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize("name", ["misread_integer_ids.csv", "misread_id_counts.csv"])
def test_plan_refuses_a_misread_file_too(name, tmp_path):
    out = tmp_path / "next.csv"
    result = CliRunner().invoke(main, ["plan", str(BAD / name), "--budget", "5", "--out",
                                       str(out)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert not out.exists()
    # Told what it is, the same file reads: the options the message names are enough.
    told = (["--item-column", "img", "--label-column", "tag", "--annotator-column", "person"]
            if name == "misread_integer_ids.csv" else ["--format", "counts"])
    result = CliRunner().invoke(main, ["plan", str(BAD / name), "--budget", "5", "--out",
                                       str(out), *told])
    assert result.exit_code == 0, result.stderr


def test_unknown_option_value_is_a_usage_error():
    result = CliRunner().invoke(main, ["evaluate", str(GOOD), "--format", "xml"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
