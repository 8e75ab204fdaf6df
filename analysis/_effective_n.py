"""A proportion of case-clustered binary outcomes with a calibrated interval: the binomial interval
on the effective number of observations, with the design effect's own uncertainty carried by a
degrees-of-freedom correction.

Both gates are tests of such a proportion: accuracy is the share of correct routing decisions, and
"P95 <= T" is "the share of latencies <= T is at least 0.95". The unit of analysis is the unique
case (the cluster): the estimate is the mean of the per-case proportions and its variance is the
between-case variance of those proportions, so whatever the replays of one case share (the same
difficulty, the same prefill) is in the variance, and nothing is assumed about how replays relate.

Everything is vectorised over many proportions at once (a latency bound evaluates one proportion
per distinct latency).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analysis._proportions import CI_METHODS, Side, proportion_bounds
from prereg.errors import InputError

__all__ = ["EffectiveN", "effective_n_bounds", "method_name"]

F64 = NDArray[np.float64]

#: Suffix of the interval methods of this module (``wilson_effective_n``, ...).
SUFFIX: Final = "_effective_n"


def method_name(ci_method: str) -> str:
    """The name results carry for ``ci_method`` on the effective n (e.g. ``wilson_effective_n``)."""
    return f"{ci_method}{SUFFIX}"


class EffectiveN:
    """Bounds of case-clustered proportions: ``lower``, ``upper``, ``n_eff`` and ``df`` arrays.

    ``n_eff`` is the effective number of observations after the degrees-of-freedom correction
    (what the binomial interval is computed on) and ``df`` the degrees of freedom of the variance
    estimate. Built by :func:`effective_n_bounds`.
    """

    __slots__ = ("df", "lower", "n_eff", "upper")

    def __init__(self, lower: F64, upper: F64, n_eff: F64, df: F64) -> None:
        self.lower, self.upper, self.n_eff, self.df = lower, upper, n_eff, df


def effective_n_bounds(
    p: F64,
    m2: F64,
    m4: F64,
    k: int,
    n_requests: int,
    level: float,
    method: str = "wilson",
    side: Side = "two-sided",
) -> EffectiveN:
    """Confidence bounds for proportions estimated as the mean of ``k`` per-case proportions.

    Parameters
    ----------
    p : ndarray of float64
        Estimates: means of the per-case proportions (unit of analysis: the unique case).
    m2, m4 : ndarray of float64
        Second and fourth central moments (divisor ``k``) of the per-case proportions.
    k : int
        Number of cases, at least 2.
    n_requests : int
        Requests behind the cases (the effective n never exceeds it).
    level : float
        Confidence level in (0, 1): two-sided, or one-sided for ``side`` ``"lower"``/``"upper"``.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        The binomial interval computed on the effective n.
    side : {"two-sided", "lower", "upper"}
        Which bounds (the other end is 1 or 0 for a one-sided call).

    Returns
    -------
    EffectiveN

    Notes
    -----
    The variance of :math:`\\hat p` is estimated from the cases alone,
    :math:`\\hat v = s^2/k` with :math:`s^2 = k m_2/(k-1)` the sample variance of the per-case
    proportions; the effective sample size is :math:`n^* = \\hat p(1-\\hat p)/\\hat v`, capped at
    the number of requests (Korn and Graubard 1998; equivalently :math:`N/\\widehat{\\mathrm{deff}}`,
    Kish 1965). The design effect is itself estimated: :math:`n^*` is multiplied by
    :math:`(z_{a}/t_{a,\\nu})^2` (Korn and Graubard's degrees-of-freedom adjustment), with
    :math:`\\nu` the Satterthwaite degrees of freedom of :math:`s^2`,
    :math:`\\nu = 2k/(\\hat\\kappa - (k-3)/(k-1))` from the sample kurtosis
    :math:`\\hat\\kappa = m_4/m_2^2`, clipped to :math:`[1, k-1]` (for normal case means it is
    :math:`k-1`, Korn and Graubard's choice; for a rare event concentrated in a few cases it is
    near the number of those cases, which is how much the variance estimate really knows). The
    interval is then the plan's binomial interval with :math:`x = \\hat p n^*` successes out of
    :math:`n^*`. When :math:`\\hat p` is 0 or 1 the variance carries no information about the
    design effect and the most conservative one is used: :math:`n^* = k` (every replay of a case
    agrees), :math:`\\nu = k-1`. When every case has the same proportion strictly between 0 and 1,
    :math:`n^* = N`.

    Checked by simulation through this code (tests/test_analysis_calibration.py): one-sided type I
    error at the boundary within one point of nominal for replay ICCs 0 to 0.9 at 60 cases x 5
    replays, for a proportion near 0.85 (accuracy) and near 0.95 (P95), and two-sided coverage
    within 93-97%. Dean and Pagano (2015) compare the binomial methods on the effective n for
    clustered surveys.

    References
    ----------
    .. [1] Korn, E. L., Graubard, B. I. (1998). Confidence intervals for proportions with small
       expected number of positive counts estimated from survey data. Survey Methodology 24(2),
       193-201.
    .. [2] Kish, L. (1965). Survey Sampling. Wiley. (design effect, effective sample size)
    .. [3] Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
       components. Biometrics Bulletin 2(6), 110-114. doi:10.2307/3002019
    .. [4] Dean, N., Pagano, M. (2015). Evaluating confidence interval methods for binomial
       proportions in clustered surveys. Journal of Survey Statistics and Methodology 3(4),
       484-503. doi:10.1093/jssam/smv024
    """
    if k < 2:
        raise InputError(f"expected at least 2 cases for a clustered interval, found {k}", field="k")
    if method not in CI_METHODS:
        raise InputError(
            f"expected an interval method in {list(CI_METHODS)}, found {method!r}", field="method"
        )
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    m2 = np.maximum(np.asarray(m2, dtype=np.float64), 0.0)
    m4 = np.maximum(np.asarray(m4, dtype=np.float64), 0.0)
    n_total = float(max(n_requests, k))
    var = m2 / (k - 1.0)  # s^2 / k with s^2 = k m2 / (k - 1)
    pq = p * (1.0 - p)
    degenerate = (p <= 0.0) | (p >= 1.0)
    # Per-case proportions that all agree carry no between-case variance: rounding leaves ~1e-17.
    flat = ~degenerate & (m2 <= 1e-14 * np.maximum(pq, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        n_star = np.where(degenerate, k - 1.0, np.where(flat, n_total, pq / var))
        kurt = m4 / (m2 * m2)
        df = 2.0 * k / (kurt - (k - 3.0) / (k - 1.0))
    n_star = np.clip(np.nan_to_num(n_star, nan=n_total, posinf=n_total), k - 1.0, n_total)
    df = np.where(degenerate | flat | ~np.isfinite(df), k - 1.0, df)
    # floor to 1e-3 so that platform noise in the kurtosis never moves a bound; smaller df is wider
    df = np.floor(np.clip(df, 1.0, k - 1.0) * 1000.0) / 1000.0
    a = (1.0 - level) / 2.0 if side == "two-sided" else 1.0 - level
    z = float(special.ndtri(1.0 - a))
    t = special.stdtrit(df, 1.0 - a)
    # Only the part above k - 1 is estimated: per-case proportions that are all 0 or 1 give
    # exactly n* = k - 1, the most a design effect can take away, whatever the sample says.
    n_eff = (k - 1.0) + (n_star - (k - 1.0)) * (z / t) ** 2
    lower, upper = proportion_bounds(p * n_eff, n_eff, level, method, side)
    return EffectiveN(lower, upper, n_eff, df)
