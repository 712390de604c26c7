"""The study on real images (dqlabels.studies.real_study): hard labels from the folder's original
labels or the majority, Peterson's cross-entropy, the verdicts, and the cifar10h preset's
pipeline end to end on a small subset of ../shared/data/cifar10h."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import CIFAR10H, needs
from dqlabels import InputError
from dqlabels.data.datasets import load_dataset
from dqlabels.studies.real_study import (
    hard_labels_of,
    human_cross_entropy,
    results_table,
    summarise,
)
from dqlabels_cli.main import main

FOLDER = CIFAR10H.parent


@pytest.fixture(scope="module")
def cifar_folder():
    needs(FOLDER.exists(), "../shared/data/cifar10h")
    return load_dataset(FOLDER, check_images=False)


def test_original_and_majority_hard_labels(cifar_folder):
    """The folder's README: the majority of the human answers equals the original label on
    9,921 of the 10,000 images; each class has exactly 1,000 original labels."""
    original, path = hard_labels_of(cifar_folder, "original")
    majority, none = hard_labels_of(cifar_folder, "majority")
    assert path.name == "cifar10-test-labels.csv" and none is None
    assert np.bincount(original, minlength=10).tolist() == [1000] * 10
    assert int(np.count_nonzero(original == majority)) == 9_921
    labels = pd.read_csv(path).set_index("item")["label"]
    assert cifar_folder.classes[original[0]] == labels[cifar_folder.items[0]] == "cat"


def test_human_cross_entropy_by_hand():
    human = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    predicted = np.array([[0.25, 0.75, 0.0], [0.1, 0.1, 0.8]])
    expected = (-(0.5 * np.log(0.25) + 0.5 * np.log(0.75)) - np.log(0.8)) / 2
    assert human_cross_entropy(human, predicted) == pytest.approx(expected)
    # A class the human never chose costs nothing; a zero where they did costs log(1e-12).
    assert human_cross_entropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == \
        pytest.approx(-np.log(1e-12))


def test_one_fold_is_reported_as_not_tested(cifar_folder):
    runs = [{"fold": 0, "mode": mode, "run": f"runs/{mode}-fold0", "cross_entropy": ce,
             "kl": ce - 0.3, "accuracy": acc, "macro_f1": acc, "ece": 0.05}
            for mode, ce, acc in (("hard", 1.0, 0.45), ("soft", 0.9, 0.455))]
    settings = {"preset": "cifar10h", "folds": 10, "runs": 1, "val_size": 250,
                "hard_labels": "original", "dataset": str(FOLDER),
                "train": {"model": "resnet9-quarter", "epochs": 60}}
    results = summarise(runs, settings, cifar_folder)
    assert results["paired"]["accuracy"]["verdict"] == "not tested (1 fold)"
    assert results["cross_entropy_cut"] == pytest.approx(0.1)
    table = results_table(results)
    assert "not tested (1 fold)" in table and "soft better" not in table
    assert "| Peterson et al. 2019, hard | 0.958 | — | 0.840 |" in table


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """200 images of the folder (20 per original class), as a dataset folder of their own."""
    needs(FOLDER.exists(), "../shared/data/cifar10h")
    root = tmp_path_factory.mktemp("cifar10h-subset")
    labels = pd.read_csv(FOLDER / "cifar10-test-labels.csv")
    chosen = labels.groupby("label", group_keys=False).head(20)
    counts = pd.read_csv(FOLDER / "annotations.csv").set_index("item").loc[chosen["item"]]
    counts.reset_index().to_csv(root / "annotations.csv", index=False)
    chosen.to_csv(root / "cifar10-test-labels.csv", index=False)
    (root / "images").symlink_to(FOLDER / "images")
    (root / "dataset.json").write_text((FOLDER / "dataset.json").read_text())
    return root


@pytest.mark.slow
def test_cifar10h_preset_pipeline_on_a_subset(subset, tmp_path):
    out = tmp_path / "study"
    result = CliRunner().invoke(main, [
        "reproduce", "--preset", "cifar10h", "--dataset", str(subset), "--out", str(out),
        "--folds", "4", "--splits", "2", "--epochs", "2", "--batch-size", "30",
        "--tsne-max-iter", "250"])
    assert result.exit_code == 0, result.output + result.stderr
    results = json.loads((out / "results.json").read_text())
    assert [(r["fold"], r["mode"]) for r in results["runs"]] == [
        (0, "hard"), (0, "soft"), (1, "hard"), (1, "soft")]
    held_out = []
    for fold in (0, 1):
        split = pd.read_csv(out / "splits" / f"fold{fold}.csv").set_index("item")["split"]
        assert (split == "test").sum() == 50  # 200 images in 4 stratified folds
        held_out.append(set(split.index[split == "test"]))
        for mode in ("hard", "soft"):
            config = json.loads((out / "runs" / f"{mode}-fold{fold}" / "config.json").read_text())
            settings = config["config"]
            assert settings["augment"] == "natural" and settings["model"] == "resnet9-quarter"
            assert (settings["targets"] is not None) == (mode == "hard")
    assert not held_out[0] & held_out[1]
    # The hard run's cross-entropy, recomputed from its predictions and the counts.
    predictions = pd.read_csv(out / "runs" / "hard-fold0" / "predictions.csv").set_index("item")
    counts = pd.read_csv(subset / "annotations.csv").set_index("item").loc[predictions.index]
    human = counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True)
    p = predictions[counts.columns].to_numpy()
    ce = float(np.mean(-(human * np.log(np.maximum(p, 1e-12))).sum(axis=1)))
    assert results["runs"][0]["cross_entropy"] == pytest.approx(ce, rel=1e-6)
    assert set(results["paired"]["accuracy"]) >= {"interval", "verdict"}
    assert "Peterson et al. 2019" in result.output and "soft − hard" in result.output
    for name in ("results.md", "results.csv", "folds.png", "tsne.png"):
        assert (out / name).exists(), name


def test_the_synthetic_study_on_photographs_stands_beside_their_own_anchors(cifar_folder):
    """`reproduce --dataset ../shared/data/cifar10h` (the quick preset) once printed the paper's
    Synthetic and MiceBone rows beside a CIFAR-10H run; now the dataset's own anchors."""
    from dqlabels.studies import study

    values = {("hard", 0): (0.450, 1.40), ("soft", 0): (0.455, 1.36),
              ("hard", 1): (0.460, 1.38), ("soft", 1): (0.458, 1.37)}
    runs = [{"split": k, "mode": mode, "macro_accuracy": acc, "kl": kl,
             "run": f"runs/{mode}-split{k}"} for (mode, k), (acc, kl) in values.items()]
    settings = {"preset": "quick", "splits": 2}
    results = study.summarise(runs, settings, cifar_folder)
    table = study.results_table(results)
    assert "paper, Synthetic" not in table and "Peterson et al. 2019, hard" in table
    assert results["paired"]["macro_accuracy"]["verdict"] == "a tie within the folds' spread"


def _fake_train(dataset, run_dir, config, verbose=None, callbacks=()):
    """Stands in for training (issue 37: the study's own logic, not the network): writes the
    held-out predictions a run would; hard runs put 0.55 on the original label (accuracy 1,
    ECE 0.45), soft runs predict the human distribution itself."""
    from pathlib import Path

    data = load_dataset(dataset, check_images=False)
    split = pd.read_csv(config.split_file, dtype={"item": str}).set_index("item")["split"]
    test = [i for i, item in enumerate(data.items) if split[item] == "test"]
    if config.label_mode == "hard":
        original = pd.read_csv(config.targets).set_index("item")["label"]
        classes = list(data.classes)
        labels = [classes.index(original[data.items[i]]) for i in test]
        predicted = np.full((len(test), len(classes)), 0.45 / (len(classes) - 1))
        predicted[np.arange(len(test)), labels] = 0.55
    else:
        predicted = 0.999 * data.soft_labels[test] + 0.001 / len(data.classes)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(predicted, columns=list(data.classes))
    table.insert(0, "item", [data.items[i] for i in test])
    table.to_csv(run_dir / "predictions.csv", index=False)
    (run_dir / "scores.json").write_text("{}")


@pytest.fixture()
def study_with_fake_training(subset, monkeypatch):
    from dqlabels.learning import training
    from dqlabels.studies import real_study

    monkeypatch.setattr(training, "train", _fake_train)
    monkeypatch.setattr(real_study, "write_tsne_figure",
                        lambda out_dir, *a, **k: (out_dir / "tsne.png").with_name("tsne.png"))
    return real_study.reproduce_kfold


def test_the_study_scores_original_labels_and_calibration_and_follows_its_seed(
        study_with_fake_training, subset, tmp_path):
    """With training stood in for: accuracy is against the folder's original labels (the hard
    runs predict exactly them: 1.0, though the subset holds images whose majority differs);
    ECE is lower-is-better (the soft runs, the human distributions, are better calibrated than
    0.55 on the right class: "soft better" and "ECE ↓"); --seed changes the folds."""
    originals = pd.read_csv(subset / "cifar10-test-labels.csv").set_index("item")["label"]
    data = load_dataset(subset, check_images=False)
    majority = np.asarray(data.classes)[data.hard_labels]
    assert (majority != originals.loc[list(data.items)].to_numpy()).any()
    results = study_with_fake_training(tmp_path / "s1", "cifar10h", dataset=subset, folds=4,
                                       runs=3, seed=1, log=lambda *_: None)
    assert all(r["accuracy"] == 1.0 for r in results["runs"] if r["mode"] == "hard")
    assert results["paired"]["ece"]["verdict"] == "soft better"
    assert "ECE ↓" in results_table(results)
    other = study_with_fake_training(tmp_path / "s0", "cifar10h", dataset=subset, folds=4,
                                     runs=1, seed=0, log=lambda *_: None)
    assert other["runs"]
    folds = [pd.read_csv(tmp_path / name / "splits" / "fold0.csv").set_index("item")["split"]
             for name in ("s1", "s0")]
    assert not folds[0].equals(folds[1].loc[folds[0].index])


def test_all_ten_of_ten_folds_are_accepted(subset):
    from dqlabels.studies.real_study import kfold_settings

    assert kfold_settings("cifar10h", subset, folds=10, runs=10)["runs"] == 10
    for runs in (0, 11):
        with pytest.raises(InputError, match="1 <= splits <= folds"):
            kfold_settings("cifar10h", subset, folds=10, runs=runs)


def _tiny_folder(tmp_path, info, labels):
    """Two photographs whose ids look like numbers, counts, a dataset.json and original labels."""
    import json as json_module

    from PIL import Image

    (tmp_path / "images").mkdir(parents=True)
    for name in ("001", "01"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / f"{name}.png")
    (tmp_path / "annotations.csv").write_text(
        "item,cat,dog\nimages/001.png,3,1\nimages/01.png,0,4\n")
    (tmp_path / "dataset.json").write_text(json_module.dumps(
        {"name": "tiny", "classes": ["cat", "dog"], "annotations_format": "counts", **info}))
    (tmp_path / "orig.csv").write_text("item,label\n" + "".join(f"{i},{c}\n" for i, c in labels))
    return load_dataset(tmp_path)


def test_original_labels_are_refused_when_missing_or_repeated(tmp_path):
    """hard_labels_of's three refusals (mutmut's survivors), each naming what is wrong."""
    good = [("images/001.png", "cat"), ("images/01.png", "dog")]
    data = _tiny_folder(tmp_path / "a", {}, good)
    with pytest.raises(InputError, match='names no "hard_labels" file; pass hard_labels=majority'):
        hard_labels_of(data, "original")
    data = _tiny_folder(tmp_path / "b", {"hard_labels": "orig.csv"}, good[:1])
    with pytest.raises(InputError, match=r"no original label for item 'images/01.png' \(1 item"):
        hard_labels_of(data, "original")
    data = _tiny_folder(tmp_path / "c", {"hard_labels": "orig.csv"},
                        good + [("images/01.png", "cat")])
    with pytest.raises(InputError, match="expected one original label per item"):
        hard_labels_of(data, "original")
    data = _tiny_folder(tmp_path / "d", {"hard_labels": "orig.csv"}, good[::-1])
    hard, path = hard_labels_of(data, "original")
    assert hard.tolist() == [0, 1] and path.name == "orig.csv"


def test_fold_scores_join_predictions_on_ids_as_written(tmp_path):
    """A run's predictions, listed in another order than the folder's items, join their rows by
    id; by hand: both predicted right, the cross-entropy against the human answers [3/4, 1/4]
    and [0, 1], two items scored."""
    from dqlabels.studies.real_study import fold_scores

    data = _tiny_folder(tmp_path / "f", {"hard_labels": "orig.csv"},
                        [("images/001.png", "cat"), ("images/01.png", "dog")])
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions.csv").write_text("item,cat,dog\nimages/01.png,0.2,0.8\n"
                                         "images/001.png,0.6,0.4\n")
    scores = fold_scores(run, data, np.array([0, 1]))
    assert scores["num_items"] == 2 and scores["accuracy"] == 1.0
    expected = np.mean([-(0.75 * np.log(0.6) + 0.25 * np.log(0.4)), -np.log(0.8)])
    assert scores["cross_entropy"] == pytest.approx(expected)
