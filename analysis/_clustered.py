"""Replays of one case are not independent: case-level accuracy, ICC, design effect, and
cluster-robust intervals (case bootstrap, GEE).

Inputs are request-level outcomes ``y`` (0/1 floats) and integer case codes; every function works on
per-case sums and counts (``np.bincount``), so a million requests cost one pass.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._clustered_quantile import too_few_cases
from analysis._effective_n import effective_n_bounds, method_name
from analysis._icc import bootstrap_icc, case_moments, icc_anova
from analysis._proportions import Side, estimate_proportion
from analysis._results import ClusteringResult, Interval, ProportionResult, Unit

__all__ = [
    "bootstrap_proportion",
    "case_sums",
    "estimate_accuracy",
    "gee_proportion",
    "robust_accuracy",
    "summarize_clustering",
]


def case_sums(
    y: NDArray[np.float64], cases: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-case sums and counts of ``y`` over the cases that occur (empty cases dropped)."""
    if y.size == 0:
        return np.zeros(0), np.zeros(0)
    k = int(cases.max()) + 1
    counts = np.bincount(cases, minlength=k).astype(np.float64)
    sums = np.bincount(cases, weights=y, minlength=k)
    keep = counts > 0
    return np.asarray(sums[keep], dtype=np.float64), counts[keep]


def estimate_accuracy(
    y: NDArray[np.float64],
    cases: NDArray[np.intp],
    unit: Unit,
    level: float,
    method: str,
    side: Side = "two-sided",
    min_cases: int = 2,
) -> ProportionResult:
    """Accuracy on the plan's unit of analysis with the plan's interval method.

    Parameters
    ----------
    y : ndarray of float64
        Request-level correctness, 1.0 or 0.0 (failures already mapped by the plan's rule).
    cases : ndarray of intp
        Case code of each request.
    unit : {"case", "request"}
        ``case``: each case contributes its proportion correct over its replays and the interval
        is calibrated for replays that agree (:func:`analysis._effective_n.effective_n_bounds`);
        ``request``: ``x = sum(y)``, ``n = len(y)``, every request an independent observation.
    level : float
        Confidence level.
    method : str
        Binomial interval method (see :func:`analysis.proportion_bounds`), on the effective n for
        unit ``case``.
    side : {"two-sided", "lower", "upper"}
        Which interval.
    min_cases : int
        Unit ``case``: fewest cases for an interval (the plan's ``analysis.min_cases``); below it
        the interval has no ends and says so.

    Returns
    -------
    ProportionResult
        Unit ``case``: ``successes = k * mean(p_i)`` over ``n = k`` cases, with the effective n and
        the degrees of freedom the interval used.

    Notes
    -----
    The case-level estimator :math:`\\bar p = k^{-1}\\sum_i \\bar y_i` weights every unique case
    equally (the marginal accuracy when every case is equally likely in traffic). Its interval is
    the binomial interval on the effective number of observations :math:`n^*_{df}`, between the
    number of cases (replays that always agree) and the number of requests (replays independent),
    as the between-case variance says. A binomial interval on :math:`n = k` instead covers far more
    often than its level when replays carry information, and one on :math:`n = N` far less when
    they agree.

    References
    ----------
    .. [1] Korn, E. L., Graubard, B. I. (1998). Survey Methodology 24(2), 193-201.
    .. [2] Brown, L. D., Cai, T. T., DasGupta, A. (2001). doi:10.1214/ss/1009213286
    """
    if unit == "request":
        return estimate_proportion(float(y.sum()), float(y.size), int(y.size), level, method, unit, side)
    sums, counts = case_sums(y, cases)
    k = int(counts.size)
    name = method_name(method)
    if k == 0:
        return ProportionResult(
            unit, 0.0, 0.0, int(y.size), None, Interval(None, None, level, name, side, "no units to analyse")
        )
    means = sums / counts
    p = float(means.mean())
    if k < min_cases:
        return ProportionResult(
            unit,
            p * k,
            float(k),
            int(y.size),
            p,
            Interval(None, None, level, name, side, too_few_cases(k, min_cases)),
        )
    r = means - p
    b = effective_n_bounds(
        np.array([p]),
        np.array([float((r * r).mean())]),
        np.array([float((r**4).mean())]),
        k,
        int(y.size),
        level,
        method,
        side,
    )
    lo, hi = float(b.lower[0]), float(b.upper[0])
    return ProportionResult(
        unit,
        p * k,
        float(k),
        int(y.size),
        p,
        Interval(lo, hi, level, name, side),
        float(b.n_eff[0]),
        float(b.df[0]),
    )


def bootstrap_proportion(
    sums: NDArray[np.float64],
    counts: NDArray[np.float64],
    unit: Unit,
    level: float,
    weights: NDArray[np.float64],
) -> Interval:
    """Percentile interval of the accuracy over case resamples.

    Parameters
    ----------
    sums, counts : ndarray of float64
        Per-case sums of correct requests and per-case request counts (cases that occur).
    unit : {"case", "request"}
        Unit of analysis: ``case`` averages per-case proportions, ``request`` pools requests.
    level : float
        Confidence level of the two-sided interval.
    weights : ndarray of float64
        ``resamples x k`` case counts from :func:`bootstrap_case_weights`.

    Returns
    -------
    Interval
        Method ``case_bootstrap_percentile``; no ends, with a note, when every case has the same
        proportion (every resample would repeat the estimate: zero width from finite data).

    Notes
    -----
    Resample :math:`b` estimates :math:`\\sum_i w_{bi}\\bar y_i/\\sum_i w_{bi}` (unit ``case``) or
    :math:`\\sum_i w_{bi}s_i/\\sum_i w_{bi}n_i` (unit ``request``); the interval is the
    :math:`(1\\pm\\text{level})/2` quantiles of the resampled estimates.

    References
    ----------
    .. [1] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall,
       chapter 13. doi:10.1007/978-1-4899-4541-9
    .. [2] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3), 369-390.
       doi:10.1111/j.1467-9868.2007.00593.x
    """
    if counts.size == 0:
        return Interval(None, None, level, "case_bootstrap_percentile", "two-sided", "no cases")
    if np.ptp(sums / counts) == 0.0:
        # every resample would give the same value: a zero-width interval the data cannot support
        return Interval(
            None,
            None,
            level,
            "case_bootstrap_percentile",
            "two-sided",
            "every case has the same proportion, so a case bootstrap cannot vary",
        )
    if unit == "case":
        stat = weights @ (sums / counts) / weights.sum(axis=1)
    else:
        stat = (weights @ sums) / (weights @ counts)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stat, [a, 1.0 - a])
    return Interval(float(lo), float(hi), level, "case_bootstrap_percentile", "two-sided")


def gee_proportion(
    y: NDArray[np.float64],
    cases: NDArray[np.intp],
    level: float,
    structure: str = "exchangeable",
) -> tuple[float | None, Interval]:
    """Population-average proportion from an intercept-only logistic GEE with case clusters.

    Parameters
    ----------
    y : ndarray of float64
        Request-level correctness (0/1); unit of analysis: the request, clustered by case.
    cases : ndarray of intp
        Case code of each request (the GEE's groups).
    level : float
        Confidence level of the two-sided Wald interval.
    structure : {"exchangeable", "independence"}
        Working correlation within a case.

    Returns
    -------
    estimate : float or None
        The fitted proportion (None without requests).
    interval : Interval
        Method ``gee_<structure>``; no ends (with a note) when every request has the same outcome.

    Notes
    -----
    :math:`\\operatorname{logit} P(y_{ij}=1) = \\beta_0`, working correlation exchangeable (or
    independence) within a case; the interval is :math:`\\operatorname{expit}(\\hat\\beta_0 \\pm z\\,
    \\widehat{se}_{robust})` with the sandwich standard error.

    References
    ----------
    .. [1] Liang, K.-Y., Zeger, S. L. (1986). Longitudinal data analysis using generalized linear
       models. Biometrika 73(1), 13-22. doi:10.1093/biomet/73.1.13
    """
    import statsmodels.api as sm

    method = f"gee_{structure}"
    if y.size == 0:
        return None, Interval(None, None, level, method, "two-sided", "no requests")
    mean = float(y.mean())
    if mean in (0.0, 1.0):
        return mean, Interval(
            None,
            None,
            level,
            method,
            "two-sided",
            "GEE has no finite logit when every request has the same outcome",
        )
    cov = sm.cov_struct.Exchangeable() if structure == "exchangeable" else sm.cov_struct.Independence()
    model = sm.GEE(y, np.ones((y.size, 1)), groups=cases, family=sm.families.Binomial(), cov_struct=cov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit()
    beta, se = float(fit.params[0]), float(fit.bse[0])
    z = float(stats.norm.isf((1.0 - level) / 2.0))
    expit = stats.logistic.cdf
    return float(expit(beta)), Interval(
        float(expit(beta - z * se)), float(expit(beta + z * se)), level, method, "two-sided"
    )


def summarize_clustering(
    y: NDArray[np.float64],
    cases: NDArray[np.intp],
    unit: Unit,
    level: float,
    robust: str,
    weights: NDArray[np.float64] | None,
) -> ClusteringResult:
    """ICC and design effect with their case-bootstrap intervals, and the cluster-robust interval
    the plan names.

    Parameters
    ----------
    y : ndarray of float64
        Request-level correctness (0/1).
    cases : ndarray of intp
        Case codes ``0..k-1`` (every code present), matching the columns of ``weights``.
    unit : {"case", "request"}
        Unit of analysis of the bootstrap estimate (see :func:`bootstrap_proportion`).
    level : float
        Confidence level.
    robust : {"bootstrap", "gee"}
        Cluster-robust method of the accuracy interval; ``bootstrap`` needs ``weights``.
    weights : ndarray of float64 or None
        Case resample counts from :func:`bootstrap_case_weights`, used by the ICC and design-effect
        intervals (both methods) and by the bootstrap accuracy interval; None: those have no bounds.

    Returns
    -------
    ClusteringResult

    Notes
    -----
    Design effect :math:`1 + (\\bar m - 1)\\hat\\rho` with :math:`\\bar m = N/k` the mean number of
    replays per case and :math:`\\hat\\rho` from :func:`icc_anova`; the effective number of requests
    is :math:`N/\\mathrm{deff}`. The ICC and design effect get case-bootstrap percentile intervals
    from :func:`bootstrap_icc` on the same resamples. The GEE alternative always works on requests
    clustered by case.

    References
    ----------
    .. [1] Kish, L. (1965). Survey Sampling. Wiley. (design effect)
    .. [2] Liang, K.-Y., Zeger, S. L. (1986). doi:10.1093/biomet/73.1.13
    """
    sums, squares, counts = case_moments(y, cases)
    k, n_total = int(counts.size), int(y.size)
    m = n_total / k if k else None
    icc = icc_anova(y, cases)
    deff = None if icc is None or m is None else 1.0 + (m - 1.0) * icc
    icc_iv, deff_iv = bootstrap_icc(sums, squares, counts, level, weights)
    eff_n = None if deff is None or deff <= 0 else n_total / deff
    method, est, interval = _robust(y, cases, sums, counts, unit, level, robust, weights)
    return ClusteringResult(unit, k, n_total, m, icc, icc_iv, deff, deff_iv, eff_n, method, est, interval)


def robust_accuracy(
    y: NDArray[np.float64],
    cases: NDArray[np.intp],
    unit: Unit,
    level: float,
    robust: str,
    weights: NDArray[np.float64] | None,
) -> tuple[str, float | None, Interval]:
    """The cluster-robust accuracy of :func:`summarize_clustering` alone, without the ICC.

    Parameters
    ----------
    y, cases, unit, level, robust, weights
        As for :func:`summarize_clustering` (``weights`` is read only under ``bootstrap``).

    Returns
    -------
    method : str
        ``case_bootstrap_percentile`` or ``gee_exchangeable``.
    estimate : float or None
        The robust point estimate (None without cases).
    interval : Interval
        The two-sided cluster-robust interval at ``level``.

    Notes
    -----
    The same computation as the ``robust_*`` fields of :func:`summarize_clustering`, which calls
    it: equal inputs give equal results.

    References
    ----------
    .. [1] Field, C. A., Welsh, A. H. (2007). doi:10.1111/j.1467-9868.2007.00593.x
    .. [2] Liang, K.-Y., Zeger, S. L. (1986). doi:10.1093/biomet/73.1.13
    """
    sums, _, counts = case_moments(y, cases)
    return _robust(y, cases, sums, counts, unit, level, robust, weights)


def _robust(
    y: NDArray[np.float64],
    cases: NDArray[np.intp],
    sums: NDArray[np.float64],
    counts: NDArray[np.float64],
    unit: Unit,
    level: float,
    robust: str,
    weights: NDArray[np.float64] | None,
) -> tuple[str, float | None, Interval]:
    k = int(counts.size)
    if robust == "gee":
        est, interval = gee_proportion(y, cases, level)
        return "gee_exchangeable", est, interval
    if weights is None or k == 0:
        interval = Interval(None, None, level, "case_bootstrap_percentile", "two-sided", "no cases")
    else:
        interval = bootstrap_proportion(sums, counts, unit, level, weights)
    est = (
        None
        if k == 0
        else (float((sums / counts).mean()) if unit == "case" else float(sums.sum() / counts.sum()))
    )
    return "case_bootstrap_percentile", est, interval
