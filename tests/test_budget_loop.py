"""The budget study's loop (dqlabels.studies.budget.reproduce_budgets) with the training
replaced by a stand-in that writes what a finished run writes: the nested subsets, the label
files each budget trains on (answers taken in order, the shrunk arm where asked), the runs in
order with their targets, the progress lines, and the real-answer branch, without training a
network (the slow tests train for real)."""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from dqlabels.data.datasets import load_dataset
from dqlabels.data.synthetic import generate_dataset
from dqlabels.studies import budget


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("budget") / "d", num_images=14,
                            image_size=32, seed=4)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, synthetic):
    """Real answers: the synthetic images under counts of 2 to 4 answers (not synthetic data:
    its dataset.json names no generator)."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "images").symlink_to(Path(synthetic) / "images")
    data = load_dataset(synthetic)
    counts = [[(i + j) % 3 for j in range(len(data.classes))] for i in range(data.num_items)]
    counts = [row if sum(row) else [1] + row[1:] for row in counts]
    (folder / "annotations.csv").write_text(
        "item," + ",".join(data.classes) + "\n"
        + "".join(f"{item}," + ",".join(map(str, row)) + "\n"
                  for item, row in zip(data.items, counts)))
    (folder / "dataset.json").write_text(json.dumps({"name": "photos",
                                                     "annotations": "annotations.csv",
                                                     "annotations_format": "counts"}))
    return folder, dict(zip(data.items, counts)), data.classes


@pytest.fixture
def trained(monkeypatch):
    import dqlabels.learning.training

    calls = []

    def train(size_dir, run_dir, config, verbose, callbacks):
        calls.append({"size_dir": Path(size_dir), "run": Path(run_dir), "mode": config.label_mode,
                      "split_file": config.split_file, "targets": config.targets,
                      "timer": type(callbacks[0]).__name__})
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"seconds_last_session": 1.5}))
        (run_dir / "scores.json").write_text("{}")
        return {"macro_accuracy": 0.5, "kl": 0.25}

    monkeypatch.setattr(dqlabels.learning.training, "train", train)
    return calls


def _labels(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_loop_by_hand_on_simulated_answers(tmp_path, synthetic, trained):
    out, lines = tmp_path / "b", []
    results = budget.reproduce_budgets(out, dataset=synthetic, budgets="1,3,exact", sizes="10,14",
                                       splits="1", shrunk=(3,), seed=2, log=lines.append,
                                       overrides={"epochs": 1, "batch_size": 4})
    n8, n12 = out / "sizes" / "n10", out / "sizes" / "n14"
    small, large = load_dataset(n8), load_dataset(n12)
    assert small.num_items == 10 and large.num_items == 14
    assert set(small.items) < set(large.items) <= set(load_dataset(synthetic).items)
    # Per size and split: budget 1 soft (it stands for hard), budget 3 hard, soft and shrunk,
    # the exact labels hard and soft: six runs.
    arms = [(1, "soft"), (3, "hard"), (3, "soft"), (3, "shrunk"), ("exact", "hard"),
            ("exact", "soft")]
    expected = [(size, b, m) for size in (10, 14) for b, m in arms]
    assert [(int(c["size_dir"].name[1:]), c["run"].parent.name, c["run"].name)
            for c in trained] == [(s, f"b{b}", f"{m}-split0") for s, b, m in expected]
    assert [c["mode"] for c in trained] == [("soft" if m == "shrunk" else m)
                                            for _, _, m in expected]
    targets = [c["targets"] for c in trained[:6]]
    assert targets == [str((n8 / name).resolve()) if name else None for name in (
        "labels-b1-split0.csv", "labels-b3-split0.csv", "labels-b3-split0.csv",
        "shrunk-b3-split0.csv", None, None)]
    assert {c["split_file"] for c in trained[:6]} == {str((n8 / "split0.csv").resolve())}
    assert {c["timer"] for c in trained} == {"EpochTimer"}
    assert lines[0] == "[run 1/12] 10 images, 1 per image, soft, split 0"
    assert lines[1].startswith("[run 2/12] 10 images, 3 per image, hard, split 0")
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
    assert results["training_seconds"] == 18.0 and "photographs" not in results
    assert json.loads((out / "budget-study.json").read_text()) == results["settings"]
    assert (out / "budget.md").exists() and (out / "budget.csv").exists()

    lines.clear()
    budget.reproduce_budgets(out, dataset=synthetic, budgets="1,3,exact", sizes="10,14",
                             splits="1", shrunk=(3,), seed=2, log=lines.append,
                             overrides={"epochs": 1, "batch_size": 4})
    assert lines[0] == "[run 1/12] 10 images, 1 per image, soft, split 0 (reused)"


def test_real_answers_are_drawn_from_each_images_urn(tmp_path, photos, trained, monkeypatch):
    import dqlabels.studies.budget_photos

    folder, counts, classes = photos
    scored = []
    monkeypatch.setattr(dqlabels.studies.budget_photos, "photo_results",
                        lambda out_dir, runs, full: scored.append((out_dir, len(runs))) or {})
    out = tmp_path / "b"
    results = budget.reproduce_budgets(out, dataset=folder, budgets="3,all", sizes="14",
                                       splits="1", seed=1, overrides={"epochs": 1})
    assert scored == [(out, 4)] and results["photographs"] == {}
    size_dir = out / "sizes" / "n14"
    assert load_dataset(size_dir).annotations.counts.tolist() == [counts[i] for i in
                                                                  load_dataset(size_dir).items]
    drawn = _labels(size_dir / "labels-b3-split0.csv")
    per_item = Counter(r["item"] for r in drawn)
    for item, row in counts.items():
        taken = Counter(r["label"] for r in drawn if r["item"] == item)
        assert per_item[item] == min(3, sum(row))  # fewer where the urn holds fewer
        assert all(taken[c] <= n for c, n in zip(classes, row))  # without replacement
    # Every answer ("all"): the size's own annotations, no label file of the study's.
    assert [c["targets"] for c in trained] == [str((size_dir / "labels-b3-split0.csv").resolve())] * 2 \
        + [None, None]
    assert not (Path(folder) / "split0.csv").exists()  # nothing written into the dataset
