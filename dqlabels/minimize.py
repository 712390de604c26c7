"""The minimum of a function of one number on an interval, without importing scipy.optimize.

:func:`bounded_minimum` is Brent's bounded method step for step as SciPy's
``minimize_scalar(method="bounded")`` runs it (``scipy.optimize._optimize._minimize_scalar_bounded``,
BSD-3-Clause; the golden section with parabolic steps of Brent, 1973, as in Forsythe, Malcolm
and Moler's ``fmin``): the same points are evaluated in the same order, so the answer is the
same number. The prior strength and the prediction weight of :mod:`dqlabels.labels.plan` are
fitted with it: importing scipy.optimize costs 0.2–0.3 s of one core at each ``dqlabels
evaluate``, about 8% of the whole audit of 2 million annotations (``benchmarks/README.md``).
``tests/test_plan.py`` checks it against SciPy on many functions.
"""

from __future__ import annotations

import math

_SQRT_EPS = math.sqrt(2.2e-16)
_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def bounded_minimum(func, low: float, high: float, xatol: float = 1e-5,
                    maxiter: int = 500) -> float:
    """The ``x`` in ``[low, high]`` where ``func`` (a float function) is smallest, to within
    ``xatol``, as ``scipy.optimize.minimize_scalar(func, bounds=(low, high),
    method="bounded").x`` finds it.

    Examples:
        >>> round(bounded_minimum(lambda x: (x - 0.3) ** 2, 0.0, 1.0), 4)
        0.3
        >>> bounded_minimum(lambda x: x, 2.0, 5.0) < 2.0001
        True
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the bounds must be finite numbers")
    if low > high:
        raise ValueError("the lower bound exceeds the upper bound")
    a, b = low, high
    fulc = a + _GOLDEN * (b - a)
    nfc = xf = fulc
    rat = e = 0.0
    x = xf
    fx = func(x)
    num = 1
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    while abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = True
        if abs(e) > tol1:  # try a parabola through the three best points
            golden = False
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            r = e
            e = rat
            if abs(p) < abs(0.5 * q * r) and p > q * (a - xf) and p < q * (b - xf):
                rat = (p + 0.0) / q
                x = xf + rat
                if (x - a) < tol2 or (b - x) < tol2:
                    rat = tol1 * _sign(xm - xf)
            else:
                golden = True
        if golden:
            e = (a - xf) if xf >= xm else (b - xf)
            rat = _GOLDEN * e
        x = xf + _sign(rat) * _maximum(abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if fu <= fnfc or nfc == xf:
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            elif fu <= ffulc or fulc == xf or fulc == nfc:
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxiter:
            break
    return float(xf)


def _maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)``: NaN if either is."""
    return a if a >= b or a != a else b


def _sign(value: float) -> float:
    """``np.sign(value) + (value == 0)``: 1 for zero, as SciPy steps."""
    return 1.0 if value >= 0 else (-1.0 if value < 0 else math.nan)
