"""The shrunk labels' prior respects the votes: on an imbalanced campaign the class balance no
longer overturns unanimous votes for the rare class, and on CIFAR-10H's real answers (k drawn
per image) the shrunk labels are judged against truths the fit never saw: CIFAR-10's labels and
the full ~51-answer distributions."""

import csv

import numpy as np
import pytest

from conftest import CIFAR10H, needs
from dqlabels import InputError, from_counts, kl_divergence, read_annotations
from dqlabels.labels.aggregation import argmax_lowest
from dqlabels.labels.posterior import class_posteriors, posterior


def _imbalanced_campaign(seed=0):
    """80% of items are class 0, 20% class 1; each item's own distribution leans 0.85 to its
    class; 3 answers per item."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(2000) < 0.2).astype(int)
    p = np.where(truth[:, None] == 1, [0.15, 0.85], [0.85, 0.15])
    return truth, np.stack([rng.multinomial(3, row) for row in p])


def test_unanimous_votes_for_the_rare_class_are_not_overturned():
    truth, counts = _imbalanced_campaign()
    rare = counts[:, 1] == 3
    assert rare.sum() > 100
    shrunk = posterior(from_counts(counts)).mean
    assert (shrunk[rare].argmax(axis=1) == 1).all()
    # and the class-conditional prior's top class is as right as the majority vote
    majority = argmax_lowest(counts)
    assert np.mean(argmax_lowest(shrunk) == truth) >= np.mean(majority == truth) - 0.002


def test_one_prior_centred_on_the_balance_overturned_them():
    """The issue's case, by hand: an 80/20 campaign and a prior of strength 5.65. Centred on the
    balance (prior="balance", the earlier default), three unanimous rare votes come out as
    (5.65·0.2 + 3) / (5.65 + 3) = 0.477 < 1/2: overturned. The class-conditional prior of the
    same strength keeps them."""
    counts = np.array([[3, 0]] * 8 + [[0, 3]] * 2)  # 24 of 30 answers class 0: 80/20
    balance = posterior(from_counts(counts), strength=5.65, prior="balance")
    np.testing.assert_allclose(balance.mean[-1, 1], (5.65 * 0.2 + 3) / (5.65 + 3))
    assert balance.mean[-1].argmax() == 0
    classes = posterior(from_counts(counts), strength=5.65)
    assert classes.mean[-1].argmax() == 1


def test_the_shared_confusion_matrix_reads_unanimous_items_as_their_class():
    r = class_posteriors(np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5], [4, 1, 0], [0, 1, 4]]))
    assert r.argmax(axis=1).tolist() == [0, 1, 2, 0, 2]
    np.testing.assert_allclose(r.sum(axis=1), 1)


def test_one_answer_per_item_is_the_answer_smoothed_by_a_tenth_toward_the_class_balance():
    """Nothing can be fitted from one answer per item: the shrunk label is the usual label
    smoothing, 0.9·answer + 0.1·balance (balance 2/4, 1/4, 1/4 here), a strength of 1/9."""
    counts = np.eye(3, dtype=int)[[0, 1, 2, 0]]
    post = posterior(from_counts(counts))
    assert post.prior == "balance" and not post.strength_fitted
    assert post.strength == pytest.approx(1 / 9)
    np.testing.assert_allclose(post.mean[0], [0.9 + 0.05, 0.025, 0.025])
    np.testing.assert_allclose(post.mean[1], [0.05, 0.9 + 0.025, 0.025])


@pytest.fixture(scope="module")
def cifar():
    needs(CIFAR10H.exists(), "../shared/data/cifar10h")
    ann = read_annotations(CIFAR10H, format="counts")
    with open(CIFAR10H.parent / "cifar10-test-labels.csv", newline="") as f:
        labels = {row["item"]: row["label"] for row in csv.DictReader(f)}
    position = {c: j for j, c in enumerate(ann.classes)}
    gold = np.array([position[labels[f"images/{item}.jpg"]] for item in ann.items])
    cat = position["cat"]
    imbalanced = np.concatenate([np.flatnonzero(gold == cat)] + [
        np.flatnonzero(gold == j)[:43] for j in range(10) if j != cat])  # cat 72%
    return ann.counts, gold, imbalanced


def _drawn(counts, k, seed=7):
    rng = np.random.default_rng([seed, k])
    drawn = np.zeros_like(counts)
    for i, row in enumerate(counts):  # an urn per image, without replacement
        np.add.at(drawn[i], rng.permutation(np.repeat(np.arange(10), row))[:k], 1)
    return drawn


def _nll(estimate, gold):
    return -np.log(np.maximum(estimate[np.arange(len(gold)), gold], 1e-3)).mean()


@pytest.mark.parametrize("k", [3, 5])
def test_on_cifar10h_the_shrunk_top_class_is_as_right_as_the_majority(cifar, k):
    full, gold, imbalanced = cifar
    for rows in (np.arange(len(gold)), imbalanced):
        drawn = _drawn(full[rows], k)
        shrunk = posterior(from_counts(drawn)).mean
        majority = np.mean(argmax_lowest(drawn) == gold[rows])
        assert np.mean(argmax_lowest(shrunk) == gold[rows]) >= majority - 0.002
        truth = full[rows] / full[rows].sum(axis=1, keepdims=True)
        raw = drawn / drawn.sum(axis=1, keepdims=True)
        assert kl_divergence(truth, shrunk) < kl_divergence(truth, raw)
    if k == 3:  # the mark: today's shrunk labels reached 0.119
        drawn = _drawn(full, 3)
        assert kl_divergence(full / full.sum(axis=1, keepdims=True),
                             posterior(from_counts(drawn)).mean) <= 0.119


@pytest.mark.parametrize("k", [3, 5])
def test_on_an_imbalanced_cifar10h_subset_the_gold_class_is_likelier_than_raw(cifar, k):
    full, gold, imbalanced = cifar
    drawn = _drawn(full[imbalanced], k)
    shrunk = posterior(from_counts(drawn)).mean
    raw = drawn / drawn.sum(axis=1, keepdims=True)
    assert _nll(shrunk, gold[imbalanced]) < _nll(raw, gold[imbalanced])


def test_on_cifar10h_one_answer_per_image_shrunk_beats_the_answer_on_gold_and_truth(cifar):
    """One answer per image: the default (label smoothing 0.1, not chosen on these data) makes
    the gold class likelier than the answer alone (gold NLL, clipped at 1e-3) and the label
    closer to the full answers, on all images and on the imbalanced subset. The earlier
    default, strength 1, doubled the gold NLL on all images (0.71 against 0.33)."""
    full, gold, imbalanced = cifar
    for rows in (np.arange(len(gold)), imbalanced):
        drawn = _drawn(full[rows], 1)
        shrunk = posterior(from_counts(drawn)).mean
        assert np.array_equal(argmax_lowest(shrunk), argmax_lowest(drawn))
        assert _nll(shrunk, gold[rows]) < _nll(drawn.astype(float), gold[rows])
        truth = full[rows] / full[rows].sum(axis=1, keepdims=True)
        assert kl_divergence(truth, shrunk) < 0.5 * kl_divergence(truth, drawn.astype(float))


def test_the_strength_is_fitted_from_ten_items_with_two_answers():
    """One item of two agreeing answers among 30 of one: its likelihood alone would drive the
    strength to the end of its range (0.05: every one-answer item settled). Under 10 such items
    the strength is the default (the answer smoothed by 0.1); from 10 on it is fitted."""
    ones = np.eye(2, dtype=int)[[0, 1, 0] * 10]  # 30 items of one answer, 20 of class 0
    counts = np.concatenate([ones, [[2, 0]]])
    post = posterior(from_counts(counts), prior="balance")
    assert not post.strength_fitted and post.strength == pytest.approx(1 / 9)
    balance = np.array([22, 10]) / 32
    np.testing.assert_allclose(post.mean[0], 0.9 * np.array([1, 0]) + 0.1 * balance)
    nine = np.concatenate([ones, [[2, 0]] * 5 + [[1, 1]] * 4])
    assert not posterior(from_counts(nine), prior="balance").strength_fitted
    ten = np.concatenate([ones, [[2, 0]] * 5 + [[1, 1]] * 5])
    assert posterior(from_counts(ten), prior="balance").strength_fitted


def test_a_small_campaign_gets_the_class_balance():
    """Fewer than 10 items per class with two answers: the mixture's means and strength would
    rest on a handful of items, so the prior is the class balance (as prior="balance")."""
    counts = np.array([[3, 0]] * 8 + [[0, 3]] * 2 + [[2, 1]] * 9)  # 19 items, 2 classes
    small = posterior(from_counts(counts))
    assert small.prior == "balance"
    np.testing.assert_allclose(small.mean, posterior(from_counts(counts), prior="balance").mean)
    bigger = posterior(from_counts(np.concatenate([counts, [[1, 2]]])))  # 20 = 10 per class
    assert bigger.prior == "classes"


def test_the_one_dirichlet_keeps_the_mixtures_mean_and_summed_variance():
    """By hand, in a plain loop: the mixture Σ_k r_ik Dir(s μ_k + c_i) has the mean
    Σ_k r_ik m_ik and the summed variance Σ_k r_ik [(1 − Σ m_ik²)/(S_ik + 1) + |m_ik − m_i|²];
    the one Dirichlet (alpha) has both."""
    rng = np.random.default_rng(4)
    counts = np.stack([rng.multinomial(4, p) for p in rng.dirichlet([1, 1, 1], 60)])
    post = posterior(from_counts(counts), strength=3.0)
    assert post.prior == "classes"
    for i in range(0, 60, 7):
        parts = []
        for k in range(3):
            a = 3.0 * post.class_means[k] + counts[i]
            parts.append((post.class_weights[i, k], a / a.sum(), a.sum()))
        mean = sum(r * m for r, m, _ in parts)
        variance = sum(r * ((1 - (m * m).sum()) / (total + 1) + ((m - mean) ** 2).sum())
                       for r, m, total in parts)
        np.testing.assert_allclose(post.mean[i], mean, rtol=1e-10)
        alpha = post.alpha[i]
        m = alpha / alpha.sum()
        np.testing.assert_allclose(m, mean, rtol=1e-9)
        np.testing.assert_allclose((1 - (m * m).sum()) / (alpha.sum() + 1), variance, rtol=1e-9)
        np.testing.assert_allclose(post.spread[i], np.sqrt(variance), rtol=1e-9)


def test_predictions_make_the_prior_with_their_own_default_strength_and_fit():
    """With predictions: one answer per item takes the predictions' default strength (5, not
    the one-answer smoothing); rows of NaN have no prediction and take the class balance; the
    prediction rows are floored at 1e-3 and renormalised; and with 10 or more items of two
    answers the strength maximises the Dirichlet–multinomial likelihood around each item's own
    prior mean (checked on a grid, in a loop written here)."""
    from scipy.special import gammaln

    counts = np.eye(3, dtype=int)[[0, 1, 2, 0, 0]]
    predictions = np.array([[1.0, 0, 0], [0.1, 0.8, 0.1], [np.nan] * 3, [0.2, 0.2, 0.6],
                            [0.5, 0.25, 0.25]])
    post = posterior(from_counts(counts), predictions)
    assert post.prior == "predictions" and post.num_predicted == 4
    assert post.strength == 5.0 and not post.strength_fitted
    balance = np.array([3, 1, 1]) / 5
    w = post.prediction_weight
    floored = np.array([1.0, 1e-3, 1e-3]) / 1.002  # [1, 0, 0] floored, then summing to 1
    np.testing.assert_allclose(post.prior_mean[0], w * floored + (1 - w) * balance, rtol=1e-9)
    np.testing.assert_allclose(post.prior_mean[2], balance, rtol=1e-9)  # no prediction
    np.testing.assert_allclose(post.alpha[1], 5 * (w * np.array([0.1, 0.8, 0.1])
                                                   + (1 - w) * balance) + [0, 1, 0], rtol=1e-9)
    with pytest.raises(InputError) as refused:
        posterior(from_counts(counts), predictions[:4])
    assert str(refused.value) == ("Expected predictions of shape (5, 3) aligned with the items. "
                                  "Received shape (4, 3)")
    # Twelve items of two answers, predicted by a blur of the distributions they were drawn
    # from (so the predictions weigh, and each item's prior mean is its own): the strength is
    # fitted around each item's prior mean, not around the class balance.
    rng = np.random.default_rng(1)
    truth = rng.dirichlet([1, 1, 1], 12)
    two = np.stack([rng.multinomial(2, p) for p in truth])
    fitted = posterior(from_counts(two), 0.5 * truth + 0.5 * rng.dirichlet([1, 1, 1], 12))
    assert fitted.strength_fitted and fitted.prior == "predictions"
    assert fitted.prediction_weight > 0.5
    m = fitted.prior_mean

    def log_likelihood(s):
        return sum(gammaln(s) - gammaln(s + 2) + sum(gammaln(s * m[i, k] + two[i, k])
                                                     - gammaln(s * m[i, k]) for k in range(3))
                   for i in range(12))

    grid = np.exp(np.linspace(np.log(0.05), np.log(1000), 2001))
    best = grid[np.argmax([log_likelihood(s) for s in grid])]
    assert 0.1 < best < 900  # inside the range: the fit has a maximum to find
    assert fitted.strength == pytest.approx(best, rel=0.01)
    around_balance = posterior(from_counts(two), prior="balance").strength
    assert abs(around_balance - best) > 0.05 * best  # the two fits differ: the test can tell


def test_the_prior_and_its_strength_are_checked_by_name():
    counts = from_counts([[1, 1], [2, 0]])
    with pytest.raises(InputError) as refused:
        posterior(counts, prior="uniform")
    assert str(refused.value) == ("Expected prior to be one of classes, balance. "
                                  "Received: prior='uniform'")
    for bad in (0, -1.0):
        with pytest.raises(InputError) as refused:
            posterior(counts, strength=bad)
        assert str(refused.value) == f"Expected strength > 0. Received: strength={bad!r}"
