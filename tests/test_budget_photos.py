"""The budget study's scores against every human answer (dqlabels.studies.budget_photos, issue
40) on runs written here: four photographs with real answer counts, two splits, budgets 1 and 3
and the shrunk arm at 3. Every expected number is worked out below from the predictions by hand
(cross-entropy as −Σ h log p, accuracy against the original labels, ECE over 10 bins)."""

import json
import math

import pytest

from dqlabels.data.datasets import load_dataset
from dqlabels.studies.budget_photos import photo_comparisons, photo_markdown, photo_results

COUNTS = {"001": (3, 1), "002": (0, 4), "003": (2, 2), "004": (4, 0)}
ORIGINAL = {"001": "a", "002": "b", "003": "b", "004": "a"}
# (budget, split, mode) → {item: P(a)}; split 0 holds out 001 and 002, split 1 003 and 004
PREDICTED = {
    (1, 0, "soft"): {"001": 0.8, "002": 0.4}, (1, 1, "soft"): {"003": 0.6, "004": 0.7},
    (3, 0, "hard"): {"001": 0.9, "002": 0.1}, (3, 1, "hard"): {"003": 0.9, "004": 0.95},
    (3, 0, "soft"): {"001": 0.7, "002": 0.2}, (3, 1, "soft"): {"003": 0.45, "004": 0.8},
    (3, 0, "shrunk"): {"001": 0.75, "002": 0.1}, (3, 1, "shrunk"): {"003": 0.4, "004": 0.9},
    ("exact", 0, "hard"): {"001": 0.99, "002": 0.01}, ("exact", 1, "hard"): {"003": 0.3, "004": 0.99},
    ("exact", 0, "soft"): {"001": 0.7, "002": 0.05}, ("exact", 1, "soft"): {"003": 0.45, "004": 0.9},
}
T_975_ONE_DEGREE = 12.706204736  # Student's t, 97.5% quantile, one degree of freedom


def _dataset(root, original=True):
    root.mkdir()
    info = {"name": "toy-photos", "classes": ["a", "b"], "image_size": 32,
            "annotations": "annotations.csv", "annotations_format": "counts"}
    if original:
        info["hard_labels"] = "original.csv"
        (root / "original.csv").write_text(
            "item,label\n" + "".join(f"{i},{c}\n" for i, c in ORIGINAL.items()))
    (root / "dataset.json").write_text(json.dumps(info))
    (root / "annotations.csv").write_text(
        "item,a,b\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in COUNTS.items()))
    return root


def _runs(study):
    runs = []
    for (budget, split, mode), predicted in PREDICTED.items():
        run = f"runs/n4/b{budget}/{mode}-split{split}"  # as the budget study names them
        (study / run).mkdir(parents=True)
        (study / run / "predictions.csv").write_text(
            "item,a,b\n" + "".join(f"{i},{p},{1 - p}\n" for i, p in predicted.items()))
        for each in (("hard", "soft") if budget == 1 else (mode,)):  # budget 1: hard = soft
            runs.append({"size": 4, "budget": budget, "split": split, "mode": each, "run": run,
                         "macro_accuracy": 0.0, "kl": 0.0})
    return runs


def _ce(predicted):
    """Mean over the held-out items of −Σ_c h_c log p_c, h the item's answer shares."""
    total = 0.0
    for item, p_a in predicted.items():
        a, b = COUNTS[item]
        total -= ((a * math.log(p_a) if a else 0) + (b * math.log(1 - p_a) if b else 0)) / (a + b)
    return total / len(predicted)


@pytest.fixture
def photos(tmp_path):
    data = _dataset(tmp_path / "data")
    return photo_results(tmp_path / "study", _runs(tmp_path / "study"),
                         load_dataset(data, check_images=False))


def test_every_run_is_scored_against_all_answers_and_the_original_labels(photos):
    assert photos["accuracy_against"] == "original"
    assert photos["answers_per_image"] == 4.0
    # One row per run and mode (budget 1's soft run twice, as hard and as soft).
    assert len(photos["runs"]) == 4 + 6 + 4
    assert photos["runs"][0] == {"size": 4, "budget": 1, "split": 0, "mode": "hard",
                                 "run": "runs/n4/b1/soft-split0",
                                 "cross_entropy": pytest.approx(_ce(PREDICTED[1, 0, "soft"])),
                                 "accuracy": 1.0, "ece": pytest.approx((0.2 + 0.4) / 2)}
    three = photos["table"]["4/3"]
    for mode in ("hard", "soft", "shrunk"):
        per_split = [_ce(PREDICTED[3, k, mode]) for k in (0, 1)]
        assert three["summary"][mode]["cross_entropy"]["values"] == pytest.approx(per_split)
    # Accuracy against the original labels (001 a, 002 b, 003 b, 004 a), argmax of P(a), 1 − P(a):
    # hard: split 0 a, b (2 of 2); split 1 a, a (1 of 2: 003 is b).
    assert three["summary"]["hard"]["accuracy"]["values"] == [1.0, 0.5]
    # soft: split 0 a, b; split 1 b (0.45 < 0.55), a: all right.
    assert three["summary"]["soft"]["accuracy"]["values"] == [1.0, 1.0]
    # ECE, split 0 of hard: both confidences 0.9 (bin (0.8, 0.9]), both right: |1 − 0.9|.
    # Split 1 of hard: 003 at 0.9 wrong (bin (0.8, 0.9]), 004 at 0.95 right (bin (0.9, 1]):
    # (|0 − 0.9| + |1 − 0.95|) / 2 = 0.475.
    assert three["summary"]["hard"]["ece"]["values"] == pytest.approx([0.1, 0.475])
    # The paired differences, split by split.
    soft_hard = [_ce(PREDICTED[3, k, "soft"]) - _ce(PREDICTED[3, k, "hard"]) for k in (0, 1)]
    assert three["soft_vs_hard"]["cross_entropy"]["mean"] == pytest.approx(sum(soft_hard) / 2)
    assert three["soft_vs_hard"]["accuracy"]["mean"] == pytest.approx(0.25)  # (0 + 0.5) / 2
    shrunk_soft = [_ce(PREDICTED[3, k, "shrunk"]) - _ce(PREDICTED[3, k, "soft"]) for k in (0, 1)]
    assert three["shrunk_vs_soft"]["cross_entropy"]["mean"] == pytest.approx(sum(shrunk_soft) / 2)
    # ECE, shrunk − soft: shrunk's are (0.25 + 0.1) / 2 = 0.175 (001 at 0.75, 002 at 0.9) and
    # (0.4 + 0.1) / 2 = 0.25 (003 at 0.6 on b, 004 at 0.9), soft's 0.25 and 0.325: −0.075 on
    # both splits, an interval of one point below 0, said of the shrunk labels.
    ece = three["shrunk_vs_soft"]["ece"]
    assert ece["mean"] == pytest.approx(-0.075) and ece["verdict"] == "shrunk better"
    assert three["shrunk_vs_soft"]["accuracy"]["verdict"] == "a tie within the folds' spread"
    assert three["soft_vs_hard"]["ece"]["verdict"] == "a tie within the folds' spread"
    # Budget 1: the one run stands for hard and soft, so their difference is 0 on every split.
    one = photos["table"]["4/1"]
    assert one["summary"]["hard"] == one["summary"]["soft"]
    assert one["soft_vs_hard"]["cross_entropy"]["interval"] == [0.0, 0.0]
    assert "shrunk_vs_soft" not in one


def test_the_section_names_each_arm_once_and_only_the_comparisons_that_say_something(photos):
    lines = photo_markdown(photos)
    text = "\n".join(lines)
    assert "accuracy against the original labels" in text and "4.0 per image" in text
    rows = [line for line in lines if line.startswith("| 4 |")]
    assert [row.split(" | ")[1:3] for row in rows] == [
        ["1", "hard = soft"], ["3", "hard"], ["3", "soft"], ["3", "shrunk"], ["all", "hard"],
        ["all", "soft"], ["3", "soft − hard"], ["3", "shrunk − soft"], ["all", "soft − hard"]]
    assert lines[:6] == [
        "## Against every human answer", "",
        "Each run's test predictions scored as the K-fold study scores its folds: cross-entropy "
        "against the image's human distribution (all of its answers, 4.0 per image on average), "
        "accuracy against the original labels, ECE. Mean ± sample std over the splits.", "",
        "| images | annotations per image | labels | CE vs human ↓ | accuracy ↑ | ECE ↓ |",
        "|---|---|---|---|---|---|"]
    assert lines[12:17] == [
        "", "Paired by split (mean [95% t interval] (verdict: better or worse only where the "
            "interval excludes 0)):", "",
        "| images | annotations per image | comparison | CE vs human | accuracy | ECE |",
        "|---|---|---|---|---|---|"]
    assert lines[-1] == "" and len(lines) == 21
    # Budget 3, hard: CE per split by hand; accuracy 1 and 0.5; ECE 0.1 and 0.475.
    ce = [_ce(PREDICTED[3, k, "hard"]) for k in (0, 1)]
    assert rows[1] == (f"| 4 | 3 | hard | {sum(ce) / 2:.4f} ± {abs(ce[0] - ce[1]) / 2 ** 0.5:.4f}"
                       " | 0.7500 ± 0.3536 | 0.2875 ± 0.2652 |")
    # Soft − hard at 3: accuracy differences 0 and +0.5; ECE: soft's are (0.3 + 0.2) / 2 = 0.25
    # (001 at 0.7, 002 at 0.8, both right) and (0.45 + 0.2) / 2 = 0.325 (003 at 0.55 is b,
    # right; 004 at 0.8), so +0.15 and −0.15. Intervals: mean ± t · |d0 − d1| / √2 / √2.
    d = [_ce(PREDICTED[3, k, "soft"]) - ce[k] for k in (0, 1)]
    half = T_975_ONE_DEGREE * abs(d[0] - d[1]) / 2
    mean = sum(d) / 2
    verdict = ("soft better" if mean + half < 0 else "soft worse" if mean - half > 0
               else "a tie within the folds' spread")
    assert rows[6] == (f"| 4 | 3 | soft − hard | {mean:+.4f} [{mean - half:+.4f}, "
                       f"{mean + half:+.4f}] ({verdict}) | +0.2500 [-2.9266, +3.4266] (a tie "
                       f"within the folds' spread) | -0.0000 [-1.9059, +1.9059] (a tie within "
                       f"the folds' spread) |")  # 0.15 − 0.15 is −3e-17 in floating point
    assert [c[:3] for c in photo_comparisons(photos)] == [
        (4, 3, "soft − hard"), (4, 3, "shrunk − soft"), (4, "exact", "soft − hard")]


def test_without_original_labels_accuracy_is_against_the_majority_of_all_answers(tmp_path):
    data = _dataset(tmp_path / "data", original=False)
    photos = photo_results(tmp_path / "study", _runs(tmp_path / "study"),
                           load_dataset(data, check_images=False))
    assert photos["accuracy_against"] == "majority"
    # Majorities of all answers: 001 a, 002 b, 003 a (a 2–2 tie goes to the first class), 004 a;
    # hard split 1 predicts a, a: both right now.
    assert photos["table"]["4/3"]["summary"]["hard"]["accuracy"]["values"] == [1.0, 1.0]
    assert "on average), accuracy against the majority of all answers, ECE. Mean" in \
        "\n".join(photo_markdown(photos))


def test_the_figure_is_written(photos, tmp_path):
    from dqlabels.studies.budget_photos import photo_figure

    path = photo_figure(photos, tmp_path / "photos.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
