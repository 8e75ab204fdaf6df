"""Confidence intervals for a binomial proportion: Wilson, Clopper-Pearson, Jeffreys, Agresti-Coull.

The bounds are vectorised over arrays of successes and trials, accept non-integer successes (the
case-level unit of analysis gives ``x = n_cases * mean of per-case proportions``) and come two-sided
or one-sided. A one-sided bound at level ``L`` is the matching end of the two-sided interval at
level ``2L - 1``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analysis._results import Interval, ProportionResult, Unit
from prereg.errors import InputError

__all__ = ["CI_METHODS", "CiMethod", "Side", "estimate_proportion", "proportion_bounds"]

CiMethod = Literal["wilson", "clopper_pearson", "jeffreys", "agresti_coull"]
Side = Literal["two-sided", "lower", "upper"]

#: The interval methods a plan may name.
CI_METHODS: tuple[CiMethod, ...] = ("wilson", "clopper_pearson", "jeffreys", "agresti_coull")


def _tail(level: float, side: Side) -> float:
    """The probability left in each bounded tail."""
    if not 0.0 < level < 1.0:
        raise InputError(f"expected a confidence level in (0, 1), found {level}", field="level")
    return (1.0 - level) / 2.0 if side == "two-sided" else 1.0 - level


@lru_cache(maxsize=64)
def _z(a: float) -> float:
    """``norm.isf(a)``, remembered (a plan asks for the same few tail probabilities many times)."""
    return float(stats.norm.isf(a))


def proportion_bounds(
    successes: ArrayLike,
    n: ArrayLike,
    level: float,
    method: str = "wilson",
    side: Side = "two-sided",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper confidence bounds for binomial proportions.

    Parameters
    ----------
    successes : array_like
        Successes (may be non-integer, e.g. a case-level sum of per-case proportions).
    n : array_like
        Units of analysis: requests, or unique cases for the case unit; entries of 0 give NaN
        bounds (no interval without data).
    level : float
        Confidence level in (0, 1), e.g. 0.95.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Interval method.
    side : {"two-sided", "lower", "upper"}
        ``"lower"`` returns the one-sided lower bound and 1 as the upper end; ``"upper"`` returns 0
        and the one-sided upper bound.

    Returns
    -------
    lower, upper : ndarray of float64
        Bounds, broadcast over ``successes`` and ``n``.

    Notes
    -----
    With :math:`\\hat p = x/n`, tail probability :math:`a` and :math:`z = \\Phi^{-1}(1-a)`:

    - Wilson: :math:`\\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}`.
    - Clopper-Pearson: lower :math:`B^{-1}(a; x, n-x+1)`, upper :math:`B^{-1}(1-a; x+1, n-x)`,
      with 0 at :math:`x=0` and 1 at :math:`x=n`.
    - Jeffreys: quantiles :math:`a` and :math:`1-a` of :math:`\\mathrm{Beta}(x+1/2, n-x+1/2)`, with
      the lower bound set to 0 at :math:`x=0` and the upper to 1 at :math:`x=n` (Brown et al. 2001,
      section 4.1.2; statsmodels leaves these ends unmodified).
    - Agresti-Coull: :math:`\\tilde n = n + z^2`, :math:`\\tilde p = (x + z^2/2)/\\tilde n`,
      :math:`\\tilde p \\pm z\\sqrt{\\tilde p(1-\\tilde p)/\\tilde n}`, clipped to [0, 1].

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
       inference. JASA 22(158), 209-212. doi:10.1080/01621459.1927.10502953
    .. [2] Clopper, C. J., Pearson, E. S. (1934). The use of confidence or fiducial limits
       illustrated in the case of the binomial. Biometrika 26(4), 404-413. doi:10.1093/biomet/26.4.404
    .. [3] Agresti, A., Coull, B. A. (1998). Approximate is better than "exact" for interval
       estimation of binomial proportions. The American Statistician 52(2), 119-126.
       doi:10.1080/00031305.1998.10480550
    .. [4] Brown, L. D., Cai, T. T., DasGupta, A. (2001). Interval estimation for a binomial
       proportion. Statistical Science 16(2), 101-133. doi:10.1214/ss/1009213286

    Examples
    --------
    >>> lo, hi = proportion_bounds(238, 300, 0.95)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.7439, 0.8353)
    """
    a = _tail(level, side)
    x = np.asarray(successes, dtype=np.float64)
    nn = np.asarray(n, dtype=np.float64)
    x, nn = np.broadcast_arrays(x, nn)
    if np.any(nn < 0) or np.any(x < 0) or np.any(x > nn):
        raise InputError(f"expected 0 <= successes <= n, found {x!r} of {nn!r}", field="successes")
    empty = nn == 0
    safe_n = np.where(empty, 1.0, nn)
    p = x / safe_n
    z = _z(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "wilson":
            z2 = z * z
            denom = 1.0 + z2 / safe_n
            centre = (p + z2 / (2.0 * safe_n)) / denom
            half = z * np.sqrt(p * (1.0 - p) / safe_n + z2 / (4.0 * safe_n**2)) / denom
            lo, hi = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
            # exact ends at the boundaries (floating point leaves 1 - 2e-16)
            lo, hi = np.where(x == 0, 0.0, lo), np.where(x == nn, 1.0, hi)
        elif method == "agresti_coull":
            nt = safe_n + z * z
            pt = (x + z * z / 2.0) / nt
            half = z * np.sqrt(pt * (1.0 - pt) / nt)
            lo, hi = np.clip(pt - half, 0.0, 1.0), np.clip(pt + half, 0.0, 1.0)
        elif method == "clopper_pearson":
            lo = np.where(x > 0, stats.beta.ppf(a, np.maximum(x, 1e-300), safe_n - x + 1.0), 0.0)
            hi = np.where(x < nn, stats.beta.isf(a, x + 1.0, np.maximum(safe_n - x, 1e-300)), 1.0)
        elif method == "jeffreys":
            lo = np.where(x > 0, stats.beta.ppf(a, x + 0.5, safe_n - x + 0.5), 0.0)
            hi = np.where(x < nn, stats.beta.isf(a, x + 0.5, safe_n - x + 0.5), 1.0)
        else:
            raise InputError(
                f"expected an interval method in {list(CI_METHODS)}, found {method!r}", field="method"
            )
    lo = np.where(empty, np.nan, lo)
    hi = np.where(empty, np.nan, hi)
    if side == "lower":
        hi = np.where(empty, np.nan, 1.0)
    elif side == "upper":
        lo = np.where(empty, np.nan, 0.0)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def estimate_proportion(
    successes: float,
    n: float,
    n_requests: int,
    level: float,
    method: str,
    unit: Unit,
    side: Side = "two-sided",
) -> ProportionResult:
    """A proportion with its interval, as a result record.

    Parameters
    ----------
    successes, n : float
        Successes and units (cases or requests); ``n = 0`` gives no estimate and no interval.
    n_requests : int
        Requests behind the units (equal to ``n`` for unit ``request``).
    level : float
        Confidence level (two-sided, or one-sided for ``side`` ``"lower"``/``"upper"``).
    method : str
        One of :data:`CI_METHODS`.
    unit : {"case", "request"}
        Unit of analysis the counts refer to.
    side : {"two-sided", "lower", "upper"}
        Which interval.

    Returns
    -------
    ProportionResult

    Notes
    -----
    See :func:`proportion_bounds` for the formulas.

    References
    ----------
    .. [1] Brown, L. D., Cai, T. T., DasGupta, A. (2001). doi:10.1214/ss/1009213286
    """
    lo, hi = proportion_bounds(successes, n, level, method, side)
    if n == 0:
        interval = Interval(None, None, level, method, side, "no units to analyse")
        return ProportionResult(unit, float(successes), float(n), n_requests, None, interval)
    interval = Interval(float(lo), float(hi), level, method, side)
    return ProportionResult(
        unit, float(successes), float(n), n_requests, float(successes) / float(n), interval
    )
