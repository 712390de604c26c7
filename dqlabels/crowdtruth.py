"""CrowdTruth 2.0 quality metrics: disagreement as a signal (Dumitrache et al., 2018).

"CrowdTruth 2.0: Quality Metrics for Crowdsourcing with Disagreement" scores the three parts of a
campaign together, each weighted by the others, until they settle:

- item quality (UQS, the paper's unit quality): how much the annotators of an item agree,
  pairs of annotators weighted by their quality. Low: an ambiguous item (or one with a noisy
  crowd);
- annotator quality (WQS): agreement with the other annotators of the same items (worker-worker
  agreement, WWA, weighted by their quality and the item's) times agreement with the rest of the
  item's annotations (worker-unit agreement, WUA, weighted by item and class quality). Low: a
  noisy annotator, whose disagreement is not explained by ambiguous items;
- class quality (AQS, the paper's annotation quality): for every pair of annotators who share
  items, the probability that one chose the class where the other did, weighted by both
  annotators' and the items' quality. Low: a class the crowd uses inconsistently;
- the worker-weighted soft label (UAS, unit-annotation score): each class's share of the item's
  annotations, each annotation weighted by its annotator's quality.

The iteration follows the reference implementation (the ``crowdtruth`` package, 2.1): start
from quality 1 everywhere; each round computes the class, item and annotator qualities from the
previous round's values; stop when none moves by more than ``tol`` (0.001). Choices the paper
leaves open, taken as the reference takes them: a pair's weighted cosine of two one-hot vectors
is 1 for the same class and 0 otherwise; denominators below 1e-8 count as 1e-8; class qualities
are floored at 1e-8; items with a single annotation are left out (the reference drops them on
loading), so their quality and that of annotators who only labelled such items is undefined
(NaN), and their weighted soft label is their one label.

Everything is computed from the annotation arrays with ``np.bincount`` and sparse products: no
Python loop per annotation, pair or item. Single-choice annotations only (dqlabels' formats), one
annotation per (item, annotator) pair.

Example:
    >>> from dqlabels import from_long
    >>> ann = from_long(["u1", "u1", "u1", "u2", "u2", "u2"], ["cat", "cat", "dog", "dog", "dog", "dog"],
    ...                 ["w1", "w2", "w3", "w1", "w2", "w3"])
    >>> ct = CrowdTruth().fit(ann)
    >>> ct.item_quality_.round(3).tolist(), ct.annotator_quality_.round(3).tolist()
    ([0.479, 1.0], [0.84, 0.84, 0.458])
"""

from __future__ import annotations

import numpy as np

from dqlabels.annotations import Annotations
from dqlabels.errors import InputError

SMALL = 1e-8  # the reference's SMALL_NUMBER_CONST


def item_agreement(counts) -> np.ndarray:
    """The item quality of CrowdTruth when annotators are unknown, every annotation weighted 1:
    the share of pairs of an item's annotations that chose the same class,
    Σₖ cₖ(cₖ − 1) / (n(n − 1)); NaN for an item with fewer than 2 annotations.

    Example:
        >>> item_agreement([[2, 1, 0], [3, 0, 0], [1, 0, 0]]).round(3).tolist()
        [0.333, 1.0, nan]
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=1)
    pairs = total * (total - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (counts * (counts - 1)).sum(axis=1) / pairs, np.nan)


class CrowdTruth:
    """The CrowdTruth 2.0 metrics, as an estimator (scikit-learn conventions).

    Args:
        tol: stop when no item, annotator or class quality moves by more than this in a round
            (the reference's 0.001).
        max_iter: most rounds (the reference has no limit; these metrics settle in a few).

    Attributes:
        item_quality_: ``(num_items,)`` UQS (NaN for an item with a single annotation).
        annotator_quality_: ``(num_annotators,)`` WQS = WWA × WUA (NaN for an annotator who
            shares no item with another).
        annotator_annotator_agreement_: ``(num_annotators,)`` WWA.
        annotator_item_agreement_: ``(num_annotators,)`` WUA (the reference's "wsa").
        class_quality_: ``(num_classes,)`` AQS.
        weighted_soft_labels_: ``(num_items, num_classes)`` UAS with the final annotator
            qualities (rows sum to 1).
        n_iter_: rounds run. converged_: whether ``tol`` was reached.
    """

    def __init__(self, tol: float = 1e-3, max_iter: int = 100):
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, annotations: Annotations) -> CrowdTruth:
        """Compute the metrics of ``annotations`` (which need annotator ids)."""
        if annotations.annotator_index is None:
            raise InputError(f"{annotations.source}: the CrowdTruth metrics need annotator ids; "
                             f"the input has no annotator column")
        if self.max_iter < 1:
            raise InputError(f"Expected max_iter >= 1. Received: max_iter={self.max_iter}")
        item = annotations.item_index.astype(np.int64)
        worker = annotations.annotator_index.astype(np.int64)
        label = annotations.label_index.astype(np.int64)
        num_items, num_classes = annotations.counts.shape
        num_workers = len(annotations.annotators)
        pair = item * num_workers + worker
        if np.unique(pair).size != pair.size:
            raise InputError(f"{annotations.source}: the CrowdTruth metrics need one annotation "
                             f"per (item, annotator) pair; read the file with duplicates=last")
        # As the reference does, items with a single annotation take no part: nobody agrees or
        # disagrees with it. Their quality is undefined (NaN), as is the quality of annotators
        # who labelled only such items.
        shared = np.bincount(item, minlength=num_items)[item] >= 2
        campaign = _Campaign(item[shared], worker[shared], label[shared], num_items, num_classes,
                             num_workers)

        uqs = np.ones(num_items)
        wqs = np.ones(num_workers)
        aqs = np.ones(num_classes)
        self.converged_ = False
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            self.n_iter_ += 1
            new_aqs = campaign.class_quality(uqs, wqs)
            new_uqs = campaign.item_quality(wqs)
            wwa, wua = campaign.annotator_agreements(uqs, wqs, aqs)
            new_wqs = wwa * wua
            moved = max(np.abs(new_aqs - aqs).max(initial=0), np.abs(new_uqs - uqs).max(initial=0),
                        np.abs(new_wqs - wqs).max(initial=0))
            aqs, uqs, wqs = new_aqs, new_uqs, new_wqs
            if moved < self.tol:
                self.converged_ = True
                break
        scored_items = np.bincount(campaign.item, minlength=num_items) > 0
        scored_workers = np.bincount(campaign.worker, minlength=num_workers) > 0
        self.item_quality_ = np.where(scored_items, uqs, np.nan)
        self.annotator_quality_ = np.where(scored_workers, wqs, np.nan)
        self.annotator_annotator_agreement_ = np.where(scored_workers, wwa, np.nan)
        self.annotator_item_agreement_ = np.where(scored_workers, wua, np.nan)
        self.class_quality_ = aqs
        # UAS of every item (an item with one annotation gets that label); an annotator left
        # out of the metrics weighs as much as the mean scored annotator.
        weights = np.where(scored_workers, wqs, np.nanmean(wqs[scored_workers])
                           if scored_workers.any() else 1.0)
        weighted = np.bincount(item * num_classes + label, weights=weights[worker],
                               minlength=num_items * num_classes).reshape(num_items, num_classes)
        self.weighted_soft_labels_ = weighted / np.maximum(weighted.sum(axis=1), SMALL)[:, None]
        return self


class _Campaign:
    """The annotation arrays and the per-round computations on them."""

    def __init__(self, item, worker, label, num_items, num_classes, num_workers):
        from scipy import sparse

        self.item, self.worker, self.label = item, worker, label
        self.num_items, self.num_classes, self.num_workers = num_items, num_classes, num_workers
        self.cell = item * num_classes + label
        ones = np.ones(item.size)
        # worker × item incidence (every annotation) and, per class, the annotations of it
        self.incidence = sparse.csr_matrix((ones, (worker, item)), shape=(num_workers, num_items))
        self.by_class = []
        for k in range(num_classes):
            rows = label == k
            self.by_class.append(sparse.csr_matrix(
                (ones[rows], (worker[rows], item[rows])), shape=(num_workers, num_items)))

    def class_sums(self, weights) -> np.ndarray:
        """``[item, class]``: the summed weights of the annotators who chose the class."""
        return np.bincount(self.cell, weights=weights[self.worker],
                           minlength=self.num_items * self.num_classes).reshape(
            self.num_items, self.num_classes)

    def item_quality(self, wqs) -> np.ndarray:
        """UQS: Σ over pairs i<j of an item of [same class]·wᵢwⱼ / Σ over its pairs of wᵢwⱼ."""
        s = self.class_sums(wqs)
        q = self.class_sums(wqs * wqs)
        same = (s * s - q).sum(axis=1) / 2
        total_sum = s.sum(axis=1)
        every = (total_sum * total_sum - q.sum(axis=1)) / 2
        return same / np.maximum(every, SMALL)

    def annotator_agreements(self, uqs, wqs, aqs) -> tuple[np.ndarray, np.ndarray]:
        """WWA and WUA of every annotator, from the previous round's qualities."""
        s = self.class_sums(wqs)  # the items' annotation vectors, weighted by annotator quality
        own = wqs[self.worker]
        item_uqs = uqs[self.item]
        same = s[self.item, self.label] - own  # the others of the item who chose the same class
        others = s.sum(axis=1)[self.item] - own
        wwa = (np.bincount(self.worker, weights=item_uqs * same, minlength=self.num_workers)
               / np.maximum(np.bincount(self.worker, weights=item_uqs * others,
                                        minlength=self.num_workers), SMALL))
        # WUA: weighted cosine of the annotator's (quality-scaled) one-hot vector with the
        # rest of the item's vector, class weights aqs.
        a = aqs[self.label]
        rest_sq = (s * s) @ aqs  # Σ_k aqs_k s_k² per item
        rest = rest_sq[self.item] - 2 * a * s[self.item, self.label] * own + a * own * own
        numerator = a * own * same
        norm = np.sqrt(a * own * own * np.maximum(rest, 0.0))
        cosine = np.where(norm < SMALL, SMALL, numerator / np.where(norm < SMALL, 1.0, norm))
        wua = (np.bincount(self.worker, weights=cosine * item_uqs, minlength=self.num_workers)
               / np.maximum(np.bincount(self.worker, weights=item_uqs,
                                        minlength=self.num_workers), SMALL))
        return wwa, wua

    def class_quality(self, uqs, wqs) -> np.ndarray:
        """AQS: over ordered pairs (i, j) of different annotators who share an item where j chose
        the class, P(i chose it | j did) on their shared items (items weighted by UQS), averaged
        with pair weights wᵢwⱼ."""
        from scipy import sparse

        scale = sparse.diags(uqs)
        weighted_incidence = self.incidence @ scale
        quality = np.empty(self.num_classes)
        for k, chose in enumerate(self.by_class):
            chose_t = chose.T.tocsr()
            numerator = (chose @ scale) @ chose_t      # Σ_u uqs_u [i chose k][j chose k]
            denominator = weighted_incidence @ chose_t  # Σ_u uqs_u [i on u][j chose k]
            denominator.eliminate_zeros()
            denominator.setdiag(0)
            denominator.eliminate_zeros()
            ratio = numerator.multiply(denominator.power(-1.0)).tocsr()
            ratio.setdiag(0)
            top = wqs @ (ratio @ wqs)
            present = denominator.copy()
            present.data[:] = 1.0
            bottom = wqs @ (present @ wqs)
            quality[k] = top / bottom if bottom > SMALL else SMALL
        return np.maximum(quality, SMALL)
