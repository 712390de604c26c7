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
(NaN), and their weighted soft label is their one label. An item whose annotators all have
quality 0 (each disagreed with every other annotator) keeps its plain soft label as weighted
soft label, a distribution rather than a row of zeros.

Everything is computed from the annotation arrays with ``np.bincount`` and sparse products: no
Python loop per annotation, pair or item. Single-choice annotations only (dqlabels' formats), one
annotation per (item, annotator) pair.

Examples:
    >>> from dqlabels import from_long
    >>> ann = from_long(["u1", "u1", "u1", "u2", "u2", "u2"], ["cat", "cat", "dog", "dog", "dog", "dog"],
    ...                 ["w1", "w2", "w3", "w1", "w2", "w3"])
    >>> ct = CrowdTruth().fit(ann)
    >>> ct.item_quality_.round(3).tolist(), ct.annotator_quality_.round(3).tolist()
    ([0.479, 1.0], [0.84, 0.84, 0.458])
"""

from __future__ import annotations

import numpy as np

from dqlabels import _parallel
from dqlabels._parallel import map_blocks, num_workers, row_sums
from dqlabels.config import check_number
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import Aggregator, argmax_lowest
from dqlabels.readers.annotations import Annotations

SMALL = 1e-8  # the reference's SMALL_NUMBER_CONST
BLOCK = 1 << 20  # pairs of annotations listed at a time (arrays of 8 MB: reused, not mapped anew)
ANNOTATION_BLOCK = 1 << 18  # annotations per block of a round's per-annotation work
KEY_BITS = 63  # a sort key: group, "i chose k" and item packed in one int64


def item_agreement(counts) -> np.ndarray:
    """The item quality of CrowdTruth when annotators are unknown, every annotation weighted 1:
    the share of pairs of an item's annotations that chose the same class,
    Σₖ cₖ(cₖ − 1) / (n(n − 1)); NaN for an item with fewer than 2 annotations.

    Examples:
        >>> item_agreement([[2, 1, 0], [3, 0, 0], [1, 0, 0]]).round(3).tolist()
        [0.333, 1.0, nan]
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=1)
    pairs = total * (total - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (counts * (counts - 1)).sum(axis=1) / pairs, np.nan)


def annotation_pairs(annotations: Annotations) -> int:
    """Ordered pairs of annotations on the same item, Σ n(n − 1) over items: what the time and
    memory of :class:`CrowdTruth` grow with (about 40 bytes per pair at the peak)."""
    per_item = np.asarray(annotations.counts.sum(axis=1), dtype=np.int64)
    return int((per_item * (per_item - 1)).sum())


class _PairBlocks:
    """The ordered pairs of annotations on the same item, listed annotator by annotator (i) in
    blocks that each end at an annotator's last annotation (:meth:`block` lists one block and
    writes its items into ``indices``)."""

    def __init__(self, item, worker, label, num_items: int, num_workers: int, num_classes: int):
        self.num_classes = num_classes
        position = np.int32 if item.size < 2**31 else np.int64
        by_item = np.argsort(item, kind="stable").astype(position)
        size = np.bincount(item, minlength=num_items)
        start = np.concatenate(([0], np.cumsum(size)[:-1])).astype(position)
        place = np.empty(item.size, dtype=position)  # where each annotation is in by_item
        place[by_item] = np.arange(item.size, dtype=position)
        # the annotations of an item side by side: its partners are read from one cache line
        worker_by_item, label_by_item = worker[by_item], label[by_item]
        # the i side, annotator by annotator
        by_worker = np.argsort(worker, kind="stable")
        item_w, worker_w, label_w = (item[by_worker], worker[by_worker],
                                     label[by_worker])
        first_w = start[item_w]
        own_w = place[by_worker] - first_w
        partners = size[item_w] - 1
        del by_item, place, by_worker
        ends = np.cumsum(partners)
        records = int(ends[-1]) if ends.size else 0
        # Blocks end at an annotator's last annotation, so that a group lies in one block.
        worker_end = np.flatnonzero(np.diff(worker_w, append=-1) != 0) + 1
        cuts = [0]
        for target in range(BLOCK, records, BLOCK):
            at = int(worker_end[np.searchsorted(ends[worker_end - 1], target)])
            if at > cuts[-1]:
                cuts.append(at)
        if cuts[-1] < worker_w.size or len(cuts) == 1:
            cuts.append(worker_w.size)
        item_bits = max(int(num_items - 1).bit_length(), 1)
        width = num_workers * num_classes  # group = i·W·K + j·K + k

        self.indices = np.empty(records, dtype=np.int32)
        self.records, self.cuts, self.width, self.item_bits = records, cuts, width, item_bits
        self.worker_by_item, self.label_by_item = worker_by_item, label_by_item
        self.worker_w, self.item_w, self.label_w = worker_w, item_w, label_w
        self.first_w, self.own_w, self.partners, self.ends = first_w, own_w, partners, ends

    def block(self, lo: int, hi: int):
        """The groups of annotations lo..hi: (row sizes, group ids); their items go into
        ``indices``."""
        count = self.partners[lo:hi]
        n = int(count.sum())
        base = int(self.worker_w[lo]) * self.width if n else 0
        t = np.arange(n) - np.repeat(np.cumsum(count) - count, count)
        b = np.repeat(self.first_w[lo:hi], count) + t + (t >= np.repeat(self.own_w[lo:hi], count))
        del t
        k = self.label_by_item[b]  # each other annotation of the item: annotator j, class k
        group = np.repeat(self.worker_w[lo:hi].astype(np.int64) * self.width - base, count) + \
            self.worker_by_item[b] * self.num_classes + k
        same = (np.repeat(self.label_w[lo:hi], count) == k).astype(np.int64)
        item = np.repeat(self.item_w[lo:hi].astype(np.int64), count)
        del b, k
        if int(group.max(initial=0)).bit_length() + self.item_bits + 1 <= KEY_BITS:
            keys = group
            keys <<= self.item_bits + 1
            keys |= same << self.item_bits
            keys |= item
            del group, same, item
            keys.sort()
            item = (keys & ((1 << self.item_bits) - 1)).astype(np.int32)
            keys >>= self.item_bits
            same = (keys & 1).astype(bool)
            keys >>= 1
            group = keys
        else:  # too many annotators and classes for one 63-bit key: sort with a permutation
            order = np.lexsort((item, same, group))
            group, same, item = group[order], same[order].astype(bool), \
                item[order].astype(np.int32)
        new = np.flatnonzero(np.diff(group, prepend=-1))
        # rows 2g (i did not choose k) and 2g + 1 (it did): the not-chosen ones sort first
        total = np.diff(np.append(new, n))
        chose = np.add.reduceat(same, new, dtype=np.int64) if n else total
        offset = int(self.ends[lo - 1]) if lo else 0
        self.indices[offset:offset + n] = item
        sizes = np.empty(2 * new.size, dtype=np.int64)
        sizes[0::2], sizes[1::2] = total - chose, chose
        return sizes, group[new] + base


class CrowdTruth(Aggregator):
    """The CrowdTruth 2.0 metrics, as an :class:`~dqlabels.labels.aggregation.Aggregator`.

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
        probas_: ``(num_items, num_classes)`` UAS with the final annotator
            qualities (rows sum to 1).
        labels_: ``(num_items,)`` argmax of the weighted soft label (lowest index on ties).
        n_iter_: rounds run. converged_: whether ``tol`` was reached.
    """

    def __init__(self, tol: float = 1e-3, max_iter: int = 100):
        self.tol = tol
        self.max_iter = max_iter

    def _check_params(self) -> None:
        check_number("tol", self.tol, low=0)
        check_number("max_iter", self.max_iter, low=1, integer=True)

    def fit(self, annotations: Annotations, gold=None) -> CrowdTruth:
        """Compute the metrics of ``annotations`` (which need annotator ids; ``gold`` is not
        read: CrowdTruth learns from agreement alone)."""
        return super().fit(annotations, gold)

    column_prefix = "weighted"

    def label_columns(self, classes) -> dict[str, np.ndarray]:
        """``weighted_<class>`` per class (the labels file has no ``weighted_label``)."""
        return {name: values for name, values in super().label_columns(classes).items()
                if name != "weighted_label"}

    def _fit(self, annotations: Annotations) -> None:
        if annotations.annotator_index is None:
            raise InputError(f"{annotations.source}: the CrowdTruth metrics need annotator ids; "
                             f"the input has no annotator column")
        item, worker, label = (annotations.item_index, annotations.annotator_index,
                               annotations.label_index)
        num_items, num_classes = annotations.counts.shape
        num_workers = len(annotations.annotators)
        if annotations.has_repeated_pairs:
            raise InputError(f"{annotations.source}: the CrowdTruth metrics need one annotation "
                             f"per (item, annotator) pair; read the file with duplicates=last")
        # As the reference does, items with a single annotation take no part: nobody agrees or
        # disagrees with it. Their quality is undefined (NaN), as is the quality of annotators
        # who labelled only such items.
        shared = np.bincount(item, minlength=num_items)[item] >= 2
        campaign = _Campaign(*((item, worker, label) if shared.all() else
                               (item[shared], worker[shared], label[shared])),
                             num_items, num_classes, num_workers)

        uqs = np.ones(num_items)
        wqs = np.ones(num_workers)
        aqs = np.ones(num_classes)
        self.converged_ = False
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            self.n_iter_ += 1
            new_aqs, new_uqs, wwa, wua = campaign.round(uqs, wqs, aqs)
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
        weighted = np.bincount(item.astype(np.int64) * num_classes + label, weights=weights[worker],
                               minlength=num_items * num_classes).reshape(num_items, num_classes)
        # An item whose every annotator has quality 0 (each disagreed with all the others) has
        # no weighted label to give: it keeps its plain soft label (its counts), not zeros.
        unweighted = weighted.sum(axis=1) <= 0
        weighted[unweighted] = annotations.counts[unweighted]
        self.probas_ = weighted / np.maximum(weighted.sum(axis=1), SMALL)[:, None]
        self.labels_ = argmax_lowest(self.probas_)


class _Campaign:
    """The annotation arrays, the pairs of annotations that share an item, and one round of the
    metrics computed from them.

    Class quality needs, for every ordered pair of annotators (i, j) and class k that j chose on
    an item they share (a group), two sums over those items: of the item qualities (D) and of
    the item qualities where i chose k too (N). Which items enter each sum never changes, only
    the item qualities do, so the pairs of annotations on each item (records) are listed once,
    sorted by group, as a sparse matrix of ones with two rows per group, one for the records
    where i did not choose k and one for those where it did (``shared``, in bands of rows). A
    round is then a sparse product with the item qualities, and the pair-weighted means two more
    with the annotator qualities. The work of a round grows with Σ over items of n(n − 1) for n
    annotations.
    """

    def __init__(self, item, worker, label, num_items, num_classes, num_workers):
        self.item, self.worker, self.label = item, worker, label
        self.num_items, self.num_classes, self.num_workers = num_items, num_classes, num_workers
        self.cell = item.astype(np.int64) * num_classes + label
        self._list_pairs()

    def _list_pairs(self) -> None:
        """Build ``shared`` (rows: groups ordered by (i, j, k), two each), ``group_column``
        (j·K + k of each group) and ``group_rows`` (where annotator i's groups start).
        Annotations are taken annotator by annotator (i), in blocks of about ``BLOCK`` records
        sorted on their own (:class:`_PairBlocks`), on every core for large campaigns."""
        blocks = _PairBlocks(self.item, self.worker, self.label, self.num_items,
                             self.num_workers, self.num_classes)
        parts = map_blocks(blocks.block, blocks.cuts[:-1], blocks.cuts[1:], size=blocks.records)
        indices, records, width = blocks.indices, blocks.records, blocks.width
        del blocks  # free the per-annotation arrays before the matrices are built
        self._shared_matrices(parts, indices, records, width)

    def _shared_matrices(self, parts: list, indices: np.ndarray, records: int,
                         width: int) -> None:
        """The blocks' groups as row pointers, ``group_column``, ``group_rows`` and the
        ``shared`` matrices (row bands of a (2 · groups) × items matrix of ones)."""
        from scipy import sparse

        index = np.int32 if records < 2**31 else np.int64
        indptr = np.zeros(1 + sum(part[0].size for part in parts), dtype=index)
        at, total = 1, 0
        for part in parts:  # the row pointers, one block at a time (no full-size temporary)
            sizes = part[0]
            np.cumsum(sizes, out=sizes)
            sizes += total
            indptr[at:at + sizes.size] = sizes
            at += sizes.size
            total = int(sizes[-1]) if sizes.size else total
        group = np.concatenate([part[1] for part in parts])
        del parts
        self.group_column = (group % width).astype(np.int32)
        self.group_rows = np.searchsorted(group // width, np.arange(self.num_workers + 1))
        del group
        ones = self.ones = np.ones(records)  # records >= groups: its start serves them too
        self.ratio = self.present = None
        bands = np.linspace(0, self.group_column.size, num_workers() + 1
                            if records >= _parallel.PARALLEL_CELLS else 2).astype(np.int64) * 2
        self.shared = [sparse.csr_matrix(
            (ones[indptr[lo]:indptr[hi]], indices[indptr[lo]:indptr[hi]],
             indptr[lo:hi + 1] - indptr[lo] if lo else indptr[:hi + 1]),
            shape=(hi - lo, self.num_items), copy=False) for lo, hi in zip(bands[:-1], bands[1:])]

    def class_sums(self, weights) -> np.ndarray:
        """``[item, class]``: the summed weights of the annotators who chose the class."""
        return np.bincount(self.cell, weights=weights[self.worker],
                           minlength=self.num_items * self.num_classes).reshape(
            self.num_items, self.num_classes)

    def round(self, uqs, wqs, aqs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One round from the previous round's qualities: class quality, item quality, WWA and
        WUA (annotator quality is their product)."""
        s = self.class_sums(wqs)  # the items' annotation vectors, weighted by annotator quality
        q = self.class_sums(wqs * wqs)
        total = row_sums(s)
        # UQS: Σ over pairs of an item's annotators of [same class]·wᵢwⱼ / Σ over pairs of wᵢwⱼ
        q_total = row_sums(q)
        same_pairs = (row_sums(s * s) - q_total) / 2
        every_pair = (total * total - q_total) / 2
        new_uqs = same_pairs / np.maximum(every_pair, SMALL)

        # WWA and WUA: per annotation, then summed per annotator, in cache-sized blocks of
        # annotations on every core
        rest_sq = (s * s) @ aqs  # Σ_k aqs_k s_k² per item
        flat = s.ravel()

        def sums(part):
            worker, item = self.worker[part], self.item[part]
            own = wqs[worker]
            item_uqs = uqs[item]
            cell_sum = flat[self.cell[part]]
            same = cell_sum - own  # the others of the item who chose the same class
            others = total[item] - own
            # WUA: weighted cosine of the annotator's (quality-scaled) one-hot vector with
            # the rest of the item's vector, class weights aqs
            a = aqs[self.label[part]]
            rest = rest_sq[item] - 2 * a * cell_sum * own + a * own * own
            numerator = a * own * same
            norm = np.sqrt(a * own * own * np.maximum(rest, 0.0))
            cosine = np.where(norm < SMALL, SMALL, numerator / np.where(norm < SMALL, 1.0, norm))
            return np.stack([np.bincount(worker, weights=w, minlength=self.num_workers) for w in
                             (item_uqs * same, item_uqs * others, cosine * item_uqs, item_uqs)])

        n = self.worker.size
        step = max(ANNOTATION_BLOCK, 8 * self.num_workers)  # per-block sums stay small
        parts = [slice(lo, min(lo + step, n)) for lo in range(0, n, step)] or [slice(0, 0)]
        # about ten array passes over each annotation
        totals = sum(map_blocks(sums, parts, size=10 * n))
        wwa = totals[0] / np.maximum(totals[1], SMALL)
        wua = totals[2] / np.maximum(totals[3], SMALL)
        return self.class_quality(uqs, wqs), new_uqs, wwa, wua

    def class_quality(self, uqs, wqs) -> np.ndarray:
        """AQS: over ordered pairs (i, j) of different annotators who share an item where j chose
        the class k, P(i chose k | j did) on their shared items (items weighted by UQS),
        averaged with pair weights wᵢwⱼ."""
        from scipy import sparse

        if self.group_column.size == 0:
            return np.full(self.num_classes, SMALL)
        num_groups = self.group_column.size
        if self.ratio is None:  # buffers kept across rounds (large arrays mapped anew are slow)
            self.ratio, self.present = np.empty(num_groups), np.empty(num_groups)

        def band_ratio(band, first):  # P(i chose k | j did) of the band's groups
            sums = band @ uqs
            numerator = sums[1::2]  # items where i chose k as well
            denominator = sums[0::2]
            denominator += numerator
            present = denominator > 0  # an item of quality 0 counts as not shared
            ratio = self.ratio[first:first + numerator.size]
            if present.all():
                np.divide(numerator, denominator, out=ratio)
            else:
                np.divide(numerator, np.where(present, denominator, 1.0), out=ratio)
            self.present[first:first + numerator.size] = present
            return bool(present.all())

        firsts = np.cumsum([0] + [band.shape[0] // 2 for band in self.shared[:-1]])
        # every band finished (a list, not all() over a generator: that would stop at the first
        # False)
        every = all(map_blocks(band_ratio, self.shared, firsts, size=self.ones.size))
        shape = (self.num_workers, self.num_workers * self.num_classes)

        def weighted(values):  # Σ over groups of class k of wᵢ wⱼ · value, for every k
            pairs = sparse.csr_matrix((values, self.group_column, self.group_rows), shape=shape,
                                      copy=False)
            by_j = (pairs.T @ wqs).reshape(self.num_workers, self.num_classes)
            return wqs @ by_j

        top = weighted(self.ratio)
        bottom = weighted(self.ones[:num_groups] if every else self.present)
        quality = np.where(bottom > SMALL, top / np.where(bottom > SMALL, bottom, 1.0), SMALL)
        return np.maximum(quality, SMALL)
