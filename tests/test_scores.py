import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from dqlabels import from_long
from dqlabels.labels import scores


def test_kl_by_hand():
    assert scores.kl_divergence([[1.0, 0.0]], [[0.5, 0.5]]) == pytest.approx(math.log(2))
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert scores.kl_divergence([[0.5, 0.5]], [[0.25, 0.75]]) == pytest.approx(expected)
    # Mean over items.
    got = scores.kl_divergence([[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [0.25, 0.75]])
    assert got == pytest.approx((math.log(2) + expected) / 2)


def test_kl_floors_zero_predictions_and_renormalises():
    p_hat = np.array([1.0, 1e-7]) / (1 + 1e-7)
    expected = 0.5 * math.log(0.5 / p_hat[0]) + 0.5 * math.log(0.5 / p_hat[1])
    assert scores.kl_divergence([[0.5, 0.5]], [[1.0, 0.0]]) == pytest.approx(expected)


def test_kl_dcic_convention_by_hand():
    y, p = np.array([1 - 1e-5, 1e-5]), np.array([0.5, 0.5])
    expected = float(np.sum(y * np.log(y / p)))
    assert scores.kl_divergence([[1.0, 0.0]], [[0.5, 0.5]], convention="dcic") == pytest.approx(expected)


def test_argmax_metrics_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(4), 200)
    p = rng.dirichlet(np.ones(4), 200)
    yt, pt = y.argmax(1), p.argmax(1)
    assert scores.macro_accuracy(y, p) == pytest.approx(balanced_accuracy_score(yt, pt))
    assert scores.macro_f1(y, p) == pytest.approx(f1_score(yt, pt, average="macro"))
    assert scores.accuracy(y, p) == pytest.approx(np.mean(yt == pt))


def test_macro_accuracy_by_hand_with_absent_class():
    y = np.eye(3)[[0, 0, 0, 1]]           # class 2 never the truth: left out of the mean
    p = np.eye(3)[[0, 1, 2, 1]]
    assert scores.macro_accuracy(y, p) == pytest.approx((1 / 3 + 1) / 2)


def test_distances_by_hand():
    y, p = [[1.0, 0.0]], [[0.0, 1.0]]
    assert scores.js_divergence(y, p) == pytest.approx(math.log(2))
    assert scores.total_variation([[0.5, 0.5]], [[0.2, 0.8]]) == pytest.approx(0.3)
    assert scores.brier_score([[1.0, 0.0]], [[0.7, 0.3]]) == pytest.approx(0.09 + 0.09)
    assert scores.cross_entropy([[1.0, 0.0]], [[0.25, 0.75]]) == pytest.approx(-math.log(0.25))
    assert scores.entropy([[0.5, 0.5], [1.0, 0.0]]) == pytest.approx(math.log(2) / 2)


def test_ece_by_hand():
    # Confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct): bins (0.8,0.9] and (0.5,0.6].
    y = np.eye(2)[[0, 0, 1]]
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.4, 0.6]])
    expected = (2 / 3) * abs(0.5 - 0.9) + (1 / 3) * abs(1.0 - 0.6)
    assert scores.expected_calibration_error(y, p) == pytest.approx(expected)


def test_fleiss_kappa_wikipedia_example():
    # Fleiss (1971) style example from Wikipedia: 10 items, 14 raters, 5 categories, κ = 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(scores.fleiss_kappa(counts), 3) == 0.210


def test_fleiss_kappa_unequal_annotators_by_hand():
    counts = np.array([[2, 0], [1, 1], [3, 0]])
    p_i = np.array([1.0, 0.0, 1.0])
    p_k = np.array([6, 1]) / 7
    p_e = np.sum(p_k**2)
    assert scores.fleiss_kappa(counts) == pytest.approx((p_i.mean() - p_e) / (1 - p_e))


def test_krippendorff_alpha_reference_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha": 4 coders, 12 units, nominal
    # α = 0.743. Values per unit (missing omitted) turned into counts over classes 1..5.
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
             [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5],
             [1, 1], [3]]
    counts = np.zeros((len(units), 5), int)
    for u, values in enumerate(units):
        for v in values:
            counts[u, v - 1] += 1
    assert round(scores.krippendorff_alpha(counts), 3) == 0.743


def test_unanimous_items():
    assert scores.unanimous_items([[3, 0], [2, 1], [0, 1]]).tolist() == [True, False, True]


def test_annotator_agreement_against_brute_force():
    rng = np.random.default_rng(5)
    n_items, k, n_annot = 50, 3, 6
    items, annots, labels = [], [], []
    for i in range(n_items):
        for a in rng.choice(n_annot, rng.integers(1, 6), replace=False):
            items.append(i), annots.append(a), labels.append(rng.integers(0, k))
    items, annots, labels = map(np.array, (items, annots, labels))
    counts = np.zeros((n_items, k), int)
    np.add.at(counts, (items, labels), 1)
    total, n = np.zeros(n_annot), np.zeros(n_annot)
    for i, a, l in zip(items, annots, labels):
        others = counts[i].copy()
        others[l] -= 1
        if others.sum() == 0:
            continue
        top = np.flatnonzero(others == others.max())
        total[a] += (1 / len(top)) if l in top else 0.0
        n[a] += 1
    ann = from_long([f"i{i:03d}" for i in items], [f"c{label}" for label in labels],
                    [f"a{a}" for a in annots], classes=[f"c{j}" for j in range(k)])
    got, num = scores.annotator_agreement(ann)
    # from_long sorts items and annotators by name; these names keep the numeric order.
    assert list(ann.annotators) == [f"a{a}" for a in range(n_annot) if a in set(annots)]
    present = np.isin(np.arange(n_annot), annots)
    total, n = total[present], n[present]
    np.testing.assert_array_equal(num, n)
    np.testing.assert_allclose(got, total / n)


# ----------------------------------------------------------------------------------------------
# Boundaries that separate the documented behaviour from a plausible bug (issue 22). Expected
# values are worked out by hand here, never by the function under test.


def test_kl_renormalises_floored_predictions_at_a_thousand_classes():
    """p = y = one-hot over 1,000 classes: floored at 1e-7 and renormalised, p̂₀ = 1 / (1 +
    999e-7), so KL = ln(1 + 999e-7) (without the renormalisation it would be 0)."""
    y = np.zeros((1, 1000))
    y[0, 0] = 1.0
    assert scores.kl_divergence(y, y) == pytest.approx(math.log1p(999e-7), rel=1e-9)


def test_kl_dcic_clips_a_zero_in_the_ground_truth():
    """y = [0.2, 0.8, 0]: the DCIC variant clips y to [1e-5, 1 − 1e-5], so the zero adds
    1e-5·ln(1e-5 / 0.1) (negative) to the sum."""
    y, p = [[0.2, 0.8, 0.0]], [[0.3, 0.6, 0.1]]
    expected = 0.2 * math.log(0.2 / 0.3) + 0.8 * math.log(0.8 / 0.6) + 1e-5 * math.log(1e-5 / 0.1)
    assert scores.kl_divergence(y, p, convention="dcic") == pytest.approx(expected, rel=1e-12)


def test_ece_bins_are_closed_on_the_right():
    """Confidences 0.6 (right) and 0.65 (wrong) fall in (0.5, 0.6] and (0.6, 0.7]: ECE =
    (|1 − 0.6| + |0 − 0.65|) / 2. With [a, b) bins both would share [0.6, 0.7): 0.125."""
    y = np.eye(2)[[0, 0]]
    p = np.array([[0.6, 0.4], [0.35, 0.65]])
    assert scores.expected_calibration_error(y, p) == pytest.approx((0.4 + 0.65) / 2)
    bins = scores.reliability_bins(y, p)
    assert [b["count"] for b in bins[5:7]] == [1, 1]


def test_fleiss_kappa_leaves_out_single_annotation_items():
    """Two items with 3 annotations, [3, 0] and [1, 2]: P̄ = (1 + 1/3) / 2 = 2/3, p = (4/6,
    2/6), Pₑ = 5/9, κ = (2/3 − 5/9) / (4/9) = 1/4. An extra item with one annotation changes
    nothing (it would move p and P̄ if counted)."""
    counts = [[3, 0], [1, 2]]
    assert scores.fleiss_kappa(counts) == pytest.approx(0.25)
    assert scores.fleiss_kappa(counts + [[0, 1]]) == pytest.approx(0.25)


def test_agreement_is_null_for_probabilities(write):
    from dqlabels import read_annotations
    from dqlabels.audit.report import audit

    ann = read_annotations(write("p.csv", "item,cat,dog\na,0.5,0.5\nb,0.9,0.1\nc,1.0,0.0\n"))
    assert ann.is_distribution
    report = audit(ann)
    assert report["fleiss_kappa"] is None and report["krippendorff_alpha"] is None
    assert "carry no annotations" in report["agreement_note"]  # null, and why
