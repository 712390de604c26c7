"""Dawid & Skene (1979): EM over one confusion matrix per annotator (docs/conventions.md §3).

An iteration is one pass over the annotations: a compiled loop (numba) on large campaigns, two
sparse matrix products per block of items on small ones (``engine``; ``benchmarks/README.md``
has the time per iteration of each). Gold answers, when given, fix their items' posteriors in
every E-step.

Examples:
    >>> from dqlabels import from_long
    >>> ann = from_long(["a", "a", "a", "b", "b", "b"], [0, 0, 1, 1, 1, 1],
    ...                 ["u1", "u2", "u3", "u1", "u2", "u3"])
    >>> DawidSkene().fit(ann).labels_.tolist()
    [0, 1]
"""

from __future__ import annotations

import numpy as np

from dqlabels import _parallel
from dqlabels._parallel import BLOCK_CELLS, map_blocks, num_workers, row_sums
from dqlabels.config import (
    DS_COMPILED_MAX_CLASSES,
    DS_COMPILED_MIN_ANNOTATIONS,
    DS_ENGINES,
    check_choice,
    check_number,
)
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import Aggregator, argmax_lowest, soft_labels
from dqlabels.readers.annotations import Annotations


class DawidSkene(Aggregator):
    """Dawid & Skene (1979) EM aggregation with one confusion matrix per annotator.

    An :class:`~dqlabels.labels.aggregation.Aggregator`: the constructor only stores parameters,
    :meth:`fit` checks them and returns ``self``, and learned state ends in ``_``.

    The E-step adds, for every annotation, the log probability that its annotator gives its label
    under each true class; the M-step re-estimates the class priors and each annotator's
    confusion matrix from the posteriors. An iteration is one pass over the annotations: a
    compiled loop (numba) on large campaigns, two sparse matrix products on small ones (see
    ``engine``, and ``benchmarks/README.md`` for the time per iteration).

    Args:
        max_iter: most EM iterations.
        tol: stop when the log-likelihood improves by less than ``tol`` per annotation.
        posterior_tol: stop as well when no posterior moves by more than this in an iteration.
        smoothing: pseudo-count added to every confusion-matrix cell and class prior, so that an
            annotator who never gave a label does not get probability 0 for it.
        engine: how an iteration runs. ``"numba"``: one compiled pass over the annotations
            (about one ``bincount`` pass per iteration; numba's import and its compiled code,
            cached once per machine, cost under a second per process). ``"numpy"``: two sparse
            products per block of items (no compilation; several times slower on large
            campaigns). ``"auto"`` (default): numba from
            ``dqlabels.config.DS_COMPILED_MIN_ANNOTATIONS`` annotations on and up to
            ``DS_COMPILED_MAX_CLASSES`` classes (beyond, the compiled loop is the slower one),
            numpy otherwise. Both give the same result up to rounding.

    Attributes:
        probas_: ``(num_items, num_classes)`` item posteriors over the true class.
        labels_: ``(num_items,)`` argmax of the posteriors (lowest index on ties).
        class_priors_: ``(num_classes,)`` estimated class priors.
        confusion_matrices_: ``(num_annotators, num_classes, num_classes)``;
            ``[a, k, l]`` = P(annotator a says l | true class k).
        annotator_accuracy_: ``(num_annotators,)`` expected fraction of each annotator's labels
            that equal the true class.
        log_likelihood_: final log-likelihood (nats).
        n_iter_: iterations run.
        converged_: whether the tolerance was reached before ``max_iter``.

    """

    def __init__(self, max_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01,
                 posterior_tol: float = 1e-4, engine: str = "auto"):
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.posterior_tol = posterior_tol
        self.engine = engine

    column_prefix = "ds"

    @staticmethod
    def _gold_of(annotations: Annotations, gold) -> np.ndarray | None:
        """``gold`` checked against the annotations; None when no item has a known answer."""
        if gold is None:
            return None
        gold = np.asarray(gold)
        if gold.shape != (annotations.num_items,) or gold.dtype.kind not in "iu":
            raise InputError(f"Expected gold as {annotations.num_items} integer class indices "
                             f"aligned with the items (-1: no known answer). Received: an array "
                             f"of shape {gold.shape}, dtype {gold.dtype}")
        if np.any((gold < -1) | (gold >= annotations.num_classes)):
            raise InputError(f"Expected gold class indices in -1..{annotations.num_classes - 1}")
        return gold.astype(np.int64) if np.any(gold >= 0) else None

    def _check_params(self) -> None:
        check_number("max_iter", self.max_iter, low=1, integer=True)
        check_number("tol", self.tol)
        check_number("smoothing", self.smoothing, low=0, low_open=True)
        check_number("posterior_tol", self.posterior_tol)
        check_choice("engine", self.engine, DS_ENGINES)

    def _runs_compiled(self, num_annotations: int, num_classes: int) -> bool:
        """Whether to run the compiled iteration (see ``engine``)."""
        if self.engine == "auto":
            return (num_annotations >= DS_COMPILED_MIN_ANNOTATIONS
                    and num_classes <= DS_COMPILED_MAX_CLASSES)
        return self.engine == "numba"

    def fit(self, annotations: Annotations, gold=None) -> DawidSkene:
        """Run EM on annotations that carry annotator ids, starting from the soft labels.

        Args:
            annotations: the campaign.
            gold: known answers, fixed in every E-step: an array aligned with the items, the
                class index of each item's known answer or −1 (as ``Annotations.gold``, which
                ``fit(annotations, annotations.gold)`` uses). A gold item's posterior is its
                answer, so it teaches the annotators' confusion matrices and the class priors;
                the others are estimated.
        """
        self._check_params()
        self._fit(annotations, gold)
        return self

    def _fit(self, annotations: Annotations, gold=None) -> None:
        if not isinstance(annotations, Annotations):
            raise InputError("DawidSkene.fit expects an Annotations object (see read_annotations)")
        if annotations.annotator_index is None:
            raise InputError(f"{annotations.source}: Dawid–Skene needs annotator ids; the input "
                             f"has no annotator column")
        num_items, num_classes = annotations.counts.shape
        num_annotators = len(annotations.annotators)
        # Column a * K + l of an annotation (annotator a, label l) names the row of the log
        # confusion table it reads: the E-step gathers, for each item, the rows its annotations
        # point to, the M-step adds the item's posteriors back into those rows.
        columns = annotations.annotator_index.astype(np.int64) * num_classes + \
            annotations.label_index
        num_annotations = columns.size
        gold = self._gold_of(annotations, gold)
        compiled = self._runs_compiled(num_annotations, num_classes)
        engine = _compiled_engine if compiled else _numpy_engine
        em_steps, confusion_counts = engine(
            annotations.item_index, columns, num_items, num_annotators * num_classes, num_classes,
            gold)

        posteriors = soft_labels(annotations.counts)
        if gold is not None:
            known = np.flatnonzero(gold >= 0)
            posteriors[known] = 0.0
            posteriors[known, gold[known]] = 1.0
        counts = confusion_counts(posteriors)
        class_totals = posteriors.sum(axis=0)
        previous = -np.inf
        self.converged_ = False
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            self.n_iter_ += 1
            priors, log_confusion = self._parameters(counts, class_totals, num_annotators)
            counts, class_totals, log_likelihood, moved = em_steps(
                posteriors, log_confusion, np.log(priors))
            # Stop when the likelihood stops improving or the posteriors stop moving (on data
            # without structure the likelihood creeps up for many iterations while no
            # posterior changes in its fourth decimal).
            if log_likelihood - previous < self.tol * max(num_annotations, 1) or \
                    moved < self.posterior_tol:
                self.converged_ = True
                break
            previous = log_likelihood
        priors, log_confusion = self._parameters(counts, class_totals, num_annotators)
        self.probas_ = posteriors
        self.labels_ = argmax_lowest(posteriors)
        self.class_priors_ = priors
        self.confusion_matrices_ = np.exp(log_confusion).reshape(
            num_annotators, num_classes, num_classes).transpose(0, 2, 1).copy()
        raw = counts.reshape(num_annotators, num_classes, num_classes)  # [a, l, k]
        given = raw.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            self.annotator_accuracy_ = np.trace(raw, axis1=1, axis2=2) / given
        self.log_likelihood_ = log_likelihood

    def _parameters(self, counts, class_totals, num_annotators):
        """The M-step's result from the expected counts ``[annotator * K + label, true class]``
        and the posteriors' sum per class: class priors and the log confusion table, both
        smoothed."""
        num_classes = len(class_totals)
        # Normalise over labels l for each (annotator, true class k).
        per_annotator = (counts + self.smoothing).reshape(num_annotators, num_classes, num_classes)
        totals = per_annotator.sum(axis=1, keepdims=True)
        log_confusion = np.log(per_annotator / totals).reshape(-1, num_classes)
        priors = class_totals + self.smoothing
        priors /= priors.sum()
        return priors, log_confusion


def _numpy_engine(items, columns, num_items, num_columns, num_classes, gold=None):
    """EM iterations as sparse products: per cache-sized block of items, the E-step is
    ``block @ log_confusion`` and the M-step ``block.T @ posteriors`` (a CSC product that reads
    the block's posteriors in order and adds into the small confusion table). Fused per block,
    the block's posteriors never leave the cache between the two, and blocks run on all cores
    (scipy and numpy release the GIL).

    Returns ``em_steps(posteriors, log_confusion, log_priors)`` (one iteration: posteriors
    replaced in place; returns the new confusion counts, the class totals, the log-likelihood
    and the largest change of a posterior) and ``confusion_counts(posteriors)``.

    ``gold`` (per item, −1: unknown): a gold item's log posterior keeps only its known class
    (the others −∞), so it normalises to its answer and adds the log-likelihood of its
    annotations under that class.
    """
    from scipy import sparse

    # indicator[i, a * K + l] = how often annotator a gave label l to item i.
    indicator = sparse.csr_matrix((np.ones(columns.size), (items, columns)),
                                  shape=(num_items, num_columns))
    rows = max(1, BLOCK_CELLS // (4 * num_classes))
    blocks = []
    for start in range(0, num_items, rows):
        block = indicator[start:start + rows]
        known = None
        if gold is not None:
            local = np.flatnonzero(gold[start:start + rows] >= 0)
            known = (local, gold[start + local]) if local.size else None
        blocks.append((slice(start, start + rows), block, block.T, known))

    def em_steps(posteriors, log_confusion, log_priors):
        def em_step(job):
            """E-step of one block (its posteriors replaced in place), then its share of the
            M-step counts; returns them with the block's log evidence and movement."""
            where, block, block_t, known = job
            updated = block @ log_confusion
            updated += log_priors
            if known is not None:
                rows, answers = known
                chosen = updated[rows, answers]
                updated[rows] = -np.inf
                updated[rows, answers] = chosen
            updated, log_evidence = _normalise_log(updated)
            moved = float(np.abs(updated - posteriors[where]).max(initial=0.0))
            posteriors[where] = updated
            return block_t @ updated, row_sums(updated.T), log_evidence, moved

        return _add_parts(map_blocks(em_step, blocks, size=num_items * num_classes))

    return em_steps, lambda posteriors: indicator.T @ posteriors


def _compiled_engine(items, columns, num_items, num_columns, num_classes, gold=None):
    """EM iterations as one compiled pass per band of items (``_kernels.dawid_skene_block``),
    the annotations listed by item (CSR without values: an annotation given twice is listed
    twice). Each band adds into its own confusion table; the tables are summed in band order,
    so results do not depend on timing. Same interface as :func:`_numpy_engine`."""
    from dqlabels import _kernels

    index = np.int32 if max(columns.size, num_columns) < np.iinfo(np.int32).max else np.int64
    if columns.size > 1 and bool(np.any(items[1:] < items[:-1])):
        columns = columns[np.argsort(items, kind="stable")]
    columns = columns.astype(index)
    indptr = np.zeros(num_items + 1, index)
    np.cumsum(np.bincount(items, minlength=num_items), out=indptr[1:])
    # Bands with equal numbers of annotations, one per core.
    num_bands = num_workers() if num_items * num_classes >= _parallel.PARALLEL_CELLS else 1
    cuts = np.searchsorted(indptr, np.linspace(0, columns.size, num_bands + 1))
    cuts[0], cuts[-1] = 0, num_items
    bands = [(int(start), int(stop), np.empty((num_columns, num_classes)))
             for start, stop in zip(cuts[:-1], cuts[1:]) if stop > start or num_bands == 1]
    gold = np.full(0, -1, np.int64) if gold is None else gold.astype(np.int64)

    def run(step):
        return _add_parts(map_blocks(step, bands, size=num_items * num_classes))

    def em_steps(posteriors, log_confusion, log_priors):
        log_priors = tuple(float(value) for value in log_priors)

        def em_step(band):
            start, stop, counts = band
            counts.fill(0.0)
            log_evidence, moved, totals = _kernels.dawid_skene_block(
                start, stop, indptr, columns, log_confusion, log_priors, posteriors, counts, gold)
            return counts, np.array(totals), log_evidence, moved

        return run(em_step)

    def confusion_counts(posteriors):
        def add(band):
            start, stop, counts = band
            counts.fill(0.0)
            _kernels.add_confusion_counts(start, stop, indptr, columns, posteriors, counts)
            return counts, 0.0, 0.0, 0.0

        return run(add)[0]

    return em_steps, confusion_counts


def _add_parts(parts):
    """Sum the blocks' (counts, class totals, log evidence, movement) in block order, keeping
    one counts array."""
    counts, totals, log_likelihood, moved = None, 0.0, 0.0, 0.0
    for part_counts, part_totals, part_evidence, part_moved in parts:
        counts = part_counts.copy() if counts is None else np.add(counts, part_counts, out=counts)
        totals = totals + part_totals
        log_likelihood += part_evidence
        moved = max(moved, part_moved)
    return counts, totals, log_likelihood, moved


def _normalise_log(log_values: np.ndarray) -> tuple[np.ndarray, float]:
    """Rows of log-probabilities → probabilities (in place) and the total log evidence."""
    row_max = log_values.max(axis=1) if len(log_values) else np.zeros(0)
    log_values -= row_max[:, None]
    np.exp(log_values, out=log_values)
    evidence = row_sums(log_values)
    log_values /= evidence[:, None]
    return log_values, float(np.log(evidence).sum() + row_max.sum())
