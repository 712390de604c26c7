"""The verdict rule (docs/conventions.md §14): soft better or worse only where the paired 95% t interval over
folds excludes 0. Intervals worked out by hand with Student's t quantiles."""

import pytest

from dqlabels.studies.verdicts import paired, verdict

T_975 = {1: 12.706204736174698, 2: 4.302652729911275}  # Student's t, 97.5%, 1 and 2 dof


def test_three_folds_that_agree_are_a_finding():
    # differences +0.02, +0.02, +0.025: mean 0.021667, sample std 0.0028868
    comparison = paired([0.80, 0.78, 0.79], [0.82, 0.80, 0.815])
    half = T_975[2] * 0.002886751345948129 / 3 ** 0.5
    assert comparison["mean"] == pytest.approx(0.0216667, abs=1e-6)
    assert comparison["interval"] == pytest.approx([0.0216667 - half, 0.0216667 + half], abs=1e-6)
    assert verdict(comparison, higher_is_better=True) == "soft better"
    assert verdict(comparison, higher_is_better=False) == "soft worse"  # a loss that rose


def test_a_small_mean_difference_with_spread_is_a_tie():
    """+0.004 on average, but one fold the other way: the interval holds 0."""
    comparison = paired([0.45, 0.50, 0.47], [0.46, 0.49, 0.482])
    assert comparison["interval"][0] < 0 < comparison["interval"][1]
    assert verdict(comparison, True) == "a tie within the folds' spread"
    assert comparison["soft_higher"] == 2 and comparison["soft_lower"] == 1


def test_one_fold_is_not_tested():
    comparison = paired([0.4504], [0.4548])
    assert comparison["interval"] is None
    assert verdict(comparison, True) == "not tested (1 fold)"


def test_two_folds_use_one_degree_of_freedom():
    comparison = paired([1.0, 1.2], [0.7, 0.8])  # differences -0.3, -0.4
    half = T_975[1] * 0.07071067811865477 / 2 ** 0.5
    assert comparison["interval"] == pytest.approx([-0.35 - half, -0.35 + half])
    assert verdict(comparison, higher_is_better=False) == "a tie within the folds' spread"


def test_soft_and_hard_equal_on_every_fold_are_a_tie():
    """Differences [0, 0, 0]: the interval is [0, 0], which does not exclude 0 (issue 37)."""
    comparison = paired([0.7, 0.8, 0.9], [0.7, 0.8, 0.9])
    assert comparison["interval"] == [0.0, 0.0]
    assert verdict(comparison, higher_is_better=True) == "a tie within the folds' spread"
    assert verdict(comparison, higher_is_better=False) == "a tie within the folds' spread"


def test_paired_counts_ties_as_neither_and_keeps_every_difference():
    """Soft higher on one split, lower on one, equal on one (by hand): a tie counts for neither
    side (issue 37, mutmut's survivors); the split count and each difference are kept."""
    comparison = paired([0.5, 0.6, 0.7], [0.5, 0.7, 0.6])
    assert comparison["soft_higher"] == 1 and comparison["soft_lower"] == 1
    assert comparison["splits"] == 3
    assert comparison["differences"] == pytest.approx([0.0, 0.1, -0.1])
