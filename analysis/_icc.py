"""Intra-case correlation of replays: the one-way ANOVA estimator, the design effect it implies,
and case-bootstrap percentile intervals for both.

Everything works on per-case sums, sums of squares and counts, so a million requests cost one
``np.bincount`` pass and each bootstrap resample one row of a single matrix product.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis._results import Interval

__all__ = ["bootstrap_icc", "case_moments", "icc_anova", "icc_undefined_reason"]

_METHOD = "case_bootstrap_percentile"
F64 = NDArray[np.float64]


def case_moments(y: F64, cases: NDArray[np.intp]) -> tuple[F64, F64, F64]:
    """Per-case sums of ``y``, sums of ``y**2`` and counts over the cases that occur."""
    if y.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    k = int(cases.max()) + 1
    counts = np.bincount(cases, minlength=k).astype(np.float64)
    keep = counts > 0
    sums = np.bincount(cases, weights=y, minlength=k)[keep]
    squares = np.bincount(cases, weights=y * y, minlength=k)[keep]
    return np.asarray(sums, np.float64), np.asarray(squares, np.float64), counts[keep]


def icc_anova(y: F64, cases: NDArray[np.intp]) -> float | None:
    """Intra-case correlation by the one-way ANOVA estimator (unbalanced clusters allowed).

    Parameters
    ----------
    y : ndarray of float64
        Request-level outcomes (0/1 correctness; any numbers work).
    cases : ndarray of intp
        Case code of each request: the cluster (unit of analysis of the clustering: requests within
        unique cases).

    Returns
    -------
    float or None
        None when it is undefined (fewer than two cases, no replicate within a case, or no variance;
        :func:`icc_undefined_reason` says which).

    Notes
    -----
    With :math:`k` cases of sizes :math:`n_i`, :math:`N=\\sum n_i`,
    :math:`MSB = \\sum n_i(\\bar y_i-\\bar y)^2/(k-1)`, :math:`MSW = \\sum\\sum (y_{ij}-\\bar y_i)^2/(N-k)`,
    :math:`n_0 = (N - \\sum n_i^2/N)/(k-1)`:
    :math:`\\hat\\rho = (MSB - MSW)/(MSB + (n_0-1)MSW)`. It may be negative.

    References
    ----------
    .. [1] Donner, A. (1986). A review of inference procedures for the intraclass correlation
       coefficient in the one-way random effects model. International Statistical Review 54(1),
       67-82. doi:10.2307/1403259
    """
    return _point(*case_moments(y, cases))


def _point(sums: F64, squares: F64, counts: F64) -> float | None:
    k, n_total = counts.size, float(counts.sum())
    if k < 2 or n_total - k <= 0:
        return None
    means = sums / counts
    grand = float(sums.sum()) / n_total
    msb = float((counts * (means - grand) ** 2).sum()) / (k - 1)
    ssw = float(squares.sum() - (sums**2 / counts).sum())
    msw = max(ssw, 0.0) / (n_total - k)
    n0 = (n_total - float((counts**2).sum()) / n_total) / (k - 1)
    denom = msb + (n0 - 1.0) * msw
    if denom <= 0.0:
        return None
    return (msb - msw) / denom


def icc_undefined_reason(sums: F64, squares: F64, counts: F64) -> str | None:
    """Why the ANOVA ICC of these per-case moments is undefined, or None when it is defined."""
    k = int(counts.size)
    if k == 0:
        return "no cases"
    if k < 2:
        return "only one case, and the ICC needs at least two"
    if float(counts.sum()) - k <= 0:
        return "every case has one request, so no replicate within a case"
    if _point(sums, squares, counts) is None:
        n_total = float(counts.sum())
        if float(squares.sum()) - float(sums.sum()) ** 2 / n_total <= 0.0:
            return "no variance, every request has the same outcome"
        return "the ANOVA denominator MSB + (n0 - 1) MSW is not positive"
    return None


def _resampled(sums: F64, squares: F64, counts: F64, weights: F64) -> tuple[F64, F64]:
    """ICC and design effect of every resample (row of ``weights``); NaN where undefined."""
    k = counts.size
    cols = np.stack([counts, sums, sums * sums / counts, squares, counts * counts], axis=1)
    n_b, s_b, between_raw, sq_b, n2_b = (weights @ cols).T
    with np.errstate(divide="ignore", invalid="ignore"):
        ssb = np.maximum(between_raw - s_b * s_b / n_b, 0.0)
        ssw = np.maximum(sq_b - between_raw, 0.0)
        msb = ssb / (k - 1)
        msw = ssw / (n_b - k)
        n0 = (n_b - n2_b / n_b) / (k - 1)
        denom = msb + (n0 - 1.0) * msw
        ok = (n_b - k > 0) & (denom > 0.0)
        icc = np.where(ok, (msb - msw) / np.where(ok, denom, 1.0), np.nan)
    deff = 1.0 + (n_b / k - 1.0) * icc
    return np.asarray(icc, np.float64), np.asarray(deff, np.float64)


def bootstrap_icc(
    sums: F64,
    squares: F64,
    counts: F64,
    level: float,
    weights: F64 | None,
) -> tuple[Interval, Interval]:
    """Case-bootstrap percentile intervals of the ANOVA ICC and of the design effect.

    Parameters
    ----------
    sums, squares, counts : ndarray of float64
        Per-case sums of ``y``, of ``y**2`` and request counts (cases that occur; see
        :func:`case_moments`). Unit of analysis: requests clustered within cases; the case is the
        resampled unit.
    level : float
        Confidence level of the two-sided intervals.
    weights : ndarray of float64 or None
        ``resamples x k`` case counts from :func:`analysis.bootstrap_case_weights` (the same
        resamples as the accuracy's case bootstrap); None: no resamples, no bounds.

    Returns
    -------
    icc : Interval
        Percentile interval of :math:`\\hat\\rho` (method ``case_bootstrap_percentile``).
    design_effect : Interval
        Percentile interval of :math:`1 + (\\bar m - 1)\\hat\\rho`.

    Notes
    -----
    Resample :math:`b` counts case :math:`i` :math:`w_{bi}` times; each copy is a separate cluster,
    so :math:`k` stays fixed, :math:`N_b=\\sum_i w_{bi}n_i`, :math:`S_b=\\sum_i w_{bi}s_i`,
    :math:`SSB_b=\\sum_i w_{bi}s_i^2/n_i - S_b^2/N_b`, :math:`SSW_b=\\sum_i w_{bi}(q_i - s_i^2/n_i)`,
    :math:`n_{0b}=(N_b-\\sum_i w_{bi}n_i^2/N_b)/(k-1)` and :math:`\\hat\\rho_b` follows
    :func:`icc_anova`; the design effect uses :math:`\\bar m_b = N_b/k`. One matrix product
    ``weights @ [n, s, s^2/n, q, n^2]`` gives every resample. The intervals are the
    :math:`(1\\pm\\text{level})/2` quantiles of the resampled values.

    A resample in which the ICC is undefined (every drawn case has one request, or no variance) is
    left out and counted in the note; when more than :math:`(1-\\text{level})/2` of the resamples
    are left out, they could fill a whole tail, so both ends are None with a note. Undefined point
    estimates (one case, no replicate, no variance) give None ends with the reason.

    Among the nonparametric bootstrap intervals for the ICC that Ukoumunne et al. [1]_ compared
    (continuous outcomes, balanced clusters), the percentile interval is the simplest; it resamples clusters, which keeps a case's replays
    together [2]_. Its coverage is below nominal with few cases (markedly so at 10 clusters, close
    to nominal at 50 in their simulations). The analytic intervals for the ANOVA estimator with
    unequal cluster sizes (Searle's, Thomas & Hultquist's, Smith's large-sample standard error;
    compared in [3]_) assume normal random effects, which 0/1 outcomes do not have.

    References
    ----------
    .. [1] Ukoumunne, O. C., Davison, A. C., Gulliford, M. C., Chinn, S. (2003). Non-parametric
       bootstrap confidence intervals for the intraclass correlation coefficient. Statistics in
       Medicine 22(24), 3805-3821. doi:10.1002/sim.1643
    .. [2] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3), 369-390.
       doi:10.1111/j.1467-9868.2007.00593.x
    .. [3] Ukoumunne, O. C. (2002). A comparison of confidence interval methods for the intraclass
       correlation coefficient in cluster randomized trials. Statistics in Medicine 21(24),
       3757-3774. doi:10.1002/sim.1330
    """
    reason = icc_undefined_reason(sums, squares, counts)
    if reason is None and weights is None:
        reason = "no case resamples were drawn"
    if reason is not None:
        return (
            Interval(None, None, level, _METHOD, "two-sided", reason),
            Interval(None, None, level, _METHOD, "two-sided", reason),
        )
    assert weights is not None
    icc, deff = _resampled(sums, squares, counts, weights)
    ok = ~np.isnan(icc)
    left_out, total = int(weights.shape[0] - np.count_nonzero(ok)), int(weights.shape[0])
    if left_out > (1.0 - level) / 2.0 * total:
        why = (
            f"ICC undefined in {left_out:,} of {total:,} resamples (drawn cases with one request "
            "each or all outcomes equal), more than a tail of the interval, so no bounds"
        )
        return (
            Interval(None, None, level, _METHOD, "two-sided", why),
            Interval(None, None, level, _METHOD, "two-sided", why),
        )
    note = (
        None
        if left_out == 0
        else (
            f"ICC undefined in {left_out:,} of {total:,} resamples (drawn cases with one request each or "
            "all outcomes equal), left out"
        )
    )
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(icc[ok], [a, 1.0 - a])
    dlo, dhi = np.quantile(deff[ok], [a, 1.0 - a])
    return (
        Interval(float(lo), float(hi), level, _METHOD, "two-sided", note),
        Interval(float(dlo), float(dhi), level, _METHOD, "two-sided", note),
    )
