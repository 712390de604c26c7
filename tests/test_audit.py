"""`dqlabels evaluate` on the example campaign; expected values counted by hand from
examples/annotations.csv (12 items, 4 annotators, 48 rows, one label missing)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import REPO
from dqlabels_cli.main import main

EXAMPLE = REPO / "examples" / "annotations.csv"
SPEC_KEYS = {"num_items", "num_classes", "classes", "num_annotations", "num_annotators",
             "num_dropped", "num_empty_items", "annotations_per_item", "num_ties",
             "num_unanimous", "mean_entropy", "fleiss_kappa", "krippendorff_alpha", "class_mass"}


def _run(*args):
    result = CliRunner().invoke(main, ["evaluate", str(EXAMPLE), *map(str, args)])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_summary_and_json(tmp_path):
    result = _run("--json", tmp_path / "r.json")
    assert "items 12" in result.output and "Fleiss' kappa" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert SPEC_KEYS <= set(report)
    assert report["num_items"] == 12 and report["num_classes"] == 3
    assert report["classes"] == ["cat", "dog", "fox"]
    assert report["num_annotations"] == 47 and report["num_dropped"] == 1
    assert report["num_annotators"] == 4 and report["num_empty_items"] == 0
    assert report["annotations_per_item"] == {"min": 3, "mean": 47 / 12, "max": 4}
    assert report["num_ties"] == 2          # img04 (dog/fox), img08 (cat/dog)
    assert report["num_unanimous"] == 3     # img01, img03, img07
    assert report["class_mass"]["hard"] == {"cat": 5 / 12, "dog": 4 / 12, "fox": 3 / 12}
    assert sum(report["class_mass"]["soft"].values()) == pytest.approx(1.0)
    assert report["most_ambiguous"][0]["item"] == "img06"   # cat 2, dog 1, fox 1
    h06 = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert report["most_ambiguous"][0]["entropy"] == pytest.approx(h06)
    assert "scores" not in report
    assert len(report["annotators"]["per_annotator"]) == 4


def test_labels_table(tmp_path):
    _run("--labels", tmp_path / "labels.csv")
    table = pd.read_csv(tmp_path / "labels.csv")
    assert list(table.columns) == ["item", "hard_label", "tied", "soft_cat", "soft_dog",
                                   "soft_fox", "ds_label", "ds_cat", "ds_dog", "ds_fox",
                                   "item_quality", "posterior_spread", "shrunk_cat", "shrunk_dog",
                                   "shrunk_fox", "weighted_cat", "weighted_dog", "weighted_fox"]
    assert table["item_quality"].between(0, 1).all()
    assert table["posterior_spread"].between(0, 1, inclusive="neither").all()
    shrunk = table[["shrunk_cat", "shrunk_dog", "shrunk_fox"]].sum(axis=1)
    assert shrunk.to_numpy() == pytest.approx(1.0, abs=1e-5)
    weighted = table[["weighted_cat", "weighted_dog", "weighted_fox"]].sum(axis=1)
    assert weighted.to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert list(table["item"]) == [f"img{i:02d}" for i in range(1, 13)]
    row = table.set_index("item").loc["img04"]
    assert row["hard_label"] == "dog" and bool(row["tied"]) is True
    assert (row["soft_cat"], row["soft_dog"], row["soft_fox"]) == (0.0, 0.5, 0.5)
    row = table.set_index("item").loc["img09"]   # dog, dog, cat and one missing label
    assert row["soft_dog"] == pytest.approx(2 / 3) and not row["tied"]
    ds = table[["ds_cat", "ds_dog", "ds_fox"]].sum(axis=1)
    assert ds.to_numpy() == pytest.approx(1.0)


def test_predictions_are_scored_on_the_predicted_items(tmp_path):
    preds = tmp_path / "p.csv"
    preds.write_text("item,fox,cat,dog\nimg01,0.1,0.8,0.1\nimg04,0.5,0.25,0.25\n")
    _run("--predictions", preds, "--json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    # img01 soft (1,0,0) vs (0.8,0.1,0.1); img04 soft (0,.5,.5) vs (0.25,0.25,0.5).
    kl = (-math.log(0.8) + 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.5)) / 2
    assert report["num_scored_items"] == 2
    assert report["scores"]["kl"] == pytest.approx(kl)
    assert report["scores"]["accuracy"] == 0.5   # img04: truth dog (tie rule), predicted fox
    assert {"kl", "macro_accuracy", "accuracy", "macro_f1", "ece", "js", "brier"} <= set(report["scores"])


def test_label_predictions(tmp_path):
    preds = tmp_path / "p.csv"
    preds.write_text("item,label\nimg01,cat\nimg03,fox\n")
    _run("--predictions", preds, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["scores"]["accuracy"] == 0.5


def test_plots(tmp_path):
    _run("--plots", tmp_path / "plots")
    for name in ("entropy.png", "class_mass.png", "annotators.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_outputs_are_not_overwritten_unless_asked(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("precious")
    result = CliRunner().invoke(main, ["evaluate", str(EXAMPLE), "--json", str(target)])
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert target.read_text() == "precious"
    _run("--json", target, "--overwrite")
    assert json.loads(target.read_text())["num_items"] == 12


def test_refuses_to_write_over_the_input(tmp_path):
    copy = tmp_path / "a.csv"
    copy.write_text(EXAMPLE.read_text())
    result = CliRunner().invoke(main, ["evaluate", str(copy), "--labels", str(copy), "--overwrite"])
    assert result.exit_code == 2 and "refusing to write over an input file" in result.stderr
    assert copy.read_text() == EXAMPLE.read_text()


def test_help_lists_options_with_defaults():
    result = CliRunner().invoke(main, ["evaluate", "--help"])
    assert result.exit_code == 0
    for option in ("--format", "--classes", "--duplicates", "--predictions", "--json", "--labels",
                   "--plots", "default: error"):
        assert option in result.output


def test_noisy_simulated_campaign_end_to_end(tmp_path):
    """Issue 11's done-when: evaluate a noisy simulated campaign with --html and --labels; the
    annotator table ranks the annotators by their true reliability (1 − ε)."""
    from scipy.stats import spearmanr

    generated = CliRunner().invoke(main, [
        "generate", str(tmp_path / "crowd"), "--num-images", "1500", "--image-size", "32",
        "--annotators", "10", "--annotator-pool", "50", "--annotator-noise", "0,0.4"])
    assert generated.exit_code == 0, generated.stderr
    result = CliRunner().invoke(main, [
        "evaluate", str(tmp_path / "crowd" / "simulated_annotations.csv"), "--html",
        str(tmp_path / "report.html"), "--labels", str(tmp_path / "labels.csv"), "--annotators",
        str(tmp_path / "annotators.csv"), "--json", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(tmp_path / "annotators.csv")
    truth = pd.read_csv(tmp_path / "crowd" / "annotators.csv").set_index("annotator")["noise"]
    assert list(table.columns[:3]) == ["annotator", "num_annotations", "quality"]
    assert table["ds_accuracy"].is_monotonic_increasing      # least reliable first
    for estimate in ("ds_accuracy", "quality"):
        assert spearmanr(table[estimate], 1 - truth.loc[table["annotator"]]).statistic >= 0.9
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["annotators"]["ranked_by"] == "ds_accuracy"
    worst = report["annotator_disagreements"]["annotators"][0]
    assert worst["annotator"] == table["annotator"][0]
    assert f"{worst['annotator']}" in result.output.split("least reliable annotators")[1]
    assert set(report["class_quality"]) == set(report["classes"])
    assert (tmp_path / "report.html").stat().st_size > 10_000
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert {"item_quality", "weighted_blue_circle"} <= set(labels.columns)


def test_without_annotator_ids_item_quality_only(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("item,cat,dog\na,3,1\nb,2,2\nc,4,0\n")
    result = CliRunner().invoke(main, ["evaluate", str(counts), "--format", "counts", "--json",
                                       str(tmp_path / "r.json"), "--labels",
                                       str(tmp_path / "l.csv")])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["crowdtruth"]["available"] is False
    assert "annotator ids are unknown" in report["crowdtruth"]["reason"]
    assert "annotator ids are unknown" in result.output
    quality = pd.read_csv(tmp_path / "l.csv").set_index("item")["item_quality"]
    # pairs agreeing / all pairs: a 3·2/(4·3) = 0.5, b (2+2)/12, c 1
    assert quality.to_dict() == pytest.approx({"a": 0.5, "b": 4 / 12, "c": 1.0})
    assert "class_quality" not in report and "annotator_disagreements" not in report


def test_crowdtruth_skipped_above_the_default_size_and_forced_on_request(tmp_path, monkeypatch):
    """Above CROWDTRUTH_MAX_PAIRS ordered pairs of annotations on the same item, evaluate says
    why the metrics are missing instead of spending minutes and gigabytes; --crowdtruth
    computes them anyway. Here 2 items × 3 annotations = 12 pairs, the limit set to 11."""
    from dqlabels.audit import report as audit

    long = tmp_path / "long.csv"
    long.write_text("item,annotator,label\n" + "".join(
        f"{i},w{w},{'cat' if (i + w) % 3 else 'dog'}\n" for i in range(2) for w in range(3)))
    monkeypatch.setattr(audit, "CROWDTRUTH_MAX_PAIRS", 11)
    result = CliRunner().invoke(main, ["evaluate", str(long), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["crowdtruth"]["available"] is False
    assert "12 pairs of annotations" in report["crowdtruth"]["reason"]
    assert "--crowdtruth" in result.output
    forced = CliRunner().invoke(main, ["evaluate", str(long), "--crowdtruth", "--json",
                                       str(tmp_path / "f.json")])
    assert forced.exit_code == 0, forced.stderr
    assert json.loads((tmp_path / "f.json").read_text())["crowdtruth"]["available"] is True
    monkeypatch.setattr(audit, "CROWDTRUTH_MAX_PAIRS", 12)
    from dqlabels import read_annotations

    assert audit.fit_crowdtruth(read_annotations(long))[0] is not None


def test_a_failing_dawid_skene_fit_stops_evaluate_before_any_output(tmp_path):
    """evaluate fits Dawid–Skene on its own thread while it computes the report: an error of
    the fit still reaches the caller, and no output file is written."""
    from dqlabels import InputError
    from dqlabels.commands.evaluate import run_evaluate

    out = tmp_path / "report.json"
    with pytest.raises(InputError, match="max_iter=0"):
        run_evaluate(EXAMPLE, json_path=out, ds_max_iter=0)
    assert not out.exists()
    run_evaluate(EXAMPLE, json_path=out, ds_max_iter=3)
    assert json.loads(out.read_text())["dawid_skene"]["iterations"] <= 3


def test_an_unexpected_failure_exits_1_with_one_line(tmp_path, monkeypatch):
    from dqlabels.commands import evaluate

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(evaluate, "run_evaluate", broken)
    result = CliRunner().invoke(main, ["evaluate", str(EXAMPLE)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "dqlabels: error: unexpected RuntimeError: disk on fire (set DQLABELS_DEBUG=1 for details)"]


def test_switching_off_dawid_skene_and_crowdtruth(tmp_path):
    _run("--no-dawid-skene", "--no-crowdtruth", "--json", tmp_path / "r.json", "--labels",
         tmp_path / "l.csv", "--annotators", tmp_path / "a.csv")
    report = json.loads((tmp_path / "r.json").read_text())
    assert "dawid_skene" not in report
    assert report["crowdtruth"] == {"available": False, "reason": "not computed (switched off)"}
    assert report["annotators"]["ranked_by"] == "agreement"
    entries = report["annotators"]["per_annotator"]
    assert not any("ds_accuracy" in e or "quality" in e for e in entries)
    labels = pd.read_csv(tmp_path / "l.csv")
    assert not any(c.startswith(("ds_", "weighted_")) for c in labels.columns)
    table = pd.read_csv(tmp_path / "a.csv")
    assert table["ds_accuracy"].isna().all() and table["quality"].isna().all()
    assert table["agreement"].is_monotonic_increasing


def test_annotator_table_has_the_columns_the_guide_lists(tmp_path):
    readme = (REPO / "docs" / "evaluate.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `--annotators FILE`"))
    listed = row.split("least reliable first: `", 1)[1].split("`", 1)[0].split(", ")
    _run("--annotators", tmp_path / "a.csv")
    assert list(pd.read_csv(tmp_path / "a.csv").columns) == listed


def test_evaluate_with_every_output_never_imports_tensorflow(tmp_path):
    from conftest import ml_modules_after_command

    preds = tmp_path / "p.csv"
    preds.write_text("item,cat,dog,fox\nimg01,0.8,0.1,0.1\nimg02,0.2,0.6,0.2\n")
    loaded = ml_modules_after_command(["evaluate", EXAMPLE, "--predictions", preds, "--html",
                                       tmp_path / "r.html", "--plots", tmp_path / "plots",
                                       "--json", tmp_path / "r.json", "--quiet"])
    assert loaded == []
    assert (tmp_path / "r.html").exists() and (tmp_path / "plots" / "entropy.png").exists()


def test_evaluate_computes_soft_labels_and_entropy_once(tmp_path, monkeypatch):
    """Compute once, draw many: with every output asked for, the soft labels, the majority
    vote and the entropy are computed once, and every writer draws from that one audit."""
    from dqlabels import figures
    from dqlabels.audit import html_report
    from dqlabels.audit import report as audit
    from dqlabels.commands import evaluate
    from dqlabels.labels import scores

    calls = {"soft_labels": 0, "majority_vote": 0, "item_entropy": 0}

    def counting(name, function):
        def wrapper(data, *args, **kwargs):
            if np.shape(getattr(data, "counts", data)) == (12, 3):  # of the 12 items, not of the
                calls[name] += 1                                   # one predicted
            return function(data, *args, **kwargs)
        return wrapper

    for module in (audit, evaluate, figures, html_report):
        for name in ("soft_labels", "majority_vote"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting(name, getattr(module, name)))
    monkeypatch.setattr(scores, "item_entropy", counting("item_entropy", scores.item_entropy))
    preds = tmp_path / "p.csv"
    preds.write_text("item,cat,dog,fox\nimg01,0.8,0.1,0.1\n")
    evaluate.run_evaluate(EXAMPLE, predictions=preds, json_path=tmp_path / "r.json",
                          labels_path=tmp_path / "l.csv", annotators_path=tmp_path / "a.csv",
                          html_path=tmp_path / "r.html", plots_dir=tmp_path / "plots")
    assert calls == {"soft_labels": 1, "majority_vote": 1, "item_entropy": 1}


# ----------------------------------------------------------------------------------------------
# What the audit says (issue 26)


def _small_sample_campaign(tmp_path):
    """20 items; w0–w3 answer every item (w3 flips half of them), 'once' gives one wrong answer
    and 'twice' two wrong ones."""
    rows = ["item,annotator,label"]
    for i in range(20):
        truth = "cat" if i % 2 else "dog"
        other = "dog" if i % 2 else "cat"
        rows += [f"i{i},w{w},{truth}" for w in range(3)]
        rows.append(f"i{i},w3,{other if i % 4 < 2 else truth}")
    rows += ["i0,once,cat", "i1,twice,dog", "i2,twice,cat"]
    path = tmp_path / "small.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_least_reliable_list_leaves_out_tiny_samples_and_says_so(tmp_path):
    result = _run_on(_small_sample_campaign(tmp_path))
    listed = result.output.split("least reliable annotators")[1].split("\n\n")[0]
    assert "with at least 10 annotations" in result.output
    names = [line.split()[0] for line in listed.splitlines()[1:] if line.startswith("    ")]
    assert names[0] == "w3" and "once" not in names and "twice" not in names
    assert "2 annotators with fewer annotations not listed" in result.output


def _run_on(path, *args):
    result = CliRunner().invoke(main, ["evaluate", str(path), *map(str, args)])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_below_chance_list_says_when_it_is_cut(tmp_path):
    """14 of 40 annotators flip every binary answer: 10 are named and the line says 4 more."""
    rows = ["item,annotator,label"]
    for i in range(60):
        truth, other = ("cat", "dog") if i % 3 else ("dog", "cat")
        rows += [f"i{i},w{w:02d},{other if w < 14 else truth}" for w in range(40)]
    path = tmp_path / "flipped.csv"
    path.write_text("\n".join(rows) + "\n")
    result = _run_on(path, "--no-crowdtruth")
    line = next(x for x in result.output.splitlines() if "below chance" in x)
    assert "(4 more, 14 in all: see the annotator table)" in line
    assert line.count(", ") == 9 + 1  # ten names, then "… in all"


def test_annotator_table_of_counts_is_refused_not_left_empty(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("item,cat,dog\na,3,1\nb,2,2\n")
    out = tmp_path / "annotators.csv"
    result = CliRunner().invoke(main, ["evaluate", str(counts), "--format", "counts",
                                       "--annotators", str(out), "--json",
                                       str(tmp_path / "r.json")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--annotators needs annotator ids" in result.stderr and "(counts) has none" in \
        result.stderr
    assert not out.exists() and not (tmp_path / "r.json").exists()


def test_partial_predictions_and_written_files_are_named(tmp_path):
    predictions = tmp_path / "p.csv"
    predictions.write_text("item,cat,dog,fox\nimg01,0.8,0.1,0.1\nimg02,0.1,0.8,0.1\n")
    result = _run("--predictions", predictions, "--plan-budget", "4", "--json",
                  tmp_path / "r.json", "--labels", tmp_path / "l.csv")
    assert "Predictions vs soft labels (2 items of 12: the others have no prediction)" in \
        result.output
    assert "predictions (for 2 of 12 items) weigh" in result.output
    assert result.output.rstrip().endswith(f"Wrote {tmp_path / 'r.json'}, {tmp_path / 'l.csv'}")


def test_small_shares_and_plurals_read_right(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("item,cat,dog\n" + "".join(
        f"i{i},{1 if i < 3 else 2},{1 if i < 3 else 0}\n" for i in range(10_000)) + "e,0,0\n")
    result = _run_on(counts, "--format", "counts")
    assert "ties in the majority vote   3 (0.03%)" in result.output
    assert "excluded 1 item with no annotation" in result.output


def test_top_level_help_names_every_command_without_cutting_them():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    for name in ("evaluate", "plan", "predict", "train", "reproduce", "generate", "tsne"):
        assert f"  {name} " in commands
    assert "..." not in commands and "plan its next round (plan)" in result.output


def test_option_errors_speak_one_style(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(EXAMPLE), "--budget", "3", "--strength", "0",
                                       "--out", str(tmp_path / "n.csv")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "Invalid value for '--strength': 0.0 is not in the range x>0." in result.stderr


def test_labels_csv_written_column_wise_equals_the_row_writer(tmp_path):
    """The column-wise writer against Python's csv module writing the same rows (the writer it
    replaced): ties, ids with commas, quotes, line breaks and spaces, unicode, NaN for items
    without a value, integers and tiny, huge and repeated floats."""
    import csv

    from dqlabels.commands.evaluate import write_labels

    table = pd.DataFrame({
        "item": ["a,b", 'say "hi"', "two\nlines", " lead", "ünï", "plain", "tab\there", "7"],
        "hard_label": ["cat", "dog", "cat", "dog,x", "cat", "cat", "dog", "cat"],
        "tied": [True, False, False, True, False, False, False, True],
        "soft_cat": [0.5, 1 / 3, 2 / 3, 0.5, 1.0, 0.0, 1e-9, 0.5],
        "ds_cat": [0.123456789, np.nan, 1e-300, 123456789.0, 0.1 + 0.2, np.nan, 5e-7, 0.999999],
        "count": np.array([1, 2, 3, 4, 5, 6, 7, 8]),
        "signed_zero": [0.0, -0.0, np.nan, 0.0, -0.0, np.nan, np.nan, -0.0],
    })
    write_labels(table, tmp_path / "fast.csv")

    def cell(value):
        if isinstance(value, float):
            return "" if value != value else f"{value:.6g}"
        return value

    with open(tmp_path / "rows.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows([cell(v) for v in row] for row in table.itertuples(index=False))
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()
    back = pd.read_csv(tmp_path / "fast.csv", keep_default_na=False)
    assert back["item"].tolist() == table["item"].tolist()


def test_labels_csv_in_many_blocks_and_with_a_nul_equals_the_row_writer(tmp_path, monkeypatch):
    """Blocks of a few rows rendered on the thread pool come out in order; a column of many
    distinct strings (one longer than 48 bytes) and one of few; columns of few distinct floats (all NaN; signs, zeros and
    exponents); a NUL character in an id, which the padded cells cannot
    carry, sends the table to the row writer, with the same bytes."""
    import csv

    from dqlabels import csv_text
    from dqlabels.commands.evaluate import write_labels

    monkeypatch.setattr(csv_text, "_BLOCK_BYTES", 200)  # a block of about 4 rows
    rng = np.random.default_rng(0)
    n = 300
    columns = {"item": np.array([f"i{k},{'x' * (k % 7)}" if k != 9 else "long " * 30 + '"q"'
                                 for k in range(n)], dtype=object),
               "hard_label": np.array(["cat", "dog"], dtype=object)[rng.integers(0, 2, n)],
               "tied": rng.random(n) < 0.2,
               "soft": rng.integers(0, 4, n) / 3,
               "ds": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) ** 5),
               # few distinct values, each column's cells as wide as its longest text
               "all_nan": np.full(n, np.nan),
               "few_signed": np.array([-1.5e-07, -0.0, 0.0, 2.0, np.nan, 1e22, -123456.7])[
                   rng.integers(0, 7, n)]}

    def rows_written(cols, path):
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(list(cols))
            for row in zip(*(c.tolist() for c in cols.values())):
                writer.writerow(["" if isinstance(v, float) and v != v else
                                 f"{v:.6g}" if isinstance(v, float) else v for v in row])
        return path.read_bytes()

    write_labels(columns, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == rows_written(columns, tmp_path / "rows.csv")
    columns["item"][5] = "nul\0here"
    write_labels(columns, tmp_path / "nul.csv")
    assert (tmp_path / "nul.csv").read_bytes() == rows_written(columns, tmp_path / "rows2.csv")


def test_six_digit_formatting_equals_python_on_a_million_values():
    from dqlabels.csv_text import format_6g

    rng = np.random.default_rng(4)
    n = 200_000
    values = np.concatenate([
        rng.random(n),                                        # probabilities
        rng.integers(0, 60, n) / rng.integers(1, 60, n),      # fractions of answers
        10.0 ** rng.uniform(-12, 12, n) * rng.choice([-1, 1], n),  # every magnitude
        10.0 ** rng.uniform(-320, 308, n // 4),                # beyond 1e±22: several products
        rng.random(n // 4) ** rng.integers(20, 80, n // 4),  # tiny posteriors
        np.round(rng.random(n), 7) + 5e-7,                    # 6-digit ties and near-ties
        rng.integers(0, 2_000_000, n) / 2.0,                  # halves around 1e6
        [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-4, 9.99995e-5, 999999.5, 1e6, 0.1 + 0.2,
         5e-324, 1.7976931348623157e308, 1e-23, 1e23, 1e-22, 1e22],
    ])
    expected = ["" if v != v else f"{v:.6g}" for v in values.tolist()]
    assert format_6g(values) == expected


def test_repeated_pairs_known_from_reading_agree_with_a_fresh_check():
    """The reader's duplicate check answers ``has_repeated_pairs`` (no second sort): False
    after ``duplicates="last"`` dropped the repeats, True with ``"keep"``, as a fresh check of
    the same codes says."""
    from dqlabels import from_long
    from dqlabels.readers.annotations_type import pair_keys as _pair_keys
    from dqlabels.readers.annotations_type import repeated_keys as _repeated

    items = np.array(["a", "a", "b", "a", "b"])
    annotators = np.array(["u", "v", "u", "u", "w"])  # (a, u) twice
    labels = np.array(["x", "y", "x", "y", "y"])
    for policy, expected in (("last", False), ("keep", True)):
        ann = from_long(items, labels, annotators, duplicates=policy)
        fresh = bool(_repeated(_pair_keys(ann.item_index, ann.annotator_index,
                                          len(ann.annotators))).any())
        assert ann.has_repeated_pairs is expected and fresh is expected
    assert from_long(items[1:], labels[1:], annotators[1:]).has_repeated_pairs is False


def test_tallies_without_predictions_are_not_used_for_an_audit_with_predictions():
    """``evaluate`` computes the posterior with the tallies while Dawid–Skene fits; an audit
    given tallies of another prior computes its own: the predictions are the prior mean."""
    from dqlabels import from_long
    from dqlabels.audit.report import audit, tally

    ann = from_long(np.array(["a", "a", "b", "b", "c"]), np.array(["x", "y", "x", "x", "y"]),
                    np.array(["u", "v", "u", "v", "u"]))
    predictions = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    plain = tally(ann)
    result = audit(ann, tallies=plain, predictions=predictions)
    assert result.posterior is not plain.posterior
    # the prior mean mixes the predictions and the class balance: it follows the predictions
    assert result.posterior.prior_mean[0, 0] > result.posterior.prior_mean[1, 0]
    assert np.allclose(plain.posterior.prior_mean[0], plain.posterior.prior_mean[1])
    same = tally(ann, predictions)
    assert audit(ann, tallies=same, predictions=predictions).posterior is same.posterior


def test_smallest_is_the_head_of_a_stable_argsort():
    """The most ambiguous and lowest-quality lists take the k smallest without a full sort:
    the same indices, ties in index order, as the head of a stable argsort."""
    from dqlabels.audit.report import smallest

    rng = np.random.default_rng(1)
    for _ in range(300):
        values = rng.integers(0, 5, rng.integers(1, 60)).astype(float)  # many ties
        k = int(rng.integers(1, 15))
        assert smallest(values, k).tolist() == np.argsort(values, kind="stable")[:k].tolist()


def test_the_page_and_the_png_files_show_the_same_figures_drawn_once(tmp_path, monkeypatch):
    """With --html and --plots, each figure is drawn once and shared, and the annotators'
    figure shows the score they are ranked by (Dawid–Skene accuracy here), in both."""
    from dqlabels import figures

    calls = []
    original = figures.annotator_histogram
    monkeypatch.setattr(figures, "annotator_histogram",
                        lambda values, score: calls.append((sorted(values), score))
                        or original(values, score))
    counted = {"ambiguity_histograms": 0, "class_mass_bars": 0}

    def counting(name, function):
        def wrapper(*args):
            counted[name] += 1
            return function(*args)
        return wrapper

    for name in counted:
        monkeypatch.setattr(figures, name, counting(name, getattr(figures, name)))
    _run("--html", tmp_path / "r.html", "--plots", tmp_path / "plots", "--json",
         tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    key = report["annotators"]["ranked_by"]
    assert key == "ds_accuracy"
    expected = sorted(a[key] for a in report["annotators"]["per_annotator"])
    assert len(calls) == 1 and calls[0][1] == key
    assert calls[0][0] == pytest.approx(expected)
    assert counted == {"ambiguity_histograms": 1, "class_mass_bars": 1}
    assert (tmp_path / "plots" / "annotators.png").exists() and (tmp_path / "r.html").exists()


def test_the_report_is_read_only_once_built():
    """The audit's report is built once, in audit(), from computed sections: nothing written
    after it can change what the JSON, the text and the page say."""
    from dqlabels import read_annotations
    from dqlabels.audit.report import audit

    result = audit(read_annotations(EXAMPLE))
    with pytest.raises(TypeError):
        result.report["num_items"] = 0
    assert dict(result)["num_items"] == 12


def test_the_report_is_typed_frozen_and_its_json_is_what_evaluate_writes(tmp_path):
    """The report is typed sections (the text, the page, the figures and the annotator table
    read their fields); no field can be set, its mappings are read-only, and ``to_json()`` is
    the JSON file, key for key. By hand on the example: 12 items, 3 classes, 4 annotators; the
    annotators ranked least reliable first by Dawid–Skene accuracy, in the annotators CSV's
    order; Dawid–Skene and CrowdTruth scores computed, no gold."""
    import csv
    import dataclasses

    from dqlabels.audit.sections import AnnotatorScores, AuditReport, CampaignSummary
    from dqlabels.commands import evaluate as evaluate_module

    paths = {"json_path": tmp_path / "r.json", "annotators_path": tmp_path / "a.csv"}
    result = None

    def keep(audit_result, config, *staged):
        nonlocal result
        result = audit_result
        return real_write(audit_result, config, *staged)

    real_write = evaluate_module.write_outputs
    evaluate_module.write_outputs = keep
    try:
        evaluate_module.run_evaluate(EXAMPLE, **paths)
    finally:
        evaluate_module.write_outputs = real_write
    report = result.report
    assert isinstance(report, AuditReport) and isinstance(report.campaign, CampaignSummary)
    assert (report.campaign.num_items, report.campaign.num_classes,
            report.campaign.num_annotators) == (12, 3, 4)
    assert report.to_json() == json.loads(paths["json_path"].read_text())
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.campaign.num_items = 0
    with pytest.raises(TypeError):
        report.campaign.class_mass["soft"]["cat"] = 1.0
    table = report.annotators
    assert table.ranked_by == "ds_accuracy"
    assert table.computed == ("ds_accuracy", "quality", "annotator_agreement", "item_agreement")
    assert all(isinstance(e, AnnotatorScores) for e in table.per_annotator)
    scores = [e.ds_accuracy for e in table.ranked]
    assert scores == sorted(scores)
    with open(paths["annotators_path"], newline="") as f:
        assert [row["annotator"] for row in csv.DictReader(f)] == \
            [e.annotator for e in table.ranked]
    written = json.loads(paths["json_path"].read_text())["annotators"]["per_annotator"]
    assert [e["annotator"] for e in written] == [e.annotator for e in table.per_annotator]
    assert all(set(e) == {"annotator", "num_annotations", "agreement", "ds_accuracy", "quality",
                          "annotator_agreement", "item_agreement", "below_chance", "few_answers"}
               for e in written)


def test_evaluate_shortens_the_switch_interval_only_while_two_threads_work(monkeypatch, tmp_path):
    """Dawid–Skene's start (Python) beside the tallies (numpy), and the audit beside the labels
    file share the interpreter with a 0.5 ms switch interval; the reading before (its threads
    are pyarrow's and wait for no interpreter), after, and after an error: the user's
    interval."""
    import sys

    from dqlabels._parallel import sharing_the_interpreter
    from dqlabels.commands import evaluate as evaluate_module

    seen = []
    real_tally = evaluate_module.tally
    real_read, real_audit = evaluate_module.read_campaign, evaluate_module.audit
    monkeypatch.setattr(evaluate_module, "tally",
                        lambda *a, **k: seen.append(sys.getswitchinterval())
                        or real_tally(*a, **k))
    monkeypatch.setattr(evaluate_module, "read_campaign",
                        lambda *a: seen.append(sys.getswitchinterval()) or real_read(*a))
    monkeypatch.setattr(evaluate_module, "audit",
                        lambda *a, **k: seen.append(sys.getswitchinterval()) or real_audit(*a, **k))
    previous = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.01)
        evaluate_module.run_evaluate(EXAMPLE, labels_path=tmp_path / "l.csv")
        assert seen == [pytest.approx(0.01), pytest.approx(0.0005), pytest.approx(0.0005)]
        assert sys.getswitchinterval() == pytest.approx(0.01)
        with pytest.raises(RuntimeError), sharing_the_interpreter():
            raise RuntimeError("a failed fit")
        assert sys.getswitchinterval() == pytest.approx(0.01)
    finally:
        sys.setswitchinterval(previous)


def test_the_labels_file_written_beside_the_audit_appears_only_if_the_audit_succeeds(
        monkeypatch, tmp_path):
    """``evaluate`` writes the labels CSV on a thread while the audit is built: when the audit
    fails, neither the file nor a temporary file is left; when it succeeds, the file is the
    one the audit alone would write (the labels table of the same campaign)."""
    from dqlabels.commands import evaluate as evaluate_module
    from dqlabels.errors import InputError

    labels = tmp_path / "labels.csv"

    def failing(*args, **kwargs):
        raise InputError("the audit failed")

    monkeypatch.setattr(evaluate_module, "audit", failing)
    with pytest.raises(InputError, match="the audit failed"):
        evaluate_module.run_evaluate(EXAMPLE, labels_path=labels)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    evaluate_module.run_evaluate(EXAMPLE, labels_path=labels)
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]
    from dqlabels import DawidSkene, read_annotations
    from dqlabels.audit.report import audit, fit_crowdtruth, labels_columns

    ann = read_annotations(EXAMPLE)
    alone = audit(ann, models=[DawidSkene().fit(ann), fit_crowdtruth(ann)[0]])
    evaluate_module.write_labels(labels_columns(alone), tmp_path / "alone.csv")
    assert labels.read_bytes() == (tmp_path / "alone.csv").read_bytes()
    assert labels.read_text().startswith("item,hard_label,tied,soft_cat,soft_dog,soft_fox,"
                                         "ds_label,")
