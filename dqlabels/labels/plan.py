"""The next annotation round (docs/conventions.md §13): which items need more annotations, how many, and when
an item's label distribution is known well enough to stop.

Each item's label distribution p has a Dirichlet posterior (:mod:`dqlabels.labels.posterior`:
by default a prior that respects the votes, one component per true class; or the class balance,
or a model's predictions); the plan acts on it.

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
not the true majority for ``hard``) and items with a gold answer get none, and no item gets more
than ``max_per_item`` (:data:`dqlabels.config.PLAN_MAX_PER_ITEM`) in one round; a budget left over by these rules is
left unspent, and the rule that left it is named.

**What a plan buys** is stated as a number: each item's *loss* (``soft``: the expected KL, in
nats, between its true label distribution and its posterior mean; ``hard``: the chance that its
top class is not its true majority) now and expected after the round, the answers drawn from
the posterior predictive (:data:`GAIN_DRAWS` seeded draws per item); the campaign's mean loss
(for ``hard`` also the expected share of items whose top class is their true majority: the
agreement with the annotators' long-run majority, not accuracy on gold answers) and mean
posterior spread now and after, and beside them the same budget spread evenly over the items
without a gold answer (the fewest annotations first), in the same simulation: the honest
baseline for the ``soft`` objective. The "truth" these expectations speak of is the distribution of
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

import numpy as np
from scipy.special import betainc, digamma

from dqlabels.config import PLAN_MAX_PER_ITEM, check_choice, check_number
from dqlabels.config import PLAN_OBJECTIVES as OBJECTIVES
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import argmax_lowest
from dqlabels.labels.posterior import Posterior, posterior, posterior_spread
from dqlabels.readers.annotations import Annotations
from dqlabels.text import plural

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
        objective, budget, max_per_item: as asked; ``unspent``: the part of the budget no
            item could use, and ``unspent_reason`` the rule that left it (``"certain"``: every
            other item is certain or has a gold answer; ``"max_per_item"``: the uncertain items
            have the most one round may give; None when all is spent).
        even_loss_after: each item's loss expected after the same budget spread evenly (the
            baseline the plan is measured against).
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
    max_per_item: int = PLAN_MAX_PER_ITEM
    unspent_reason: str | None = None
    even_loss_after: np.ndarray | None = None

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
        even = self.loss if self.even_loss_after is None else self.even_loss_after
        out = {"loss": LOSS_DEFINITION[self.objective] + " (mean over all items)",
               "mean_loss_now": float(self.loss.mean()),
               "mean_loss_after": float(self.loss_after.mean()),
               "mean_loss_after_even": float(even.mean()),
               "mean_posterior_spread_now": float(self.posterior.spread.mean()),
               "mean_posterior_spread_after": float(self.spread_after.mean())}
        if self.objective == "soft":
            out["mean_kl_now"], out["mean_kl_after"], out["mean_kl_after_even"] = \
                out["mean_loss_now"], out["mean_loss_after"], out["mean_loss_after_even"]
        else:  # the chance that the top class is the annotators' long-run majority
            for when in ("now", "after", "after_even"):
                out[f"majority_agreement_{when}"] = 1 - out[f"mean_loss_{when}"]
        return out

    def summary(self) -> dict:
        """The plan's facts, JSON-ready."""
        per_item = self.posterior.annotations_per_item
        open_items = ~self.certain & ~self.gold
        return {
            "objective": self.objective, "budget": self.budget, "unspent": self.unspent,
            "unspent_reason": self.unspent_reason, "max_per_item": self.max_per_item,
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
            "items_by_annotations": items_by_annotations(per_item),
            "expected": self.expected(),
            "next_round": [dict(zip(NEXT_ROUND_COLUMNS, row)) for row in self.rows()],
        }


def plan_next_round(annotations: Annotations, budget: int, *, predictions=None, gold=None,
                    objective: str = "soft", strength: float | None = None,
                    fitted: Posterior | None = None,
                    max_per_item: int = PLAN_MAX_PER_ITEM, prior: str = "classes") -> Plan:
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
        max_per_item: the most annotations one item may be asked for in this round.
        prior: without predictions, ``"classes"`` or ``"balance"``
            (:func:`dqlabels.labels.posterior.posterior`).

    Returns:
        The :class:`Plan`.
    """
    check_choice("objective", objective, OBJECTIVES)
    check_number("budget", budget, low=0, integer=True)
    check_number("max_per_item", max_per_item, low=1, integer=True)
    post = fitted if fitted is not None else posterior(annotations, predictions, strength,
                                                       prior=prior)
    gold = annotations.gold if gold is None else np.asarray(gold)
    known = np.zeros(annotations.num_items, bool) if gold is None else gold >= 0
    alpha = post.alpha.copy()  # each planned annotation adds its expected counts
    counts = annotations.annotations_per_item
    loss = _loss(alpha, objective)
    sure = _certain(alpha, objective)
    certain = sure | known
    requested = np.zeros(annotations.num_items, dtype=np.int64)
    left = budget
    for cap in range(1, max_per_item + 1):  # passes (the module docstring)
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
    even = even_spread(int(budget), known, counts)
    even_after = _expected_after(post.alpha, even, objective, loss)[0]
    reasons = _reasons(post, loss, loss_after, requested, objective, annotations.classes)
    capped = bool(np.any(~certain & (requested >= max_per_item)
                         & ~_certain(alpha, objective)))
    return Plan(items=annotations.items, requested=requested, reasons=reasons, loss=loss,
                loss_after=loss_after, spread_after=spread_after, certain=sure, gold=known,
                posterior=post, objective=objective, budget=int(budget), unspent=int(left),
                max_per_item=int(max_per_item),
                unspent_reason=None if not left else ("max_per_item" if capped else "certain"),
                even_loss_after=even_after)


def even_spread(budget: int, gold: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The same budget spread evenly over the items without a gold answer: each gets
    ``budget // m``, the rest one more each, the items with the fewest annotations first
    (ties in item order).

    Examples:
        >>> even_spread(7, np.array([False, False, True, False]), np.array([3, 1, 1, 2])).tolist()
        [2, 3, 0, 2]
    """
    spread = np.zeros(len(gold), dtype=np.int64)
    open_items = np.flatnonzero(~gold)
    if not open_items.size:
        return spread
    spread[open_items] = budget // open_items.size
    order = open_items[np.argsort(counts[open_items], kind="stable")]
    spread[order[:budget % open_items.size]] += 1
    return spread


# ----------------------------------------------------------------------------------------------
# The Dirichlet arithmetic


def _counts(annotations: Annotations) -> np.ndarray:
    if annotations.is_distribution:
        raise InputError(f"{annotations.source}: planning needs annotation counts; these are "
                         f"probabilities (read a file with one row per annotation, or counts)")
    return annotations.counts.astype(np.float64)


def mean_by_annotations(values: np.ndarray, per_item: np.ndarray, limit: int = 30) -> dict:
    """Mean of ``values`` over the items with each number of annotations (the first ``limit``
    numbers), keyed by that number as text."""
    per_item = np.round(per_item).astype(np.int64)
    return {str(int(n)): float(values[per_item == n].mean()) for n in np.unique(per_item)[:limit]}


def items_by_annotations(per_item: np.ndarray, limit: int = 30) -> dict:
    """How many items have each number of annotations (the groups of
    :func:`mean_by_annotations`), keyed by that number as text."""
    numbers, sizes = np.unique(np.round(per_item).astype(np.int64), return_counts=True)
    return {str(int(n)): float(size) for n, size in zip(numbers[:limit], sizes[:limit])}


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
    annotated = post.annotations_per_item
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
