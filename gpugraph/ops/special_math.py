"""erf and erfc in NumPy, to double precision, without SciPy.

W. J. Cody's rational Chebyshev approximations (SPECFUN ``CALERF``; Math. Comp. 23, 1969), the
algorithm behind most libm ``erf`` implementations: relative error below 1e-15 on the whole real
line (checked against ``math.erf``/``math.erfc`` in tests/ops/test_math_ops.py). Three ranges:
|x| <= 0.5 (erf by a rational function of x^2), 0.5 < |x| <= 4 and |x| > 4 (erfc as
exp(-x^2) times a rational function). ``exp(-x^2)`` is split as ``exp(-y^2) exp(-(x-y)(x+y))`` with
y = x rounded down to 1/16, which keeps full relative precision in the tail.

Example:
    >>> erf(np.array([0.0, 0.5, 3.0])).round(6).tolist()
    [0.0, 0.5205, 0.999978]
"""

import numpy as np

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_ONE_OVER_SQRT_PI = 5.6418958354775628695e-1
_SMALL = 0.46875


def _erf_small_ratio(y):
    """erf(x) / x for |x| <= 0.46875 (y = |x|)."""
    ysq = y * y
    num = _A[4] * ysq
    den = ysq
    for i in range(3):
        num = (num + _A[i]) * ysq
        den = (den + _B[i]) * ysq
    return (num + _A[3]) / (den + _B[3])


def _exp_minus_square(y):
    ysq = np.trunc(y * 16.0) / 16.0
    return np.exp(-ysq * ysq) * np.exp(-(y - ysq) * (y + ysq))


def _erfc_mid(y):
    """erfc(y) for 0.46875 < y <= 4."""
    num = _C[8] * y
    den = y
    for i in range(7):
        num = (num + _C[i]) * y
        den = (den + _D[i]) * y
    return _exp_minus_square(y) * (num + _C[7]) / (den + _D[7])


def _erfc_large(y):
    """erfc(y) for y > 4 (underflows to 0 past y ~ 26.6)."""
    z = 1.0 / (y * y)
    num = _P[5] * z
    den = z
    for i in range(4):
        num = (num + _P[i]) * z
        den = (den + _Q[i]) * z
    r = z * (num + _P[4]) / (den + _Q[4])
    return _exp_minus_square(y) * (_ONE_OVER_SQRT_PI - r) / y


def _erfc_abs(y):
    """erfc(|x|) for |x| > 0.46875; each range is evaluated only where it applies."""
    out = np.empty_like(y)
    mid = y <= 4.0
    out[mid] = _erfc_mid(y[mid])
    # erfc underflows to 0 long before 30; clipping keeps inf from making inf - inf = nan.
    out[~mid] = _erfc_large(np.minimum(y[~mid], 30.0))
    return out


def erf(x):
    """Elementwise erf of a float64-convertible array, as float64."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    y = np.abs(flat)
    out = np.empty_like(flat)
    small = y <= _SMALL
    out[small] = flat[small] * _erf_small_ratio(y[small])
    big = ~small
    yb = y[big]
    with np.errstate(all="ignore"):
        out[big] = np.copysign(1.0 - _erfc_abs(yb), flat[big])
    out[np.isnan(flat)] = np.nan
    return out.reshape(x.shape)


def erfc(x):
    """Elementwise erfc of a float64-convertible array, as float64."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.ravel()
    y = np.abs(flat)
    out = np.empty_like(flat)
    small = y <= _SMALL
    out[small] = 1.0 - flat[small] * _erf_small_ratio(y[small])
    big = ~small
    with np.errstate(all="ignore"):
        tail = _erfc_abs(y[big])
    out[big] = np.where(flat[big] < 0, 2.0 - tail, tail)
    out[np.isnan(flat)] = np.nan
    return out.reshape(x.shape)
