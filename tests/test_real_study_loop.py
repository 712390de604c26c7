"""The K-fold study's loop (dqlabels.studies.real_study.reproduce_kfold) with the training
replaced by a stand-in that writes the held-out predictions a run writes: the folds it saves,
the runs in order with their targets, callbacks and verbosity, what it logs and reuses, the
scores it reads back, its figures and settings, without training a network (the slow tests on
CIFAR-10H train for real)."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dqlabels import InputError
from dqlabels.data.datasets import kfold_split, load_dataset
from dqlabels.data.synthetic import generate_dataset
from dqlabels.studies import real_study


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """20 images with 3 to 5 answers each over 3 classes and an original label per image
    (named by dataset.json), the labels chosen so that the original and the majority differ
    on some images."""
    images = generate_dataset(tmp_path_factory.mktemp("kfold") / "g", num_images=20,
                              image_size=32, seed=5)
    folder = tmp_path_factory.mktemp("photos")
    (folder / "images").symlink_to(Path(images) / "images")
    items = [f"images/{i:05d}.png" for i in range(20)]
    counts = [[(i % 3 == 0) * 3 + 1, (i % 3 == 1) * 2 + 1, (i % 3 == 2) + (i % 2)] for i in
              range(20)]
    (folder / "annotations.csv").write_text("item,a,b,c\n" + "".join(
        f"{item},{row[0]},{row[1]},{row[2]}\n" for item, row in zip(items, counts)))
    original = ["a", "b", "c", "c"] * 5
    (folder / "original.csv").write_text("item,label\n" + "".join(
        f"{item},{label}\n" for item, label in zip(items, original)))
    (folder / "dataset.json").write_text(json.dumps({
        "name": "tiny-h", "annotations": "annotations.csv", "annotations_format": "counts",
        "hard_labels": "original.csv"}))
    return folder, items, np.array(counts, float), original


@pytest.fixture
def trained(monkeypatch):
    """The stand-in: records each call; a run trained here tells the clock its first epoch
    took 2 s; hard runs predict 0.7 on the original label, soft runs the human share."""
    import dqlabels.learning.training

    calls = []

    def train(dataset, run_dir, config, verbose, callbacks):
        calls.append({"dataset": Path(dataset), "run": Path(run_dir), "mode": config.label_mode,
                      "split_file": config.split_file, "targets": config.targets,
                      "verbose": verbose, "callbacks": callbacks, "seed": config.seed,
                      "epochs": config.epochs})
        if not (run_dir / "scores.json").exists():
            callbacks[0].report(2.0, config.epochs - 1)
        data = load_dataset(dataset, check_images=False)
        split = pd.read_csv(config.split_file, dtype=str).set_index("item")["split"]
        test = [i for i, item in enumerate(data.items) if split[item] == "test"]
        if config.label_mode == "hard":
            original = pd.read_csv(Path(dataset) / "original.csv").set_index("item")["label"]
            predicted = np.full((len(test), 3), 0.15)
            for row, i in enumerate(test):
                predicted[row, list(data.classes).index(original[data.items[i]])] = 0.7
        else:
            predicted = data.soft_labels[test]
        run_dir.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(predicted, columns=list(data.classes))
        table.insert(0, "item", [data.items[i] for i in test])
        table.to_csv(run_dir / "predictions.csv", index=False)
        (run_dir / "scores.json").write_text("{}")

    def figure(out_dir, data, tsne, part="split"):
        calls.append({"figure": tsne, "of": data.root, "part": part})
        return out_dir / "tsne.png"

    monkeypatch.setattr(dqlabels.learning.training, "train", train)
    monkeypatch.setattr(real_study, "write_tsne_figure", figure)
    return calls


def test_the_k_fold_loop_by_hand(tmp_path, photos, trained, monkeypatch):
    folder, items, counts, original = photos
    out, lines, extra = tmp_path / "k", [], object()
    clock = iter([10.0, 14.56])
    monkeypatch.setattr(real_study, "time", SimpleNamespace(time=lambda: next(clock)))
    results = real_study.reproduce_kfold(
        out, "cifar10h", dataset=folder, folds=4, runs=2, seed=3, overrides={"epochs": 3},
        tsne_max_iter=300, log=lines.append, verbose=0,
        callbacks=lambda mode, k: [f"{mode}{k}", extra])
    runs = [c for c in trained if "run" in c]
    order = (("hard", 0), ("soft", 0), ("hard", 1), ("soft", 1))
    assert [(c["run"], c["mode"]) for c in runs] == [(out / "runs" / f"{m}-fold{k}", m)
                                                     for m, k in order]
    assert [c["targets"] for c in runs] == [str(folder / "original.csv"), None] * 2
    assert [c["split_file"] for c in runs] == [str(out / "splits" / f"fold{k}.csv")
                                               for _, k in order]
    assert all(c["dataset"] == folder and c["verbose"] == 0 and c["seed"] == 3
               and c["epochs"] == 3 for c in runs)
    assert [c["callbacks"][1:] for c in runs] == [[f"{m}{k}", extra] for m, k in order]
    assert {type(c["callbacks"][0]).__name__ for c in runs} == {"EpochTimer"}
    hard = np.array([["a", "b", "c"].index(label) for label in original])
    for k in (0, 1):  # the folds of the original labels, seeded, 250 images for val at most
        saved = pd.read_csv(out / "splits" / f"fold{k}.csv", dtype=str)
        assert saved["item"].tolist() == items
        assert saved["split"].tolist() == kfold_split(hard, k, 4, seed=3, val_size=250).tolist()
    assert trained[-1] == {"figure": {"perplexity": 30.0, "max_iter": 300, "seed": 3,
                                      "fold": 0}, "of": folder, "part": "fold"}
    assert lines == [
        f"[run 1/4] hard labels, fold 0 of 4 → {out / 'runs' / 'hard-fold0'}",
        "  about 24 s left in the study (2 s per epoch; this run 4 s, 3 more run(s), then "
        "the t-SNE)",
        f"[run 2/4] soft labels, fold 0 of 4 → {out / 'runs' / 'soft-fold0'}",
        "  about 17 s left in the study (2 s per epoch; this run 4 s, 2 more run(s), then "
        "the t-SNE)",
        f"[run 3/4] hard labels, fold 1 of 4 → {out / 'runs' / 'hard-fold1'}",
        "  about 4 s left in the study (2 s per epoch; this run 4 s, 1 more run(s), then "
        "the t-SNE)",
        f"[run 4/4] soft labels, fold 1 of 4 → {out / 'runs' / 'soft-fold1'}",
        "  about 4 s left in the study (2 s per epoch; this run 4 s, 0 more run(s), then "
        "the t-SNE)",
        "Computing t-SNE of fold 0 (hard and soft) ..."]
    # Scores read back: the hard runs predict the original label (accuracy 1); the
    # cross-entropy against the human shares, worked out here.
    human = counts / counts.sum(axis=1, keepdims=True)
    test = np.flatnonzero(kfold_split(hard, 0, 4, seed=3, val_size=250) == "test")
    predicted = np.full((test.size, 3), 0.15)
    predicted[np.arange(test.size), hard[test]] = 0.7
    ce = float(np.mean(-(human[test] * np.log(predicted)).sum(axis=1)))
    first = results["runs"][0]
    assert (first["fold"], first["mode"], first["run"]) == (0, "hard", "runs/hard-fold0")
    assert first["accuracy"] == 1.0 and first["cross_entropy"] == pytest.approx(ce)
    assert first["num_items"] == test.size
    assert results["settings"]["hard_labels_file"] == str(folder / "original.csv")
    assert results["settings"]["folds"] == 4 and results["settings"]["runs"] == 2
    assert results["settings"]["train"]["epochs"] == 3
    assert results["seconds"] == 4.6 and results["figure"] == "folds.png"
    assert results["tsne"] == "tsne.png" and (out / "folds.png").exists()
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    recorded = json.loads((out / "study.json").read_text())
    assert recorded["train"]["seed"] == 3 and recorded["tsne"]["seed"] == 3
    assert recorded["hard_labels"] == "original"

    # Again: every run reused, the folds read from their files; then fold 1 to train again.
    monkeypatch.setattr(real_study, "time", time)
    lines.clear()
    again = real_study.reproduce_kfold(out, "cifar10h", dataset=folder, folds=4, runs=2, seed=3,
                                       overrides={"epochs": 3}, tsne_max_iter=300,
                                       log=lines.append)
    assert [line for line in lines if line.startswith("[run")] == [
        f"[run {n + 1}/4] {m} labels, fold {k} of 4 (finished before: reused)"
        for n, (m, k) in enumerate(order)]
    assert again["runs"] == results["runs"]
    for mode in ("hard", "soft"):
        (out / "runs" / f"{mode}-fold1" / "scores.json").unlink()
    lines.clear()
    real_study.reproduce_kfold(out, "cifar10h", dataset=folder, folds=4, runs=2, seed=3,
                               overrides={"epochs": 3}, tsne_max_iter=300, log=lines.append)
    assert [line for line in lines if line.startswith("  about ")][0] == (
        "  about 11 s left in the study (2 s per epoch; this run 4 s, 1 more run(s), then the "
        "t-SNE)")


def test_majority_labels_defaults_and_another_studys_folder(tmp_path, photos, trained):
    folder, items, counts, original = photos
    out = tmp_path / "m"
    results = real_study.reproduce_kfold(out, dataset=folder, folds=4, runs=1,
                                         hard_labels="majority", overrides={"epochs": 1})
    runs = [c for c in trained if "run" in c]
    assert [c["targets"] for c in runs] == [None, None]  # the majority: the dataset's own
    assert runs[0]["verbose"] == "auto" and runs[0]["seed"] == 0
    assert results["settings"]["hard_labels_file"] is None
    assert results["settings"]["hard_labels"] == "majority"
    assert results["settings"]["preset"] == "cifar10h" and results["settings"]["tsne"]["seed"] == 0
    majority = counts.argmax(axis=1)  # no ties here: (4, 1, 0), (1, 3, …), …
    saved = pd.read_csv(out / "splits" / "fold0.csv", dtype=str)["split"].tolist()
    assert saved == kfold_split(majority, 0, 4, seed=0, val_size=250).tolist()
    with pytest.raises(InputError) as refused:
        real_study.reproduce_kfold(out, dataset=folder, folds=4, runs=2,
                                   hard_labels="majority", overrides={"epochs": 1})
    assert str(refused.value).startswith(f"{out}: holds a study made with other settings "
                                         f"(runs differ)")
    real_study.reproduce_kfold(out, dataset=folder, folds=4, runs=2, hard_labels="majority",
                               overrides={"epochs": 1}, overwrite=True, seed=1)
    assert json.loads((out / "study.json").read_text())["runs"] == 2
    # Started again: the old folds went with the old study (another seed, other folds).
    saved = pd.read_csv(out / "splits" / "fold0.csv", dtype=str)["split"].tolist()
    assert saved == kfold_split(majority, 0, 4, seed=1, val_size=250).tolist()
