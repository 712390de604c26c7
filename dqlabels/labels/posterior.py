"""Each item's Dirichlet posterior over its label distribution: the shrunk soft labels, and
what :mod:`dqlabels.labels.plan` plans the next round with.

Each item's label distribution p has a Dirichlet posterior, ``Dir(A)`` with ``A = s·m + c``: the
item's annotation counts ``c`` plus a prior of mean ``m`` and strength ``s``
(pseudo-annotations). The prior, by ``prior``:

- ``"classes"`` (default): **a prior that respects the votes.** A mixture of Dirichlets, one
  component per true class k, of mean μ_k and strength s (one for all components). Each item's
  chance r_ik that its true class is k mixes them: Dawid–Skene's posteriors where the caller
  has them (``class_posteriors``: ``dqlabels evaluate`` passes them when annotator ids are
  known); otherwise the mixture is fitted by EM on the counts alone (r_ik ∝ π_k ·
  DirichletMultinomial(c_i | s μ_k), started from the class posteriors of one confusion
  matrix shared by all answers, :func:`class_posteriors`). μ_k is the r-weighted mean of the
  items' soft labels (floored at :data:`MIXTURE_FLOOR`, renormalised); s maximises the
  r-weighted Dirichlet–multinomial likelihood of the counts of items with two or more
  annotations. The shrunk label is the mixture posterior's mean, ``Σ_k r_ik (s μ_k + c_i) /
  (s + n_i)``; ``alpha`` is the one Dirichlet with that mean and the mixture's summed variance
  (within the components and between them), so an item whose class is unsure stays unsure.
  Three unanimous votes for a rare class make that class the item's likely true class, so its
  prior is that class's component: the class balance cannot overturn them (one prior centred
  on the balance did, on imbalanced campaigns). The mixture is fitted where at least
  :data:`MIXTURE_MIN_ITEMS_PER_CLASS` items per class have two or more annotations (with a
  ``strength`` given, wherever one item has); a smaller campaign, or one answer per item, gets
  the class balance: its components cannot be told apart from so few answers.
- ``"balance"``: one Dirichlet centred on the class balance (the share of each class among all
  annotations), strength fitted by marginal likelihood.
- With **predictions**: each item's predicted distribution mixed with the class balance,
  ``(1 − w)·prediction + w·balance``; ``w`` is chosen to make the annotations seen so far most
  likely, so predictions that agree with the annotators weigh more.

**Strength**: the Dirichlet–multinomial marginal likelihood of the counts is maximised once
:data:`STRENGTH_MIN_ITEMS` items have two or more annotations (on one or two such items the fit
runs to an end of its range). One annotation per item says nothing about how concentrated
the distributions are; the default (:data:`DEFAULT_STRENGTH`) then makes the
shrunk label the answer smoothed by :data:`ONE_ANSWER_SMOOTHING` toward the class balance,
``0.9·answer + 0.1·balance``: the usual label smoothing (Szegedy et al. 2016), a strength of
1/9 (one ninth of an answer). The earlier default, 1, halved the answer: on CIFAR-10H's one
answer per image it made the gold class less likely than the answer alone and networks trained
on it underconfident (``docs/evaluate.md``, ``docs/reproduce.md``).

The **posterior mean** ``A / ΣA`` is the "shrunk" soft label; the **posterior spread** is the
square root of the summed posterior variances, ``sqrt((1 − Σ m_k²)/(S + 1))`` with ``m = A/S``,
the expected distance between the estimate and the item's true distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import gammaln

from dqlabels.config import PRIORS, check_choice, check_number
from dqlabels.errors import InputError
from dqlabels.minimize import bounded_minimum
from dqlabels.readers.annotations import Annotations

ONE_ANSWER_SMOOTHING = 0.1  # the answer's share given to the class balance, one answer per item
DEFAULT_STRENGTH = {"balance": ONE_ANSWER_SMOOTHING / (1 - ONE_ANSWER_SMOOTHING),
                    "predictions": 5.0}
STRENGTH_RANGE = (0.05, 1000.0)
PREDICTION_FLOOR = 1e-3  # a predicted probability of 0 would make a class impossible
MIXTURE_FLOOR = 1e-3  # a component's mean of 0 would make a class impossible for its items
CLASS_EM_ITERATIONS = 100  # most EM steps of the shared confusion matrix (class_posteriors)
CLASS_EM_TOLERANCE = 1e-7  # stop once no class posterior moves more than this
MOMENT_BLOCK_ITEMS = 8192  # items per block of the mixture's moments (fresh large arrays
# cost page faults: 0.25 s for 400,000 items in one block, 0.06 s in blocks)
MIXTURE_ITERATIONS = 30  # most EM steps of the mixture of Dirichlet–multinomials
# The class-conditional prior is fitted when at least this many items per class have two or
# more annotations; a smaller campaign gets the class balance (its K means and the strength
# would rest on a handful of items: on 12 items the fit called items of 3 answers certain).
MIXTURE_MIN_ITEMS_PER_CLASS = 10
# The strength is fitted once this many items have two or more annotations; fewer get the
# default: on one or two items the fit runs to an end of its range (2 agreeing answers: 0.05,
# every one-answer item then settled; 2 disagreeing ones: 1,000, every item the class balance).
STRENGTH_MIN_ITEMS = 10
CONFUSION_SMOOTHING = 0.01  # pseudo-answers per cell of the shared confusion matrix
PAIR_WEIGHT_FLOOR = 1e-12  # (row, component) pairs lighter than this leave the strength fit


@dataclass(frozen=True, eq=False)
class Posterior:
    """Every item's Dirichlet posterior over its label distribution.

    Attributes:
        alpha: ``(num_items, num_classes)`` Dirichlet parameters ``s·m + c``.
        prior_mean: ``(num_items, num_classes)`` the prior mean ``m``.
        strength: the prior strength ``s`` (pseudo-annotations); for the class-conditional
            prior the items' mean pseudo-annotations, ``Σ_k r_ik s_k``.
        strength_fitted: whether ``s`` was fitted (else the default).
        prediction_weight: ``1 − w``, the weight of the predictions in the prior mean (None
            without predictions).
        num_predicted: items with a prediction (None without predictions).
        prior: ``"classes"``, ``"balance"`` or ``"predictions"``: what the prior mean is.
        class_strengths: the class-conditional prior's ``s_k`` by class (None otherwise).
        mixture_mean: the class-conditional prior's posterior mean, ``Σ_k r_ik (s_k μ_k +
            c_i) / (s_k + n_i)`` (None otherwise); ``alpha`` is then the one Dirichlet with
            this mean and the mixture's summed variance.
        counts_per_item: each item's annotations (None: ``alpha`` less ``strength``).
        class_weights: ``(num_items, num_classes)`` each item's chance of each true class,
            ``r_ik``, that mixes the components (None without them).
        class_means: ``(num_classes, num_classes)`` the components' means ``μ_k`` by row.
    """

    alpha: np.ndarray
    prior_mean: np.ndarray
    strength: float
    strength_fitted: bool
    prediction_weight: float | None
    num_predicted: int | None = None
    prior: str = "balance"
    class_strengths: tuple[float, ...] | None = None
    mixture_mean: np.ndarray | None = None
    counts_per_item: np.ndarray | None = None
    class_weights: np.ndarray | None = None
    class_means: np.ndarray | None = None

    def prior_summary(self) -> dict:
        """The prior's facts, JSON-ready."""
        return {"strength": self.strength, "strength_fitted": self.strength_fitted,
                "prediction_weight": self.prediction_weight,
                "num_predicted": self.num_predicted, "prior_kind": self.prior,
                "class_strengths": None if self.class_strengths is None else
                list(self.class_strengths)}

    @cached_property
    def annotations_per_item(self) -> np.ndarray:
        """Each item's annotations."""
        if self.counts_per_item is not None:
            return self.counts_per_item
        return self.alpha.sum(axis=1) - self.strength

    @cached_property
    def mean(self) -> np.ndarray:
        """The posterior mean: the shrunk soft labels (computed once, read-only)."""
        if self.mixture_mean is not None:
            return _read_only(self.mixture_mean)
        return _read_only(self.alpha / self.alpha.sum(axis=1, keepdims=True))

    @cached_property
    def spread(self) -> np.ndarray:
        """The posterior spread: the square root of the summed posterior variances of each
        item's distribution (how far the soft label may still be from the true one; computed
        once, read-only: the audit's summary, its labels file and the plan all read it)."""
        return _read_only(posterior_spread(self.alpha))


def _read_only(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def posterior(annotations: Annotations, predictions: np.ndarray | None = None,
              strength: float | None = None, *, prior: str = "classes",
              class_posteriors: np.ndarray | None = None) -> Posterior:
    """The Dirichlet posterior of every item (see the module docstring).

    Args:
        annotations: counts of annotations (not probabilities).
        predictions: optional ``(num_items, num_classes)`` predicted distributions aligned with
            ``annotations.items`` (NaN rows: no prediction for that item); they make the prior.
        strength: the prior strength; None fits it (or takes the default). For the
            class-conditional prior, every class's strength.
        prior: without predictions, ``"classes"`` (a component per true class, mixed by each
            item's class posterior) or ``"balance"`` (one prior centred on the class balance).
        class_posteriors: ``(num_items, num_classes)`` each item's chance of each true class
            (Dawid–Skene's ``probas_``) for ``prior="classes"``; None fits one confusion
            matrix shared by all answers (:func:`class_posteriors`).

    Examples:
        >>> from dqlabels import from_counts
        >>> counts = [[3, 0]] * 8 + [[0, 3]] * 2  # 80/20; unanimous votes for the rare class
        >>> post = posterior(from_counts(counts), strength=5.65)
        >>> int(post.mean[8].argmax()), post.prior  # centred on the balance: 0 (0.477 on 1)
        (1, 'classes')
    """
    check_choice("prior", prior, PRIORS)
    counts = _counts(annotations)
    balance = (counts.sum(axis=0) + 1e-9) / (counts.sum() + 1e-9 * counts.shape[1])
    multi = counts.sum(axis=1) >= 2
    num_multi = int(np.count_nonzero(multi))
    fitted = strength is None and num_multi >= STRENGTH_MIN_ITEMS
    if strength is not None:
        check_number("strength", strength, low=0, low_open=True)
    enough = num_multi >= MIXTURE_MIN_ITEMS_PER_CLASS * counts.shape[1]
    if predictions is None and prior == "classes" and num_multi and (
            enough or strength is not None):
        return _class_conditional(counts, strength, class_posteriors)
    weight = num_predicted = None
    prior_mean = np.broadcast_to(balance, counts.shape)
    if predictions is not None:
        predictions = np.asarray(predictions, dtype=np.float64)
        if predictions.shape != counts.shape:
            raise InputError(f"Expected predictions of shape {counts.shape} aligned with the items. "
                             f"Received shape {predictions.shape}")
        known = np.isfinite(predictions).all(axis=1)
        num_predicted = int(np.count_nonzero(known))
        floored = np.maximum(np.where(known[:, None], predictions, balance), PREDICTION_FLOOR)
        floored /= floored.sum(axis=1, keepdims=True)
        weight = _prediction_weight(counts[known], floored[known], balance)
        prior_mean = weight * floored + (1 - weight) * balance
        prior_mean = np.where(known[:, None], prior_mean, balance)
    if strength is None:
        # Without predictions every item has the same prior mean: the fit can run on the
        # distinct count vectors (a few hundred), not on every item.
        strength = _fit_strength(counts, balance if predictions is None else prior_mean) \
            if fitted else DEFAULT_STRENGTH["balance" if predictions is None else "predictions"]
    return Posterior(alpha=strength * prior_mean + counts, prior_mean=np.asarray(prior_mean),
                     strength=float(strength), strength_fitted=fitted, prediction_weight=weight,
                     num_predicted=num_predicted,
                     prior="balance" if predictions is None else "predictions")


def _counts(annotations: Annotations) -> np.ndarray:
    if annotations.is_distribution:
        raise InputError(f"{annotations.source}: planning needs annotation counts; these are "
                         f"probabilities (read a file with one row per annotation, or counts)")
    return annotations.counts.astype(np.float64)


def _class_conditional(counts: np.ndarray, strength: float | None,
                       weights: np.ndarray | None) -> Posterior:
    """The posterior under the class-conditional prior (the module docstring)."""
    num_classes = counts.shape[1]
    rows, inverse = _row_groups(counts)
    times = np.bincount(inverse, minlength=len(rows)).astype(np.float64)
    if weights is None:  # a mixture of Dirichlet–multinomials over the distinct count rows
        row_weights, means, strengths = _fit_mixture(rows, times, strength)
        weights = row_weights[inverse]
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != counts.shape:
            raise InputError(f"Expected class_posteriors of shape {counts.shape}. Received "
                             f"shape {weights.shape}")
        grouped = np.stack([np.bincount(inverse, weights[:, k], minlength=len(rows))
                            for k in range(num_classes)], axis=1)
        means, strengths = _components(rows, grouped, strength)
    mean, alpha = _mixture_moments(counts, weights, strengths[:, None] * means)
    pseudo = weights @ strengths  # each item's prior pseudo-annotations, Σ_k r_ik s_k
    return Posterior(alpha=alpha, prior_mean=(weights @ (strengths[:, None] * means))
                     / pseudo[:, None], strength=float(pseudo.mean()),
                     strength_fitted=strength is None, prediction_weight=None, prior="classes",
                     class_strengths=tuple(float(v) for v in strengths),
                     mixture_mean=mean, counts_per_item=counts.sum(axis=1),
                     class_weights=weights, class_means=means)


def _components(rows: np.ndarray, weights: np.ndarray, strength: float | None):
    """Each component's mean (the weighted mean of the soft labels, floored at
    :data:`MIXTURE_FLOOR`) and strength: one for all components, the weighted
    Dirichlet–multinomial fit on the rows of two or more annotations (a strength per class
    was no better on CIFAR-10H: benchmarks/README.md), or ``strength`` when given.
    ``weights``: rows × components, each row's weights summed over the items that have it."""
    soft = rows / rows.sum(axis=1, keepdims=True)
    mass = weights.sum(axis=0)
    means = (weights.T @ soft) / np.maximum(mass, 1e-300)[:, None] + MIXTURE_FLOOR
    means /= means.sum(axis=1, keepdims=True)
    if strength is not None:
        return means, np.full(weights.shape[1], float(strength))
    multi = rows.sum(axis=1) >= 2
    shared = _fit_shared_strength(rows[multi], weights[multi], means)
    return means, np.full(weights.shape[1], shared)


def _fit_shared_strength(rows: np.ndarray, weights: np.ndarray, means: np.ndarray) -> float:
    """One strength for every component: the maximum of the weighted Dirichlet–multinomial
    likelihood of the count ``rows`` over all components.

    The likelihood is summed over the (row, component) pairs whose weight is above
    :data:`PAIR_WEIGHT_FLOOR` (an item's class posterior is near one-hot: the others add under
    1e-12 of a log-likelihood each) and, within a pair, over the row's nonzero counts (a zero
    count adds gammaln(a) − gammaln(a) = 0): a few cells per item instead of components ×
    classes (CIFAR-10H's 50 answers per image: 0.46 s → 0.03 s; ``bench_evaluate.py --shape
    cifar10h``)."""
    pair_row, pair_component = np.nonzero(weights > PAIR_WEIGHT_FLOOR)
    pair_weight = weights[pair_row, pair_component]
    pair_total = rows.sum(axis=1)[pair_row]
    cell_row, cell_class = np.nonzero(rows)
    cells_of_row = np.bincount(cell_row, minlength=len(rows))
    first_cell = np.concatenate([[0], np.cumsum(cells_of_row)[:-1]])
    lengths = cells_of_row[pair_row]
    cell_pair = np.repeat(np.arange(len(pair_row)), lengths)
    cell = np.repeat(first_cell[pair_row] - np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                     lengths) + np.arange(lengths.sum())
    count = rows[cell_row[cell], cell_class[cell]].astype(np.float64)
    mean = means[pair_component[cell_pair], cell_class[cell]]
    cell_weight = pair_weight[cell_pair]

    def negative_log_likelihood(log_s):
        s = np.exp(log_s)
        a = s * mean
        return -float(pair_weight @ (gammaln(s) - gammaln(s + pair_total))
                      + cell_weight @ (gammaln(a + count) - gammaln(a)))

    low, high = np.log(STRENGTH_RANGE[0]), np.log(STRENGTH_RANGE[1])
    return float(np.exp(bounded_minimum(negative_log_likelihood, low, high)))


def _log_dirichlet_multinomial(rows: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``rows × components``: the log-likelihood of each count row under each component's
    Dirichlet–multinomial (parameters ``components``, one row each), without the multinomial
    coefficient (the same for every component and strength)."""
    totals = components.sum(axis=1)
    n = rows.sum(axis=1, keepdims=True)
    return (gammaln(totals)[None, :] - gammaln(totals[None, :] + n)
            + (gammaln(components[None] + rows[:, None]) - gammaln(components[None])).sum(axis=2))


def _fit_mixture(rows: np.ndarray, times: np.ndarray, strength: float | None):
    """A mixture of Dirichlet–multinomials with one component per class, fitted by EM on the
    distinct count ``rows`` (each ``times`` items): each row's chance of each component (from
    the shared confusion matrix's class posteriors, :func:`class_posteriors`, at first), the
    components' means and strengths (:func:`_components`), :data:`MIXTURE_ITERATIONS` times."""
    weights = class_posteriors(rows)
    for _ in range(MIXTURE_ITERATIONS):
        means, strengths = _components(rows, weights * times[:, None], strength)
        share = (weights * times[:, None]).sum(axis=0) / times.sum() + 1e-12
        log_w = np.log(share) + _log_dirichlet_multinomial(rows, strengths[:, None] * means)
        weights, moved = _posteriors(log_w, weights)
        if moved < CLASS_EM_TOLERANCE:
            break
    means, strengths = _components(rows, weights * times[:, None], strength)
    return weights, means, strengths


def _mixture_moments(counts: np.ndarray, weights: np.ndarray, components: np.ndarray):
    """The mean of the mixture posterior Σ_k r_ik Dir(s_k μ_k + c_i), and the one Dirichlet
    per item with that mean and the mixture's summed variance (the spread and the plan's
    arithmetic read it): within-component variance plus the spread between the components'
    means, Σ_k r_ik [(1 − |m_ik|²)/(S_ik + 1) + |m_ik − m_i|²], so that an item whose class is
    unsure stays unsure (computed as Σ_k r_ik [(1 − |m_ik|²)/(S_ik + 1) + |m_ik|²] − |m_i|²,
    every term an items × components array, :data:`MOMENT_BLOCK_ITEMS` items at a time)."""
    totals = components.sum(axis=1)  # each component's strength
    squared = (components * components).sum(axis=1)
    mean = np.empty(counts.shape)
    alpha = np.empty(counts.shape)
    for start in range(0, len(counts), MOMENT_BLOCK_ITEMS):  # small blocks: no page faults
        c = counts[start:start + MOMENT_BLOCK_ITEMS]
        r = weights[start:start + MOMENT_BLOCK_ITEMS]
        total = totals[None, :] + c.sum(axis=1)[:, None]  # S_ik
        share = r / total  # r_ik / S_ik
        m = share @ components + share.sum(axis=1, keepdims=True) * c  # Σ_k r_ik m_ik
        # |m_ik|² = |s μ_k + c_i|² / S_ik², without an items × components × classes array
        square = (squared[None, :] + 2 * (c @ components.T)
                  + (c * c).sum(axis=1, keepdims=True)) / (total * total)
        centre = (m * m).sum(axis=1)
        variance = (r * ((1 - square) / (total + 1) + square)).sum(axis=1) - centre
        precision = np.maximum((1 - centre) / np.maximum(variance, 1e-12) - 1, 1e-6)
        mean[start:start + MOMENT_BLOCK_ITEMS] = m
        alpha[start:start + MOMENT_BLOCK_ITEMS] = np.maximum(precision[:, None] * m, 1e-12)
    return mean, alpha


def class_posteriors(counts: np.ndarray) -> np.ndarray:
    """Each item's chance of each true class under one confusion matrix shared by all answers
    (Dawid–Skene with every answer from one annotator): EM from the soft labels, at most
    :data:`CLASS_EM_ITERATIONS` steps, :data:`CONFUSION_SMOOTHING` pseudo-answers per cell.

    Examples:
        >>> r = class_posteriors(np.array([[3, 0], [0, 3], [2, 1], [3, 0]]))
        >>> r.argmax(axis=1).tolist()
        [0, 1, 0, 0]
    """
    counts = np.asarray(counts, dtype=np.float64)
    r = counts / counts.sum(axis=1, keepdims=True)
    for _ in range(CLASS_EM_ITERATIONS):
        prior = r.mean(axis=0) + 1e-12
        confusion = r.T @ counts + CONFUSION_SMOOTHING  # true class × answer
        confusion /= confusion.sum(axis=1, keepdims=True)
        log_r = np.log(prior) + counts @ np.log(confusion).T
        r, moved = _posteriors(log_r, r)
        if moved < CLASS_EM_TOLERANCE:
            break
    return r


def _posteriors(log_weights: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, float]:
    """An E-step's normalised weights from their logs, and how far the largest one moved."""
    log_weights = log_weights - log_weights.max(axis=1, keepdims=True)
    updated = np.exp(log_weights)
    updated /= updated.sum(axis=1, keepdims=True)
    return updated, float(np.abs(updated - previous).max())


def _row_groups(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a whole-number matrix and each row's group (``rows[inverse]`` is
    ``counts``): rows packed into one int64 key when they fit (a sort of one number per item,
    not numpy's row-wise unique), else numpy's row-wise unique.

    Examples:
        >>> rows, inverse = _row_groups(np.array([[2, 0], [1, 1], [2, 0]]))
        >>> rows.tolist(), inverse.tolist()
        ([[1, 1], [2, 0]], [1, 0, 1])
    """
    counts = np.asarray(counts)
    base = int(counts.max()) + 1 if counts.size else 1
    if counts.shape[1] * np.log2(max(base, 2)) < 62:
        powers = base ** np.arange(counts.shape[1] - 1, -1, -1, dtype=np.int64)
        keys, first, inverse = np.unique(counts.astype(np.int64) @ powers, return_index=True,
                                         return_inverse=True)
        return counts[first], inverse.reshape(-1)
    rows, inverse = np.unique(counts, axis=0, return_inverse=True)
    return rows, inverse.reshape(-1)


def _variance(alpha: np.ndarray) -> np.ndarray:
    """Summed variance of ``Dir(alpha)`` per row: (1 − Σ m²)/(S + 1)."""
    total = alpha.sum(axis=-1)
    mean = alpha / total[..., None]
    return (1 - (mean * mean).sum(axis=-1)) / (total + 1)


def posterior_spread(alpha: np.ndarray) -> np.ndarray:
    """The posterior spread of ``Dir(alpha)`` per row: the square root of the summed variances,
    ``sqrt((1 − Σ m²)/(S + 1))``. The one quantity called "spread" in every output."""
    return np.sqrt(_variance(alpha))


def _fit_strength(counts: np.ndarray, prior_mean: np.ndarray) -> float:
    """The prior strength that maximises the Dirichlet–multinomial likelihood of the counts of
    items with two or more annotations. ``prior_mean`` is one row (the same for every item:
    the fit runs on the distinct count vectors, each weighted by how many items have it) or
    one row per item."""
    rows = counts.sum(axis=1) >= 2
    if prior_mean.ndim == 1:
        c, weight = distinct_rows(counts[rows])
        m = np.broadcast_to(prior_mean, c.shape)
    else:
        c, m = counts[rows], prior_mean[rows]
        weight = np.ones(len(c))
    n = c.sum(axis=1)

    def negative_log_likelihood(log_s):
        s = np.exp(log_s)
        a = s * m
        return -float(weight @ (gammaln(s) - gammaln(s + n))
                      + weight @ (gammaln(a + c) - gammaln(a)).sum(axis=1))

    low, high = np.log(STRENGTH_RANGE[0]), np.log(STRENGTH_RANGE[1])
    return float(np.exp(bounded_minimum(negative_log_likelihood, low, high)))


def distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a whole-number matrix and how many times each occurs (rows packed
    into one int64 key when they fit, else numpy's row-wise unique).

    Examples:
        >>> rows, times = distinct_rows(np.array([[2, 0], [1, 1], [2, 0]]))
        >>> rows.tolist(), times.tolist()
        ([[2, 0], [1, 1]], [2.0, 1.0])
    """
    counts = np.asarray(counts)
    if counts.shape[0] == 0:
        return counts, np.zeros(0)
    base = int(counts.max()) + 1
    if counts.shape[1] * np.log2(base) < 62:
        powers = base ** np.arange(counts.shape[1], dtype=np.int64)
        key = counts.astype(np.int64) @ powers
        if base ** counts.shape[1] <= max(1 << 16, 4 * len(key)):  # few possible keys: count them
            times = np.bincount(key)
            present = np.flatnonzero(times)
            rows = present[:, None] // powers % base
            return rows.astype(counts.dtype), times[present].astype(np.float64)
        _, first, times = np.unique(key, return_index=True, return_counts=True)
        return counts[first], times.astype(np.float64)
    rows, times = np.unique(counts, axis=0, return_counts=True)
    return rows, times.astype(np.float64)


def _prediction_weight(counts: np.ndarray, predictions: np.ndarray, balance: np.ndarray) -> float:
    """The weight of the predictions in the prior mean that makes the annotations most likely
    (each annotation a draw from the prior mean)."""
    if counts.size == 0:
        return 1.0

    def negative_log_likelihood(w):
        return -float(np.sum(counts * np.log(w * predictions + (1 - w) * balance)))

    return bounded_minimum(negative_log_likelihood, 0.0, 1.0)


