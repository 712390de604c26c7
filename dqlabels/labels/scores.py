"""Scores of predictions against soft labels, and agreement of an annotation set (docs/conventions.md §4).

Prediction scores take ``y`` (soft ground truth) and ``p`` (predicted distributions), both
``(num_items, num_classes)``, and return a float. Natural logarithms throughout (nats).
Argmax everywhere uses the tie rule of docs/conventions.md §3: lowest class index.

Agreement scores take a counts matrix (items × classes).
"""

from __future__ import annotations

import numpy as np

from dqlabels._parallel import row_sums
from dqlabels.errors import InputError
from dqlabels.labels.aggregation import argmax_lowest, counts_matrix

EPSILON = 1e-7
DCIC_EPSILON = 1e-5
ECE_BINS = 10


def _pair(y, p):
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 2 or y.shape != p.shape:
        raise InputError(f"Expected y and p of the same (items, classes) shape. "
                         f"Received {y.shape} and {p.shape}")
    if y.shape[0] == 0:
        raise InputError("Expected at least one item to score")
    return y, p


def _clip_renormalise(p):
    p = np.maximum(p, EPSILON)
    return p / p.sum(axis=1, keepdims=True)


def _xlogy(x, y):
    """x * ln(y) with 0 * ln(anything) = 0 (one log per cell: faster than indexing the
    nonzero cells)."""
    with np.errstate(divide="ignore"):
        out = np.log(np.where(x > 0, y, 1.0))
    out *= x
    return out


def kl_divergence(y, p, convention: str = "standard") -> float:
    """Mean KL(y ‖ p) over items, in nats.

    Args:
        y: soft ground truth.
        p: predictions.
        convention: ``"standard"``: 0·ln 0 = 0 and ``p`` floored at 1e-7 then renormalised;
            ``"dcic"``: the DCIC benchmark code's variant, both ``y`` and ``p`` clipped to
            [1e-5, 1 − 1e-5], not renormalised.

    Examples:
        >>> round(kl_divergence([[1.0, 0.0]], [[0.5, 0.5]]), 6)  # ln 2
        0.693147
    """
    y, p = _pair(y, p)
    if convention == "standard":
        p = _clip_renormalise(p)
        return float(np.mean(np.sum(_xlogy(y, y) - _xlogy(y, p), axis=1)))
    if convention == "dcic":
        y = np.clip(y, DCIC_EPSILON, 1 - DCIC_EPSILON)
        p = np.clip(p, DCIC_EPSILON, 1 - DCIC_EPSILON)
        return float(np.mean(np.sum(y * (np.log(y) - np.log(p)), axis=1)))
    raise InputError(f"Expected convention to be 'standard' or 'dcic'. Received: {convention!r}")


def cross_entropy(y, p) -> float:
    """Mean −Σ y ln p̂ over items, with p̂ as in :func:`kl_divergence`."""
    y, p = _pair(y, p)
    return float(np.mean(-np.sum(_xlogy(y, _clip_renormalise(p)), axis=1)))


def entropy(y) -> float:
    """Mean Shannon entropy of the rows of ``y`` (nats)."""
    return float(np.mean(item_entropy(y)))


def item_entropy(y) -> np.ndarray:
    """Shannon entropy of each row of ``y`` (nats)."""
    y = np.asarray(y, dtype=np.float64)
    return 0.0 - row_sums(_xlogy(y, y))  # 0.0 - x: no -0.0 for a one-hot row


def js_divergence(y, p) -> float:
    """Mean Jensen–Shannon divergence (nats, between 0 and ln 2)."""
    y, p = _pair(y, p)
    m = 0.5 * (y + p)
    kl_ym = np.sum(_xlogy(y, y) - _xlogy(y, m), axis=1)
    kl_pm = np.sum(_xlogy(p, p) - _xlogy(p, m), axis=1)
    return float(np.mean(0.5 * kl_ym + 0.5 * kl_pm))


def total_variation(y, p) -> float:
    """Mean total variation distance ½ Σ |y − p|."""
    y, p = _pair(y, p)
    return float(np.mean(0.5 * np.abs(y - p).sum(axis=1)))


def brier_score(y, p) -> float:
    """Mean multi-class Brier score Σ (p − y)² against the soft target."""
    y, p = _pair(y, p)
    return float(np.mean(np.sum((p - y) ** 2, axis=1)))


def accuracy(y, p) -> float:
    """Fraction of items whose argmax(p) equals argmax(y)."""
    y, p = _pair(y, p)
    return float(np.mean(argmax_lowest(y) == argmax_lowest(p)))


def _confusion(y, p):
    y, p = _pair(y, p)
    k = y.shape[1]
    true, pred = argmax_lowest(y), argmax_lowest(p)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def macro_accuracy(y, p) -> float:
    """Mean over the classes present in argmax(y) of the recall of argmax(p).

    Equals scikit-learn's ``balanced_accuracy_score`` on the argmax labels.
    """
    confusion = _confusion(y, p)
    support = confusion.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present]))


def macro_f1(y, p) -> float:
    """Unweighted mean F1 over the classes present in argmax(y) or argmax(p) (scikit-learn's
    ``f1_score(average="macro")``)."""
    confusion = _confusion(y, p)
    tp = np.diag(confusion).astype(np.float64)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (support + predicted) > 0
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    return float(np.mean(f1))


def expected_calibration_error(y, p, num_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top-class confidence.

    Confidence = max(p); correct = argmax(p) == argmax(y). Items fall into ``num_bins``
    equal-width bins of confidence, (0, 1/B], (1/B, 2/B], ..., ((B−1)/B, 1]; ECE is the
    item-weighted mean over bins of |accuracy − mean confidence|.
    """
    return _calibration_error(reliability_bins(y, p, num_bins))


def _calibration_error(bins: list[dict]) -> float:
    """ECE from :func:`reliability_bins`: the count-weighted mean |accuracy − confidence|."""
    return float(sum(abs(b["accuracy"] - b["confidence"]) * b["count"] for b in bins if b["count"])
                 / max(sum(b["count"] for b in bins), 1))


def reliability_bins(y, p, num_bins: int = ECE_BINS) -> list[dict]:
    """The reliability diagram behind :func:`expected_calibration_error`: per equal-width bin of
    top-class confidence, its range, the number of items, their mean confidence and accuracy
    (None for an empty bin)."""
    y, p = _pair(y, p)
    confidence = p.max(axis=1)
    correct = (argmax_lowest(y) == argmax_lowest(p)).astype(np.float64)
    bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=num_bins)
    correct_sum = np.bincount(bins, weights=correct, minlength=num_bins)
    return [{"low": b / num_bins, "high": (b + 1) / num_bins, "count": int(count[b]),
             "confidence": float(conf_sum[b] / count[b]) if count[b] else None,
             "accuracy": float(correct_sum[b] / count[b]) if count[b] else None}
            for b in range(num_bins)]


def prediction_scores(y, p, y_entropy: np.ndarray | None = None) -> dict:
    """Every prediction score of docs/conventions.md §4 as a dict (the ``scores`` of the audit JSON).

    ``y_entropy``: the per-item entropies of ``y`` when the caller has them already.
    """
    y, p = _pair(y, p)
    bins = reliability_bins(y, p)
    return {
        "kl": kl_divergence(y, p),
        "kl_dcic": kl_divergence(y, p, convention="dcic"),
        "macro_accuracy": macro_accuracy(y, p),
        "accuracy": accuracy(y, p),
        "macro_f1": macro_f1(y, p),
        "ece": _calibration_error(bins),
        "ece_bins": ECE_BINS,
        "reliability": bins,
        "js": js_divergence(y, p),
        "total_variation": total_variation(y, p),
        "brier": brier_score(y, p),
        "cross_entropy": cross_entropy(y, p),
        "entropy_labels": entropy(y) if y_entropy is None else float(np.mean(y_entropy)),
        "entropy_predictions": entropy(p),
    }


# ----------------------------------------------------------------------------------------------
# Agreement


def _counts(counts):
    return counts_matrix(counts).astype(np.float64)


def fleiss_kappa(counts) -> float:
    """Fleiss' κ, allowing a different number of annotators per item.

    Per item i with n_i ≥ 2 annotations: P_i = Σ_k n_ik (n_ik − 1) / (n_i (n_i − 1)). P̄ is the
    mean of P_i, p_k the share of class k among all those annotations, P_e = Σ_k p_k², and
    κ = (P̄ − P_e) / (1 − P_e). Items with fewer than 2 annotations are left out. Returns NaN when
    P_e = 1 (a single class used throughout).
    """
    c = _counts(counts)
    n = c.sum(axis=1)
    c, n = c[n >= 2], n[n >= 2]
    if c.shape[0] == 0:
        return float("nan")
    p_i = (c * (c - 1)).sum(axis=1) / (n * (n - 1))
    p_bar = p_i.mean()
    p_k = c.sum(axis=0) / n.sum()
    p_e = float(np.sum(p_k**2))
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha(counts) -> float:
    """Krippendorff's α for nominal data, from the counts matrix.

    Uses the coincidence matrix of Krippendorff (2011): only items with ≥ 2 annotations are
    pairable. With o_kk = Σ_u n_uk (n_uk − 1)/(m_u − 1), n_k = Σ_u n_uk and n = Σ_k n_k:
    α = 1 − (n − 1) (n − Σ_k o_kk) / (n² − Σ_k n_k²). Returns NaN when only one class occurs.
    """
    c = _counts(counts)
    m = c.sum(axis=1)
    c, m = c[m >= 2], m[m >= 2]
    if c.shape[0] == 0:
        return float("nan")
    o_diag = ((c * (c - 1)) / (m - 1)[:, None]).sum(axis=0)
    n_k = c.sum(axis=0)
    n = n_k.sum()
    expected = n**2 - np.sum(n_k**2)
    if expected == 0:
        return float("nan")
    return float(1 - (n - 1) * (n - o_diag.sum()) / expected)


def agreement_not_measurable(counts, num_annotators: int | None = None) -> str | None:
    """Why agreement means nothing for these counts (one annotator, or one annotation per
    item), or None where it can be measured.

    Examples:
        >>> agreement_not_measurable([[2, 0], [1, 1]]), agreement_not_measurable([[1, 0]])
        (None, 'agreement is not measurable: every item has one annotation')
    """
    if num_annotators == 1:
        return "agreement is not measurable: one annotator"
    if int(np.asarray(counts).sum(axis=1).max()) < 2:
        return "agreement is not measurable: every item has one annotation"
    return None


def unanimous_items(counts) -> np.ndarray:
    """Mask of items whose annotations all chose one class (items with ≥ 1 annotation)."""
    c = np.asarray(counts)
    n = c.sum(axis=1)
    return (n > 0) & (c.max(axis=1) == n)


def annotator_agreement(annotations) -> tuple[np.ndarray, np.ndarray]:
    """Each annotator's agreement with the leave-one-out consensus.

    For an annotation of item i, the consensus is the majority vote of the *other* annotations
    of i. The annotation scores 1 if its label is the sole top class of the others, 1/t if it is
    one of t tied top classes (the chance a random tie-break would agree), and 0 otherwise.
    Items with a single annotation have no consensus and are skipped. An annotator's agreement
    is the mean over their scored annotations (NaN if none).

    Args:
        annotations: :class:`~dqlabels.Annotations` with annotator ids.

    Returns:
        ``(agreement, num_scored)``: two arrays aligned with ``annotations.annotators``.

    Examples:
        >>> from dqlabels import from_long
        >>> ann = from_long(["a", "a", "a"], ["cat", "cat", "dog"], ["u1", "u2", "u3"])
        >>> agreement, num_scored = annotator_agreement(ann)
        >>> agreement.tolist(), num_scored.tolist()
        ([0.5, 0.5, 0.0], [1, 1, 1])
    """
    if annotations.annotator_index is None:
        raise InputError("annotator_agreement needs annotator ids; these annotations have none")
    c = annotations.counts
    annotators = annotations.annotator_index
    num_annotators = annotations.num_annotators
    item_index, label_index = annotations.item_index, annotations.label_index
    # Everything is decided per (item, class) cell, as a small code each annotation then reads:
    # 0 = item not scored (a single annotation), 1 = no credit, 1 + t = credit 1/t.
    num_classes = c.shape[1]
    top = c.max(axis=1)
    num_top = np.count_nonzero(c == top[:, None], axis=1)
    # Classes at top − 1 tie with the own label once it is removed.
    num_next = np.count_nonzero(c == (top - 1)[:, None], axis=1)
    sole_top = (c == top[:, None]) & (num_top == 1)[:, None]
    code = np.where(sole_top, 2 + num_next[:, None], 1).astype(np.int16)
    code[c.sum(axis=1) < 2] = 0
    # int32 cell numbers while they fit: half the memory traffic of int64.
    dtype = np.int32 if c.size < 2**31 else np.int64
    cell = np.asarray(item_index, dtype=dtype) * dtype(num_classes)
    cell += np.asarray(label_index, dtype=dtype)
    num_codes = num_classes + 2
    key = annotators.astype(np.int64) * num_codes
    key += code.reshape(-1)[cell]
    tally = np.bincount(key, minlength=num_annotators * num_codes).reshape(num_annotators,
                                                                            num_codes)
    weight = np.zeros(num_codes)
    weight[2:] = 1.0 / np.arange(1, num_classes + 1)
    total = tally @ weight
    num_scored = tally[:, 1:].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / num_scored, num_scored
