"""The studies' results layer (dqlabels.studies.results): means, sample standard deviations,
paired differences, cells and the three files, each against values worked out by hand."""

import json

import pytest

from dqlabels.studies.results import cell, compare_modes, difference, mean_std, write_study_files


def test_mean_and_sample_std_by_hand():
    two = mean_std([1, 2])  # mean 1.5, sample std sqrt(((−.5)² + .5²) / 1) = 0.70711
    assert two["mean"] == 1.5 and two["std"] == pytest.approx(0.7071067811865476, rel=1e-12)
    assert two["values"] == [1.0, 2.0] and all(isinstance(v, float) for v in two["values"])
    assert json.dumps(two["values"]) == "[1.0, 2.0]"  # floats in results.json, as measured
    one = mean_std([0.25])
    assert one == {"mean": 0.25, "std": None, "values": [0.25]}  # undefined for one value
    three = mean_std([0.5, 0.7, 0.9])  # sample std 0.2 (ddof 1), not 0.1633 (ddof 0)
    assert three["std"] == pytest.approx(0.2, rel=1e-12)


def test_cells_and_differences_as_the_tables_print_them():
    assert cell({"mean": 0.5, "std": None}) == "0.5000"
    assert cell({"mean": 0.123456, "std": 0.01}) == "0.1235 ± 0.0100"
    assert difference({"mean": -0.02, "interval": None, "verdict": "not tested (1 fold)"}) == \
        "-0.0200 (not tested (1 fold))"
    assert difference({"mean": 0.05, "interval": [0.01, 0.09], "verdict": "soft better"}) == \
        "+0.0500 [+0.0100, +0.0900] (soft better)"


def test_modes_compared_by_split_whatever_order_the_runs_come_in():
    # soft − hard per split: +0.10, +0.12, +0.14 (mean 0.12, sample std 0.02, t(0.975, 2) =
    # 4.3027: half-width 0.0497, the interval [0.070, 0.170] excludes 0)
    runs = [{"split": k, "mode": m, "acc": a} for k, m, a in [
        (2, "soft", 0.74), (0, "hard", 0.5), (1, "soft", 0.72), (0, "soft", 0.6),
        (2, "hard", 0.6), (1, "hard", 0.6)]]
    summary, comparison = compare_modes(runs, {"acc": True}, "split")
    assert summary["hard"]["acc"]["values"] == [0.5, 0.6, 0.6]  # in split order
    assert summary["soft"]["acc"]["values"] == [0.6, 0.72, 0.74]
    entry = comparison["acc"]
    half = 4.302652729911275 * 0.02 / 3 ** 0.5
    assert entry["mean"] == pytest.approx(0.12)
    assert entry["interval"] == pytest.approx([0.12 - half, 0.12 + half])
    assert entry["verdict"] == "soft better"
    # lower is better: the same differences are "soft worse"
    assert compare_modes(runs, {"acc": False}, "split")[1]["acc"]["verdict"] == "soft worse"
    # a third arm against the soft one
    shrunk = runs + [{"split": k, "mode": "shrunk", "acc": 0.1} for k in range(3)]
    by_arm, versus = compare_modes(shrunk, {"acc": True}, "split", baseline="soft",
                                   other="shrunk")
    assert list(by_arm) == ["hard", "soft", "shrunk"]
    assert versus["acc"]["mean"] == pytest.approx(0.1 - (0.6 + 0.72 + 0.74) / 3)


def test_the_three_files_as_written(tmp_path):
    results = {"a": [1, 2], "b": None}
    write_study_files(tmp_path, "results", results, "# table\n", ("kind", "x"),
                      [("run", 0.5), ("mean", None)])
    assert (tmp_path / "results.json").read_text() == \
        '{\n  "a": [\n    1,\n    2\n  ],\n  "b": null\n}\n'
    assert (tmp_path / "results.md").read_text() == "# table\n"
    assert (tmp_path / "results.csv").read_text().splitlines() == ["kind,x", "run,0.5", "mean,"]
