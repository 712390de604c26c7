"""Soft against hard, paired over splits or folds, and the verdict the evidence carries (docs/conventions.md §14).

One rule for every study (the synthetic one, the budget study, the study on real images):
"soft better" (or "soft worse") only where the 95% t interval of the paired difference
soft − hard excludes 0; otherwise "a tie within the folds' spread"; with one split or fold,
"not tested (1 fold)". A mean that favours soft by 0.004 on one split is not a finding.

Examples:
    >>> comparison = paired([0.80, 0.78, 0.79], [0.82, 0.80, 0.815])
    >>> round(comparison["mean"], 4), verdict(comparison, higher_is_better=True)
    (0.0217, 'soft better')
    >>> verdict(paired([0.5], [0.6]), higher_is_better=True)
    'not tested (1 fold)'
"""

from __future__ import annotations

import math

import numpy as np

VERDICTS = ("soft better", "soft worse", "a tie within the folds' spread", "not tested (1 fold)")


def paired(hard, soft) -> dict:
    """Soft − hard on the same splits: the mean difference, its 95% t interval (None with one
    split) and on how many splits soft is higher, and lower (ties count as neither)."""
    from scipy import stats

    diff = np.asarray(soft, dtype=np.float64) - np.asarray(hard, dtype=np.float64)
    n = diff.size
    mean = float(diff.mean())
    interval = None
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n))
        interval = [mean - half, mean + half]
    return {"mean": mean, "interval": interval, "splits": n,
            "soft_higher": int(np.count_nonzero(diff > 0)),
            "soft_lower": int(np.count_nonzero(diff < 0)), "differences": diff.tolist()}


def verdict(comparison: dict, higher_is_better: bool) -> str:
    """What a :func:`paired` comparison supports, in one of :data:`VERDICTS`."""
    interval = comparison["interval"]
    if interval is None:
        return VERDICTS[3]
    low, high = interval
    if low > 0 or high < 0:
        soft_higher = low > 0
        return VERDICTS[0] if soft_higher == higher_is_better else VERDICTS[1]
    return VERDICTS[2]
