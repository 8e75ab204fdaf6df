"""Latency quantiles with distribution-free order-statistic intervals, and a case bootstrap.

A bound that does not exist at this n is reported as None with the reason, never as a number:
with 60 observations a two-sided 95% interval for a P95 would need rank 61.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._design_limits import min_n_for_quantile_upper_bound
from analysis._results import Interval, LatencyCurve, QuantileResult, Unit

__all__ = [
    "CURVE_POINTS",
    "bootstrap_quantile",
    "empirical_curve",
    "estimate_quantile",
    "order_statistic_ranks",
]

_METHOD = "order_statistic"

#: Most points of a latency curve in the results, whatever the number of requests.
CURVE_POINTS = 400


def order_statistic_ranks(n: int, q: float, level: float, side: str) -> tuple[int | None, int | None]:
    """1-based ranks ``(l, u)`` of the order statistics bounding the q-quantile; None if absent.

    Parameters
    ----------
    n : int
        Number of observations (unit of analysis: the request; each latency is one observation).
    q : float
        Quantile in (0, 1).
    level : float
        Confidence level.
    side : {"two-sided", "lower", "upper"}
        Which bounds; the other entry is None for a one-sided call.

    Returns
    -------
    l, u : int or None
        Ranks such that :math:`[X_{(l)}, X_{(u)}]` covers the quantile with probability at least
        ``level``; None where the rank would fall outside ``1..n`` (no finite bound exists).

    Notes
    -----
    With :math:`B \\sim \\mathrm{Bin}(n, q)`, :math:`P(X_{(l)} \\le \\xi_q) = P(B \\ge l)` and
    :math:`P(\\xi_q < X_{(u)}) = P(B \\le u - 1)` for continuous data. The lower rank is the largest
    :math:`l` with :math:`P(B \\le l-1) \\le a`, the upper the smallest :math:`u` with
    :math:`P(B \\le u-1) \\ge 1-a`, where :math:`a = (1-\\text{level})/2` two-sided and
    :math:`1-\\text{level}` one-sided. A rank below 1 or above :math:`n` means no finite bound.

    References
    ----------
    .. [1] Hahn, G. J., Meeker, W. Q. (1991). Statistical Intervals. Wiley, section 5.2.
       doi:10.1002/9780470316771
    .. [2] David, H. A., Nagaraja, H. N. (2003). Order Statistics, 3rd ed., section 7.1.
       doi:10.1002/0471722162
    """
    return _ranks(n, q, level, side)


@lru_cache(maxsize=4096)
def _ranks(n: int, q: float, level: float, side: str) -> tuple[int | None, int | None]:
    """:func:`order_statistic_ranks`, remembered: a pure function of four numbers, which a design
    diagnosis asks for with the same few arguments thousands of times."""
    if n <= 0:
        return None, None
    a = (1.0 - level) / 2.0 if side == "two-sided" else 1.0 - level
    lower: int | None = None
    upper: int | None = None
    if side in ("two-sided", "lower"):
        j = _window(n, q, a)
        ok = j[(stats.binom.cdf(j, n, q) <= a) & (j < n)]  # candidate l - 1 in 0..n-1
        lower = int(ok[-1]) + 1 if ok.size else None
    if side in ("two-sided", "upper"):
        j = _window(n, q, 1.0 - a)
        ok = j[stats.binom.cdf(j, n, q) >= 1.0 - a]  # candidate u - 1 in 0..n
        u = int(ok[0]) + 1 if ok.size else n + 1
        upper = u if u <= n else None
    return lower, upper


def _window(n: int, q: float, p: float) -> NDArray[np.int64]:
    """Candidate values of B around its p-quantile: every j when n is small, else a window wide
    enough that the rank rule's answer lies strictly inside it (ppf is exact up to one step)."""
    if n <= 2000:
        return np.arange(0, n + 1)
    centre = int(stats.binom.ppf(p, n, q))
    return np.arange(max(0, centre - 8), min(n, centre + 8) + 1)


def estimate_quantile(
    values: NDArray[np.float64], q: float, level: float, unit: Unit = "request"
) -> QuantileResult:
    """A quantile with a two-sided order-statistic interval and one-sided bounds at ``level``.

    Parameters
    ----------
    values : ndarray of float64
        Observations (NaN already removed); ties are allowed.
    q : float
        Quantile, e.g. 0.5 or 0.95.
    level : float
        Confidence level of the two-sided interval and of each one-sided bound.
    unit : {"request", "case"}
        Unit of the observations.

    Returns
    -------
    QuantileResult
        The point estimate is ``numpy.quantile`` with linear interpolation (DuckDB's
        ``quantile_cont``); missing bounds are None with a note.

    Notes
    -----
    See :func:`order_statistic_ranks`. With ties the interval stays valid but conservative.

    References
    ----------
    .. [1] Hahn, G. J., Meeker, W. Q. (1991). Statistical Intervals. Wiley. doi:10.1002/9780470316771
    """
    n = int(values.size)
    need = min_n_for_quantile_upper_bound(q, level)
    if n == 0:
        empty = "no observations"
        return QuantileResult(
            unit,
            q,
            0,
            None,
            Interval(None, None, level, _METHOD, "two-sided", empty),
            Interval(None, None, level, _METHOD, "lower", empty),
            Interval(None, None, level, _METHOD, "upper", empty),
        )
    srt = np.sort(values)
    est = float(np.quantile(srt, q))

    def at(rank: int | None) -> float | None:
        return None if rank is None else float(srt[rank - 1])

    lo2, hi2 = order_statistic_ranks(n, q, level, "two-sided")
    lo1, _ = order_statistic_ranks(n, q, level, "lower")
    _, hi1 = order_statistic_ranks(n, q, level, "upper")
    two = Interval(at(lo2), at(hi2), level, _METHOD, "two-sided", _note(n, q, level, lo2, hi2))
    low = Interval(
        at(lo1),
        None,
        level,
        _METHOD,
        "lower",
        None if lo1 is not None else f"no finite lower bound at n = {n}",
    )
    up_note = (
        None
        if hi1 is not None
        else (
            f"no finite upper bound at n = {n}: a one-sided {level:g} distribution-free upper bound "
            f"for the {q:g} quantile needs n >= {need}"
        )
    )
    up = Interval(None, at(hi1), level, _METHOD, "upper", up_note)
    return QuantileResult(unit, q, n, est, two, low, up)


def _note(n: int, q: float, level: float, lo: int | None, hi: int | None) -> str | None:
    parts = []
    if lo is None:
        parts.append("no finite lower end")
    if hi is None:
        parts.append("no finite upper end (it would need rank > n)")
    return (
        None
        if not parts
        else f"at n = {n}, a {level:g} interval for the {q:g} quantile has " + " and ".join(parts)
    )


def bootstrap_quantile(
    values: NDArray[np.float64],
    cases: NDArray[np.intp],
    q: float,
    weights: NDArray[np.float64],
    max_bins: int = 1024,
) -> NDArray[np.float64]:
    """The q-quantile of each case resample (one value per row of ``weights``), vectorised.

    Parameters
    ----------
    values : ndarray of float64
        Request-level observations (unit of analysis: the request, resampled by whole cases).
    cases : ndarray of intp
        Codes ``0..k-1`` matching the columns of ``weights`` (from
        :func:`analysis.bootstrap_case_weights`).
    q : float
        Quantile in (0, 1).
    weights : ndarray of float64
        ``resamples x k`` case counts.
    max_bins : int
        Most distinct values binned on.

    Returns
    -------
    ndarray of float64
        One quantile per resample.

    Notes
    -----
    Values are binned on at most ``max_bins`` pooled order statistics; each case becomes a histogram
    row :math:`H_{i\\cdot}`, a resample's histogram is :math:`w_b H`, and its quantile is the bin
    (reported at the bin's upper edge, an exact observed value when there are fewer distinct values
    than bins) where the cumulative count first reaches :math:`q\\sum_i w_{bi}n_i`. This is the
    lower empirical quantile (inverse of the empirical CDF) on that grid.

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
       doi:10.1007/978-1-4899-4541-9
    .. [2] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       section 3.8 (clustered data). doi:10.1017/CBO9780511802843
    """
    k = weights.shape[1]
    if values.size <= max_bins:
        edges = np.unique(values)
    else:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, max_bins), method="inverted_cdf"))
    bins = np.searchsorted(edges, values, side="left")  # value <= edges[bin]
    hist = np.bincount(cases * edges.size + bins, minlength=k * edges.size).reshape(k, edges.size)
    totals = weights @ hist.sum(axis=1)
    target = q * totals - 1e-9
    # Only bins near the pooled quantile matter for almost every resample: histogram a window,
    # and redo the few resamples whose quantile falls outside it on every bin.
    pooled = np.cumsum(hist.sum(axis=0)) / hist.sum()
    lo_bin = int(np.searchsorted(pooled, max(q - 0.15, 0.0)))
    hi_bin = int(np.searchsorted(pooled, min(q + 0.15, 1.0))) + 1
    below = weights @ hist[:, :lo_bin].sum(axis=1)
    cum = below[:, None] + np.cumsum(weights @ hist[:, lo_bin:hi_bin], axis=1)
    pos = lo_bin + (cum < target[:, None]).sum(axis=1)
    outside = (below >= target) | (cum[:, -1] < target) if cum.shape[1] else np.ones(pos.size, dtype=bool)
    if outside.any():
        full = np.cumsum(weights[outside] @ hist, axis=1)
        pos[outside] = (full < target[outside][:, None]).sum(axis=1)
    return np.asarray(edges[np.minimum(pos, edges.size - 1)], dtype=np.float64)


def empirical_curve(
    values: NDArray[np.float64], unit: Unit = "request", points: int = CURVE_POINTS
) -> LatencyCurve | None:
    """The empirical distribution of ``values`` as at most ``points`` (probability, quantile) pairs.

    Parameters
    ----------
    values : ndarray of float64
        Request-level observations (NaN already removed); ties are allowed.
    unit : {"request", "case"}
        Unit of the observations (routing latencies are per request).
    points : int
        Most pairs returned.

    Returns
    -------
    LatencyCurve or None
        None when there are no observations.

    Notes
    -----
    With :math:`n \\le` ``points`` the pairs are :math:`(i/n, x_{(i)})`, :math:`i = 1..n`: the whole
    ECDF. Otherwise :math:`(j/m, \\hat F^{-1}(j/m))`, :math:`j = 1..m`, with :math:`m` = ``points`` and
    :math:`\\hat F^{-1}(p) = x_{(\\lceil np \\rceil)}` the lower empirical quantile (numpy's
    ``inverted_cdf``), so every value drawn is an observed latency. Descriptive only: no interval
    is attached to the curve; the P95 and median with their intervals are in :func:`estimate_quantile`.

    References
    ----------
    .. [1] Hyndman, R. J., Fan, Y. (1996). Sample quantiles in statistical packages. The American
       Statistician 50(4), 361-365 (definition 1). doi:10.1080/00031305.1996.10473566
    """
    n = int(values.size)
    if n == 0:
        return None
    srt = np.sort(values)
    if n <= points:
        probs = np.arange(1, n + 1, dtype=np.float64) / n
        vals = srt
    else:
        j = np.arange(1, points + 1, dtype=np.int64)
        ranks = -((-j * n) // points)  # ceil(n j / m), exact in integers
        probs = j / points
        vals = srt[ranks - 1]
    return LatencyCurve(unit, n, tuple(float(p) for p in probs), tuple(float(v) for v in vals))
