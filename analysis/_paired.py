"""Two arms compared over the cases both observed, with a test and an interval of one estimand.

Every arm sees every case, so a comparison is paired by case. Each estimator here yields an
interval at any level and the two-sided p-value dual to it (the smallest alpha at which the
``1 - alpha`` interval excludes 0), so a test and the interval printed beside it can never
disagree, whatever level a multiplicity correction asks for:

- a difference of two proportions (routing accuracy, downstream answer quality): MOVER, the
  method of variance estimates recovery, combining each arm's calibrated interval
  (:func:`analysis.effective_n_bounds` on the unit ``case``) with the correlation of the two arms'
  estimates over their common cases;
- a difference of means (latency, cost): the paired t on per-case differences of per-case means.

:class:`Paired` is the level-free part (estimate, p-value); :meth:`Paired.at` gives the result at
a level. The case bootstrap of a median difference, which follows the same protocol, is in
:mod:`analysis._comparisons`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from analysis._clustered_quantile import too_few_cases
from analysis._effective_n import effective_n_bounds, method_name
from analysis._proportions import proportion_bounds
from analysis._results import DifferenceResult, Interval, Unit

__all__ = ["P_FLOOR", "Paired", "paired_mean_difference", "paired_proportion_difference"]

F64 = NDArray[np.float64]
#: Per-case sums and counts over all K cases of the table (see :func:`analysis.case_aggregate`).
CaseAgg = tuple[F64, F64]

#: Smallest p-value an inverted interval reports: below it the interval is not evaluated (levels
#: closer to 1 are not representable well in floating point), so the p-value is an upper bound.
P_FLOOR: Final = 1e-15
_NO_COMMON = "no case observed in both arms"
#: Relative size under which every case difference counts as equal (rounding of per-case means).
_FLAT = 1e-12


class Paired:
    """One paired comparison: the estimate and p-value, and the interval at any level.

    ``bounds(level)`` returns the interval's ends; it is None when the data support no interval,
    and ``note`` says why (the p-value is None then too). Built by the estimators of this module
    and by :func:`analysis._comparisons.paired_quantile_prepared`.
    """

    __slots__ = ("_bounds", "estimate", "method", "n_cases", "note", "p_value", "unit")

    def __init__(
        self,
        unit: Unit,
        n_cases: int,
        estimate: float | None,
        method: str,
        bounds: Callable[[float], tuple[float | None, float | None, str | None]] | None,
        p_value: float | None,
        note: str | None,
    ) -> None:
        self.unit, self.n_cases, self.estimate, self.method = unit, n_cases, estimate, method
        self._bounds, self.p_value, self.note = bounds, p_value, note

    def interval(self, level: float) -> Interval:
        """The two-sided interval at ``level`` (no ends, with the note, where none exists)."""
        if self._bounds is None:
            return Interval(None, None, level, self.method, "two-sided", self.note)
        lo, hi, note = self._bounds(level)
        return Interval(lo, hi, level, self.method, "two-sided", note)

    def at(self, level: float) -> DifferenceResult:
        """The unadjusted result with its interval at ``level``."""
        return DifferenceResult(
            self.unit, self.n_cases, self.estimate, self.interval(level), self.p_value, self.p_value
        )


def _common(a: CaseAgg, b: CaseAgg) -> NDArray[np.bool_]:
    return np.asarray((a[1] > 0) & (b[1] > 0), dtype=np.bool_)


def _invert(end: Callable[[float], float], estimate: float) -> float:
    """The smallest alpha at which the ``1 - alpha`` interval excludes 0.

    ``end(level)`` is the interval's end on the side of 0 (the lower end when the estimate is
    positive, the upper end when negative). It moves monotonically towards the estimate as the
    level falls, reaching it at level 0, so the crossing of 0 is unique: Brent's method on
    :math:`\\log\\alpha` finds it to a relative precision of about 1e-10.
    """
    if estimate == 0.0:
        return 1.0
    sign = 1.0 if estimate > 0 else -1.0

    def margin(log_alpha: float) -> float:
        return sign * end(1.0 - math.exp(log_alpha))

    lo, hi = math.log(P_FLOOR), math.log(1.0 - 1e-9)
    if margin(lo) > 0.0:
        return P_FLOOR
    if margin(hi) <= 0.0:
        return 1.0
    root = optimize.brentq(margin, lo, hi, xtol=1e-10, rtol=1e-12)
    return float(math.exp(root))


def paired_proportion_prepared(
    a: CaseAgg, b: CaseAgg, unit: Unit, method: str = "wilson", min_cases: int = 2
) -> Paired:
    """The level-free part of :func:`paired_proportion_difference` (see there)."""
    common = _common(a, b)
    k = int(common.sum())
    name = f"mover_{method_name(method) if unit == 'case' else method}"
    if k == 0:
        return Paired(unit, 0, None, name, None, None, _NO_COMMON)
    sa, na, sb, nb = a[0][common], a[1][common], b[0][common], b[1][common]
    if unit == "case":
        xa, xb = sa / na, sb / nb
        p1, p2 = float(xa.mean()), float(xb.mean())
        ea, eb = (xa - p1) / k, (xb - p2) / k
    else:
        p1, p2 = float(sa.sum() / na.sum()), float(sb.sum() / nb.sum())
        ea, eb = (sa - p1 * na) / na.sum(), (sb - p2 * nb) / nb.sum()
    d = p1 - p2
    if k < min_cases:
        return Paired(unit, k, d, name, None, None, too_few_cases(k, min_cases))
    ssa, ssb = float(ea @ ea), float(eb @ eb)
    # the correlation of the two estimates, from their case-level linearised residuals
    r = float(np.clip((ea @ eb) / math.sqrt(ssa * ssb), -1.0, 1.0)) if ssa > 0 and ssb > 0 else 0.0
    u = ea - eb
    if ssa > 0 and ssb > 0 and float(u @ u) <= _FLAT * (ssa + ssb):
        return Paired(
            unit,
            k,
            d,
            name,
            None,
            None,
            "every case has the same difference between the arms, so the data carry no "
            "variance for an interval",
        )
    ka, kb = int(na.sum()), int(nb.sum())
    moments = None
    if unit == "case":  # second and fourth central moments of each arm's per-case proportions
        moments = np.array([[float((dev**j).mean()) for dev in (xa - p1, xb - p2)] for j in (2, 4)])

    def arm_bounds(level: float) -> tuple[float, float, float, float]:
        if moments is None:
            lo, hi = proportion_bounds([sa.sum(), sb.sum()], [na.sum(), nb.sum()], level, method)
            return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])
        est = np.array([p1, p2])
        if ka == kb:  # one vectorised call for both arms
            both = effective_n_bounds(est, moments[0], moments[1], k, ka, level, method)
            return float(both.lower[0]), float(both.upper[0]), float(both.lower[1]), float(both.upper[1])
        one = effective_n_bounds(est[:1], moments[0, :1], moments[1, :1], k, ka, level, method)
        two = effective_n_bounds(est[1:], moments[0, 1:], moments[1, 1:], k, kb, level, method)
        return float(one.lower[0]), float(one.upper[0]), float(two.lower[0]), float(two.upper[0])

    def ends(level: float) -> tuple[float, float]:
        la, ua, lb, ub = arm_bounds(level)
        lo = d - math.sqrt(max(0.0, (p1 - la) ** 2 + (ub - p2) ** 2 - 2.0 * r * (p1 - la) * (ub - p2)))
        hi = d + math.sqrt(max(0.0, (ua - p1) ** 2 + (p2 - lb) ** 2 - 2.0 * r * (ua - p1) * (p2 - lb)))
        return max(-1.0, lo), min(1.0, hi)

    def bounds(level: float) -> tuple[float | None, float | None, str | None]:
        lo, hi = ends(level)
        return lo, hi, None

    p = _invert(lambda level: ends(level)[0 if d > 0 else 1], d)
    return Paired(unit, k, d, name, bounds, p, None)


def paired_proportion_difference(
    a: CaseAgg, b: CaseAgg, unit: Unit, level: float, method: str = "wilson", min_cases: int = 2
) -> DifferenceResult:
    """Difference of two proportions ``a - b`` paired by case: MOVER interval and its inversion.

    Parameters
    ----------
    a, b : CaseAgg
        Per-case sums and counts of 0/1 outcomes of each arm (from :func:`analysis.case_aggregate`).
    unit : {"case", "request"}
        Unit of analysis of each arm's proportion. ``case`` (the default of a plan): the mean of
        per-case proportions, each arm's interval from :func:`analysis.effective_n_bounds`;
        ``request``: pooled requests, each arm's interval binomial on its requests.
    level : float
        Confidence level of the two-sided interval.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Each arm's binomial interval (the plan's ``analysis.ci_method``).
    min_cases : int
        Fewest common cases for an interval and a test (the plan's ``analysis.min_cases``).

    Returns
    -------
    DifferenceResult
        Over the cases both arms observed (``n_cases``); ``p_value`` is the smallest alpha at
        which the ``1 - alpha`` interval excludes 0, so test and interval are dual; no interval
        and no test (with a note) below ``min_cases`` or when every case has the same difference.

    Notes
    -----
    With :math:`\\hat p_j` and :math:`(l_j, u_j)` arm :math:`j`'s estimate and interval over the
    common cases and :math:`d = \\hat p_1 - \\hat p_2`, the MOVER interval (Zou and Donner 2008;
    for paired proportions with Wilson intervals it is Newcombe's 1998 method 10, here without his
    continuity correction of the correlation) is

    .. math::
        L = d - \\sqrt{(\\hat p_1 - l_1)^2 + (u_2 - \\hat p_2)^2
                      - 2 r (\\hat p_1 - l_1)(u_2 - \\hat p_2)}, \\quad
        U = d + \\sqrt{(u_1 - \\hat p_1)^2 + (\\hat p_2 - l_2)^2
                      - 2 r (u_1 - \\hat p_1)(\\hat p_2 - l_2)},

    clipped to :math:`[-1, 1]`. :math:`r` is the correlation of the two estimates, estimated from
    the cases: :math:`r = \\sum_i e_{1i}e_{2i}/\\sqrt{\\sum_i e_{1i}^2\\sum_i e_{2i}^2}` with
    :math:`e_{ji} = \\bar y_{ji} - \\hat p_j` (unit ``case``, the Pearson correlation of the per-case
    proportions) or :math:`e_{ji} = S_{ji} - \\hat p_j n_{ji}` (unit ``request``, the linearised
    ratio estimator); :math:`r = 0` when an arm's cases do not vary (its interval then comes
    from the boundary rule of :func:`analysis.effective_n_bounds`, never of width zero). When every
    case has the same difference and both arms vary, :math:`r = 1` and the interval would shrink
    to nothing: none is given. The p-value inverts the interval: bisection on :math:`\\log\\alpha`
    for the level at which the end nearer 0 reaches 0, down to :data:`P_FLOOR` (a p-value
    reported as that is an upper bound); :math:`d = 0` gives 1. Calibration by simulation through
    this code (tests/test_analysis_comparisons_calibration.py): coverage near 95% and type I error
    at most alpha + 1 point at 60 cases x 5 replays with replay ICC 0.3, arms sharing case difficulty.

    References
    ----------
    .. [1] Zou, G. Y., Donner, A. (2008). Construction of confidence limits about effect measures:
       a general approach. Statistics in Medicine 27(10), 1693-1702. doi:10.1002/sim.3095
    .. [2] Newcombe, R. G. (1998). Improved confidence intervals for the difference between
       binomial proportions based on paired data. Statistics in Medicine 17(22), 2635-2650.
       doi:10.1002/(SICI)1097-0258(19981130)17:22<2635::AID-SIM954>3.0.CO;2-C
    .. [3] Korn, E. L., Graubard, B. I. (1998). Survey Methodology 24(2), 193-201.
    """
    return paired_proportion_prepared(a, b, unit, method, min_cases).at(level)


def paired_mean_prepared(a: CaseAgg, b: CaseAgg, min_cases: int = 2, scale: float = 1.0) -> Paired:
    """The level-free part of :func:`paired_mean_difference` (see there)."""
    common = _common(a, b)
    k = int(common.sum())
    name = "paired_t_case_means"
    if k == 0:
        return Paired("case", 0, None, name, None, None, _NO_COMMON)
    diff = scale * (a[0][common] / a[1][common] - b[0][common] / b[1][common])
    est = float(diff.mean())
    if k < min_cases:
        return Paired("case", k, est, name, None, None, too_few_cases(k, min_cases))
    if float(np.ptp(diff)) <= _FLAT * float(np.abs(diff).max()):
        return Paired(
            "case",
            k,
            est,
            name,
            None,
            None,
            "every case has the same difference between the arms, so the data carry no "
            "variance for an interval",
        )
    se = float(diff.std(ddof=1)) / math.sqrt(k)
    df = k - 1
    p = float(2.0 * stats.t.sf(abs(est) / se, df))

    def bounds(level: float) -> tuple[float | None, float | None, str | None]:
        half = float(stats.t.isf((1.0 - level) / 2.0, df)) * se
        return est - half, est + half, None

    return Paired("case", k, est, name, bounds, p, None)


def paired_mean_difference(
    a: CaseAgg, b: CaseAgg, level: float, min_cases: int = 2, scale: float = 1.0
) -> DifferenceResult:
    """Difference of means ``scale * (a - b)`` paired by case: the paired t on case means.

    Parameters
    ----------
    a, b : CaseAgg
        Per-case sums and counts of a request-level value (latency, cost) of each arm.
    level : float
        Confidence level of the two-sided interval.
    min_cases : int
        Fewest common cases for an interval and a test (the plan's ``analysis.min_cases``).
    scale : float
        Multiplier (1000 for "per 1,000 requests").

    Returns
    -------
    DifferenceResult
        Unit ``case``: the estimate is the mean over the common cases of the per-case difference
        of the arms' means; ``p_value`` is the paired t-test's, dual to the interval; no interval
        and no test (with a note) below ``min_cases`` or when every case has the same difference.

    Notes
    -----
    A cluster-level analysis (Donner and Klar 2000, chapter 6): with :math:`D_i = \\bar y_{1i} -
    \\bar y_{2i}` on the :math:`k` common cases, :math:`\\bar D \\pm t_{k-1, 1-a/2}\\, s_D/\\sqrt k`
    and :math:`p = 2 P(T_{k-1} \\ge |\\bar D|\\sqrt k / s_D)`, which are
    ``scipy.stats.ttest_rel`` on the case means. Whatever the replays of a case share (one prompt,
    one prefill) stays inside :math:`D_i`, so nothing is assumed about how replays relate. With
    every replay of both arms observed the estimate equals the difference of request-level means.

    References
    ----------
    .. [1] Donner, A., Klar, N. (2000). Design and Analysis of Cluster Randomization Trials in
       Health Research. Arnold, London. ISBN 0-340-69153-0.
    .. [2] Student (1908). The probable error of a mean. Biometrika 6(1), 1-25.
       doi:10.1093/biomet/6.1.1
    """
    return paired_mean_prepared(a, b, min_cases, scale).at(level)
