"""CrowdTruth 2.0 metrics: the reference implementation's numbers, values worked by hand, and
what they are for (telling noisy annotators from ambiguous items) on simulated campaigns."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from dqlabels import InputError, from_long, read_annotations
from dqlabels.data.synthetic import SimulatedCrowd, generate_dataset
from dqlabels.labels.crowdtruth import CrowdTruth, item_agreement

FIXTURES = Path(__file__).parent / "fixtures" / "crowdtruth"
SMALL = (["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3", "u3"],
         ["cat", "cat", "dog", "dog", "dog", "dog", "cat", "dog", "fox"],
         ["w1", "w2", "w3", "w1", "w2", "w3", "w1", "w2", "w3"])


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("campaign*.csv")))
def test_matches_the_reference_implementation(name):
    """Fixtures: random campaigns scored by the `crowdtruth` package 2.1 (made by
    benchmarks/crowdtruth_oracle.py in an environment of its own)."""
    ref = json.loads((FIXTURES / f"{name}.reference.json").read_text())
    ann = read_annotations(FIXTURES / f"{name}.csv")
    ct = CrowdTruth().fit(ann)
    items, workers, classes = list(ann.items), list(ann.annotators), list(ann.classes)
    for attribute, key, ids in (("item_quality_", "uqs", items),
                                ("annotator_quality_", "wqs", workers),
                                ("annotator_annotator_agreement_", "wwa", workers),
                                ("annotator_item_agreement_", "wsa", workers),
                                ("class_quality_", "aqs", classes)):
        values = getattr(ct, attribute)
        for name_, expected in ref[key].items():
            assert values[ids.index(name_)] == pytest.approx(expected, abs=1e-15), (key, name_)
    for item, scores in ref["uas"].items():
        for label, expected in scores.items():
            got = ct.probas_[items.index(item), classes.index(label)]
            assert got == pytest.approx(expected, abs=1e-15)
    # The reference leaves out items with a single annotation: undefined here.
    single = ann.counts.sum(axis=1) == 1
    assert np.isnan(ct.item_quality_[single]).all() and not set(ann.items[single]) & set(ref["uqs"])


def test_first_round_by_hand():
    """Round 1 (every quality 1): u1 has 1 agreeing pair of 3, u2 3 of 3, u3 none. Class 'cat':
    ordered pairs (i, j) where j chose cat on a shared item: (w2, w1) 1 of 2, (w3, w1) 0 of 2,
    (w1, w2) 1 of 1, (w3, w2) 0 of 1, so 1.5 / 4. Nobody agrees on 'fox': the floor 1e-8."""
    ct = CrowdTruth(max_iter=1).fit(from_long(*SMALL))
    np.testing.assert_allclose(ct.item_quality_, [1 / 3, 1.0, 0.0])
    assert ct.class_quality_[0] == pytest.approx(0.375)
    assert ct.class_quality_[2] == pytest.approx(1e-8)
    # Annotator w3 agrees with nobody on u1 and u3: the lowest quality.
    assert np.argmin(ct.annotator_quality_) == 2
    assert ct.n_iter_ == 1 and ct.converged_ is False  # the qualities still moved
    two = CrowdTruth(max_iter=2).fit(from_long(*SMALL))
    assert two.n_iter_ == 2 and two.converged_ is False
    settled = CrowdTruth(max_iter=5).fit(from_long(["a", "a", "b", "b"], ["x", "x", "y", "y"],
                                                   ["w1", "w2", "w1", "w2"]))
    assert settled.n_iter_ == 1 and settled.converged_ is True  # everyone agrees: nothing moves


def test_item_agreement_without_annotator_ids():
    np.testing.assert_allclose(item_agreement([[2, 1, 0], [3, 0, 0], [0, 2, 2]]),
                               [1 / 3, 1.0, 1 / 3])
    assert np.isnan(item_agreement([[1, 0]])[0])


def test_refusals():
    with pytest.raises(InputError, match="need annotator ids"):
        CrowdTruth().fit(from_long(["a", "a"], ["x", "y"]))
    repeated = from_long(["a", "a", "a"], ["x", "y", "x"], ["w1", "w1", "w2"], duplicates="keep")
    with pytest.raises(InputError, match="one annotation per \\(item, annotator\\) pair"):
        CrowdTruth().fit(repeated)


def _campaign(tmp_path, noise):
    folder = generate_dataset(tmp_path / f"crowd{noise[1]}", num_images=1500, image_size=32,
                              seed=4, annotators=SimulatedCrowd(10, pool=50, noise=noise))
    ann = read_annotations(folder / "simulated_annotations.csv")
    eps = pd.read_csv(folder / "annotators.csv").set_index("annotator")["noise"]
    meta = pd.read_csv(folder / "metadata.csv").set_index("item").loc[list(ann.items)]
    return ann, eps.loc[list(ann.annotators)].to_numpy(), meta, CrowdTruth().fit(ann)


def test_noisy_annotators_are_found_and_ambiguous_items_are_told_apart(tmp_path):
    """Issue 11's campaign: 10 annotators per image from a pool of 50, each answering at
    random with its own rate ε ~ U(0, 0.4)."""
    ann, eps, meta, ct = _campaign(tmp_path, (0.0, 0.4))
    assert spearmanr(ct.annotator_quality_, 1 - eps).statistic >= 0.9
    pure = (meta["kind"] == "pure").to_numpy()
    assert ct.item_quality_[pure].mean() > ct.item_quality_[~pure].mean() + 0.1
    # Without noise nobody stands out: the spread of quality is sampling noise only.
    _, _, _, clean = _campaign(tmp_path, (0.0, 0.0))
    spread = clean.annotator_quality_.std() / clean.annotator_quality_.mean()
    noisy_spread = ct.annotator_quality_.std() / ct.annotator_quality_.mean()
    assert spread < 0.06 and noisy_spread > 3 * spread


@pytest.mark.parametrize("block, parallel, key_bits", [(7, 0, 63), (1, 1 << 40, 63), (64, 0, 8)])
def test_every_way_of_listing_the_pairs_gives_the_same_metrics(monkeypatch, block, parallel,
                                                                key_bits):
    """Small blocks (annotators split across many), the thread pool, and the sort with a
    permutation used when a packed key would not fit in 63 bits: the same numbers as one
    block, to the last bits, on a campaign with items of 1 to 6 annotations."""
    from dqlabels import _parallel
    from dqlabels.labels import crowdtruth

    rng = np.random.default_rng(3)
    items, labels, workers = [], [], []
    for item in range(120):
        for worker in rng.choice(9, size=rng.integers(1, 7), replace=False):
            items.append(f"u{item}")
            workers.append(f"w{worker}")
            labels.append(f"c{rng.integers(0, 4)}")
    ann = from_long(items, labels, workers)
    expected = CrowdTruth().fit(ann)
    monkeypatch.setattr(crowdtruth, "BLOCK", block)
    monkeypatch.setattr(_parallel, "PARALLEL_CELLS", parallel)
    monkeypatch.setattr(crowdtruth, "KEY_BITS", key_bits)
    got = CrowdTruth().fit(ann)
    for attribute in ("item_quality_", "annotator_quality_", "class_quality_",
                      "probas_"):
        np.testing.assert_allclose(getattr(got, attribute), getattr(expected, attribute),
                                   rtol=1e-12, atol=0)
    assert got.n_iter_ == expected.n_iter_


def test_an_item_with_one_annotation_keeps_its_label_as_weighted_soft_label():
    """Items with one annotation take no part in the metrics (NaN quality), but their
    worker-weighted soft label is still their one label, weighted by a scored annotator."""
    ann = from_long(["a", "a", "a", "b"], ["cat", "cat", "dog", "dog"], ["u1", "u2", "u3", "u1"])
    ct = CrowdTruth().fit(ann)
    assert np.isnan(ct.item_quality_[1])
    assert ct.probas_[1].tolist() == [0.0, 1.0]


def test_annotators_of_quality_zero_leave_the_plain_soft_label_not_zeros():
    """Two annotators who never agree (u1 spells the classes Cat and Dog, u2 cat and dog) both
    have quality 0, so no annotation weighs anything. Every item then keeps its plain soft
    label: one half each for the items both labelled, the one label for the others. Before,
    every weighted label was a row of zeros."""
    ann = from_long(["x", "x", "y", "y", "z", "w"], ["Cat", "cat", "Dog", "dog", "cat", "Cat"],
                    ["u1", "u2", "u1", "u2", "u2", "u1"])
    ct = CrowdTruth().fit(ann)
    assert ct.annotator_quality_.tolist() == [0.0, 0.0]
    probas = dict(zip(ann.items, ct.probas_.tolist()))
    order = list(ann.classes)  # the classes' own order, whatever it is
    half = {"x": {"Cat": 0.5, "cat": 0.5}, "y": {"Dog": 0.5, "dog": 0.5}, "z": {"cat": 1.0},
            "w": {"Cat": 1.0}}
    for item, shares in half.items():
        assert probas[item] == [shares.get(c, 0.0) for c in order]


def test_weighted_labels_weigh_each_answer_by_its_annotators_quality():
    """The worker-weighted soft label, recomputed in a loop from the fitted qualities: each
    answer weighs its annotator's quality. u1 and u2 never agree (x, y: quality 0, the plain
    label); u5 and u6 are poor, so m's weights sum under 1 and still decide it; u7 has one
    shared answer (scored); u9, last by name, only labelled t alone (no quality: NaN; t keeps
    its one label)."""
    rows = [("x", "Cat", "u1"), ("x", "cat", "u2"), ("y", "Dog", "u1"), ("y", "dog", "u2"),
            ("p", "cat", "u3"), ("p", "cat", "u4"), ("p", "dog", "u5"), ("p", "dog", "u6"),
            ("q", "dog", "u3"), ("q", "dog", "u4"), ("q", "cat", "u6"), ("r", "cat", "u4"),
            ("r", "dog", "u5"), ("s", "cat", "u3"), ("s", "cat", "u5"), ("s", "cat", "u7"),
            ("t", "dog", "u9"), ("m", "cat", "u5"), ("m", "dog", "u6")]
    ann = from_long(*zip(*rows))
    ct = CrowdTruth().fit(ann)
    quality = dict(zip(ann.annotators, ct.annotator_quality_))
    assert quality["u1"] == quality["u2"] == 0.0 and quality["u7"] > 0
    for values in (ct.annotator_quality_, ct.annotator_annotator_agreement_,
                   ct.annotator_item_agreement_):
        assert np.isnan(values[list(ann.annotators).index("u9")])
    classes = list(ann.classes)
    for i, item in enumerate(ann.items):
        answers = [(label, quality[who]) for it, label, who in rows if it == item]
        weights = [0.0 if np.isnan(q) else q for _, q in answers]
        if sum(weights) == 0:  # nobody's answer weighs: each counts 1
            weights = [1.0] * len(answers)
        expected = np.zeros(len(classes))
        for (label, _), w in zip(answers, weights):
            expected[classes.index(label)] += w
        np.testing.assert_allclose(ct.probas_[i], expected / expected.sum(), rtol=1e-12)
    weight_of_m = quality["u5"] + quality["u6"]
    assert 0 < weight_of_m < 1 and quality["u5"] != quality["u6"]  # m: decided by the weights
    label = dict(zip(ann.items, (classes[k] for k in ct.labels_)))
    assert (label["x"], label["y"], label["m"], label["t"]) == ("Cat", "Dog", "cat", "dog")
