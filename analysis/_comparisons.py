"""Paired comparisons by case bootstrap, and multiplicity adjustment.

Every arm sees every case, so comparisons are paired by case: a case bootstrap resamples the same
cases for both arms. The planned comparisons (:mod:`analysis._planned_comparisons`) use
:func:`paired_quantile_difference` for medians and the estimators of :mod:`analysis._paired`
(MOVER for proportions, the paired t for means) for the rest, each with a test dual to its
interval; :func:`adjust_pvalues` adjusts a family of p-values.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from analysis._case_bootstrap import CaseResampler
from analysis._clustered_quantile import too_few_cases
from analysis._paired import Paired
from analysis._quantiles import bootstrap_quantile
from analysis._results import DifferenceResult, Interval, MeanResult, Unit
from prereg.errors import InputError

__all__ = [
    "CaseAgg",
    "adjust_pvalues",
    "case_aggregate",
    "estimate_clustered_mean",
    "paired_difference",
    "paired_quantile_difference",
    "paired_quantile_prepared",
    "percentile_interval",
]

#: Per-case sums and counts over all K cases of the table (zero counts where a case is absent).
CaseAgg = tuple[NDArray[np.float64], NDArray[np.float64]]

_BOOT = "paired_case_bootstrap_percentile"


def case_aggregate(values: NDArray[np.float64], cases: NDArray[np.intp], k: int) -> CaseAgg:
    """Per-case sums and counts of the non-NaN ``values``, indexed by case code ``0..k-1``."""
    keep = ~np.isnan(values)
    v, c = values[keep], cases[keep]
    return np.bincount(c, weights=v, minlength=k).astype(np.float64), np.bincount(c, minlength=k).astype(
        np.float64
    )


def percentile_interval(boot: NDArray[np.float64], level: float, method: str = _BOOT) -> Interval:
    """The two-sided percentile interval of bootstrap replicates.

    Parameters
    ----------
    boot : ndarray of float64
        Replicates of a statistic (one per resample).
    level : float
        Confidence level.
    method : str
        Name recorded in the interval.

    Returns
    -------
    Interval
        On the unit of the statistic the replicates were computed on.

    Notes
    -----
    The :math:`(1-\\text{level})/2` and :math:`(1+\\text{level})/2` quantiles of the replicates
    (``numpy.quantile``, linear interpolation).

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    """
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [a, 1.0 - a])
    return Interval(float(lo), float(hi), level, method, "two-sided")


def _stat(
    sums: NDArray[np.float64], counts: NDArray[np.float64], w: NDArray[np.float64] | None, unit: Unit
) -> NDArray[np.float64]:
    if unit == "case":
        per_case = sums / counts
        # every resample draws exactly k cases, so its weights sum to k
        out = per_case.mean(keepdims=True) if w is None else (w @ per_case) / per_case.size
    elif w is None:
        out = np.array([sums.sum() / counts.sum()])
    else:
        out = (w @ sums) / (w @ counts)
    return np.asarray(out, dtype=np.float64)


def paired_difference(
    a: CaseAgg,
    b: CaseAgg,
    unit: Unit,
    level: float,
    resampler: CaseResampler,
    scale: float = 1.0,
) -> DifferenceResult:
    """``scale * (mean_a - mean_b)`` over cases both arms observed, with a paired case bootstrap.

    Descriptive: no test, and the percentile interval has width zero when every case has the same
    difference. The planned comparisons use :func:`analysis.paired_proportion_difference` and
    :func:`analysis.paired_mean_difference` instead, whose tests are dual to their intervals.

    Parameters
    ----------
    a, b : CaseAgg
        Per-case sums and counts of each arm (from :func:`case_aggregate`).
    unit : {"case", "request"}
        ``case``: each arm's mean is the mean of its per-case means; ``request``: the ratio of sums.
    level : float
        Confidence level of the percentile interval.
    resampler : CaseResampler
        Source of the case resamples.
    scale : float
        Multiplier (1000 for "per 1,000 requests").

    Returns
    -------
    DifferenceResult

    Notes
    -----
    Resample :math:`b` draws the common cases with replacement (weights :math:`w_{bi}`) and
    evaluates both arms on the same draw, which keeps the pairing.

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). doi:10.1007/978-1-4899-4541-9
    .. [2] Field, C. A., Welsh, A. H. (2007). doi:10.1111/j.1467-9868.2007.00593.x
    """
    common = (a[1] > 0) & (b[1] > 0)
    k = int(common.sum())
    if k == 0:
        return DifferenceResult(
            unit, 0, None, Interval(None, None, level, _BOOT, "two-sided", "no case observed in both arms")
        )
    sa, ca, sb, cb = a[0][common], a[1][common], b[0][common], b[1][common]
    est = float(scale * (_stat(sa, ca, None, unit) - _stat(sb, cb, None, unit))[0])
    w = resampler(k)
    boot = scale * (_stat(sa, ca, w, unit) - _stat(sb, cb, w, unit))
    return DifferenceResult(unit, k, est, percentile_interval(boot, level))


def _dual_percentile(
    boot: NDArray[np.float64], level: float
) -> tuple[float | None, float | None, str | None]:
    """The percentile interval whose ends are order statistics dual to the bootstrap p-value."""
    b = boot.size
    j = math.floor((1.0 - level) / 2.0 * (b + 1) + 1e-9)
    if j < 1:
        need = math.ceil(2.0 / (1.0 - level)) - 1
        return None, None, f"a {level:g} percentile interval needs at least {need} resamples, found {b}"
    srt = np.sort(boot)
    lo, hi = float(srt[j - 1]), float(srt[b - j])
    if lo == hi:
        return (
            None,
            None,
            (
                f"the case bootstrap puts more than {level:g} of its resamples on one "
                "value, so the data carry no width for an interval"
            ),
        )
    return lo, hi, None


def paired_quantile_prepared(
    values_a: NDArray[np.float64],
    cases_a: NDArray[np.intp],
    values_b: NDArray[np.float64],
    cases_b: NDArray[np.intp],
    q: float,
    k_total: int,
    resampler: CaseResampler,
    min_cases: int = 2,
) -> Paired:
    """The level-free part of :func:`paired_quantile_difference` (see there): the estimate, the
    bootstrap p-value, and the percentile interval at any level from one set of resamples."""
    ka, kb = values_a[~np.isnan(values_a)], values_b[~np.isnan(values_b)]
    ca, cb = cases_a[~np.isnan(values_a)], cases_b[~np.isnan(values_b)]
    common = (np.bincount(ca, minlength=k_total) > 0) & (np.bincount(cb, minlength=k_total) > 0)
    k = int(common.sum())
    if k == 0:
        return Paired("request", 0, None, _BOOT, None, None, "no case observed in both arms")
    remap = np.cumsum(common) - 1
    in_a, in_b = common[ca], common[cb]
    va, vb = ka[in_a], kb[in_b]
    est = float(np.quantile(va, q) - np.quantile(vb, q))
    if k < min_cases:
        return Paired("request", k, est, _BOOT, None, None, too_few_cases(k, min_cases))
    w = resampler(k)
    boot = bootstrap_quantile(va, remap[ca[in_a]], q, w) - bootstrap_quantile(vb, remap[cb[in_b]], q, w)
    if float(np.ptp(boot)) == 0.0:
        return Paired(
            "request",
            k,
            est,
            _BOOT,
            None,
            None,
            "every case resample gives the same difference, so the data carry no variance for an interval",
        )
    below, above = int((boot <= 0.0).sum()), int((boot >= 0.0).sum())
    p = min(1.0, 2.0 * (min(below, above) + 1) / (boot.size + 1))
    return Paired("request", k, est, _BOOT, lambda level: _dual_percentile(boot, level), p, None)


def paired_quantile_difference(
    values_a: NDArray[np.float64],
    cases_a: NDArray[np.intp],
    values_b: NDArray[np.float64],
    cases_b: NDArray[np.intp],
    q: float,
    k_total: int,
    level: float,
    resampler: CaseResampler,
    min_cases: int = 2,
) -> DifferenceResult:
    """Difference of request-level q-quantiles ``a - b``, paired case bootstrap over common cases.

    Parameters
    ----------
    values_a, values_b : ndarray of float64
        Request-level values of each arm (NaN: not observed).
    cases_a, cases_b : ndarray of intp
        Case code of each value.
    q : float
        Quantile, e.g. 0.5.
    k_total : int
        Number of cases in the table.
    level : float
        Confidence level of the two-sided percentile interval.
    resampler : CaseResampler
        Source of the case resamples.
    min_cases : int
        Fewest common cases for an interval and a test (the plan's ``analysis.min_cases``).

    Returns
    -------
    DifferenceResult
        Unit ``request`` (quantiles of requests); cases observed in both arms are resampled.
        ``p_value`` is the bootstrap test dual to the interval; no interval and no test (with a
        note) below ``min_cases`` or when every resample gives the same difference; no interval
        (with a note) when the interval would have width zero.

    Notes
    -----
    The estimate is ``numpy.quantile`` (linear) of each arm's requests on the common cases; each
    of the :math:`B` resamples draws those cases with replacement once and evaluates both arms on
    the same draw (lower empirical quantile, :func:`analysis.bootstrap_quantile`), which keeps the
    pairing. With :math:`a = (1-\\text{level})/2` and :math:`j = \\lfloor a(B+1) \\rfloor` the
    interval is the :math:`j`-th smallest and :math:`j`-th largest replicate (Davison and Hinkley
    1997, chapter 5), and the p-value is
    :math:`\\min(1, 2\\min(\\#\\{\\theta^*_b \\le 0\\} + 1, \\#\\{\\theta^*_b \\ge 0\\} + 1)/(B+1))`, so
    that :math:`p \\le \\alpha` exactly when the :math:`1-\\alpha` interval excludes 0 (never
    :math:`p = 0` from finitely many resamples). Without :math:`j \\ge 1` the level is beyond what
    the resamples resolve, and the interval has no ends.

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). doi:10.1007/978-1-4899-4541-9
    .. [2] Davison, A. C., Hinkley, D. V. (1997), section 3.8 and chapter 5. doi:10.1017/CBO9780511802843
    """
    prepared = paired_quantile_prepared(
        values_a, cases_a, values_b, cases_b, q, k_total, resampler, min_cases
    )
    return prepared.at(level)


def adjust_pvalues(pvalues: list[float], method: str) -> list[float]:
    """Family-wise adjusted p-values: Holm's step-down, Bonferroni, or none.

    Parameters
    ----------
    pvalues : list of float
        Raw p-values of the planned comparisons (the members of the plan's ``analysis.family``).
    method : {"holm", "bonferroni", "none"}
        The plan's ``analysis.multiplicity``.

    Returns
    -------
    list of float
        Adjusted p-values in the input order, each at most 1.

    Notes
    -----
    Unit of analysis: the comparison (one p-value each). Holm: sort
    :math:`p_{(1)} \\le \\dots \\le p_{(m)}`; :math:`\\tilde p_{(i)} =
    \\max_{j \\le i} \\min(1, (m-j+1) p_{(j)})`. Bonferroni: :math:`\\min(1, m p_i)`. Both control
    the family-wise error rate at alpha when a member is rejected at ``p_adjusted <= alpha``; the
    Bonferroni intervals at level :math:`1 - \\alpha/m` are simultaneous, and as Holm's smallest
    critical value is :math:`\\alpha/m`, every such interval that excludes 0 is a Holm rejection.

    References
    ----------
    .. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
       Scandinavian Journal of Statistics 6(2), 65-70. https://www.jstor.org/stable/4615733
    .. [2] Dunn, O. J. (1961). Multiple comparisons among means. JASA 56(293), 52-64.
       doi:10.1080/01621459.1961.10482090
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if method == "none" or m == 0:
        return [float(v) for v in p]
    if method == "bonferroni":
        return [float(v) for v in np.minimum(1.0, p * m)]
    if method != "holm":
        raise InputError(
            f"expected holm, bonferroni or none, found {method!r}", field="analysis.multiplicity"
        )
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return [float(v) for v in out]


def estimate_clustered_mean(
    values: NDArray[np.float64],
    cases: NDArray[np.intp],
    k_total: int,
    level: float,
    resampler: CaseResampler,
    scale: float = 1.0,
) -> MeanResult:
    """``scale * mean`` of request-level values with a case bootstrap percentile interval.

    Parameters
    ----------
    values : ndarray of float64
        Request-level values (NaN: not observed, left out).
    cases : ndarray of intp
        Case code ``0..k_total-1`` of each request.
    k_total : int
        Number of cases in the table.
    level : float
        Confidence level of the two-sided percentile interval.
    resampler : CaseResampler
        Source of the case resamples.
    scale : float
        Multiplier (1000 for "per 1,000 requests").

    Returns
    -------
    MeanResult
        Unit ``request`` (the mean is over requests); the interval resamples whole cases.

    Notes
    -----
    The estimate is :math:`s\\sum_{ij} v_{ij}/N`; resample :math:`b` gives
    :math:`s\\sum_i w_{bi}S_i/\\sum_i w_{bi}n_i` with :math:`S_i, n_i` the sum and count of case
    :math:`i`, so requests stay clustered by case.

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). doi:10.1007/978-1-4899-4541-9
    .. [2] Field, C. A., Welsh, A. H. (2007). doi:10.1111/j.1467-9868.2007.00593.x
    """
    sums, counts = case_aggregate(values, cases, k_total)
    keep = counts > 0
    s, c = sums[keep], counts[keep]
    n, k = int(c.sum()), int(keep.sum())
    method = "case_bootstrap_percentile"
    if k == 0:
        return MeanResult(
            "request", 0, 0, None, Interval(None, None, level, method, "two-sided", "no requests")
        )
    est = float(scale * s.sum() / c.sum())
    if np.ptp(s / c) == 0.0:
        # every resample would repeat the estimate: a zero-width interval the data cannot support
        return MeanResult(
            "request",
            n,
            k,
            est,
            Interval(
                None,
                None,
                level,
                method,
                "two-sided",
                "every case has the same mean, so a case bootstrap cannot vary",
            ),
        )
    w = resampler(k)
    boot = scale * (w @ s) / (w @ c)
    return MeanResult("request", n, k, est, percentile_interval(boot, level, method))
