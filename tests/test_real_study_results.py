"""The K-fold study's summary, table and files (dqlabels.studies.real_study) on runs written here,
every number worked out by hand: two folds, hard and soft, five metrics, one published anchor."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from dqlabels.studies.real_study import results_markdown, results_table, summarise, write_results

SETTINGS = {"preset": "cifar10h", "folds": 10, "runs": 2, "val_size": 250,
            "hard_labels": "original", "hard_labels_file": "/data/original_labels.csv",
            "dataset": "/data", "train": {"model": "resnet9-quarter", "epochs": 60,
                                          "label_mode": "soft", "split": 0, "batch_size": 128}}
# (fold, mode, cross-entropy, KL, accuracy, macro F1, ECE)
SCORES = [(0, "hard", 1.0, 0.8, 0.80, 0.79, 0.10), (0, "soft", 0.7, 0.5, 0.81, 0.80, 0.02),
          (1, "hard", 1.2, 0.9, 0.78, 0.77, 0.12), (1, "soft", 0.8, 0.6, 0.77, 0.76, 0.03)]
RUNS = [{"fold": f, "mode": m, "cross_entropy": ce, "kl": kl, "accuracy": acc, "macro_f1": f1,
         "ece": ece, "num_items": 1000, "run": f"runs/{m}-fold{f}"}
        for f, m, ce, kl, acc, f1, ece in SCORES]
ANCHOR = {"name": "Someone 2020", "setup": "their recipe",
          "hard": {"cross_entropy": 0.9, "accuracy": 0.84}, "soft": {"cross_entropy": 0.6}}
DATA = SimpleNamespace(info={"name": "toy-h", "anchors": [ANCHOR]}, root=Path("/data/toy"))

# results.md for the runs above, each number checked by hand (the tests below work the key ones
# out; the soft rows: accuracy (0.81 + 0.77) / 2 = 0.79 ± 0.0283, ECE 0.025 ± 0.0071).
EXPECTED_MARKDOWN = "\n".join([
    '# Hard vs soft labels on real images: toy-h (preset `cifar10h`)',
    '',
    '2 of 10 folds, each held out once: resnet9-quarter from scratch, 60 epochs; hard = the original labels, soft = the human distributions. Mean ± sample std over folds; soft − hard paired per fold with its 95% t interval and verdict.',
    '',
    '| | CE vs human ↓ | KL vs human ↓ | accuracy ↑ | macro F1 ↑ | ECE ↓ |',
    '|---|---|---|---|---|---|',
    '| hard labels | 1.1000 ± 0.1414 | 0.8500 ± 0.0707 | 0.7900 ± 0.0141 | 0.7800 ± 0.0141 | 0.1100 ± 0.0141 |',
    '| soft labels | 0.7500 ± 0.0707 | 0.5500 ± 0.0707 | 0.7900 ± 0.0283 | 0.7800 ± 0.0283 | 0.0250 ± 0.0071 |',
    "| soft − hard | -0.3500 [-0.9853, +0.2853] (a tie within the folds' spread) | -0.3000 [-0.3000, -0.3000] (soft better) | +0.0000 [-0.1271, +0.1271] (a tie within the folds' spread) | +0.0000 [-0.1271, +0.1271] (a tie within the folds' spread) | -0.0850 [-0.1485, -0.0215] (soft better) |",
    '| Someone 2020, hard | 0.900 | — | 0.840 | — | — |',
    '| Someone 2020, soft | 0.600 | — | — | — | — |',
    '',
    'Soft labels cut the held-out cross-entropy against the human distributions by 32%.',
    '',
    'Published results on this data (setups differ):',
    '- Someone 2020: their recipe',
    '',
    '## Per fold',
    '',
    '| fold | mode | CE vs human | KL vs human | accuracy | macro F1 | ECE | run |',
    '|---|---|---|---|---|---|---|---|',
    '| 0 | hard | 1.0000 | 0.8000 | 0.8000 | 0.7900 | 0.1000 | `runs/hard-fold0` |',
    '| 0 | soft | 0.7000 | 0.5000 | 0.8100 | 0.8000 | 0.0200 | `runs/soft-fold0` |',
    '| 1 | hard | 1.2000 | 0.9000 | 0.7800 | 0.7700 | 0.1200 | `runs/hard-fold1` |',
    '| 1 | soft | 0.8000 | 0.6000 | 0.7700 | 0.7600 | 0.0300 | `runs/soft-fold1` |',
    '',
    '## Settings',
    '',
    '- dataset: /data',
    '- folds: 10 (run: 2), validation images per fold: 250, hard labels: original (/data/original_labels.csv)',
    '- model: resnet9-quarter',
    '- epochs: 60',
    '- batch_size: 128',
    '- wall time: 125 s',
    '',
    '![hard vs soft per fold](folds.png)',
    '',
    "![t-SNE of fold 0's held-out features](tsne.png)",
]) + "\n"


@pytest.fixture(scope="module")
def results():
    return summarise(RUNS, SETTINGS, DATA)


def test_the_summary_by_hand(results):
    s = results["summary"]
    assert s["hard"]["cross_entropy"]["mean"] == pytest.approx(1.1)
    assert s["soft"]["cross_entropy"]["mean"] == pytest.approx(0.75)
    assert results["cross_entropy_cut"] == pytest.approx(1 - 0.75 / 1.1)  # 31.8%
    assert results["dataset"] == "toy-h" and results["anchors"] == [ANCHOR]
    # soft − hard CE: −0.3, −0.4 (mean −0.35, sample std 0.070711, t(0.975, 1) 12.7062:
    # half-width 0.63531, so a tie); ECE −0.08, −0.09 (half-width 0.063531: lower, better);
    # accuracy +0.01, −0.01 (half-width 12.7062 · 0.014142 / √2 = 0.12706: a tie)
    ce, ece = results["paired"]["cross_entropy"], results["paired"]["ece"]
    assert ce["mean"] == pytest.approx(-0.35)
    assert ce["interval"] == pytest.approx([-0.35 - 0.63531, -0.35 + 0.63531], abs=1e-5)
    assert ce["verdict"] == "a tie within the folds' spread"
    assert ece["mean"] == pytest.approx(-0.085) and ece["verdict"] == "soft better"
    assert results["paired"]["accuracy"]["verdict"] == "a tie within the folds' spread"
    majority = summarise(RUNS, {**SETTINGS, "hard_labels": "majority"},
                         SimpleNamespace(info={}, root=Path("/data/toy")))
    assert majority["dataset"] == "toy" and majority["anchors"] == []
    assert "hard = the annotation majority" in results_table(majority)


def test_the_table_and_the_markdown(results):
    table = results_table(results).splitlines()
    assert table[0] == "# Hard vs soft labels on real images: toy-h (preset `cifar10h`)"
    assert table[2] == ("2 of 10 folds, each held out once: resnet9-quarter from scratch, 60 "
                        "epochs; hard = the original labels, soft = the human distributions. "
                        "Mean ± sample std over folds; soft − hard paired per fold with its 95% "
                        "t interval and verdict.")
    assert table[4] == ("| | CE vs human ↓ | KL vs human ↓ | accuracy ↑ | macro F1 ↑ | ECE ↓ |")
    assert table[6] == ("| hard labels | 1.1000 ± 0.1414 | 0.8500 ± 0.0707 | 0.7900 ± 0.0141 | "
                        "0.7800 ± 0.0141 | 0.1100 ± 0.0141 |")
    assert table[8] == ("| soft − hard | -0.3500 [-0.9853, +0.2853] (a tie within the folds' "
                        "spread) | -0.3000 [-0.3000, -0.3000] (soft better) | +0.0000 [-0.1271, "
                        "+0.1271] (a tie within the folds' spread) | +0.0000 [-0.1271, +0.1271] "
                        "(a tie within the folds' spread) | -0.0850 [-0.1485, -0.0215] (soft "
                        "better) |")
    assert table[9] == "| Someone 2020, hard | 0.900 | — | 0.840 | — | — |"
    assert table[10] == "| Someone 2020, soft | 0.600 | — | — | — | — |"
    assert "Soft labels cut the held-out cross-entropy against the human distributions by 32%." \
        in table
    assert table[-1] == "- Someone 2020: their recipe"
    markdown = results_markdown({**results, "seconds": 125.4, "figure": "folds.png",
                                 "tsne": "tsne.png"}).splitlines()
    assert "| 1 | soft | 0.8000 | 0.6000 | 0.7700 | 0.7600 | 0.0300 | `runs/soft-fold1` |" \
        in markdown
    assert ("- folds: 10 (run: 2), validation images per fold: 250, hard labels: original "
            "(/data/original_labels.csv)") in markdown
    assert "- model: resnet9-quarter" in markdown and "- label_mode: soft" not in markdown
    assert markdown[-3:] == ["![hard vs soft per fold](folds.png)", "",
                             "![t-SNE of fold 0's held-out features](tsne.png)"]
    assert "- wall time: 125 s" in markdown


def test_the_files(results, tmp_path):
    write_results(tmp_path, results)
    assert json.loads((tmp_path / "results.json").read_text())["dataset"] == "toy-h"
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["run"] * 4 + ["mean"] * 2 + ["soft - hard"] * 5 + [
        "anchor Someone 2020"] * 2
    ce = rows[6]
    assert ce["mode"] == "cross_entropy" and float(ce["cross_entropy"]) == pytest.approx(-0.35)
    assert float(ce["interval_low"]) == pytest.approx(-0.98531, abs=1e-5)
    assert ce["verdict"] == "a tie within the folds' spread" and ce["kl"] == ""
    assert rows[-1]["mode"] == "soft" and rows[-1]["accuracy"] == ""


def test_results_md_word_for_word(results):
    assert results_markdown({**results, "seconds": 125.4, "figure": "folds.png",
                             "tsne": "tsne.png"}) == EXPECTED_MARKDOWN


def test_the_settings_of_a_k_fold_study(tmp_path):
    from dataclasses import asdict, replace

    from dqlabels.config import PRESETS
    from dqlabels.errors import InputError
    from dqlabels.studies.real_study import kfold_settings

    settings = kfold_settings("cifar10h", tmp_path, folds=2, runs=2, seed=4)
    assert settings == {
        "preset": "cifar10h", "protocol": "kfold", "dataset": str(tmp_path.resolve()),
        "folds": 2, "runs": 2, "val_size": 250, "hard_labels": "original",
        "train": asdict(replace(PRESETS["cifar10h"].settings["train"], seed=4)),
        "tsne": {"perplexity": 30.0, "max_iter": 5000, "seed": 4, "fold": 0}}
    default = kfold_settings("cifar10h", tmp_path)
    assert (default["folds"], default["runs"], default["train"]["seed"]) == (10, 3, 0)
    assert kfold_settings("cifar10h-paper", tmp_path)["runs"] == 10
    with pytest.raises(InputError, match="Expected preset to be one of cifar10h, "):
        kfold_settings("quick", tmp_path)
    with pytest.raises(InputError, match="Expected hard_labels to be one of original, "):
        kfold_settings("cifar10h", tmp_path, hard_labels="vote")
    with pytest.raises(InputError, match="Expected folds >= 2 and 1 <= splits <= folds. "
                                         "Received: folds=1, splits=1"):
        kfold_settings("cifar10h", tmp_path, folds=1, runs=1)
    with pytest.raises(InputError, match="get CIFAR-10H's with 'dqlabels datasets get"):
        kfold_settings("cifar10h", None)


def test_run_study_passes_the_options_and_says_where_the_files_are(results, monkeypatch,
                                                                    tmp_path):
    from dqlabels.config import StudyOptions
    from dqlabels.studies import real_study

    calls = []

    def reproduce_kfold(out_dir, preset, **options):
        calls.append((out_dir, preset, options))
        return results

    monkeypatch.setattr(real_study, "reproduce_kfold", reproduce_kfold)
    log = print
    text = real_study.run_study(tmp_path, "cifar10h", StudyOptions(
        dataset="/data", folds=5, splits="2", tsne_max_iter=300, seed=3, log=log))
    out_dir, preset, options = calls[0]
    assert (out_dir, preset) == (tmp_path, "cifar10h")
    assert options == {"folds": 5, "runs": 2, "hard_labels": "original", "tsne_max_iter": 300,
                       "dataset": "/data", "overrides": {}, "seed": 3, "overwrite": False,
                       "log": log, "verbose": "auto"}
    assert text == results_table(results).strip() + (
        f"\n\nResults in {tmp_path}/results.md, .csv, .json; figures {tmp_path}/folds.png and "
        f"{tmp_path}/tsne.png")
    real_study.run_study(tmp_path, "cifar10h", StudyOptions(hard_labels="majority"))
    assert calls[1][2]["hard_labels"] == "majority" and "tsne_max_iter" not in calls[1][2]


def test_original_labels_follow_the_dataset_class_order(tmp_path):
    from dqlabels.studies.real_study import hard_labels_of

    (tmp_path / "orig.csv").write_text("item,label\na,cat\nb,dog\n")
    data = SimpleNamespace(classes=["dog", "cat"], items=["b", "a"], root=tmp_path,
                           info={"hard_labels": "orig.csv"})
    labels, path = hard_labels_of(data, "original")
    assert labels.tolist() == [0, 1] and path == tmp_path / "orig.csv"  # b: dog, a: cat


def test_the_markdown_defaults_and_the_settings_it_leaves_out(results):
    train = {**SETTINGS["train"], "split_file": "splits/fold0.csv", "targets": "t.csv"}
    bare = {**results, "settings": {**SETTINGS, "train": train, "hard_labels_file": None}}
    text = results_markdown(bare)
    assert "hard labels: original\n" in text  # no file named
    assert "split_file" not in text and "targets" not in text
    assert "![hard vs soft per fold](folds.png)" in text and "t-SNE" not in text


def test_fold_scores_join_ids_as_text_and_anchors_in_the_csv(results, tmp_path):
    import numpy as np

    from dqlabels.studies.real_study import fold_scores, kfold_settings

    (tmp_path / "predictions.csv").write_text("item,a,b\n002,0.25,0.75\n001,1,0\n")
    data = SimpleNamespace(items=["001", "002"], classes=["a", "b"],
                           soft_labels=np.array([[1.0, 0.0], [0.5, 0.5]]))
    scores = fold_scores(tmp_path, data, np.array([0, 1]))
    # item 001 (hard a) predicted [1, 0], item 002 (hard b) [0.25, 0.75]: both right
    assert scores["accuracy"] == 1.0 and scores["num_items"] == 2
    assert scores["kl"] == pytest.approx(0.5 * (0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(
        0.5 / 0.75)))
    write_results(tmp_path, results)
    with open(tmp_path / "results.csv", newline="") as f:
        hard_anchor = [r for r in csv.DictReader(f) if r["kind"] == "anchor Someone 2020"][0]
    assert float(hard_anchor["cross_entropy"]) == 0.9 and float(hard_anchor["accuracy"]) == 0.84
    assert kfold_settings("cifar10h", tmp_path, overrides={"epochs": 5})["train"]["epochs"] == 5
