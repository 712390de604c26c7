"""The study across annotation budgets and training-set sizes, tiny: densenet-tiny for one epoch,
budgets 1 and 3, 40 and 60 images, two splits, through the command line."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dqlabels import InputError
from dqlabels.studies.budget import budget_settings, parse_budgets, parse_sizes, parse_splits
from dqlabels.studies.verdicts import paired
from dqlabels_cli.main import main

T_975_ONE_DEGREE = 12.706204736174698  # Student's t, 97.5% quantile, 1 degree of freedom


def test_parsing_budgets_and_sizes():
    assert parse_budgets("10,1,exact,3") == (1, 3, 10, "exact")
    assert parse_sizes("3000,1000") == (1000, 3000)
    for bad in ("0,3", "1,1", "two", ""):
        with pytest.raises(InputError, match="annotations_per_image"):
            parse_budgets(bad)
    with pytest.raises(InputError, match="num_images"):
        parse_sizes("5")
    assert parse_splits("5,2") == (5, 2) and parse_splits(3) == (3,)
    with pytest.raises(InputError, match="splits"):
        parse_splits("5,two")
    # One number of splits per size, smallest size first; one number for all sizes.
    assert budget_settings(sizes="3000,1000", splits="5,2")["splits"] == [5, 2]
    assert budget_settings(sizes="1000,3000", splits=3)["splits"] == [3, 3]
    with pytest.raises(InputError, match="one per size"):
        budget_settings(sizes="1000,3000", splits="5,2,1")


def test_paired_interval_by_hand():
    result = paired([0.80, 0.70, 0.75], [0.82, 0.74, 0.75])
    diff = np.array([0.02, 0.04, 0.0])
    half = 4.302652729911275 * diff.std(ddof=1) / math.sqrt(3)  # t(0.975, 2)
    assert result["mean"] == pytest.approx(0.02)
    assert result["interval"] == pytest.approx([0.02 - half, 0.02 + half])
    assert result["soft_higher"] == 2 and result["soft_lower"] == 0 and result["splits"] == 3
    assert paired([0.5], [0.6])["interval"] is None


@pytest.mark.slow
def test_tiny_budget_study(tmp_path):
    from dqlabels.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "data", num_images=60, image_size=32, seed=5)
    out = tmp_path / "budget"
    args = ["reproduce", "--dataset", str(data), "--out", str(out), "--annotations-per-image",
            "1,3", "--num-images", "60,40", "--splits", "2", "--epochs", "1", "--batch-size",
            "8", "--annotator-pool", "5", "--no-precise-bn"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    for name in ("budget.md", "budget.csv", "budget.json", "budget.png"):
        assert (out / name).exists(), name
    results = json.loads((out / "budget.json").read_text())
    runs = pd.DataFrame(results["runs"])
    # Budget 1: one run, hard = soft; budget 3: two runs per split; 2 sizes × 2 splits.
    assert results["settings"]["sizes"] == [40, 60] and results["settings"]["splits"] == [2, 2]
    assert len(runs) == 2 * 2 * (2 + 2)
    assert runs["run"].nunique() == 2 * 2 * (1 + 2)
    for size in (40, 60):
        one = results["summary"][f"{size}/1"]
        assert one["hard"] == one["soft"]
        three = results["summary"][f"{size}/3"]
        # The input labels get closer to the exact ones with more annotations.
        assert three["input"]["input_kl_soft"]["mean"] < one["input"]["input_kl_soft"]["mean"]
        # The paired interval, from the per-split runs by hand (t with one degree of freedom).
        by = runs[(runs["size"] == size) & (runs["budget"] == 3)]
        hard = by[by["mode"] == "hard"].sort_values("split")["macro_accuracy"].to_numpy()
        soft = by[by["mode"] == "soft"].sort_values("split")["macro_accuracy"].to_numpy()
        diff = soft - hard
        half = T_975_ONE_DEGREE * diff.std(ddof=1) / math.sqrt(2)
        comparison = results["paired"][f"{size}/3"]["macro_accuracy"]
        assert comparison["mean"] == pytest.approx(diff.mean())
        assert comparison["interval"] == pytest.approx([diff.mean() - half, diff.mean() + half])
        assert comparison["soft_higher"] == int(np.count_nonzero(diff > 0))
        assert results["paired"][f"{size}/1"]["macro_accuracy"]["interval"] == [0.0, 0.0]
    # The budget-3 labels are 3 annotations per image, and the first of them is budget 1's.
    one = pd.read_csv(out / "sizes" / "n40" / "labels-b1-split0.csv")
    three = pd.read_csv(out / "sizes" / "n40" / "labels-b3-split0.csv")
    assert three.groupby("item").size().eq(3).all() and len(one) == 40
    first = three[three["annotator"] == "a0"].set_index("item")["label"]
    assert first.to_dict() == one.set_index("item")["label"].to_dict()
    # Every model is scored against the exact labels: its run trained on the budget's labels.
    config = json.loads((out / "runs" / "n40" / "b3" / "hard-split0" / "config.json").read_text())
    assert config["config"]["targets"].endswith("labels-b3-split0.csv")
    assert "| 3 |" in (out / "budget.md").read_text() and "40 images" in result.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and again.stderr.count("(reused)") == 12


def test_real_answers_are_drawn_from_an_urn_without_replacement():
    """An image with counts [2, 1, 0] (two answers 'a', one 'b'): three draws are exactly its
    three answers; with replacement one would often be drawn twice. Budgets are nested: the
    first answers are the smaller budget's."""
    from types import SimpleNamespace

    from dqlabels.studies.budget import _answers

    data = SimpleNamespace(soft_labels=np.array([[2 / 3, 1 / 3, 0.0]] * 50),
                           annotations=SimpleNamespace(counts=np.array([[2, 1, 0]] * 50)))
    answers = _answers(data, 3, False, {}, np.array([4, 0]))
    assert answers.shape == (50, 3)
    assert all(sorted(row) == [0, 0, 1] for row in answers.tolist())
    five = _answers(data, 5, False, {}, np.array([4, 0]))
    assert (five[:, 3:] == -1).all()  # only three answers exist
    assert (five[:, :3] == answers).all()


def test_all_is_every_answer():
    assert parse_budgets("10,all,1") == (1, 10, "exact")


def test_shrunk_labels_are_the_posterior_mean_by_hand(tmp_path):
    """The class-conditional prior's mean: Σ_k r_ik (s_k μ_k + c_i) / (s_k + n_i), summed in a
    plain loop from the fitted components."""
    from types import SimpleNamespace

    from dqlabels.labels.posterior import posterior
    from dqlabels.readers.annotations import from_counts
    from dqlabels.studies.budget import _write_shrunk

    # 40 items of three answers: enough (10 per class) for the class-conditional prior
    counts = np.tile([[3, 0, 0], [1, 1, 1], [0, 2, 1], [2, 0, 1]], (10, 1))
    items = np.array([f"i{i:02d}" for i in range(40)])
    data = SimpleNamespace(classes=("a", "b", "c"), items=items)
    shrunk = _write_shrunk(tmp_path / "s.csv", data, counts)
    post = posterior(from_counts(counts))
    assert post.prior == "classes"
    expected = np.zeros((40, 3))
    for i in range(40):
        for k in range(3):
            a = post.class_strengths[k] * post.class_means[k] + counts[i]
            expected[i] += post.class_weights[i, k] * a / a.sum()
    np.testing.assert_allclose(shrunk, expected, rtol=1e-8)
    written = pd.read_csv(tmp_path / "s.csv").set_index("item")
    np.testing.assert_allclose(written[["a", "b", "c"]].to_numpy(), shrunk, rtol=1e-10)


@pytest.mark.slow
def test_tiny_budget_study_with_the_shrunk_arm(tmp_path):
    from dqlabels.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "data", num_images=40, image_size=32, seed=6)
    dataset_files = sorted((tmp_path / "data").rglob("*"))
    out = tmp_path / "budget"
    result = CliRunner().invoke(main, [
        "reproduce", "--dataset", str(data), "--out", str(out), "--annotations-per-image", "3",
        "--num-images", "40", "--splits", "2", "--epochs", "1", "--batch-size", "8",
        "--shrunk", "--no-precise-bn"])
    assert result.exit_code == 0, result.output + result.stderr
    results = json.loads((out / "budget.json").read_text())
    assert sorted({r["mode"] for r in results["runs"]}) == ["hard", "shrunk", "soft"]
    config = json.loads((out / "runs" / "n40" / "b3" / "shrunk-split0" / "config.json")
                        .read_text())["config"]
    assert config["targets"].endswith("shrunk-b3-split0.csv") and config["label_mode"] == "soft"
    third = results["paired"]["40/3"]["shrunk_vs_soft"]["kl"]
    assert {"interval", "verdict"} <= set(third) and third["splits"] == 2
    # The shrunk labels are closer to the exact ones than the raw mean of 3 answers.
    given = results["summary"]["40/3"]["input"]
    assert given["input_kl_shrunk"]["mean"] < given["input_kl_soft"]["mean"]
    assert "The third arm" in (out / "budget.md").read_text()
    # A study of every image of the dataset writes its splits and labels into a folder of its
    # own, not into the user's dataset.
    assert sorted((tmp_path / "data").rglob("*")) == dataset_files
    assert (out / "sizes" / "n40" / "split0.csv").exists()
    # Each split draws its own simulated answers (seeded by the split): the same 40 images get
    # other answers in split 1 than in split 0.
    labels = [pd.read_csv(next(tmp_path.rglob(f"labels-b3-split{k}.csv")))
              .sort_values(["item", "annotator"])["label"].tolist() for k in (0, 1)]
    assert len(labels[0]) == len(labels[1]) == 120 and labels[0] != labels[1]


def test_real_answers_are_drawn_from_a_shuffled_urn():
    """An image with answers [0, 3, 2] (no answer of class 0, three of 1, two of 2) gives, at
    budget 1, class 1 with chance 3/5 and class 2 with 2/5; over 3,000 such images the shares
    lie within 0.04 of that (binomial sd 0.009). Never class 0; the first three answers never
    repeat one answer (without replacement: at most 3 of class 1 and 2 of class 2)."""
    from types import SimpleNamespace

    from dqlabels.studies.budget import _answers

    counts = np.tile([0, 3, 2], (3000, 1))
    data = SimpleNamespace(soft_labels=counts / 5, annotations=SimpleNamespace(counts=counts))
    answers = _answers(data, 5, False, {}, [7, 100])
    assert answers.dtype.kind == "i"  # class indices, −1 where an image has no more answers
    first = answers[:, 0]
    assert abs(np.mean(first == 1) - 0.6) < 0.04 and abs(np.mean(first == 2) - 0.4) < 0.04
    assert not np.any(answers == 0)
    drawn = np.stack([(answers == c).sum(axis=1) for c in range(3)], axis=1)
    assert (drawn == counts).all()  # all five answers, each once
