"""The gates against the control: a router arm's outcome against the plan's control arm's, paired by
case, with one-sided bounds from one paired case bootstrap.

One estimator shape serves every outcome: keep the cases both arms observed, compute a statistic of
each arm on the same case resample, contrast the two, and take the one-sided bounds as percentiles
of the contrast's replicates. The outcomes:

- ``downstream_quality_vs_control``: mean per-case quality difference (non-inferiority, op ``>=``);
- ``cost_vs_control``: relative cost per request, ratio of mean per-case costs minus 1 (op ``<=``);
- ``e2e_latency_p95_vs_control`` and ``e2e_latency_median_vs_control``: difference of pooled
  end-to-end latency quantiles in ms (op ``<=``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._arm import ArmData
from analysis._case_bootstrap import CaseResampler, too_few_resamples
from analysis._clustered_quantile import too_few_cases
from analysis._comparisons import case_aggregate
from analysis._gates import decide_gate
from analysis._planned_comparisons import RngFor
from analysis._quantiles import bootstrap_quantile
from analysis._reference import estimate_quality_difference
from analysis._results import GateVerdict, Interval, Unit
from prereg.schema import GateSpec, Plan

__all__ = [
    "CONTROL_METRICS",
    "EXPANDED",
    "LATENCY_VS_CONTROL",
    "METHOD",
    "ControlBounds",
    "control_gate_verdict",
    "cost_vs_control_bounds",
    "expanded_level",
    "latency_vs_control_bounds",
    "quality_vs_control_bounds",
    "settle_control_gate",
]

#: The method recorded in the gates' bounds.
METHOD = "paired_case_bootstrap_percentile"
#: The method of the relative-cost gate's bounds (the percentile at a level widened for small k).
EXPANDED = "paired_case_bootstrap_expanded_percentile"
#: The end-to-end latency gates against the control and the quantile each is about.
LATENCY_VS_CONTROL = {"e2e_latency_p95_vs_control": 0.95, "e2e_latency_median_vs_control": 0.5}
#: Every gate metric against the control.
CONTROL_METRICS = frozenset({"downstream_quality_vs_control", "cost_vs_control", *LATENCY_VS_CONTROL})
#: Distance from the threshold within which a bound counts as equal to it.
_TIE = 1e-12

Arm = tuple[NDArray[np.float64], NDArray[np.intp]]


@dataclass(frozen=True)
class ControlBounds:
    """A gate's estimate and its one-sided bounds at one level (no ends, with ``note``, when absent)."""

    n_cases: int
    estimate: float | None
    lower: Interval
    upper: Interval
    note: str | None


def _absent(n: int, estimate: float | None, level: float, note: str, method: str = METHOD) -> ControlBounds:
    return ControlBounds(
        n,
        estimate,
        _side(None, level, "lower", note, method),
        _side(None, level, "upper", note, method),
        note,
    )


def expanded_level(level: float, k: int) -> float:
    """The percentile level of a one-sided bound at ``level`` widened for ``k`` resampled units:
    :math:`\\Phi(\\sqrt{k/(k-1)}\\,t_{k-1,\\text{level}})` (Hesterberg 2015, the expanded
    percentile interval), 0.9540 for 0.95 at 60 cases, tending to ``level`` as ``k`` grows."""
    return float(stats.norm.cdf(np.sqrt(k / (k - 1.0)) * stats.t.isf(1.0 - level, k - 1)))


def _from_replicates(
    n: int, estimate: float, boot: NDArray[np.float64], level: float, method: str = METHOD
) -> ControlBounds:
    """The one-sided percentile bounds at ``level`` of the contrast's bootstrap replicates (under
    ``EXPANDED``, at the expanded level, recorded as ``level``)."""
    if boot.size == 0 or float(np.ptp(boot)) == 0.0:
        note = "every case resample gives the same value, so the data carry no variance for a bound"
        return _absent(n, estimate, level, note, method)
    at = expanded_level(level, n) if method == EXPANDED else level
    short = too_few_resamples(at, boot.size)
    if short is not None:
        return _absent(n, estimate, level, short, method)
    lo, hi = np.quantile(boot, [1.0 - at, at])
    return ControlBounds(
        n,
        estimate,
        _side(float(lo), level, "lower", None, method),
        _side(float(hi), level, "upper", None, method),
        None,
    )


def quality_vs_control_bounds(
    router: Arm, control: Arm | None, k: int, level: float, resampler: CaseResampler, min_cases: int
) -> ControlBounds:
    """Downstream quality of the router minus the control's, paired by case, with one-sided bounds.

    Parameters
    ----------
    router, control : tuple of ndarray
        Each arm's request-level downstream quality (0/1, NaN: not graded or excluded) and the
        case code ``0..k-1`` of each request; ``control`` None when the plan's control arm has
        no data.
    k : int
        Number of cases in the trial table.
    level : float
        Level of each one-sided bound (the gate rule's ``level``).
    resampler : CaseResampler
        Source of the case resamples (the gate's own stream, so no other figure's draws move).
    min_cases : int
        Fewest common cases for a bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    ControlBounds
        Unit ``case``. The estimate is :math:`\\bar D`, the mean over the :math:`k_c` cases both
        arms observed of :math:`D_i = \\bar y_{ri} - \\bar y_{ci}` (each arm's mean quality on
        case :math:`i`); the lower (upper) bound is the :math:`1 - \\text{level}`
        (:math:`\\text{level}`) quantile of its bootstrap replicates. No bounds, with a note, when
        the control has no data, below ``min_cases`` common cases, or when every case has the
        same difference (the data carry no variance; a zero-width bound would be an artefact).

    Notes
    -----
    The case is the unit: every arm sees every case, and the replays of a case share its
    difficulty (and so are correlated, within and across arms), so whole cases are resampled and
    both arms are evaluated on the same draw, keeping the pairing. This is
    :func:`analysis.estimate_quality_difference` (the reference comparisons' paired case
    bootstrap of downstream quality) at the two-sided level :math:`2\\,\\text{level} - 1`, whose
    ends are the one-sided percentile bounds at ``level``
    (Davison and Hinkley 1997, section 3.8, the bootstrap of clustered data resampling the
    top-level units; the percentile method, Efron and Tibshirani 1993, chapter 13). Calibration
    by simulation through :func:`analysis.analyze` (tests/test_analysis_quality_vs_control_calibration.py,
    60 cases x 5 replays, margin 0.05, one-sided 95%): type I error at the margin 0.048 without a
    case effect and 0.049 with case difficulty shared by both arms (replay ICC 0.3), a bound
    exactly at the threshold counting as no PASS (the analysis' tie rule).

    References
    ----------
    .. [1] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       section 3.8. Cambridge University Press. doi:10.1017/CBO9780511802843
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    .. [3] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3),
       369-390. doi:10.1111/j.1467-9868.2007.00593.x
    """
    if control is None:
        return _absent(0, None, level, "the control arm has no downstream quality data")
    a = case_aggregate(router[0], router[1], k)
    b = case_aggregate(control[0], control[1], k)
    # the two-sided interval at 2 level - 1 has the one-sided bounds at level as its ends
    n, _, est, iv = estimate_quality_difference(a, b, 2.0 * level - 1.0, resampler, min_cases)
    if n == 0:
        return _absent(
            0, None, level, "no case has downstream quality in both the router and the control arm"
        )
    return ControlBounds(
        n, est, _side(iv.lower, level, "lower", iv.note), _side(iv.upper, level, "upper", iv.note), iv.note
    )


def cost_vs_control_bounds(
    router: Arm, control: Arm | None, k: int, level: float, resampler: CaseResampler, min_cases: int
) -> ControlBounds:
    """Relative cost per request of the router against the control, paired by case, one-sided bounds.

    Parameters
    ----------
    router, control : tuple of ndarray
        Each arm's request-level cost in USD (NaN: not counted) and the case code ``0..k-1`` of
        each request; ``control`` None when the plan's control arm has no data.
    k : int
        Number of cases in the trial table.
    level : float
        Level of each one-sided bound (the gate rule's ``level``).
    resampler : CaseResampler
        Source of the case resamples (the gate's own stream).
    min_cases : int
        Fewest common cases for a bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    ControlBounds
        Unit ``case``. The estimate is :math:`R = \\bar c_r / \\bar c_c - 1`, where
        :math:`\\bar c_a = k_c^{-1}\\sum_i \\bar c_{ai}` is the mean over the :math:`k_c` cases
        both arms observed of arm :math:`a`'s mean cost on case :math:`i` (-0.30: 30% cheaper).
        The bounds are the :math:`1 - L'` and :math:`L'` quantiles of the replicates
        :math:`R_b = (\\sum_i w_{bi}\\bar c_{ri}) / (\\sum_i w_{bi}\\bar c_{ci}) - 1`, with
        :math:`L' = \\Phi(\\sqrt{k_c/(k_c-1)}\\,t_{k_c-1,\\text{level}})` the expanded level
        (:func:`expanded_level`; 0.9540 for a 95% bound at 60 cases).
        No bounds, with a note, without control data, below ``min_cases`` common cases, when the
        control's mean cost is 0 (no ratio), or when every resample gives the same ratio.

    Notes
    -----
    The case is the unit: the cost of a request follows its case's prompt and answer lengths, so
    the replays of a case, and the two arms on that case, are correlated; whole cases are drawn
    with replacement and both arms evaluated on the same draw (the paired cluster bootstrap of a
    ratio of means, Davison and Hinkley 1997, sections 3.8 and 2.4; the percentile method, Efron
    and Tibshirani 1993, chapter 13). Resamples whose control cost is 0 are left out of the
    percentiles. A savings gate ``<= -x`` is decided by the upper bound. The plain percentile bound
    is too narrow at small :math:`k_c` (its variance is :math:`(k_c-1)/k_c` of the case-level one,
    with a normal rather than a t quantile) and, with skewed costs, measured liberal: type I error
    0.060 and 0.062 at the boundary (3,000 datasets each, the worlds of the calibration test). The
    expanded percentile bound (Hesterberg 2015) takes the percentile at the level a t interval
    with :math:`k_c - 1` degrees of freedom would need, which corrects the narrowness and keeps
    the bound a percentile of the same replicates. Calibration by simulation through
    :func:`analysis.analyze` (tests/test_analysis_cost_latency_vs_control_calibration.py, 60 cases
    x 5 replays, one-sided 95%): type I error 0.055 without a case effect and 0.057 with per-case
    token counts shared by both arms (docs/design.md, "The gate against the control").

    References
    ----------
    .. [1] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       sections 2.4 and 3.8. Cambridge University Press. doi:10.1017/CBO9780511802843
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    .. [3] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3),
       369-390. doi:10.1111/j.1467-9868.2007.00593.x
    .. [4] Hesterberg, T. C. (2015). What teachers should know about the bootstrap: resampling in
       the undergraduate statistics curriculum. The American Statistician 69(4), 371-386.
       doi:10.1080/00031305.2015.1089789
    """
    if control is None:
        return _absent(0, None, level, "the control arm has no cost data", EXPANDED)
    (sr, cr), (sc, cc) = case_aggregate(router[0], router[1], k), case_aggregate(control[0], control[1], k)
    common = (cr > 0) & (cc > 0)
    n = int(common.sum())
    if n == 0:
        return _absent(0, None, level, "no case has a cost in both the router and the control arm", EXPANDED)
    m_r, m_c = sr[common] / cr[common], sc[common] / cc[common]
    if float(m_c.sum()) <= 0.0:
        return _absent(
            n, None, level, "the control arm's mean cost is 0, so a relative cost is undefined", EXPANDED
        )
    est = float(m_r.mean() / m_c.mean() - 1.0)
    if n < min_cases:
        return _absent(n, est, level, too_few_cases(n, min_cases), EXPANDED)
    w = resampler(n)
    num, den = w @ m_r, w @ m_c
    ok = den > 0.0
    # the plain percentile bound measured liberal here (type I error 0.060 and 0.062 on 3,000
    # datasets): skewed costs at 60 cases; the expanded level corrects its narrowness at small k
    return _from_replicates(n, est, num[ok] / den[ok] - 1.0, level, EXPANDED)


def latency_vs_control_bounds(
    router: Arm,
    control: Arm | None,
    k: int,
    q: float,
    level: float,
    resampler: CaseResampler,
    min_cases: int,
) -> ControlBounds:
    """End-to-end latency q-quantile of the router minus the control's, in ms, paired by case.

    Parameters
    ----------
    router, control : tuple of ndarray
        Each arm's request-level end-to-end latency in ms (NaN: not counted) and the case code
        ``0..k-1`` of each request; ``control`` None when the plan's control arm has no data.
    k : int
        Number of cases in the trial table.
    q : float
        The quantile (0.95 for the P95, 0.5 for the median).
    level : float
        Level of each one-sided bound (the gate rule's ``level``).
    resampler : CaseResampler
        Source of the case resamples (the gate's own stream).
    min_cases : int
        Fewest common cases for a bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    ControlBounds
        Unit of the quantiles: the request (each arm's latencies pooled over the cases both arms
        observed); the resampled unit is the case. The estimate is
        :math:`\\hat\\xi_q(r) - \\hat\\xi_q(c)`, each the lower empirical quantile (inverse of the
        empirical CDF) of that arm's pooled requests; the bounds are the :math:`1 - \\text{level}`
        and :math:`\\text{level}` quantiles of the replicates, each resample drawing the common
        cases once and taking both arms' quantiles of the requests of the drawn cases
        (:func:`analysis.bootstrap_quantile`). No bounds, with a note, without control data, below
        ``min_cases`` common cases, or when every resample gives the same difference.

    Notes
    -----
    The replays of a case share its prompt and answer lengths, so their latencies are correlated
    within and across arms; whole cases are resampled and both arms evaluated on the same draw
    (Davison and Hinkley 1997, section 3.8). A percentile bootstrap of a sample quantile, and of
    a P95 in particular, is approximate: the bootstrap distribution of a quantile is discrete (its
    replicates are a few order statistics near the quantile) and its accuracy only asymptotic, so
    the bound's coverage at a given n is not guaranteed and is what the calibration test measures
    (tests/test_analysis_cost_latency_vs_control_calibration.py through :func:`analysis.analyze`,
    60 cases x 5 replays, P95 margin 200 ms, one-sided 95%): type I error 0.039 without a case
    effect and 0.027 with a case latency factor shared by both arms, so conservative there.

    References
    ----------
    .. [1] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application,
       section 3.8. Cambridge University Press. doi:10.1017/CBO9780511802843
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    """
    if control is None:
        return _absent(0, None, level, "the control arm has no end-to-end latency data")
    kr, kc = ~np.isnan(router[0]), ~np.isnan(control[0])
    vr, cr, vc, cc = router[0][kr], router[1][kr], control[0][kc], control[1][kc]
    common = (np.bincount(cr, minlength=k) > 0) & (np.bincount(cc, minlength=k) > 0)
    n = int(common.sum())
    if n == 0:
        return _absent(
            0, None, level, "no case has an end-to-end latency in both the router and the control arm"
        )
    in_r, in_c = common[cr], common[cc]
    vr, cr, vc, cc = vr[in_r], cr[in_r], vc[in_c], cc[in_c]
    est = float(np.quantile(vr, q, method="inverted_cdf") - np.quantile(vc, q, method="inverted_cdf"))
    if n < min_cases:
        return _absent(n, est, level, too_few_cases(n, min_cases))
    remap = np.cumsum(common) - 1
    w = resampler(n)
    boot = bootstrap_quantile(vr, remap[cr], q, w) - bootstrap_quantile(vc, remap[cc], q, w)
    return _from_replicates(n, est, boot, level)


def control_gate_verdict(
    gate: GateSpec, a: str, data: Mapping[str, ArmData], plan: Plan, k: int, rng_for_arm: RngFor
) -> GateVerdict:
    """The verdict of a gate against the control for router arm ``a`` (the plan's first control
    arm, ``k`` cases in the table): INCONCLUSIVE, with the reason, without control data, below
    ``analysis.min_cases`` common cases, or with a deciding bound equal to the threshold."""
    spec = plan.analysis
    level = gate.rule.level if gate.rule.kind == "confidence_bound" else 1.0 - spec.alpha
    control = next((x.id for x in plan.arms if x.kind == "control"), None)
    c = data.get(control) if control is not None else None
    d = data[a]
    has_control = c is not None and bool(c.cases.size)
    # each metric its own stream: adding a gate moves no other figure's draws
    stream = (
        "gate_quality_vs_control" if gate.metric == "downstream_quality_vs_control" else f"gate_{gate.metric}"
    )
    resampler = CaseResampler(rng_for_arm(stream), spec.bootstrap.resamples)
    if gate.metric == "downstream_quality_vs_control":
        other = (c.downstream, c.cases) if c is not None and has_control else None
        bounds = quality_vs_control_bounds(
            (d.downstream, d.cases), other, k, level, resampler, spec.min_cases
        )
    elif gate.metric == "cost_vs_control":
        other = (c.cost, c.cases) if c is not None and has_control else None
        bounds = cost_vs_control_bounds((d.cost, d.cases), other, k, level, resampler, spec.min_cases)
    else:
        other = (c.e2e, c.cases) if c is not None and has_control else None
        q = LATENCY_VS_CONTROL[gate.metric]
        bounds = latency_vs_control_bounds((d.e2e, d.cases), other, k, q, level, resampler, spec.min_cases)
    unit: Unit = "request" if gate.metric in LATENCY_VS_CONTROL else "case"
    return settle_control_gate(a, gate, unit, bounds, spec.min_cases)


def settle_control_gate(
    a: str, gate: GateSpec, unit: Unit, bounds: ControlBounds, min_cases: int
) -> GateVerdict:
    """The verdict of ``bounds`` for ``gate`` and arm ``a`` (:func:`decide_gate`), INCONCLUSIVE below
    ``min_cases`` cases with the bounds' note, or with a deciding bound equal to the threshold."""
    verdict = decide_gate(a, gate, unit, bounds.estimate, bounds.lower, bounds.upper)
    if bounds.n_cases < min_cases and bounds.note is not None:
        return dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=bounds.note)
    side = "lower" if gate.op == ">=" else "upper"
    deciding = bounds.lower.lower if gate.op == ">=" else bounds.upper.upper
    if gate.rule.kind != "confidence_bound":
        deciding = None
    # per-case means of a few replays lie on a lattice, so a bootstrap bound can equal the margin
    # exactly, and rounding alone would then decide; a bound that equals the threshold leaves it
    # inside the one-sided interval, so it is not shown to clear it (a PASS there costs alpha)
    if verdict.verdict == "PASS" and deciding is not None and abs(deciding - gate.threshold) <= _TIE:
        why = f"the one-sided {side} bound {deciding:.6g} equals {gate.threshold:g}: a tie does not clear it"
        return dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=why)
    return verdict


def _side(
    end: float | None, level: float, side: Literal["lower", "upper"], note: str | None, method: str = METHOD
) -> Interval:
    if side == "lower":
        return Interval(end, None, level, method, "lower", note)
    return Interval(None, end, level, method, "upper", note)
