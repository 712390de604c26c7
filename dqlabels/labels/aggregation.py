"""Aggregating annotations into labels (docs/conventions.md §3): one estimator shape, and the short forms.

Every aggregator follows scikit-learn's and crowd-kit's conventions on one small base,
:class:`Aggregator`: the constructor only stores parameters, :meth:`~Aggregator.fit` checks
them (an :class:`~dqlabels.InputError` naming the parameter), learns from the annotations and
returns ``self``; learned state ends in ``_``, and every aggregator has the same two:
``labels_`` (one class index per item, ties to the lowest index) and ``probas_`` (each item's
class probabilities: the vote shares, Dawid–Skene's posteriors, CrowdTruth's weighted soft
labels). Data comes only through ``fit`` (Dawid–Skene's gold answers too).
:meth:`~Aggregator.fit_predict` returns ``labels_``. An aggregator with a ``column_prefix``
adds ``PREFIX_label`` and ``PREFIX_<class>`` columns to the audit's labels file; one registered
in :data:`dqlabels.registry.AGGREGATORS` is fitted by ``dqlabels evaluate --aggregator NAME``.

- :class:`MajorityVote` (here) and its short form :func:`majority_vote`; :func:`soft_labels`,
  the mean of the one-hot annotations;
- :class:`~dqlabels.labels.dawid_skene.DawidSkene` (its own module, which builds on this one;
  ``dqlabels.DawidSkene`` is the short name);
- :class:`~dqlabels.labels.crowdtruth.CrowdTruth` (the CrowdTruth 2.0 metrics and weighted labels).

All take a counts matrix (items × classes) or an :class:`~dqlabels.Annotations` and return
arrays aligned with its rows, so results never depend on the order of the input rows.

Examples:
    >>> vote = MajorityVote().fit([[2, 2, 1], [0, 1, 3]])
    >>> vote.labels_.tolist(), vote.tied_.tolist()
    ([0, 2], [True, False])
"""

from __future__ import annotations

import numpy as np

from dqlabels._parallel import by_row_blocks, row_sums
from dqlabels.config import check_choice, check_number
from dqlabels.errors import InputError
from dqlabels.readers.annotations import Annotations
from dqlabels.registry import AGGREGATORS, resolve

TIES = ("lowest", "random")
# Relative distance within which two probabilities count as tied (0.1 + 0.2 ties 0.3).
FLOAT_TIE = 1e-12


def counts_matrix(data, name: str = "counts") -> np.ndarray:
    """The counts matrix of ``data`` (an :class:`~dqlabels.Annotations` or an array-like): 2-D
    and numeric, else an InputError that names ``name``. The values are not scanned (that
    would cost a pass over millions of cells); :mod:`dqlabels.readers.annotations` checks them when it
    reads a file."""
    counts = data.counts if isinstance(data, Annotations) else np.asarray(data)
    if counts.ndim != 2:
        raise InputError(f"Expected {name} to be a 2-D matrix (items × classes). Received shape "
                         f"{counts.shape}")
    if counts.dtype.kind not in "iufb":
        raise InputError(f"Expected {name} to hold numbers. Received dtype {counts.dtype}")
    return counts


class Aggregator:
    """The shape every aggregator shares.

    Subclasses list their constructor parameters' checks in :meth:`_check_params` and learn in
    :meth:`_fit`, setting ``labels_`` and ``probas_``; :meth:`fit` runs both.

    Attributes:
        column_prefix: the name of its columns in the audit's labels file (None: none).
    """

    column_prefix: str | None = None

    def label_columns(self, classes) -> dict[str, np.ndarray]:
        """Its columns in the audit's labels file: ``PREFIX_label`` (the class name of
        ``labels_``) and ``PREFIX_<class>`` per class (``probas_``)."""
        classes = np.asarray(classes, dtype=object)
        columns = {f"{self.column_prefix}_label": classes[self.labels_]}
        for j, name in enumerate(classes):
            columns[f"{self.column_prefix}_{name}"] = self.probas_[:, j]
        return columns

    def fit(self, annotations, gold=None) -> Aggregator:
        """Check the parameters, learn from ``annotations`` and return ``self``. ``gold``: known
        answers (as ``Annotations.gold``), for an aggregator that learns from them
        (Dawid–Skene); the others do not read them."""
        self._check_params()
        self._fit(annotations)
        return self

    def fit_predict(self, annotations, gold=None) -> np.ndarray:
        """:meth:`fit`, then the label of each item (``labels_``)."""
        return self.fit(annotations, gold).labels_

    def _check_params(self) -> None:
        """Raise InputError for a constructor argument out of range (Keras-style message)."""

    def _fit(self, annotations) -> None:
        raise NotImplementedError  # each aggregator defines it

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.endswith("_") and not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def soft_labels(data) -> np.ndarray:
    """Soft labels: each row of counts divided by its sum (the mean one-hot annotation).

    Args:
        data: counts matrix or :class:`~dqlabels.Annotations`.

    Returns:
        float64 array of the same shape whose rows sum to 1 (rows of zeros stay zero).

    Examples:
        >>> soft_labels([[3, 1], [0, 2]]).tolist()
        [[0.75, 0.25], [0.0, 1.0]]
    """
    counts = counts_matrix(data)
    soft = np.empty(counts.shape, dtype=np.float64)

    def block(rows):
        part = counts[rows]
        totals = row_sums(part)
        with np.errstate(divide="ignore"):
            scale = np.where(totals > 0, 1.0 / totals, 0.0)
        np.multiply(part, scale[:, None], out=soft[rows])

    by_row_blocks(counts.shape, block)
    return soft


def top_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries equal to their row maximum (exact for counts; within
    :data:`FLOAT_TIE` relative for float rows, so 0.1 + 0.2 and 0.3 tie)."""
    values = np.asarray(values)
    row_max = values.max(axis=1, keepdims=True)
    if values.dtype.kind == "f":
        return values >= row_max - FLOAT_TIE * np.maximum(np.abs(row_max), 1.0)
    return values == row_max


def argmax_lowest(values: np.ndarray) -> np.ndarray:
    """Row-wise argmax; ties go to the lowest class index (docs/conventions.md §3 tie rule)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.argmax(top_mask(values), axis=1)
    return np.argmax(values, axis=1)  # numpy returns the first maximum


class MajorityVote(Aggregator):
    """Majority (plurality) vote per item.

    Args:
        ties: ``"lowest"`` gives a tie to the lowest class index (deterministic, the default);
            ``"random"`` picks uniformly among the tied classes with ``seed``.
        seed: seed for ``ties="random"``.

    Attributes:
        labels_: ``(num_items,)`` int64 index of the chosen class.
        tied_: ``(num_items,)`` bool, True where two or more classes share the top count.
        probas_: ``(num_items, num_classes)`` the soft labels the vote is taken on.

        num_ties_: how many items have a tie.
    """

    def __init__(self, ties: str = "lowest", seed: int | None = 0):
        self.ties = ties
        self.seed = seed

    def _check_params(self) -> None:
        if self.ties not in TIES:
            raise InputError(f"Expected ties to be 'lowest' or 'random'. "
                             f"Received: ties={self.ties!r}")
        if self.seed is not None:
            check_number("seed", self.seed, low=0, integer=True)

    def _fit(self, data) -> None:
        counts = counts_matrix(data)
        labels = np.empty(counts.shape[0], dtype=np.int64)
        tied = np.empty(counts.shape[0], dtype=bool)

        def block(rows):
            part = counts[rows]
            if part.dtype.kind == "f":
                is_top = top_mask(part)
                labels[rows] = np.argmax(is_top, axis=1)
            else:
                labels[rows] = np.argmax(part, axis=1)  # the first maximum: lowest index
                top = part[np.arange(part.shape[0]), labels[rows]]
                is_top = part == top[:, None]
            tied[rows] = row_sums(is_top.view(np.uint8)) > 1  # a uint8 count of the tops

        if counts.shape[1] > 255:  # more tied classes than a uint8 count holds
            is_top = top_mask(counts)
            labels, tied = np.argmax(is_top, axis=1), np.count_nonzero(is_top, axis=1) > 1
        else:
            by_row_blocks(counts.shape, block)
        if self.ties == "random":
            rows = np.flatnonzero(tied)
            if rows.size:
                rng = np.random.default_rng(self.seed)
                scores = rng.random((rows.size, counts.shape[1])) * top_mask(counts[rows])
                labels[rows] = np.argmax(scores, axis=1)
        self.labels_, self.tied_ = labels, tied
        self._counts = counts

    @property
    def probas_(self) -> np.ndarray:
        return soft_labels(self._counts)

    @property
    def num_ties_(self) -> int:
        """Items whose top count is shared."""
        return int(np.count_nonzero(self.tied_))


def majority_vote(data, ties: str = "lowest", seed: int | None = 0) -> MajorityVote:
    """Majority (plurality) vote per item: ``MajorityVote(ties, seed).fit(data)``.

    Returns:
        The fitted :class:`MajorityVote`: ``labels_`` and the ``tied_`` mask.

    Examples:
        >>> vote = majority_vote([[2, 2, 1], [0, 1, 3]])
        >>> vote.labels_.tolist(), vote.tied_.tolist()
        ([0, 2], [True, False])
    """
    return MajorityVote(ties=ties, seed=seed).fit(data)


def registered_aggregator(name: str) -> Aggregator:
    """A new, unfitted instance of the aggregator registered as ``name``
    (:data:`dqlabels.registry.AGGREGATORS`)."""
    check_choice("aggregator", name, tuple(AGGREGATORS))
    return resolve(AGGREGATORS[name])()


def fitted_models(annotations: Annotations, models) -> tuple:
    """``models`` each fitted to ``annotations`` (with their gold answers) where it is not yet
    (a fitted model has ``labels_``), in the order given."""
    return tuple(model if hasattr(model, "labels_") else model.fit(annotations, annotations.gold)
                 for model in models)
