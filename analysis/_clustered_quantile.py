"""Bounds for a latency quantile when replays of a case share latency: the quantile as the
threshold where a case-clustered proportion crosses ``q``.

"P95 <= T" is the statement "the share of latencies <= T is at least 0.95". Its one-sided bound is
the calibrated bound of a clustered proportion (:mod:`analysis._effective_n`), and the bound on the
P95 itself is that test inverted over every observed latency, so the gate's verdict and the bound
printed beside it can never disagree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis._design_limits import min_cases_for_quantile_bound
from analysis._effective_n import effective_n_bounds, method_name
from analysis._proportions import proportion_bounds
from analysis._results import Interval, QuantileResult

__all__ = ["estimate_clustered_quantile", "too_few_cases"]

F64 = NDArray[np.float64]


def too_few_cases(k: int, min_cases: int) -> str:
    """The note of an interval that needs more cases than the data have."""
    return f"too few cases for an interval: {k} < {min_cases} (analysis.min_cases)"


def _cdf_moments(values: F64, cases: NDArray[np.intp], q: float) -> tuple[F64, F64, F64, F64, int, int]:
    """At each distinct value ``t`` (ascending): the mean over cases of the per-case share of
    values ``<= t``, and the second and fourth central moments of those shares; also ``k`` and N.

    The shares change one case at a time as ``t`` passes a value, so their power sums are running
    sums of per-value increments: one sort and a few cumulative sums for all thresholds. Above the
    median the sums are kept of ``1 - share`` (small numbers near a P95, no cancellation).
    """
    n = int(values.size)
    order = np.argsort(values, kind="stable")
    v, c = values[order], cases[order]
    counts = np.bincount(c).astype(np.float64)
    present = counts > 0
    k = int(present.sum())
    # rank of each value within its case, in ascending order of value
    by_case = np.lexsort((np.arange(n), c))
    starts = np.concatenate(([0], np.cumsum(counts[present]).astype(np.int64)))[:-1]
    group = np.repeat(np.arange(k), counts[present].astype(np.int64))
    rank = np.empty(n, dtype=np.float64)
    rank[by_case] = np.arange(n) - starts[group] + 1.0
    m = counts[c]
    upper_half = q >= 0.5
    # w is the share <= t (lower half) or 1 - share (upper half) of the value's case, before / after
    before = (rank - 1.0) / m
    after = rank / m
    if upper_half:
        before, after = 1.0 - before, 1.0 - after
        start = float(k)
    else:
        start = 0.0
    s1 = np.cumsum(after - before) + start
    s2 = np.cumsum(after**2 - before**2) + start
    s3 = np.cumsum(after**3 - before**3) + start
    s4 = np.cumsum(after**4 - before**4) + start
    last = np.flatnonzero(np.append(v[1:] != v[:-1], True))
    mu1, mu2, mu3, mu4 = (s[last] / k for s in (s1, s2, s3, s4))
    m2 = mu2 - mu1**2
    m4 = mu4 - 4.0 * mu1 * mu3 + 6.0 * mu1**2 * mu2 - 3.0 * mu1**4
    p = 1.0 - mu1 if upper_half else mu1
    done = last == n - 1  # every value counted: exactly 1, no rounding left
    p = np.where(done, 1.0, p)
    m2, m4 = np.where(done, 0.0, m2), np.where(done, 0.0, m4)
    return v[last], p, m2, m4, k, n


#: Methods whose one-sided bounds move monotonically with n (checked on a grid in
#: tests/test_analysis_gate_rules.py): a bound at the extreme n can screen thresholds cheaply.
_MONOTONE = frozenset({"wilson", "clopper_pearson", "agresti_coull"})
_BLOCK = 1024


def _blocks(size: int, reverse: bool = False) -> list[tuple[int, int]]:
    """``[start, stop)`` index blocks covering ``0..size``, doubling from :data:`_BLOCK`, taken from
    the start (or from the end): the answer is usually in the first block, and never costs more
    than twice one pass over every index."""
    out, done, width = [], 0, _BLOCK
    while done < size:
        take = min(width, size - done)
        out.append((size - done - take, size - done) if reverse else (done, done + take))
        done, width = done + take, 2 * width
    return out


def _bounds(
    t: F64, p: F64, m2: F64, m4: F64, k: int, n: int, q: float, level: float, method: str
) -> tuple[float | None, float | None]:
    """One-sided bounds at ``level`` for the ``q``-quantile: ``(lower, upper)``, None if absent.

    upper: the smallest observed ``t`` from which on every threshold's lower bound of the share
    reaches ``q`` (the quantile is then at most ``t``). lower: the first observed ``t`` whose upper
    bound of the share reaches ``q`` (below it every share is shown to be under ``q``, so the
    quantile is at least ``t``); none when even no value at all (share 0) is compatible with ``q``.

    The effective n of every share lies in ``[k - 1, n]``, so the bound at the extreme n decides
    most thresholds without the exact bound (a Student t quantile per threshold): the lower bound
    with ``n`` observations is the highest it can be, the upper bound with ``k - 1`` the highest.
    Only the thresholds near ``q`` that those screens leave open get the exact bound.
    """
    screen = method in _MONOTONE and q >= 0.5
    # upper: the last threshold whose lower bound misses q; the exact bounds are computed a block
    # at a time from the top down, and only until that threshold is found
    misses_below = np.flatnonzero(p < q)  # a lower bound never exceeds its estimate
    last_miss = int(misses_below[-1]) if misses_below.size else -1
    open_ = np.arange(last_miss + 1, p.size)
    if screen and open_.size:
        best, _ = proportion_bounds(p[open_] * n, float(n), level, method, "lower")
        screened = open_[best < q]
        if screened.size:
            last_miss = int(screened[-1])
            open_ = open_[open_ > last_miss]
    for lo_i, hi_i in _blocks(open_.size, reverse=True):
        block = open_[lo_i:hi_i]
        miss = effective_n_bounds(p[block], m2[block], m4[block], k, n, level, method, "lower").lower < q
        if miss.any():
            last_miss = int(block[np.flatnonzero(miss)[-1]])
            break
    upper = None if last_miss == p.size - 1 else float(t[last_miss + 1])
    zero = np.zeros(1)
    floor = effective_n_bounds(zero, zero, zero, k, n, level, method, "upper").upper[0]
    lower: float | None = None
    if floor < q:
        # the first threshold whose upper bound reaches q, searched a block at a time from below
        todo = np.arange(p.size)
        if screen:
            _, widest = proportion_bounds(p * (k - 1.0), k - 1.0, level, method, "upper")
            todo = np.flatnonzero(widest >= q)  # the others are shown below q by the widest bound
        for lo_i, hi_i in _blocks(todo.size):
            block = todo[lo_i:hi_i]
            reach = (
                effective_n_bounds(p[block], m2[block], m4[block], k, n, level, method, "upper").upper >= q
            )
            if reach.any():
                lower = float(t[block[int(np.argmax(reach))]])
                break
    return lower, upper


def estimate_clustered_quantile(
    values: F64,
    cases: NDArray[np.intp],
    q: float,
    level: float,
    method: str = "wilson",
    min_cases: int = 2,
) -> QuantileResult:
    """A quantile with bounds that hold when the values of one case are correlated.

    Parameters
    ----------
    values : ndarray of float64
        Request-level observations, e.g. routing latencies (NaN already removed).
    cases : ndarray of intp
        Case code of each value (the cluster; unit of analysis of the bounds: the unique case).
    q : float
        Quantile in (0, 1), e.g. 0.95.
    level : float
        Confidence level of the two-sided interval and of each one-sided bound.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Binomial interval of the clustered proportion (:func:`analysis._effective_n.effective_n_bounds`).
    min_cases : int
        Fewest cases for any bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    QuantileResult
        Unit ``case``; the estimate is ``numpy.quantile`` of all values (linear interpolation, as
        for :func:`analysis.estimate_quantile`); a bound that does not exist is None with a note.

    Notes
    -----
    With :math:`F_i(t)` the share of case :math:`i`'s values at most :math:`t`, the estimate of
    :math:`F(t)` is :math:`\\hat F(t) = k^{-1}\\sum_i F_i(t)` and its one-sided bounds are those of a
    clustered proportion. The upper bound of the quantile is the smallest observed :math:`t` such
    that for every observed :math:`t' \\ge t` the lower bound of :math:`F(t')` is at least :math:`q`
    ("P(latency <= t) >= q" is shown from :math:`t` on); the lower bound is the first observed
    :math:`t` whose upper bound of :math:`F(t)` reaches :math:`q` (below it :math:`F < q` is shown,
    so the quantile is at least :math:`t`). A gate "quantile <= T" passes exactly when the upper
    bound is at most :math:`T`: a test of the proportion at every :math:`t' \\ge T`, so its error
    rate is at most that of the test at :math:`T`. With independent values the order-statistic
    bounds of :func:`analysis.estimate_quantile` are exact; these are calibrated when they are not.

    References
    ----------
    .. [1] Korn, E. L., Graubard, B. I. (1998). Survey Methodology 24(2), 193-201.
    .. [2] Woodruff, R. S. (1952). Confidence intervals for medians and other position measures.
       JASA 47(260), 635-646. doi:10.1080/01621459.1952.10483443 (quantile bounds by inverting
       bounds of the distribution function under a complex design)
    """
    name = method_name(method)
    n = int(values.size)
    est = float(np.quantile(values, q)) if n else None
    k = int(np.count_nonzero(np.bincount(cases))) if n else 0
    note = None
    if n == 0:
        note = "no observations"
    elif k < min_cases:
        note = too_few_cases(k, min_cases)
    if note is not None:
        return QuantileResult(
            "case",
            q,
            n,
            est,
            Interval(None, None, level, name, "two-sided", note),
            Interval(None, None, level, name, "lower", note),
            Interval(None, None, level, name, "upper", note),
        )
    t, p, m2, m4, k, n = _cdf_moments(values, cases, q)
    lo1, hi1 = _bounds(t, p, m2, m4, k, n, q, level, method)
    lo2, hi2 = _bounds(t, p, m2, m4, k, n, q, (1.0 + level) / 2.0, method)

    def missing(which: str, bound: float | None, at: float = level) -> str | None:
        if bound is not None:
            return None
        need = min_cases_for_quantile_bound(q, at, method) if which == "upper" else None
        more = f": a one-sided {at:g} upper bound needs at least {need} cases" if need else ""
        return f"no {which} bound for the {q:g} quantile from {k} cases at level {at:g}{more}"

    two_note = (
        "; ".join(x for x in (missing("lower", lo2), missing("upper", hi2, (1.0 + level) / 2.0)) if x) or None
    )
    return QuantileResult(
        "case",
        q,
        n,
        est,
        Interval(lo2, hi2, level, name, "two-sided", two_note),
        Interval(lo1, None, level, name, "lower", missing("lower", lo1)),
        Interval(None, hi1, level, name, "upper", missing("upper", hi1)),
    )
