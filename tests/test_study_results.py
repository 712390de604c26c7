"""The synthetic study's summary, table, files, clock and folder (dqlabels.studies.study) on
runs written here, every number worked out by hand: two splits, hard and soft, the image limit
and the paper's Table 1 (or a dataset's published anchors)."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dqlabels import InputError
from dqlabels.data.synthetic import CLASSES
from dqlabels.studies import study
from dqlabels.studies.study import (
    RunClock,
    prepare_study_folder,
    results_markdown,
    results_table,
    summarise,
    write_results,
)

SETTINGS = {"preset": "quick", "splits": 2, "dataset": None,
            "generate": {"num_images": 30, "image_size": 32},
            "train": {"model": "densenet-tiny", "epochs": 4, "label_mode": "soft", "split": 0},
            "tsne": {"split": 0, "perplexity": 30}}
# (split, mode, macro accuracy, KL)
SCORES = [(0, "hard", 0.80, 0.40), (0, "soft", 0.90, 0.05),
          (1, "hard", 0.84, 0.44), (1, "soft", 0.92, 0.07)]
RUNS = [{"split": s, "mode": m, "macro_accuracy": acc, "kl": kl, "run": f"runs/{m}-split{s}"}
        for s, m, acc, kl in SCORES]
LIMIT = {0: {"macro_accuracy": 0.90, "kl": 0.05}, 1: {"macro_accuracy": 0.92, "kl": 0.07}}
SYNTHETIC = SimpleNamespace(info={"name": "shapes", "generator": {"name": "dqlabels.data.synthetic"}},
                            classes=CLASSES, root=Path("/d/folder"))

# By hand: hard ACC (0.80, 0.84) 0.82 ± 0.0283, KL (0.40, 0.44) 0.42 ± 0.0283; soft ACC 0.91 ±
# 0.0141, KL 0.06 ± 0.0141; the image limit the same as soft. Soft − hard: ACC 0.10 and 0.08,
# mean 0.09, sd 0.0141, t(0.975, 1) = 12.706, half-width 12.706 · 0.0141 / √2 = 0.1271: [-0.0371,
# +0.2171], a tie; KL −0.35 and −0.37: −0.36 [−0.4871, −0.2329], soft better.
EXPECTED_TABLE = "\n".join([
    "# Hard vs soft labels: shapes (preset `quick`)",
    "",
    "Macro accuracy (ACC, higher is better) and KL(soft ‖ prediction) (lower is better) on the "
    "test split, mean ± sample std over 2 split(s).",
    "",
    "| | hard ACC ↑ | hard KL ↓ | soft ACC ↑ | soft KL ↓ |",
    "|---|---|---|---|---|",
    "| this study | 0.8200 ± 0.0283 | 0.4200 ± 0.0283 | 0.9100 ± 0.0141 | 0.0600 ± 0.0141 |",
    "| image limit (pixel-moment estimate) | 0.9100 ± 0.0141 | 0.0600 ± 0.0141 | "
    "0.9100 ± 0.0141 | 0.0600 ± 0.0141 |",
    "| paper, Synthetic | 0.8247 ± 0.0500 | 0.4137 ± 0.0836 | 0.9096 ± 0.0137 | 0.0394 ± 0.0009 |",
    "| paper, MiceBone | 0.6217 ± 0.0466 | 0.7884 ± 0.1089 | 0.6903 ± 0.0669 | 0.2280 ± 0.0227 |",
    "",
    "The image limit reads the soft label from the test images' pixels alone (mean colour of the "
    "lit pixels, axis ratio from their second moments): the best a reader of the pixels can do, "
    "the same for both label modes.",
    "",
    "Soft − hard, paired by split (mean, 95% t interval; better or worse only where the interval "
    "excludes 0):",
    "- macro accuracy: +0.0900 [-0.0371, +0.2171]: a tie within the folds' spread",
    "- KL: -0.3600 [-0.4871, -0.2329]: soft better",
    ""])


@pytest.fixture
def results():
    return summarise(RUNS, SETTINGS, SYNTHETIC, LIMIT)


def test_summary_of_two_splits_by_hand(results):
    s = results["summary"]
    assert s["hard"]["macro_accuracy"]["mean"] == pytest.approx(0.82)
    assert s["hard"]["macro_accuracy"]["std"] == pytest.approx(0.04 / np.sqrt(2))
    assert s["soft"]["kl"]["mean"] == pytest.approx(0.06)
    assert s["soft"]["kl"]["values"] == pytest.approx([0.05, 0.07])
    assert results["paired"]["kl"]["interval"] == pytest.approx([-0.36 - 0.127062, -0.36 + 0.127062],
                                                                abs=1e-5)
    assert results["image_limit"]["splits"] == {"0": LIMIT[0], "1": LIMIT[1]}
    assert results["image_limit"]["kl"]["mean"] == pytest.approx(0.06)
    assert results["paper"]["Synthetic"]["soft"]["kl"] == {"mean": 0.0394, "std": 0.0009}
    assert results["dataset"] == "shapes" and results["anchors"] == []
    assert results["runs"] == RUNS and results["settings"] == SETTINGS


def test_results_table_word_for_word(results):
    assert results_table(results) == EXPECTED_TABLE


def test_results_markdown_adds_splits_settings_time_and_figure(results):
    results = {**results, "seconds": 61.4, "figure": "tsne.png"}
    assert results_markdown(results) == EXPECTED_TABLE.rstrip("\n") + "\n" + "\n".join([
        "",
        "## Per split",
        "",
        "| split | mode | ACC | KL | run |",
        "|---|---|---|---|---|",
        "| 0 | hard | 0.8000 | 0.4000 | `runs/hard-split0` |",
        "| 0 | soft | 0.9000 | 0.0500 | `runs/soft-split0` |",
        "| 1 | hard | 0.8400 | 0.4400 | `runs/hard-split1` |",
        "| 1 | soft | 0.9200 | 0.0700 | `runs/soft-split1` |",
        "| 0 | image limit | 0.9000 | 0.0500 | |",
        "| 1 | image limit | 0.9200 | 0.0700 | |",
        "",
        "## Settings",
        "",
        '- dataset: generated: {"num_images": 30, "image_size": 32}',
        "- model: densenet-tiny",
        "- epochs: 4",
        '- t-SNE: {"split": 0, "perplexity": 30}',
        "- wall time of the runs: 61 s",
        "",
        "![t-SNE of the test-set features, hard vs soft](tsne.png)",
        ""])


def test_a_dataset_with_anchors_shows_them_instead_of_the_paper():
    anchor = {"name": "Them 2021", "setup": "their recipe",
              "hard": {"accuracy": 0.84, "kl": 0.9}, "soft": {"kl": 0.6}}
    data = SimpleNamespace(info={"name": "photos", "anchors": [anchor]}, classes=("a", "b"),
                           root=Path("/d/photos"))
    results = summarise(RUNS[:2], {**SETTINGS, "splits": 1, "dataset": "/d/photos"}, data)
    assert results["paper"] == {} and results["image_limit"] is None
    assert results["summary"]["soft"]["kl"]["std"] is None  # one split: undefined
    lines = results_table(results).splitlines()
    assert lines[6:] == [
        "| this study | 0.8000 | 0.4000 | 0.9000 | 0.0500 |",
        "| Them 2021, hard (their setup) | 0.8400 (accuracy) | 0.9000 |  |  |",
        "| Them 2021, soft (their setup) |  |  | — | 0.6000 |",
        "",
        "Published results on this dataset (setups differ; `--preset cifar10h` runs their "
        "protocol):",
        "- Them 2021: their recipe",
        "",
        "Soft − hard, paired by split (mean, 95% t interval; better or worse only where the "
        "interval excludes 0):",
        "- macro accuracy: +0.1000: not tested (1 fold)",
        "- KL: -0.3500: not tested (1 fold)"]
    assert "- dataset: /d/photos" in results_markdown(results)


def test_results_files_row_by_row(results, tmp_path):
    write_results(tmp_path, results)
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))
    assert (tmp_path / "results.md").read_text() == results_markdown(results)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["kind", "split", "mode", "macro_accuracy", "kl", "macro_accuracy_std",
                       "kl_std"]
    assert [r[:3] for r in rows[1:]] == [
        ["run", "0", "hard"], ["run", "0", "soft"], ["run", "1", "hard"], ["run", "1", "soft"],
        ["mean", "", "hard"], ["mean", "", "soft"], ["image limit", "0", ""],
        ["image limit", "1", ""], ["image limit mean", "", ""], ["paper Synthetic", "", "hard"],
        ["paper Synthetic", "", "soft"], ["paper MiceBone", "", "hard"],
        ["paper MiceBone", "", "soft"]]
    values = [[float(v) if v else None for v in r[3:]] for r in rows[1:]]
    assert values[1] == [0.9, 0.05, None, None]
    assert values[4] == pytest.approx([0.82, 0.42, 0.0282843, 0.0282843], rel=1e-5)
    assert values[7] == [0.92, 0.07, None, None]
    assert values[8] == pytest.approx([0.91, 0.06, 0.0141421, 0.0141421], rel=1e-5)
    assert values[12] == [0.6903, 0.228, 0.0669, 0.0227]


def test_the_clock_times_what_is_left_by_hand(monkeypatch):
    """4 runs of 10 epochs. The first run's first epoch took 30 s: 9 epochs left (270 s) and 3
    runs timed at 1.1 · 30 · 10 = 330 s each: 1,260 s = 21.0 min. After two runs of 100 and
    200 s (the first, which traced the step, left out) and a reused one that counts as done but
    not timed, a first epoch of 20 s: 180 s + 0 runs."""
    lines, now = [], iter([0.0, 100.0, 100.0, 300.0, 300.0])
    monkeypatch.setattr(study.time, "perf_counter", lambda: next(now))
    clock = RunClock(total=4, epochs=10, log=lines.append)
    clock.run_started(False)
    clock.first_epoch_done(30.0, 9)
    clock.run_finished(False)
    clock.run_started(False)
    clock.run_finished(False)
    clock.run_started(True)
    clock.run_finished(True)
    clock.first_epoch_done(20.0, 9)
    assert lines == [
        "  about 21.0 min left in the study (30 s per epoch; this run 4.5 min, 3 more run(s), "
        "then the t-SNE)",
        "  about 3.0 min left in the study (20 s per epoch; this run 3.0 min, 0 more run(s), "
        "then the t-SNE)"]
    assert clock.durations == [100.0, 200.0] and clock.done == 3
    assert study._minutes(59.4) == "59 s" and study._minutes(60) == "1.0 min"


@pytest.mark.parametrize("total, durations, epoch, expected", [
    # Two runs timed (100 and 200 s): later runs at the second's 200 s; 90 s + 2 × 200 s.
    (5, [100.0, 200.0], 10.0, "  about 8.2 min left in the study (10 s per epoch; this run "
                              "1.5 min, 2 more run(s), then the t-SNE)"),
    # One run timed (the first, which traced the step): later runs still at 1.1 · 20 · 10 =
    # 220 s; 180 s + 1 × 220 s.
    (3, [500.0], 20.0, "  about 6.7 min left in the study (20 s per epoch; this run 3.0 min, "
                       "1 more run(s), then the t-SNE)")])
def test_the_clock_times_later_runs_by_the_second_timed_run_on(monkeypatch, total, durations,
                                                               epoch, expected):
    lines, ends = [], iter([t for d in durations for t in (0.0, d)])
    monkeypatch.setattr(study.time, "perf_counter", lambda: next(ends))
    clock = RunClock(total=total, epochs=10, log=lines.append)
    for _ in durations:
        clock.run_started(False)
        clock.run_finished(False)
    clock.first_epoch_done(epoch, 9)
    assert lines == [expected]


def test_a_folder_of_another_study_is_refused_naming_what_differs(tmp_path):
    out = tmp_path / "study"
    prepare_study_folder(out, {"splits": 3, "epochs": 4, "seed": 0}, overwrite=False)
    assert json.loads((out / "study.json").read_text()) == {"splits": 3, "epochs": 4, "seed": 0}
    prepare_study_folder(out, {"splits": 3, "epochs": 4, "seed": 0}, overwrite=False)  # continued
    with pytest.raises(InputError) as refused:
        prepare_study_folder(out, {"splits": 2, "epochs": 4, "model": "x"}, overwrite=False)
    assert str(refused.value) == (
        f"{out}: holds a study made with other settings (model, seed, splits differ); use "
        f"another out_dir or pass overwrite=True to start again")


def test_a_dataset_without_soft_labels_is_refused():
    data = SimpleNamespace(soft_labels=np.array([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(InputError) as refused:
        study._with_soft_labels(data, Path("/d/hard"))
    assert str(refused.value) == ("/d/hard: has no soft labels (every item has a single or "
                                  "unanimous label), so hard and soft training would be the same")
    mixed = SimpleNamespace(soft_labels=np.array([[1.0, 0.0], [0.6, 0.4]]))
    assert study._with_soft_labels(mixed, Path("/d/mixed")) is mixed


def test_older_results_and_other_anchor_shapes(results):
    """A results dict without "anchors" (written before they existed) renders; an anchor may
    give macro accuracy instead of accuracy, or no KL (a dash); a dataset without a name is
    named by its folder; a synthetic dataset shows the paper's table even if it lists anchors."""
    del results["anchors"]
    assert results_table(results) == EXPECTED_TABLE
    anchor = {"name": "Them", "setup": "s", "hard": {"macro_accuracy": 0.7},
              "soft": {"accuracy": 0.75, "kl": 0.2}}
    data = SimpleNamespace(info={"anchors": [anchor]}, classes=("a", "b"), root=Path("/d/mine"))
    other = summarise(RUNS, SETTINGS, data)
    assert other["dataset"] == "mine"
    lines = results_table(other).splitlines()
    assert "| Them, hard (their setup) | 0.7000 (accuracy) | — |  |  |" in lines
    assert "| Them, soft (their setup) |  |  | 0.7500 (accuracy) | 0.2000 |" in lines
    listed = SimpleNamespace(info={**SYNTHETIC.info, "anchors": [anchor]}, classes=CLASSES,
                             root=SYNTHETIC.root)
    assert summarise(RUNS, SETTINGS, listed)["anchors"] == []


def test_the_study_record_is_indented_json_and_the_folder_must_be_a_study(tmp_path):
    out = tmp_path / "study"
    prepare_study_folder(out, {"splits": 3}, overwrite=False)
    assert (out / "study.json").read_text() == '{\n  "splits": 3\n}\n'
    (out / "results.md").write_text("old")
    (out / "notes.txt").write_text("mine")
    prepare_study_folder(out, {"splits": 2}, overwrite=True)  # its own files go, not others'
    assert not (out / "results.md").exists() and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "study.json").read_text()) == {"splits": 2}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    with pytest.raises(InputError) as refused:
        prepare_study_folder(foreign, {"splits": 2}, overwrite=False, what="budget study")
    assert str(refused.value) == (f"{foreign}: folder exists and is not a dqlabels budget study "
                                  f"(pass overwrite=True to use it anyway)")


def test_run_study_passes_every_option_and_prints_the_table(monkeypatch, tmp_path):
    from dqlabels.config import StudyOptions
    from dqlabels.learning import distributed

    asked = {}

    def reproduce(out_dir, preset, **options):
        asked.update(out_dir=out_dir, preset=preset, **options)
        return summarise(RUNS, SETTINGS, SYNTHETIC, LIMIT)

    monkeypatch.setattr(study, "reproduce", reproduce)
    options = StudyOptions(dataset="/d", overrides={"epochs": 2}, splits="2", tsne_max_iter=300,
                           seed=5, overwrite=True, job="a job", verbose=0)
    printed = study.run_study(tmp_path, "quick", options)
    assert {k: v for k, v in asked.items() if k != "log"} == {
        "out_dir": tmp_path, "preset": "quick", "splits": 2, "job": "a job", "tsne_max_iter": 300,
        "dataset": "/d", "overrides": {"epochs": 2}, "seed": 5, "overwrite": True, "verbose": 0}
    assert printed == EXPECTED_TABLE.strip() + (f"\n\nResults in {tmp_path}/results.md, .csv, "
                                                f".json; figure {tmp_path}/tsne.png")
    monkeypatch.setattr(distributed, "process_index", lambda: 1)
    assert study.run_study(tmp_path, "quick", options) is None  # another process of the job
    assert study.run_study(tmp_path, "quick", StudyOptions()) is not None  # no job: prints


def test_accuracy_higher_and_kl_lower_are_both_soft_better():
    """Soft ahead by 0.1 in accuracy and 0.3 lower in KL on both splits (a zero-width
    interval): better on both, whichever way each metric counts as better."""
    runs = [{"split": s, "mode": m, "macro_accuracy": acc, "kl": kl, "run": "r"}
            for s in (0, 1) for m, acc, kl in (("hard", 0.7, 0.5), ("soft", 0.8, 0.2))]
    paired = summarise(runs, SETTINGS, SYNTHETIC)["paired"]
    assert paired["macro_accuracy"]["verdict"] == "soft better"
    assert paired["kl"]["verdict"] == "soft better"


def test_a_study_folder_deep_in_new_folders_and_an_unreadable_record(tmp_path):
    deep = tmp_path / "a" / "b" / "study"
    prepare_study_folder(deep, {"splits": 1}, overwrite=False)  # its parents made too
    assert json.loads((deep / "study.json").read_text()) == {"splits": 1}
    (deep / "study.json").write_text("{not json")
    with pytest.raises(InputError) as refused:
        prepare_study_folder(deep, {"splits": 1}, overwrite=False)
    assert str(refused.value) == (f"{deep / 'study.json'}: unreadable; pass overwrite=True to "
                                  f"start again")
    prepare_study_folder(deep, {"splits": 1}, overwrite=True)
    assert json.loads((deep / "study.json").read_text()) == {"splits": 1}
