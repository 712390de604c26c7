"""Annotators who err in biased ways, and a ranking that holds on them (issue 17)."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from dqlabels import InputError, from_long
from dqlabels.audit.report import audit
from dqlabels.data.simulated_crowd import SimulatedCrowd, annotator_profiles, simulate_annotations
from dqlabels.labels.dawid_skene import DawidSkene
from dqlabels.labels.gold import wilson_interval
from dqlabels.labels.ranking import below_chance
from dqlabels_cli.main import main


def test_bias_recipe_and_true_accuracy_agree_with_sampled_answers():
    """The recorded accuracy is computed from each annotator's response matrix; here it is
    checked against the share of their sampled answers that equal the exact hard label."""
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.full(4, 0.3), size=6000)
    crowd = SimulatedCrowd(6, pool=12, noise=(0.0, 0.3), bias=0.6)
    labels, annotators, profiles = simulate_annotations(soft, crowd, seed=1)
    hard = np.argmax(soft, axis=1)
    right = labels == hard[:, None]
    sampled = np.bincount(annotators.ravel(), weights=right.ravel(), minlength=12) / \
        np.bincount(annotators.ravel(), minlength=12)
    np.testing.assert_allclose(sampled, profiles["accuracy"], atol=0.02)
    assert set(profiles["bias"]) <= {"none", "swap", "favour", "flip"}
    assert (profiles["bias"] != "none").sum() >= 4
    for j in range(12):  # every row of every response matrix is a distribution
        np.testing.assert_allclose(profiles["response"][j].sum(axis=1), 1.0)
        if profiles["bias"][j] == "swap":
            a, b = profiles["bias_classes"][j]
            beta = profiles["bias_strength"][j]
            eps = profiles["noise"][j]
            assert profiles["response"][j][a, b] == pytest.approx((1 - eps) * beta + eps / 4)


def test_no_bias_draws_as_before():
    """Without bias the crowd's answers and noise rates are generator version 2's."""
    profiles = annotator_profiles(SimulatedCrowd(3, pool=5, noise=(0.1, 0.2)), 6, seed=3)
    assert (profiles["bias"] == "none").all()
    np.testing.assert_allclose(profiles["noise"],
                               np.random.default_rng([3, 2]).uniform(0.1, 0.2, 5))
    with pytest.raises(InputError, match="Expected 0 <= annotator_bias <= 1"):
        SimulatedCrowd(3, bias=1.5).check()


def test_default_ranking_holds_on_a_biased_campaign(tmp_path):
    """2,000 images × 10 annotations from a pool of 50, half of it biased: the annotator table's
    order (the default ranking) follows the annotators' true accuracy, Spearman >= 0.9."""
    generated = CliRunner().invoke(main, [
        "generate", str(tmp_path / "crowd"), "--num-images", "2000", "--image-size", "32",
        "--annotators", "10", "--annotator-pool", "50", "--annotator-noise", "0,0.2",
        "--annotator-bias", "0.5", "--seed", "2"])
    assert generated.exit_code == 0, generated.stderr
    truth = pd.read_csv(tmp_path / "crowd" / "annotators.csv").set_index("annotator")
    assert {"swap", "favour", "flip"} <= set(truth["bias"])
    result = CliRunner().invoke(main, [
        "evaluate", str(tmp_path / "crowd" / "simulated_annotations.csv"), "--annotators",
        str(tmp_path / "annotators.csv"), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(tmp_path / "annotators.csv")
    report = json.loads((tmp_path / "r.json").read_text())
    key = report["annotators"]["ranked_by"]
    assert table[key].is_monotonic_increasing
    order = np.arange(len(table))  # the table's rank, least reliable first
    assert spearmanr(order, truth.loc[table["annotator"], "accuracy"]).statistic >= 0.9


def test_a_flipped_binary_worker_is_flagged_not_just_ranked_low():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 300)
    items, labels, workers = [], [], []
    for i, t in enumerate(truth):
        for w in range(5):
            answer = t if rng.random() < 0.85 else 1 - t
            if w == 4:
                answer = 1 - t if rng.random() < 0.9 else t  # flips the binary answer
            items.append(i), labels.append(["no", "yes"][answer]), workers.append(f"w{w}")
    ann = from_long(items, labels, workers)
    from dqlabels import DawidSkene

    report = audit(ann, models=[DawidSkene().fit(ann)])
    assert report["annotators"]["below_chance"] == ["w4"]
    flags = {e["annotator"]: e["below_chance"] for e in report["annotators"]["per_annotator"]}
    assert flags == {"w0": False, "w1": False, "w2": False, "w3": False, "w4": True}
    assert report["annotator_disagreements"]["annotators"][0]["annotator"] == "w4"


def test_rank_by_other_estimates_and_refusals():
    ann = from_long(list("aabbcc"), list("xyxxyy"), ["u", "v"] * 3)
    report = audit(ann, rank_by="agreement")
    assert report["annotators"]["ranked_by"] == "agreement"
    with pytest.raises(InputError, match="rank_by=dawid-skene: Dawid–Skene was not fitted"):
        audit(ann, rank_by="dawid-skene")
    # Each missing estimate is blamed on its own cause: gold on the gold answers.
    with pytest.raises(InputError, match="rank_by=gold: there are no gold answers"):
        audit(ann, models=[DawidSkene().fit(ann)], rank_by="gold")
    with pytest.raises(InputError, match="Expected rank_by to be one of"):
        audit(ann, rank_by="vibes")


def test_below_chance_needs_the_whole_interval_below_one_over_k():
    """Flagged only when the upper end of the 95% Wilson interval is below 1/K. By hand: 9 of
    20 binary answers right (0.45) has the interval [0.258, 0.658], which holds 0.5: not
    flagged; 2 of 20 (0.10) has [0.028, 0.301]: flagged. A 4-class worker at 0.35 over 400
    answers ([0.304, 0.398]) is above chance (0.25), though below 0.5: not flagged."""
    low, high = wilson_interval(9, 20)
    assert round(low, 3) == 0.258 and round(high, 3) == 0.658
    # near (9 of 20), flips (2 of 20), unscored (no Dawid–Skene accuracy)
    assert below_chance([0.45, 0.10, None], [20, 20, 20], num_classes=2) == [False, True, None]
    # weak and wrong, 400 answers each, 4 classes
    assert below_chance([0.35, 0.15], [400, 400], num_classes=4) == [False, True]


def test_a_flip_annotator_answers_the_next_class():
    """'flip' moves k to k + 1 mod K (the docs' words): its response matrix puts (1 − ε)·β +
    ε/K at column (k + 1) mod K of every row k."""
    profiles = annotator_profiles(SimulatedCrowd(1, 200, (0.0, 0.2), bias=1.0), 4, seed=3)
    flips = np.flatnonzero(profiles["bias"] == "flip")
    assert flips.size >= 10
    for j in flips:
        eps, beta = profiles["noise"][j], profiles["bias_strength"][j]
        response = profiles["response"][j]
        for k in range(4):
            assert response[k, (k + 1) % 4] == pytest.approx((1 - eps) * beta + eps / 4)
            assert response[k, k] == pytest.approx((1 - eps) * (1 - beta) + eps / 4)
