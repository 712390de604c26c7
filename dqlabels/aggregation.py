"""Aggregating annotations into labels: soft, majority vote, and Dawid–Skene (SPEC §3).

All functions take a counts matrix (items × classes) or an :class:`~dqlabels.Annotations`, and
return arrays aligned with its rows, so results never depend on the order of the input rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dqlabels.annotations import Annotations
from dqlabels.errors import InputError

TIES = ("lowest", "random")


def _counts_of(data) -> np.ndarray:
    counts = data.counts if isinstance(data, Annotations) else np.asarray(data)
    if counts.ndim != 2:
        raise InputError(f"Expected a 2-D counts matrix (items × classes). Received shape {counts.shape}")
    return counts


def soft_labels(data) -> np.ndarray:
    """Soft labels: each row of counts divided by its sum (the mean one-hot annotation).

    Args:
        data: counts matrix or :class:`~dqlabels.Annotations`.

    Returns:
        float64 array of the same shape whose rows sum to 1 (rows of zeros stay zero).

    Example:
        >>> soft_labels([[3, 1], [0, 2]]).tolist()
        [[0.75, 0.25], [0.0, 1.0]]
    """
    counts = _counts_of(data)
    totals = counts.sum(axis=1, keepdims=True, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        soft = counts / totals
    soft[totals[:, 0] == 0] = 0.0
    return soft


@dataclass(frozen=True)
class MajorityVote:
    """Result of :func:`majority_vote`.

    Attributes:
        labels: ``(num_items,)`` int64 index of the chosen class.
        tied: ``(num_items,)`` bool, True where two or more classes share the top count.
    """

    labels: np.ndarray
    tied: np.ndarray

    @property
    def num_ties(self) -> int:
        return int(np.count_nonzero(self.tied))


def top_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries equal to their row maximum (exact for counts; within 1e-12
    relative for float rows, so 0.1 + 0.2 and 0.3 tie)."""
    values = np.asarray(values)
    row_max = values.max(axis=1, keepdims=True)
    if values.dtype.kind == "f":
        return values >= row_max - 1e-12 * np.maximum(np.abs(row_max), 1.0)
    return values == row_max


def argmax_lowest(values: np.ndarray) -> np.ndarray:
    """Row-wise argmax; ties go to the lowest class index (SPEC §3 tie rule)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.argmax(top_mask(values), axis=1)
    return np.argmax(values, axis=1)  # numpy returns the first maximum


def majority_vote(data, ties: str = "lowest", seed: int | None = 0) -> MajorityVote:
    """Majority (plurality) vote per item.

    Args:
        data: counts matrix or :class:`~dqlabels.Annotations`.
        ties: ``"lowest"`` gives a tie to the lowest class index (deterministic, the default);
            ``"random"`` picks uniformly among the tied classes with ``seed``.
        seed: seed for ``ties="random"``.

    Returns:
        :class:`MajorityVote` with ``labels`` and the ``tied`` mask.

    Example:
        >>> vote = majority_vote([[2, 2, 1], [0, 1, 3]])
        >>> vote.labels.tolist(), vote.tied.tolist()
        ([0, 2], [True, False])
    """
    if ties not in TIES:
        raise InputError(f"Expected ties to be 'lowest' or 'random'. Received: ties={ties!r}")
    counts = _counts_of(data)
    is_top = top_mask(counts)
    tied = np.count_nonzero(is_top, axis=1) > 1
    if ties == "lowest":
        labels = argmax_lowest(counts)
    else:
        labels = argmax_lowest(counts)
        rows = np.flatnonzero(tied)
        if rows.size:
            rng = np.random.default_rng(seed)
            scores = rng.random((rows.size, counts.shape[1])) * is_top[rows]
            labels[rows] = np.argmax(scores, axis=1)
    return MajorityVote(labels=labels.astype(np.int64), tied=tied)


class DawidSkene:
    """Dawid & Skene (1979) EM aggregation with one confusion matrix per annotator.

    Follows the scikit-learn estimator conventions: the constructor only stores parameters,
    :meth:`fit` returns ``self``, and learned state ends in ``_``.

    The E-step adds, for every annotation, the log probability that its annotator gives its label
    under each true class; the M-step re-estimates the class priors and each annotator's
    confusion matrix from the posteriors. Both steps are a handful of ``np.bincount`` passes over
    the annotation codes, so one iteration over 10 million annotations takes about a second.

    Args:
        max_iter: most EM iterations.
        tol: stop when the log-likelihood improves by less than ``tol`` per annotation.
        smoothing: pseudo-count added to every confusion-matrix cell and class prior, so that an
            annotator who never gave a label does not get probability 0 for it.

    Attributes:
        posteriors_: ``(num_items, num_classes)`` item posteriors over the true class.
        labels_: ``(num_items,)`` argmax of the posteriors (lowest index on ties).
        class_priors_: ``(num_classes,)`` estimated class priors.
        confusion_matrices_: ``(num_annotators, num_classes, num_classes)``;
            ``[a, k, l]`` = P(annotator a says l | true class k).
        annotator_accuracy_: ``(num_annotators,)`` expected fraction of each annotator's labels
            that equal the true class.
        log_likelihood_: final log-likelihood (nats).
        n_iter_: iterations run.
        converged_: whether the tolerance was reached before ``max_iter``.

    Example:
        >>> from dqlabels import from_long
        >>> ann = from_long(["a", "a", "a", "b", "b", "b"], [0, 0, 1, 1, 1, 1],
        ...                 ["u1", "u2", "u3", "u1", "u2", "u3"])
        >>> DawidSkene().fit(ann).labels_.tolist()
        [0, 1]
    """

    def __init__(self, max_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01):
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    def fit(self, annotations: Annotations) -> DawidSkene:
        """Run EM on annotations that carry annotator ids, starting from the soft labels."""
        if not isinstance(annotations, Annotations):
            raise InputError("DawidSkene.fit expects an Annotations object (see read_annotations)")
        if annotations.annotator_index is None:
            raise InputError(f"{annotations.source}: Dawid–Skene needs annotator ids; the input "
                             f"has no annotator column")
        if self.max_iter < 1:
            raise InputError(f"Expected max_iter >= 1. Received: max_iter={self.max_iter}")
        items = annotations.item_index.astype(np.int64)
        annotators = annotations.annotator_index.astype(np.int64)
        labels = annotations.label_index.astype(np.int64)
        num_items, num_classes = annotations.counts.shape
        num_annotators = len(annotations.annotators)
        # Code of (annotator, label): row of the confusion table for this annotation.
        annotator_label = annotators * num_classes + labels
        num_annotations = items.size

        posteriors = soft_labels(annotations.counts)
        previous = -np.inf
        self.converged_ = False
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            self.n_iter_ += 1
            priors, log_confusion, confusion_counts = self._m_step(
                posteriors, items, annotator_label, num_annotators, num_classes)
            log_joint = self._log_joint(priors, log_confusion, items, annotator_label, num_items)
            row_max = log_joint.max(axis=1, keepdims=True)
            joint = np.exp(log_joint - row_max)
            evidence = joint.sum(axis=1, keepdims=True)
            posteriors = joint / evidence
            log_likelihood = float(np.sum(np.log(evidence) + row_max))
            if log_likelihood - previous < self.tol * max(num_annotations, 1):
                self.converged_ = True
                break
            previous = log_likelihood
        priors, log_confusion, confusion_counts = self._m_step(
            posteriors, items, annotator_label, num_annotators, num_classes)
        self.posteriors_ = posteriors
        self.labels_ = argmax_lowest(posteriors)
        self.class_priors_ = priors
        self.confusion_matrices_ = np.exp(log_confusion).reshape(
            num_annotators, num_classes, num_classes).transpose(0, 2, 1).copy()
        raw = confusion_counts.reshape(num_annotators, num_classes, num_classes)  # [a, l, k]
        given = raw.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            self.annotator_accuracy_ = np.trace(raw, axis1=1, axis2=2) / given
        self.log_likelihood_ = log_likelihood
        return self

    def _m_step(self, posteriors, items, annotator_label, num_annotators, num_classes):
        """Priors and log confusion table ``[annotator * K + label, true class]``."""
        size = num_annotators * num_classes
        counts = np.empty((size, num_classes))
        columns = np.ascontiguousarray(posteriors.T)
        for k in range(num_classes):
            counts[:, k] = np.bincount(annotator_label, weights=columns[k][items], minlength=size)
        smoothed = counts + self.smoothing
        # Normalise over labels l for each (annotator, true class k).
        per_annotator = smoothed.reshape(num_annotators, num_classes, num_classes)
        totals = per_annotator.sum(axis=1, keepdims=True)
        log_confusion = np.log(per_annotator / totals).reshape(size, num_classes)
        priors = posteriors.sum(axis=0) + self.smoothing
        priors /= priors.sum()
        return priors, log_confusion, counts

    @staticmethod
    def _log_joint(priors, log_confusion, items, annotator_label, num_items):
        num_classes = priors.size
        log_joint = np.empty((num_items, num_classes))
        table = np.ascontiguousarray(log_confusion.T)
        for k in range(num_classes):
            log_joint[:, k] = np.bincount(items, weights=table[k][annotator_label],
                                          minlength=num_items)
        log_joint += np.log(priors)
        return log_joint
