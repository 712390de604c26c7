"""Compiled kernels (numba) for the loops numpy cannot express without many passes.

Imported only when a large fit needs them: numba's start-up costs about 0.7 s per process (its
import, then its typing context and the cached machine code at the first call), and the very
first call on a machine compiles for a few seconds more (the result is cached beside this file
or in numba's user cache directory). Every kernel releases the GIL, so blocks run on the shared
thread pool of :mod:`dqlabels._parallel`.

The number of classes ``K`` reaches the kernels as the length of a tuple, so numba compiles one
version per ``K`` with the class loops unrolled and an item's ``K`` values kept in registers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.cpython.unsafe.tuple import tuple_setitem


def _jit(**options):
    """``numba.njit`` with its on-disk cache where one can be written (beside this file or in
    numba's user cache directory); where neither can, numba refuses ``cache=True``, and the
    kernels are compiled in every process instead."""

    def decorate(function):
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(**options)(function)

    return decorate


# Items whose log posteriors are exponentiated in one vectorised pass (K values each: a few KB,
# in L1 cache).
ITEMS_PER_PASS = 256

# exp(x) for x <= 0 as 2^n · e^r with n = round(x / ln 2), |r| <= ln 2 / 2: Cody–Waite
# reduction (ln 2 in two parts, the first exact for |n| < 2^11), e^r by its Taylor series to
# r^13 (truncation below 5e-18), 2^n added to the exponent bits. Within 1 ulp of libm's exp
# (tested); unlike libm's it vectorises, which makes it several times faster here.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 · 2^52: x + _ROUND - _ROUND rounds x to an integer
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(i) for i in range(2, 14))
_EXP_MIN = -708.0  # e^-708 is still a normal double; below, the result is clamped to it


@_jit(nogil=True, fastmath={"contract"})
def exp_nonpositive(values, count):
    """``values[:count] = exp(values[:count])`` in place, for values <= 0 (NaN and values below
    -708 give e^-708 ≈ 3e-308)."""
    bits = values.view(np.int64)
    for s in range(count):
        x = values[s]
        x = x if x > _EXP_MIN else _EXP_MIN
        n = (x * _LOG2E + _ROUND) - _ROUND
        r = (x - n * _LN2_HI) - n * _LN2_LO
        p = _C13 * r + _C12
        p = p * r + _C11
        p = p * r + _C10
        p = p * r + _C9
        p = p * r + _C8
        p = p * r + _C7
        p = p * r + _C6
        p = p * r + _C5
        p = p * r + _C4
        p = p * r + _C3
        p = p * r + _C2
        p = p * r + 1.0
        values[s] = p * r + 1.0
        bits[s] += np.int64(n) << 52


@_jit(nogil=True)
def dawid_skene_block(start, stop, indptr, columns, log_confusion, log_priors, posteriors,
                      counts, gold):
    """One EM iteration over items ``start:stop``; item ``i``'s annotations are
    ``columns[indptr[i]:indptr[i + 1]]``, each ``annotator * K + label``.

    E-step: each item's log posterior is ``log_priors`` plus, for each of its annotations, the
    row ``log_confusion[annotator * K + label]``; normalised, it replaces the item's row of
    ``posteriors``. M-step: the item's new posterior is added, per annotation, into
    ``counts[annotator * K + label]`` (zeroed by the caller). Returns the block's log evidence,
    the largest change of any posterior, and the sum of its posteriors per class.

    ``gold``: empty, or each item's known class (−1: unknown); a gold item's posterior is its
    class, and it adds the log-likelihood of its annotations under that class.
    """
    num_classes = len(log_priors)
    has_gold = gold.size > 0
    scratch = np.empty(ITEMS_PER_PASS * num_classes)
    log_likelihood = 0.0
    moved = 0.0
    totals = log_priors
    for k in range(num_classes):
        totals = tuple_setitem(totals, k, 0.0)
    for first in range(start, stop, ITEMS_PER_PASS):
        last = min(first + ITEMS_PER_PASS, stop)
        # E-step: log posteriors, shifted so that each item's largest is 0.
        t = 0
        for item in range(first, last):
            values = log_priors
            for j in range(indptr[item], indptr[item + 1]):
                column = columns[j]
                for k in range(num_classes):
                    values = tuple_setitem(values, k, values[k] + log_confusion[column, k])
            top = values[0]
            for k in range(1, num_classes):
                top = max(top, values[k])
            if has_gold and gold[item] >= 0:  # its log-likelihood under its known class
                log_likelihood += values[gold[item]]
                for k in range(num_classes):
                    scratch[t + k] = 0.0  # unused: the posterior is the known class
            else:
                log_likelihood += top
                for k in range(num_classes):
                    scratch[t + k] = values[k] - top
            t += num_classes
        exp_nonpositive(scratch, t)
        # Normalise, then the M-step. The evidences (each in [1, K]) are multiplied and their
        # product's log taken once per pass, or sooner if it grows large.
        t = 0
        product = 1.0
        for item in range(first, last):
            known = gold[item] if has_gold else -1
            evidence = 0.0
            for k in range(num_classes):
                evidence += scratch[t + k]
            if known >= 0:
                evidence = 1.0
            product *= evidence
            if product > 1e250:
                log_likelihood += math.log(product)
                product = 1.0
            inverse = 1.0 / evidence
            values = log_priors
            for k in range(num_classes):
                value = scratch[t + k] * inverse
                if known >= 0:
                    value = 1.0 if k == known else 0.0
                moved = max(moved, abs(value - posteriors[item, k]))
                posteriors[item, k] = value
                values = tuple_setitem(values, k, value)
                totals = tuple_setitem(totals, k, totals[k] + value)
            t += num_classes
            for j in range(indptr[item], indptr[item + 1]):
                column = columns[j]
                for k in range(num_classes):
                    counts[column, k] += values[k]
        log_likelihood += math.log(product)
    return log_likelihood, moved, totals


@_jit(nogil=True)
def add_confusion_counts(start, stop, indptr, columns, posteriors, counts):
    """The M-step alone: ``counts[column] += posteriors[item]`` for each annotation of items
    ``start:stop`` (laid out as in :func:`dawid_skene_block`)."""
    num_classes = posteriors.shape[1]
    for item in range(start, stop):
        for j in range(indptr[item], indptr[item + 1]):
            column = columns[j]
            for k in range(num_classes):
                counts[column, k] += posteriors[item, k]

