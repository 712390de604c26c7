"""The next annotation round (SPEC §13): which items need more annotations, how many, and when
an item's label distribution is known well enough to stop.

Each item's label distribution p has a Dirichlet posterior, ``Dir(A)`` with ``A = s·m + c``: the
item's annotation counts ``c`` plus a prior of mean ``m`` and strength ``s`` (pseudo-annotations).

- **Prior mean**: the class balance (the share of each class among all annotations), or, with
  predictions, each item's predicted distribution mixed with the class balance,
  ``(1 − w)·prediction + w·balance``; ``w`` is chosen to make the annotations seen so far most
  likely, so predictions that agree with the annotators weigh more.
- **Strength** ``s``: the Dirichlet–multinomial marginal likelihood of the counts is maximised
  over ``s`` when some items have two or more annotations (one annotation per item says nothing
  about how concentrated the distributions are); otherwise a default
  (:data:`DEFAULT_STRENGTH`).
- The **posterior mean** ``A / ΣA`` is the "shrunk" soft label; the **posterior spread** is the
  square root of the summed posterior variances, ``sqrt((1 − Σ m_k²)/(S + 1))`` with ``m = A/S``,
  the expected distance between the estimate and the item's true distribution.

Two objectives decide where the next annotations help most:

- ``soft`` (default): pin down the distribution. An annotation is worth the expected drop of
  E[KL(p ‖ posterior mean)] (digamma closed form) over its answer, drawn from the posterior
  predictive. The items with the fewest annotations come first, the most valuable among them:
  on simulated campaigns no allocation by value alone beat spreading the annotations evenly
  (``benchmarks/README.md``), and this one is never worse; the saving comes from the estimator,
  above all from a model's predictions as the prior;
- ``hard``: settle the majority vote. An annotation is worth the expected rise of the chance
  that the item's top class is its true majority (each rival class's chance of being ahead is
  exact under the Dirichlet, a regularised incomplete beta function; the rivals are treated
  as independent). An item split evenly between two classes gains little from one more answer,
  so the budget goes first where one answer can settle the vote.

The budget is spent in passes, at most one more annotation per item in each, to the items where
it is worth most: a round spreads over the uncertain items before any item gets a second (its
first answer may settle it); each planned annotation adds its expected counts to the item's
posterior before the next pass. Items already
certain (a posterior spread below 0.1 for ``soft``, under a 1% chance that the top class is
not the true majority for ``hard``) and items with a gold answer get none; a budget that only such
items could take is left unspent and reported.

**What a plan buys** is stated as a number: each item's *loss* (``soft``: the expected KL, in
nats, between its true label distribution and its posterior mean; ``hard``: the chance that its
top class is not its true majority) now and expected after the round, the answers drawn from
the posterior predictive (:data:`GAIN_DRAWS` seeded draws per item); the campaign's mean loss
(for ``hard`` also the expected share of items whose top class is their true majority) and mean
posterior spread now and after. The "truth" these expectations speak of is the distribution of
the annotators' answers, which the posterior models; ``benchmarks/bench_plan.py --replay``
checks the stated gain against the achieved one on simulated campaigns.

Examples:
    >>> from dqlabels import from_counts
    >>> ann = from_counts([[12, 0], [1, 1], [0, 1]], items=["sure", "split", "single"])
    >>> plan = plan_next_round(ann, budget=3)
    >>> dict(zip(plan.items, plan.requested.tolist()))
    {'single': 2, 'split': 1, 'sure': 0}
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import betainc, digamma, gammaln

from dqlabels.config import PLAN_OBJECTIVES as OBJECTIVES
from dqlabels.config import check_choice, check_number
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import argmax_lowest
from dqlabels.minimize import bounded_minimum
from dqlabels.readers.annotations import Annotations
from dqlabels.text import plural

DEFAULT_STRENGTH = {"balance": 1.0, "predictions": 5.0}
STRENGTH_RANGE = (0.05, 1000.0)
# An item is certain, and gets no annotation, below this: a posterior spread of 0.1 (soft: the
# soft label known to about ±0.1), or a 1% chance that its top class is not the majority (hard).
TOLERANCE = {"soft": 0.1, "hard": 0.01}
# What each objective's tolerance and loss measure, as the JSON and the CSV name them.
TOLERANCE_MEASURE = {"soft": "posterior_spread", "hard": "chance_not_majority"}
LOSS_DEFINITION = {
    "soft": "expected KL (nats) between the item's true label distribution and its posterior "
            "mean",
    "hard": "chance that the item's top class is not its true majority",
}
# The plan's CSV (and the JSON's next_round entries): the loss is LOSS_DEFINITION[objective].
NEXT_ROUND_COLUMNS = ("item", "annotations", "loss_now", "loss_after", "expected_gain", "reason")
GAIN_DRAWS = 200  # posterior-predictive draws per item for the expected loss after a round
GAIN_SEED = 0
GAIN_BLOCK_ITEMS = 4096  # items whose draws are made at once (about 30 MB an array)
PREDICTION_FLOOR = 1e-3  # a predicted probability of 0 would make a class impossible
MAX_PER_ITEM = 20  # annotations one item may be asked for in one round


@dataclass(frozen=True, eq=False)
class Posterior:
    """Every item's Dirichlet posterior over its label distribution.

    Attributes:
        alpha: ``(num_items, num_classes)`` Dirichlet parameters ``s·m + c``.
        prior_mean: ``(num_items, num_classes)`` the prior mean ``m``.
        strength: the prior strength ``s`` (pseudo-annotations).
        strength_fitted: whether ``s`` was fitted (else the default).
        prediction_weight: ``1 − w``, the weight of the predictions in the prior mean (None
            without predictions).
        num_predicted: items with a prediction (None without predictions).
    """

    alpha: np.ndarray
    prior_mean: np.ndarray
    strength: float
    strength_fitted: bool
    prediction_weight: float | None
    num_predicted: int | None = None

    def prior_summary(self) -> dict:
        """The prior's facts, JSON-ready."""
        return {"strength": self.strength, "strength_fitted": self.strength_fitted,
                "prediction_weight": self.prediction_weight,
                "num_predicted": self.num_predicted}

    @cached_property
    def mean(self) -> np.ndarray:
        """The posterior mean: the shrunk soft labels (computed once, read-only)."""
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
              strength: float | None = None) -> Posterior:
    """The Dirichlet posterior of every item (see the module docstring).

    Args:
        annotations: counts of annotations (not probabilities).
        predictions: optional ``(num_items, num_classes)`` predicted distributions aligned with
            ``annotations.items`` (NaN rows: no prediction for that item).
        strength: the prior strength; None fits it (or takes the default).
    """
    counts = _counts(annotations)
    balance = (counts.sum(axis=0) + 1e-9) / (counts.sum() + 1e-9 * counts.shape[1])
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
    fitted = strength is None and bool(np.any(counts.sum(axis=1) >= 2))
    if strength is None:
        # Without predictions every item has the same prior mean: the fit can run on the
        # distinct count vectors (a few hundred), not on every item.
        strength = _fit_strength(counts, balance if predictions is None else prior_mean) \
            if fitted else DEFAULT_STRENGTH["balance" if predictions is None else "predictions"]
    check_number("strength", strength, low=0, low_open=True)
    return Posterior(alpha=strength * prior_mean + counts, prior_mean=np.asarray(prior_mean),
                     strength=float(strength), strength_fitted=fitted, prediction_weight=weight,
                     num_predicted=num_predicted)


@dataclass(frozen=True, eq=False)
class Plan:
    """The next round: how many annotations each item should get, and why.

    Attributes:
        items: item ids (the annotations' order).
        requested: ``(num_items,)`` annotations to ask for.
        reasons: a few words per item with a request (empty otherwise).
        loss: each item's loss now (:data:`LOSS_DEFINITION`: the expected KL of its soft label,
            or the chance that its top class is not its true majority).
        loss_after: each item's loss expected after the round (``loss`` where nothing is asked).
        spread_after: each item's posterior spread expected after the round.
        certain: items whose loss is below the tolerance (gold items are in ``gold``).
        gold: items with a gold answer (they get nothing).
        posterior: the :class:`Posterior` the plan was made with.
        objective, budget: as asked; ``unspent``: the part of the budget no uncertain item
            could use.
    """

    items: np.ndarray
    requested: np.ndarray
    reasons: np.ndarray
    loss: np.ndarray
    loss_after: np.ndarray
    spread_after: np.ndarray
    certain: np.ndarray
    gold: np.ndarray
    posterior: Posterior
    objective: str
    budget: int
    unspent: int

    @property
    def gain(self) -> np.ndarray:
        """Each item's expected drop of its loss over the round."""
        return self.loss - self.loss_after

    def rows(self):
        """``(item, annotations, loss now, loss after, gain, reason)`` of each item with a
        request, the largest expected gain first (ties: more annotations, then item order)."""
        asked = np.flatnonzero(self.requested)
        gain = self.gain  # one subtraction (the property makes a new array each time)
        order = asked[np.lexsort((asked, -self.requested[asked], -gain[asked]))]
        return [(str(self.items[i]), int(self.requested[i]), float(self.loss[i]),
                 float(self.loss_after[i]), float(gain[i]), str(self.reasons[i]))
                for i in order]

    def expected(self) -> dict:
        """What the round is expected to buy, over all items: the mean loss and mean posterior
        spread now and after (for ``hard`` also the expected share of items whose top class is
        their true majority)."""
        out = {"loss": LOSS_DEFINITION[self.objective] + " (mean over all items)",
               "mean_loss_now": float(self.loss.mean()),
               "mean_loss_after": float(self.loss_after.mean()),
               "mean_posterior_spread_now": float(self.posterior.spread.mean()),
               "mean_posterior_spread_after": float(self.spread_after.mean())}
        if self.objective == "soft":
            out["mean_kl_now"], out["mean_kl_after"] = out["mean_loss_now"], \
                out["mean_loss_after"]
        else:
            out["majority_accuracy_now"] = 1 - out["mean_loss_now"]
            out["majority_accuracy_after"] = 1 - out["mean_loss_after"]
        return out

    def summary(self) -> dict:
        """The plan's facts, JSON-ready."""
        per_item = self.posterior.alpha.sum(axis=1) - self.posterior.strength
        open_items = ~self.certain & ~self.gold
        return {
            "objective": self.objective, "budget": self.budget, "unspent": self.unspent,
            "items_requested": int(np.count_nonzero(self.requested)),
            "num_uncertain": int(np.count_nonzero(open_items)),
            "num_certain": int(np.count_nonzero(self.certain & ~self.gold)),
            "num_gold": int(np.count_nonzero(self.gold)),
            "tolerance": TOLERANCE[self.objective],
            "tolerance_measure": TOLERANCE_MEASURE[self.objective],
            "prior": self.posterior.prior_summary(),
            "num_items": int(len(self.items)),
            "annotations_per_item": float(per_item.mean()),
            "mean_posterior_spread": float(self.posterior.spread.mean()),
            "loss_by_annotations": mean_by_annotations(self.loss, per_item),
            "expected": self.expected(),
            "next_round": [dict(zip(NEXT_ROUND_COLUMNS, row)) for row in self.rows()],
        }


def plan_next_round(annotations: Annotations, budget: int, *, predictions=None, gold=None,
                    objective: str = "soft", strength: float | None = None,
                    fitted: Posterior | None = None) -> Plan:
    """Spend ``budget`` more annotations where they improve the labels most.

    A pure function of its inputs (no randomness); items keep the annotations' order.

    Args:
        annotations: the campaign so far (counts; annotators need not be known).
        budget: how many annotations to ask for.
        predictions: optional ``(num_items, num_classes)`` model predictions aligned with the
            items, the prior's mean (NaN rows: none for that item).
        gold: optional per-item class index of known answers (−1: none); default
            ``annotations.gold``. Gold items get nothing.
        objective: ``"soft"`` (pin down the distribution) or ``"hard"`` (settle the majority).
        strength: the prior strength; None fits it.
        fitted: the :func:`posterior` of these annotations, when the caller has it already
            (``predictions`` and ``strength`` are then not used).

    Returns:
        The :class:`Plan`.
    """
    check_choice("objective", objective, OBJECTIVES)
    check_number("budget", budget, low=0, integer=True)
    post = fitted if fitted is not None else posterior(annotations, predictions, strength)
    gold = annotations.gold if gold is None else np.asarray(gold)
    known = np.zeros(annotations.num_items, bool) if gold is None else gold >= 0
    alpha = post.alpha.copy()  # each planned annotation adds its expected counts
    counts = annotations.annotations_per_item
    loss = _loss(alpha, objective)
    sure = _certain(alpha, objective)
    certain = sure | known
    requested = np.zeros(annotations.num_items, dtype=np.int64)
    left = budget
    for cap in range(1, MAX_PER_ITEM + 1):  # passes (the module docstring)
        open_items = np.flatnonzero(~certain & (requested < cap))
        if not left or not open_items.size:
            break
        open_items = open_items[~_certain(alpha[open_items], objective)]
        values = _value(alpha[open_items], objective)
        if objective == "soft":  # the fewest annotations first, then the most valuable
            order = np.lexsort((-values, (counts + requested)[open_items]))
        else:  # the most valuable first; ties in item order
            order = np.argsort(-values, kind="stable")
        ranked = open_items[order][values[order] > 0][:left]
        requested[ranked] += 1
        left -= ranked.size
        alpha[ranked] += alpha[ranked] / alpha[ranked].sum(axis=1, keepdims=True)
    loss_after, spread_after = _expected_after(post.alpha, requested, objective, loss)
    reasons = _reasons(post, loss, loss_after, requested, objective, annotations.classes)
    return Plan(items=annotations.items, requested=requested, reasons=reasons, loss=loss,
                loss_after=loss_after, spread_after=spread_after, certain=sure, gold=known,
                posterior=post, objective=objective, budget=int(budget), unspent=int(left))


# ----------------------------------------------------------------------------------------------
# The Dirichlet arithmetic


def _counts(annotations: Annotations) -> np.ndarray:
    if annotations.is_distribution:
        raise InputError(f"{annotations.source}: planning needs annotation counts; these are "
                         f"probabilities (read a file with one row per annotation, or counts)")
    return annotations.counts.astype(np.float64)


def _variance(alpha: np.ndarray) -> np.ndarray:
    """Summed variance of ``Dir(alpha)`` per row: (1 − Σ m²)/(S + 1)."""
    total = alpha.sum(axis=-1)
    mean = alpha / total[..., None]
    return (1 - (mean * mean).sum(axis=-1)) / (total + 1)


def posterior_spread(alpha: np.ndarray) -> np.ndarray:
    """The posterior spread of ``Dir(alpha)`` per row: the square root of the summed variances,
    ``sqrt((1 − Σ m²)/(S + 1))``. The one quantity called "spread" in every output."""
    return np.sqrt(_variance(alpha))


def mean_by_annotations(values: np.ndarray, per_item: np.ndarray, limit: int = 30) -> dict:
    """Mean of ``values`` over the items with each number of annotations (the first ``limit``
    numbers), keyed by that number as text."""
    per_item = np.round(per_item).astype(np.int64)
    return {str(int(n)): float(values[per_item == n].mean()) for n in np.unique(per_item)[:limit]}


def _expected_after(alpha: np.ndarray, requested: np.ndarray, objective: str,
                    loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's loss and posterior spread expected after its ``requested`` answers, drawn
    from the posterior predictive (p ~ Dir(alpha), answers ~ Multinomial(n, p)) with
    :data:`GAIN_DRAWS` seeded draws per item; unchanged where nothing is asked.

    One seeded stream (the asked items' gamma draws in order, then their multinomial draws),
    made :data:`GAIN_BLOCK_ITEMS` items at a time; a first pass over the gammas finds where the
    multinomial draws start. numpy draws in order: the blocks give the numbers one call would."""
    loss_after, spread_after = loss.copy(), posterior_spread(alpha)
    asked = np.flatnonzero(requested)
    blocks = np.array_split(asked, range(GAIN_BLOCK_ITEMS, asked.size, GAIN_BLOCK_ITEMS))
    answers, gammas = np.random.default_rng(GAIN_SEED), np.random.default_rng(GAIN_SEED)
    for block in blocks:  # the first pass: past every gamma draw, to the multinomial ones
        answers.standard_gamma(np.repeat(alpha[block][:, None, :], GAIN_DRAWS, axis=1))
    for block in blocks if asked.size else []:
        a = np.repeat(alpha[block][:, None, :], GAIN_DRAWS, axis=1)  # items × draws × classes
        p = gammas.standard_gamma(a)
        p /= p.sum(axis=-1, keepdims=True)
        n = np.broadcast_to(requested[block][:, None], p.shape[:2])
        updated = a + answers.multinomial(n, p)
        loss_after[block] = _loss(updated, objective).mean(axis=1)
        spread_after[block] = posterior_spread(updated).mean(axis=1)
    return loss_after, spread_after


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


def _expected_kl(alpha: np.ndarray) -> np.ndarray:
    """E[KL(p ‖ m)] for p ~ Dir(A), m = A/S: Σ m_k(ψ(A_k + 1) − ψ(S + 1)) − Σ m_k ln m_k, how far
    the posterior mean is expected to be from the true distribution (nats)."""
    total = alpha.sum(axis=-1, keepdims=True)
    mean = alpha / total
    return (mean * (digamma(alpha + 1) - digamma(total + 1) - np.log(mean))).sum(axis=-1)


def _top_chance(alpha: np.ndarray) -> np.ndarray:
    """The chance that the posterior's top class (lowest index on ties) is the item's true
    majority: Π over the other classes j of P(p_a > p_j), each pair exact under the Dirichlet
    (p_a / (p_a + p_j) ~ Beta(A_a, A_j), so P(p_a > p_j) = I_½(A_j, A_a)), the pairs treated as
    independent."""
    top = np.argmax(alpha, axis=-1)[..., None]
    a = np.take_along_axis(alpha, top, axis=-1)
    pairs = betainc(alpha, np.broadcast_to(a, alpha.shape), 0.5)
    np.put_along_axis(pairs, top, 1.0, axis=-1)
    return pairs.prod(axis=-1)


def _loss(alpha: np.ndarray, objective: str) -> np.ndarray:
    """Each item's loss now: the expected KL of its soft label, or the chance that its top class
    is not the true majority."""
    return _expected_kl(alpha) if objective == "soft" else 1 - _top_chance(alpha)


def _certain(alpha: np.ndarray, objective: str) -> np.ndarray:
    """Items known well enough: posterior spread below 0.1 (soft), or under a 1% chance that the
    top class is not the majority (hard)."""
    if objective == "soft":
        return posterior_spread(alpha) < TOLERANCE["soft"]
    return 1 - _top_chance(alpha) < TOLERANCE["hard"]


def _value(alpha: np.ndarray, objective: str) -> np.ndarray:
    """What one more annotation is worth, in expectation over its answer y ~ m (the posterior
    predictive): the drop of the expected KL (soft), or the rise of the chance that the top class
    is the true majority (hard)."""
    mean = alpha / alpha.sum(axis=1, keepdims=True)
    loss = _expected_kl if objective == "soft" else (lambda a: -_top_chance(a))
    after = np.stack([loss(alpha + np.eye(alpha.shape[1])[y])
                      for y in range(alpha.shape[1])], axis=1)
    return loss(alpha) - (mean * after).sum(axis=1)


def _reasons(post: Posterior, loss: np.ndarray, loss_after: np.ndarray, requested: np.ndarray,
             objective: str, classes) -> np.ndarray:
    """A few words per item with a request (its numbers are the CSV's columns too)."""
    annotated = post.alpha.sum(axis=1) - post.strength
    top = argmax_lowest(post.mean)
    spread = post.spread
    reasons = np.full(len(loss), "", dtype=object)
    for i in np.flatnonzero(requested):  # one per item in the plan
        if objective == "soft":
            reasons[i] = (f"distribution uncertain: posterior spread {spread[i]:.2f} after "
                          f"{plural(round(annotated[i]), 'annotation')}; expected KL "
                          f"{loss[i]:.3f} → {loss_after[i]:.3f}")
        else:
            reasons[i] = (f"majority unsettled: {loss[i]:.0%} chance that {classes[top[i]]} is "
                          f"not the top class → {loss_after[i]:.0%}")
    return reasons
