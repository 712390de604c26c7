"""The budget study's loop (dqlabels.studies.budget.reproduce_budgets) with the training
replaced by a stand-in that writes what a finished run writes: the nested subsets, the label
files each budget trains on (answers taken in order, the shrunk arm where asked), the runs in
order with their targets, the progress lines, and the real-answer branch, without training a
network (the slow tests train for real)."""

import csv
import json
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dqlabels import InputError, from_counts, kl_divergence
from dqlabels.data.datasets import load_dataset
from dqlabels.data.synthetic import generate_dataset
from dqlabels.labels.posterior import posterior
from dqlabels.studies import budget


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("budget") / "d", num_images=14,
                            image_size=32, seed=4)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, synthetic):
    """Real answers: the synthetic images under several answers each, one row per answer in
    answers.csv (not synthetic data: its dataset.json names no generator)."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "images").symlink_to(Path(synthetic) / "images")
    data = load_dataset(synthetic)
    counts = [[(i + j) % 3 for j in range(len(data.classes))] for i in range(data.num_items)]
    counts = [row if sum(row) else [1] + row[1:] for row in counts]
    labels = [(item, c) for item, row in zip(data.items, counts)
              for c, n in zip(data.classes, row) for _ in range(n)]
    (folder / "answers.csv").write_text("item,label\n" + "".join(
        f"{item},{label}\n" for item, label in labels))  # no annotator ids
    (folder / "dataset.json").write_text(json.dumps({"name": "photos",
                                                     "annotations": "answers.csv"}))
    return folder, dict(zip(data.items, counts)), data.classes


@pytest.fixture
def trained(monkeypatch):
    """The stand-in for training: records each call; a run trained here (no scores.json yet)
    tells the study's clock its first epoch took 2 s with none left; its config.json says it
    took 1.234 s (the budget-3 shrunk runs: nothing, as a run from before that field)."""
    import dqlabels.learning.training

    calls = []

    def train(size_dir, run_dir, config, verbose, callbacks):
        calls.append({"size_dir": Path(size_dir), "run": Path(run_dir), "mode": config.label_mode,
                      "split_file": config.split_file, "targets": config.targets,
                      "timer": type(callbacks[0]).__name__, "verbose": verbose,
                      "epochs": config.epochs, "seed": config.seed})
        if not (run_dir / "scores.json").exists():
            callbacks[0].report(2.0, 0)
        run_dir.mkdir(parents=True, exist_ok=True)
        took = None if "shrunk" in str(config.targets) else 1.234
        (run_dir / "config.json").write_text(json.dumps({"seconds_last_session": took}))
        (run_dir / "scores.json").write_text("{}")
        return {"macro_accuracy": 0.5, "kl": 0.25}

    monkeypatch.setattr(dqlabels.learning.training, "train", train)
    return calls


def _labels(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_loop_by_hand_on_simulated_answers(tmp_path, synthetic, trained, monkeypatch):
    out, lines = tmp_path / "b", []
    clock = iter([50.0, 53.26])  # the study's wall clock: started, finished
    monkeypatch.setattr(budget, "time", SimpleNamespace(time=lambda: next(clock)))
    results = budget.reproduce_budgets(out, dataset=synthetic, budgets="1,3,exact", sizes="10,14",
                                       splits="1", shrunk=(3,), seed=2, log=lines.append,
                                       verbose=0, overrides={"epochs": 1, "batch_size": 64})
    settings = results["settings"]
    assert settings["dataset"] == str(Path(synthetic).resolve()) and settings["seed"] == 2
    assert settings["train"]["epochs"] == 1 and settings["train"]["batch_size"] == 64
    assert {c["verbose"] for c in trained} == {0} and {c["seed"] for c in trained} == {2}
    for size, folder in ((10, out / "sizes" / "n10"), (14, out / "sizes" / "n14")):
        info = json.loads((folder / "dataset.json").read_text())
        assert (folder / "dataset.json").read_text().startswith('{\n  "')
        assert info["annotations"] == "annotations.csv" and info["num_images"] == size
        assert info["annotations_format"] == "probs"  # exact soft labels
        assert (folder / "annotations.csv").read_text().startswith("item,")
    n8, n12 = out / "sizes" / "n10", out / "sizes" / "n14"
    small, large = load_dataset(n8), load_dataset(n12)
    assert small.num_items == 10 and large.num_items == 14
    assert set(small.items) < set(large.items) <= set(load_dataset(synthetic).items)
    # Per size and split: budget 1 soft (it stands for hard), budget 3 hard, soft and shrunk,
    # the exact labels hard and soft: six runs.
    arms = [(1, "soft"), (3, "hard"), (3, "soft"), (3, "shrunk"), ("exact", "hard"),
            ("exact", "soft")]
    expected = [(size, b, m) for size in (10, 14) for b, m in arms]
    assert [c["run"] for c in trained] == [out / "runs" / f"n{s}" / f"b{b}" / f"{m}-split0"
                                           for s, b, m in expected]
    assert [c["size_dir"] for c in trained] == [out / "sizes" / f"n{s}" for s, _, _ in expected]
    assert [c["mode"] for c in trained] == [("soft" if m == "shrunk" else m)
                                            for _, _, m in expected]
    targets = [c["targets"] for c in trained[:6]]
    assert targets == [str((n8 / name).resolve()) if name else None for name in (
        "labels-b1-split0.csv", "labels-b3-split0.csv", "labels-b3-split0.csv",
        "shrunk-b3-split0.csv", None, None)]
    assert {c["split_file"] for c in trained[:6]} == {str((n8 / "split0.csv").resolve())}
    assert {c["timer"] for c in trained} == {"EpochTimer"}
    # One step per run (1 epoch of 6 training images in batches of 64): 2 s a step, and 12
    # runs of 1 step and 8 s of outputs each, 120 s in all.
    assert lines[:3] == ["[run 1/12] 10 images, 1 per image, soft, split 0",
                         "  about 2 min left for the 12 runs still to train (2.00 s per "
                         "training step on this machine)",
                         "[run 2/12] 10 images, 3 per image, hard, split 0"]
    assert len(lines) == 13  # estimated once
    # Budgets take each image's answers in order: budget 1's answer is budget 3's first.
    three = _labels(n8 / "labels-b3-split0.csv")
    one = _labels(n8 / "labels-b1-split0.csv")
    assert Counter(r["item"] for r in three) == {item: 3 for item in small.items}
    assert {r["annotator"] for r in three} == {"a0", "a1", "a2"}
    assert {(r["item"], r["label"]) for r in one} == {(r["item"], r["label"]) for r in three
                                                       if r["annotator"] == "a0"}
    shrunk = _labels(n8 / "shrunk-b3-split0.csv")
    assert [r["item"] for r in shrunk] == list(small.items)
    assert all(abs(sum(float(r[c]) for c in small.classes) - 1) < 1e-9 for r in shrunk)
    # Results: budget 1's one run is both rows; 12 runs of 1.5 s.
    rows = [(r["size"], r["budget"], r["mode"]) for r in results["runs"] if r["size"] == 10]
    assert rows == [(10, 1, "hard"), (10, 1, "soft")] + [(10, b, m) for b, m in arms[1:]]
    # 12 runs, the two shrunk ones without a time: 10 × 1.234 s, to a tenth.
    assert results["training_seconds"] == 12.3 and "photographs" not in results
    assert results["seconds"] == 3.3
    assert [r["run"] for r in results["runs"][:2]] == ["runs/n10/b1/soft-split0"] * 2
    # The labels each budget trains on, scored against the exact ones on the training rows.
    assert [(i["size"], i["budget"], i["split"]) for i in results["inputs"]] == [
        (size, b, 0) for size in (10, 14) for b in (1, 3, "exact")]
    exact = [i for i in results["inputs"] if i["budget"] == "exact"]
    assert all(i["input_kl_soft"] == pytest.approx(0, abs=1e-5) for i in exact), exact
    split = _labels(n8 / "split0.csv")
    train = [r["item"] for r in split if r["split"] == "train"]
    assert 0 < len(train) < 10
    soft = np.array([[sum(r["label"] == c for r in three if r["item"] == item) / 3
                      for c in small.classes] for item in train])
    truth = small.soft_labels[[list(small.items).index(item) for item in train]]
    assert results["inputs"][1]["input_kl_soft"] == pytest.approx(
        kl_divergence(truth, soft))
    counts = np.round(soft * 3).astype(int)
    shrunk_by_hand = posterior(from_counts(np.round(np.array(
        [[sum(r["label"] == c for r in three if r["item"] == item) for c in small.classes]
         for item in small.items])).astype(int))).mean
    np.testing.assert_allclose([[float(r[c]) for c in small.classes] for r in shrunk],
                               shrunk_by_hand, rtol=1e-9)
    assert counts.sum(axis=1).tolist() == [3] * len(train)
    assert json.loads((out / "budget-study.json").read_text()) == results["settings"]
    assert (out / "budget.md").exists() and (out / "budget.csv").exists()

    lines.clear()
    monkeypatch.setattr(budget, "time", time)
    budget.reproduce_budgets(out, dataset=synthetic, budgets="1,3,exact", sizes="10,14",
                             splits="1", shrunk=(3,), seed=2, log=lines.append,
                             overrides={"epochs": 1, "batch_size": 64})
    assert lines[0] == "[run 1/12] 10 images, 1 per image, soft, split 0 (reused)"
    assert len(lines) == 12  # nothing trained: no estimate
    # The same seed elsewhere: the same subsets, splits and answers.
    budget.reproduce_budgets(tmp_path / "again", dataset=synthetic, budgets="1,3,exact",
                             sizes="10,14", splits="1", shrunk=(3,), seed=2,
                             overrides={"epochs": 1, "batch_size": 64})
    for name in ("annotations.csv", "split0.csv", "labels-b3-split0.csv"):
        assert (tmp_path / "again" / "sizes" / "n10" / name).read_text() == \
            (n8 / name).read_text()


def test_real_answers_are_drawn_from_each_images_urn(tmp_path, photos, trained, monkeypatch):
    import dqlabels.studies.budget_photos

    folder, counts, classes = photos
    scored = []
    monkeypatch.setattr(dqlabels.studies.budget_photos, "photo_results",
                        lambda out_dir, runs, full: scored.append((out_dir, len(runs),
                                                                   full.root)) or {})
    out = tmp_path / "b"
    results = budget.reproduce_budgets(out, dataset=folder, budgets="3,all", sizes="14",
                                       splits="2", seed=1, train_preset="cifar10h",
                                       overrides={"epochs": 1})
    assert scored == [(out, 8, Path(folder))] and results["photographs"] == {}
    assert results["settings"]["train_preset"] == "cifar10h"
    assert results["settings"]["train"]["model"] == "resnet9-quarter"  # cifar10h's training
    size_dir = out / "sizes" / "n14"
    info = json.loads((size_dir / "dataset.json").read_text())
    assert info["annotations"] == "annotations.csv" and info["annotations_format"] == "counts"
    assert (size_dir / "split0.csv").read_text() != (size_dir / "split1.csv").read_text()
    assert (size_dir / "labels-b3-split0.csv").read_text() != \
        (size_dir / "labels-b3-split1.csv").read_text()  # each split draws its own answers
    assert load_dataset(size_dir).annotations.counts.tolist() == [counts[i] for i in
                                                                  load_dataset(size_dir).items]
    drawn = _labels(size_dir / "labels-b3-split0.csv")
    per_item = Counter(r["item"] for r in drawn)
    for item, row in counts.items():
        taken = Counter(r["label"] for r in drawn if r["item"] == item)
        assert per_item[item] == min(3, sum(row))  # fewer where the urn holds fewer
        assert all(taken[c] <= n for c, n in zip(classes, row))  # without replacement
    # Every answer ("all"): the size's own annotations, no label file of the study's.
    assert [c["targets"] for c in trained[:4]] == \
        [str((size_dir / "labels-b3-split0.csv").resolve())] * 2 + [None, None]
    assert not (Path(folder) / "split0.csv").exists()  # nothing written into the dataset


def test_the_budget_study_generates_its_images_and_refuses_what_does_not_fit(tmp_path, synthetic,
                                                                             trained):
    """Without a dataset it generates the largest size's images into its folder; a size larger
    than the dataset, and a folder that is not a budget study, are refused in one line."""
    from dqlabels.data.simulated_crowd import SimulatedCrowd

    out = tmp_path / "made"
    results = budget.reproduce_budgets(out, budgets="1,2", sizes="10", splits="1",
                                       crowd=SimulatedCrowd(1, pool=7, noise=(0.0, 0.2)),
                                       overrides={"epochs": 1})
    assert load_dataset(out / "data").num_items == 10 and results["settings"]["dataset"] is None
    assert trained[0]["size_dir"] == out / "sizes" / "n10"
    assert trained[0]["verbose"] == "auto" and results["settings"]["seed"] == 0
    assert results["settings"]["crowd"]["pool"] == 7
    assert results["settings"]["crowd"]["noise"] == [0.0, 0.2]
    two = _labels(out / "sizes" / "n10" / "labels-b2-split0.csv")
    assert Counter(r["item"] for r in two) == {item: 2 for item in load_dataset(out / "data").items}
    with pytest.raises(InputError) as refused:
        budget.reproduce_budgets(tmp_path / "big", dataset=synthetic, budgets="1", sizes="20",
                                 splits="1")
    assert str(refused.value) == f"{synthetic}: has 14 images, fewer than num_images=20"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("x")
    with pytest.raises(InputError) as refused:
        budget.reproduce_budgets(foreign, dataset=synthetic, budgets="1", sizes="10",
                                 splits="1")
    assert str(refused.value) == (f"{foreign}: folder exists and is not a dqlabels budget study "
                                  f"(pass overwrite=True to use it anyway)")
    budget.reproduce_budgets(foreign, dataset=synthetic, budgets="1", sizes="10", splits="1",
                             overwrite=True, overrides={"epochs": 1})
    assert (foreign / "mine.txt").read_text() == "x" and (foreign / "budget.md").exists()
