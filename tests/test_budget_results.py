"""The budget study's summary, table and files (dqlabels.studies.budget_results) on runs written
here, every expected number worked out by hand: one size of 40 images, two splits, budgets 1
and 3, and the shrunk arm at 3."""

import csv

import pytest

from dqlabels.studies.budget_results import budget_markdown, summarise, write_budget_results

SETTINGS = {"sizes": [40], "splits": [2], "budgets": [1, 3],
            "train": {"model": "densenet-tiny", "epochs": 1, "batch_size": 8}}
# (budget, split, mode, macro accuracy, KL); at budget 1 the soft run stands for hard too
SCORES = [(1, 0, "hard", 0.5, 0.9), (1, 0, "soft", 0.5, 0.9), (1, 1, "hard", 0.6, 0.8),
          (1, 1, "soft", 0.6, 0.8),
          (3, 0, "hard", 0.55, 0.7), (3, 0, "soft", 0.6, 0.4), (3, 0, "shrunk", 0.62, 0.38),
          (3, 1, "hard", 0.65, 0.6), (3, 1, "soft", 0.7, 0.31), (3, 1, "shrunk", 0.72, 0.30)]
RUNS = [{"size": 40, "budget": b, "split": k, "mode": m, "macro_accuracy": a, "kl": kl,
         "run": f"runs/n40/b{b}/{m}-split{k}", "seconds": 1.0} for b, k, m, a, kl in SCORES]
INPUTS = [{"size": 40, "budget": b, "split": k, "input_macro_accuracy": 0.7 + 0.1 * k,
           "input_kl_soft": 0.5 - 0.1 * k, "input_kl_hard": 1.0 + k,
           **({"input_kl_shrunk": 0.2} if b == 3 else {})} for b in (1, 3) for k in (0, 1)]

# The whole table for the runs above, each number checked by hand (the tests above and below
# work the key ones out): budget 1's rows are hard = soft, differences 0.
EXPECTED_TABLE = "\n".join([
    '# Hard vs soft labels across annotation budgets and training-set sizes',
    '',
    'Training: densenet-tiny, 1 epochs, batch 8; every model scored on the test split against the exact soft labels; mean ± sample std over the splits.',
    '',
    '## 40 images (2 splits)',
    '',
    '| annotations per image | hard ACC ↑ | hard KL ↓ | soft ACC ↑ | soft KL ↓ | input ACC | input KL (soft) | input KL (hard) |',
    '|---|---|---|---|---|---|---|---|',
    '| 1 (hard = soft) | 0.5500 ± 0.0707 | 0.8500 ± 0.0707 | 0.5500 ± 0.0707 | 0.8500 ± 0.0707 | 0.7500 ± 0.0707 | 0.4500 ± 0.0707 | 1.5000 ± 0.7071 |',
    '| 3 | 0.6000 ± 0.0707 | 0.6500 ± 0.0707 | 0.6500 ± 0.0707 | 0.3550 ± 0.0636 | 0.7500 ± 0.0707 | 0.4500 ± 0.0707 | 1.5000 ± 0.7071 |',
    '',
    'Soft − hard on the same split (mean, 95% t interval, splits where soft is higher; the verdict: better or worse only where the interval excludes 0):',
    '',
    '| annotations per image | macro accuracy | KL |',
    '|---|---|---|',
    "| 1 | +0.0000 [+0.0000, +0.0000], 0/2: a tie within the folds' spread | +0.0000 [+0.0000, +0.0000], 0/2 lower: a tie within the folds' spread |",
    '| 3 | +0.0500 [+0.0500, +0.0500], 2/2: soft better | -0.2950 [-0.3585, -0.2315], 2/2 lower: soft better |',
    '',
    'The third arm: training on the shrunk soft labels (the posterior mean of the same answers) against their raw mean, paired by split:',
    '',
    '| annotations per image | shrunk ACC ↑ | shrunk KL ↓ | input KL shrunk / raw | shrunk − raw: macro accuracy | shrunk − raw: KL |',
    '|---|---|---|---|---|---|',
    "| 3 | 0.6700 ± 0.0707 | 0.3400 ± 0.0566 | 0.200 / 0.450 | +0.0200 [+0.0200, +0.0200]: shrunk better | -0.0150 [-0.0785, +0.0485]: a tie within the folds' spread |",
    '',
    "Wall time of this invocation: 61 s; the runs' training (their last sessions, reused runs included): 3 min.",
]) + "\n"


@pytest.fixture(scope="module")
def results():
    return summarise(RUNS, INPUTS, SETTINGS)


def test_the_summary_and_the_paired_comparisons_by_hand(results):
    s = results["summary"]["40/3"]
    assert s["soft"]["macro_accuracy"]["mean"] == pytest.approx(0.65)
    assert s["soft"]["macro_accuracy"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert s["hard"]["kl"]["mean"] == pytest.approx(0.65)
    assert s["shrunk"]["kl"]["values"] == [0.38, 0.30]
    assert s["input"]["input_kl_hard"]["mean"] == pytest.approx(1.5)
    assert s["input"]["input_kl_shrunk"]["mean"] == pytest.approx(0.2)
    assert "shrunk" not in results["summary"]["40/1"]
    # soft − hard at 3: accuracy +0.05 on both splits (soft better); KL −0.30, −0.29: mean
    # −0.295, sample std 0.0070711, t(0.975, 1) = 12.7062: half-width 0.063531, so the
    # interval [−0.3585, −0.2315] excludes 0: lower KL, soft better
    acc, kl = results["paired"]["40/3"]["macro_accuracy"], results["paired"]["40/3"]["kl"]
    assert acc["mean"] == pytest.approx(0.05) and acc["verdict"] == "soft better"
    assert acc["soft_higher"] == 2 and acc["splits"] == 2
    assert kl["mean"] == pytest.approx(-0.295)
    assert kl["interval"] == pytest.approx([-0.295 - 0.063531, -0.295 + 0.063531], abs=1e-5)
    assert kl["verdict"] == "soft better" and kl["soft_lower"] == 2
    # at budget 1 hard and soft are the same labels: 0 on both splits
    assert results["paired"]["40/1"]["kl"]["mean"] == 0.0
    assert results["paired"]["40/1"]["kl"]["verdict"] == "a tie within the folds' spread"
    # the third arm, shrunk − raw soft at 3: accuracy +0.02 twice (shrunk better)
    third = results["paired"]["40/3"]["shrunk_vs_soft"]
    assert third["macro_accuracy"]["mean"] == pytest.approx(0.02)
    assert third["macro_accuracy"]["verdict"] == "shrunk better"
    assert third["kl"]["mean"] == pytest.approx(-0.015)  # −0.02, −0.01


def test_the_table_as_printed(results):
    text = budget_markdown({**results, "seconds": 61.4, "training_seconds": 570})
    lines = text.splitlines()
    assert lines[2] == ("Training: densenet-tiny, 1 epochs, batch 8; every model scored on the "
                        "test split against the exact soft labels; mean ± sample std over the "
                        "splits.")
    assert "## 40 images (2 splits)" in lines
    assert ("| 3 | 0.6000 ± 0.0707 | 0.6500 ± 0.0707 | 0.6500 ± 0.0707 | 0.3550 ± 0.0636 | "
            "0.7500 ± 0.0707 | 0.4500 ± 0.0707 | 1.5000 ± 0.7071 |") in lines
    assert lines.count("| 1 (hard = soft) | 0.5500 ± 0.0707 | 0.8500 ± 0.0707 | 0.5500 ± "
                       "0.0707 | 0.8500 ± 0.0707 | 0.7500 ± 0.0707 | 0.4500 ± 0.0707 | "
                       "1.5000 ± 0.7071 |") == 1
    assert ("| 3 | +0.0500 [+0.0500, +0.0500], 2/2: soft better | -0.2950 [-0.3585, -0.2315], "
            "2/2 lower: soft better |") in lines
    assert ("| 3 | 0.6700 ± 0.0707 | 0.3400 ± 0.0566 | 0.200 / 0.450 | +0.0200 [+0.0200, "
            "+0.0200]: shrunk better | -0.0150 [-0.0785, +0.0485]: a tie within the folds' "
            "spread |") in lines
    assert lines[-1] == ("Wall time of this invocation: 61 s; the runs' training (their last "
                         "sessions, reused runs included): 10 min.")  # 9.5 rounds to even


def test_the_files(results, tmp_path):
    write_budget_results(tmp_path, results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget.csv", "budget.json",
                                                          "budget.md", "budget.png"]
    with open(tmp_path / "budget.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("run") == len(RUNS) and kinds.count("input") == len(INPUTS)
    mean = next(r for r in rows if r["kind"] == "mean" and r["budget"] == "3"
                and r["mode"] == "soft")
    assert float(mean["macro_accuracy"]) == pytest.approx(0.65)
    assert float(mean["std_kl"]) == pytest.approx(0.0636396, rel=1e-5)
    kl = next(r for r in rows if r["kind"] == "paired kl" and r["budget"] == "3")
    assert kl["mode"] == "soft - hard" and float(kl["kl"]) == pytest.approx(-0.295)
    assert float(kl["interval_low"]) == pytest.approx(-0.358531, abs=1e-5)
    assert kl["macro_accuracy"] == ""


def test_the_whole_table_word_for_word(results):
    assert budget_markdown({**results, "seconds": 61.4, "training_seconds": 180}) == \
        EXPECTED_TABLE


def test_older_results_one_split_and_the_json(results, tmp_path):
    import copy
    import json

    older = copy.deepcopy(results)  # results written before verdicts existed carry none
    for comparison in older["paired"].values():
        for metric in ("macro_accuracy", "kl"):
            del comparison[metric]["verdict"]
    assert budget_markdown(older) == budget_markdown(results)
    one = summarise([r for r in RUNS if r["split"] == 0], [i for i in INPUTS if i["split"] == 0],
                    {**SETTINGS, "splits": [1]})
    text = budget_markdown({**one, "seconds": 5})
    assert "## 40 images (1 split)" in text
    assert "| 3 | +0.0500 (one split), 1/1: not tested (1 fold) |" in text
    assert text.endswith("reused runs included): 0 min.\n")
    write_budget_results(tmp_path, results)
    written = json.loads((tmp_path / "budget.json").read_text())
    assert sorted(written) == ["inputs", "paired", "runs", "settings", "summary"]
    assert written["summary"]["40/3"]["size"] == 40 and written["summary"]["40/3"]["budget"] == 3
    with open(tmp_path / "budget.csv", newline="") as f:
        accuracy = next(r for r in csv.DictReader(f)
                        if r["kind"] == "paired macro_accuracy" and r["budget"] == "3")
    assert float(accuracy["macro_accuracy"]) == pytest.approx(0.05) and accuracy["kl"] == ""
