"""Routers against the reference arms: the share of the fixed-to-oracle gap a router recovers,
and router minus a random mix, both on downstream quality with case-bootstrap intervals.

Baselines of the gap share are the arms that always send to one model: the control and every
``fixed`` arm, each reported separately (which single model is the natural floor is the reader's
call, not ours); the ceiling is the plan's first ``oracle`` arm. Both figures are exploratory:
outside ``analysis.family``, unadjusted, at level ``1 - alpha``. Unit of analysis: the case
(replays of a case are correlated, so a case's replays are resampled together).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from analysis._arm import ArmData
from analysis._case_bootstrap import CaseResampler
from analysis._comparisons import CaseAgg, case_aggregate, percentile_interval
from analysis._interval import Interval
from analysis._planned_comparisons import RngFor
from analysis._reference_results import GapShareResult, RandomMixResult, ReferenceResult
from analysis._results import DECIDING_KINDS, ArmResult
from prereg.schema import Plan

__all__ = ["estimate_gap_share", "estimate_quality_difference", "reference_comparisons"]

_METHOD = "case_bootstrap_percentile"
NOTE = (
    "exploratory (not in analysis.family): unadjusted case-bootstrap percentile intervals at "
    "1 - alpha on the cases both (or all three) arms answered; unit: the case"
)


def _case_means(aggs: tuple[CaseAgg, ...]) -> tuple[NDArray[np.float64], ...]:
    """Each arm's per-case mean quality over the cases every arm answered."""
    common = np.logical_and.reduce([counts > 0 for _, counts in aggs])
    return tuple(sums[common] / counts[common] for sums, counts in aggs)


def _none(level: float, note: str) -> Interval:
    return Interval(None, None, level, _METHOD, "two-sided", note)


def estimate_gap_share(
    router: CaseAgg,
    baseline: CaseAgg,
    oracle: CaseAgg,
    level: float,
    resampler: CaseResampler,
    min_cases: int,
) -> tuple[int, tuple[float, float, float] | None, float | None, Interval, float | None, Interval]:
    """The share of the baseline-to-oracle gap in quality that a router recovers, with intervals.

    Parameters
    ----------
    router, baseline, oracle : tuple of ndarray
        Per-case sums and counts of downstream correctness (:func:`case_aggregate`), indexed by the
        same case codes.
    level : float
        Level of the two-sided intervals.
    resampler : CaseResampler
        Source of the case resamples (one matrix, shared by the three arms: paired by case).
    min_cases : int
        Fewest common cases for an interval (``analysis.min_cases``).

    Returns
    -------
    tuple
        ``(n_cases, (Q_router, Q_baseline, Q_oracle) or None, gap, gap_interval, share,
        share_interval)``. ``share`` and its interval ends are None when the gap's interval
        does not lie above 0 (it includes 0, lies below it, or does not exist), the reason in
        the interval's note.

    Notes
    -----
    Unit of analysis: the case. On the :math:`k` cases all three arms answered, with
    :math:`\\bar y_{ai}` arm :math:`a`'s mean over case :math:`i`'s replays,
    :math:`Q_a = k^{-1}\\sum_i \\bar y_{ai}`, the gap is :math:`G = Q_O - Q_B` and the share
    :math:`S = (Q_R - Q_B) / G`. Resample :math:`b` draws :math:`k` cases with replacement
    (weights :math:`w_{bi}`, the same for the three arms) and gives :math:`G_b` and :math:`S_b`
    from :math:`Q_{ab} = k^{-1}\\sum_i w_{bi}\\bar y_{ai}`; the intervals are percentile intervals
    of the replicates. The ratio is reported only when the gap's interval lies above 0 (a ratio of
    estimates whose denominator may be 0 has no finite confidence set, Fieller 1954; an oracle
    below the baseline leaves no gap to recover); replicates
    with :math:`G_b = 0` are left out of the share's percentiles.

    References
    ----------
    .. [1] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3), 369-390.
       doi:10.1111/j.1467-9868.2007.00593.x
    .. [2] Fieller, E. C. (1954). Some problems in interval estimation. JRSS B 16(2), 175-185.
       doi:10.1111/j.2517-6161.1954.tb00159.x
    """
    m_r, m_b, m_o = _case_means((router, baseline, oracle))
    k = int(m_r.size)
    if k == 0:
        none = _none(level, "no case answered by all three arms")
        return 0, None, None, none, None, none
    q_r, q_b, q_o = float(m_r.mean()), float(m_b.mean()), float(m_o.mean())
    gap = q_o - q_b
    qualities = (q_r, q_b, q_o)
    if k < min_cases:
        few = _none(level, f"too few cases for an interval: {k} < {min_cases} (analysis.min_cases)")
        return k, qualities, gap, few, None, few
    w = resampler(k)
    gap_b = (w @ (m_o - m_b)) / k
    if np.ptp(m_o - m_b) == 0.0:
        gap_iv = _none(level, "every case has the same gap, so a case bootstrap cannot vary")
    else:
        gap_iv = percentile_interval(gap_b, level, _METHOD)
    if gap_iv.lower is None or gap_iv.upper is None or gap_iv.lower <= 0.0:
        if gap_iv.lower is None or gap_iv.upper is None:
            why = "the gap has no interval"
        else:
            ends = f"[{gap_iv.lower:.4g}, {gap_iv.upper:.4g}]"
            why = (
                f"the oracle is below the baseline (gap interval {ends}): no gap to recover"
                if gap_iv.upper < 0.0
                else f"the gap's interval {ends} includes 0"
            )
        return k, qualities, gap, gap_iv, None, _none(level, f"undefined: {why}")
    num_b = (w @ (m_r - m_b)) / k
    ok = gap_b != 0.0
    share_b = num_b[ok] / gap_b[ok]
    return k, qualities, gap, gap_iv, (q_r - q_b) / gap, percentile_interval(share_b, level, _METHOD)


def estimate_quality_difference(
    router: CaseAgg, other: CaseAgg, level: float, resampler: CaseResampler, min_cases: int
) -> tuple[int, tuple[float, float] | None, float | None, Interval]:
    """Router minus another arm in mean downstream quality, paired by case, with an interval.

    Parameters
    ----------
    router, other : tuple of ndarray
        Per-case sums and counts of downstream correctness (:func:`case_aggregate`).
    level : float
        Level of the two-sided interval.
    resampler : CaseResampler
        Source of the case resamples (shared by both arms: paired by case).
    min_cases : int
        Fewest common cases for an interval (``analysis.min_cases``).

    Returns
    -------
    tuple
        ``(n_cases, (Q_router, Q_other) or None, difference, interval)``; the interval's ends are
        None with a note below ``min_cases`` or when no resample can vary.

    Notes
    -----
    Unit of analysis: the case. :math:`D = k^{-1}\\sum_i (\\bar y_{Ri} - \\bar y_{Ai})` over the
    :math:`k` common cases; resample :math:`b` gives :math:`D_b = k^{-1}\\sum_i w_{bi}(\\bar
    y_{Ri} - \\bar y_{Ai})` and the interval is their percentile interval (the cluster bootstrap
    of a paired mean difference).

    References
    ----------
    .. [1] Field, C. A., Welsh, A. H. (2007). Bootstrapping clustered data. JRSS B 69(3), 369-390.
       doi:10.1111/j.1467-9868.2007.00593.x
    .. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, chapter 13.
       doi:10.1007/978-1-4899-4541-9
    """
    m_r, m_a = _case_means((router, other))
    k = int(m_r.size)
    if k == 0:
        return 0, None, None, _none(level, "no case answered by both arms")
    d = m_r - m_a
    est = float(d.mean())
    qualities = (float(m_r.mean()), float(m_a.mean()))
    if k < min_cases:
        return (
            k,
            qualities,
            est,
            _none(level, f"too few cases for an interval: {k} < {min_cases} (analysis.min_cases)"),
        )
    if np.ptp(d) == 0.0:
        return (
            k,
            qualities,
            est,
            _none(level, "every case has the same difference, so a case bootstrap cannot vary"),
        )
    return k, qualities, est, percentile_interval((resampler(k) @ d) / k, level, _METHOD)


def _gap_share(
    r: str, base: str, oracle: str, agg: Mapping[str, CaseAgg], plan: Plan, rng_for: Callable[[str], RngFor]
) -> GapShareResult:
    spec = plan.analysis
    resampler = CaseResampler(rng_for(f"{r}-vs-{base}-vs-{oracle}")("reference"), spec.bootstrap.resamples)
    n, q, gap, gap_iv, share, share_iv = estimate_gap_share(
        agg[r], agg[base], agg[oracle], 1.0 - spec.alpha, resampler, spec.min_cases
    )
    qr, qb, qo = q or (None, None, None)
    return GapShareResult(
        arm=r,
        baseline=base,
        oracle=oracle,
        unit="case",
        n_cases=n,
        router_quality=qr,
        baseline_quality=qb,
        oracle_quality=qo,
        gap=gap,
        gap_interval=gap_iv,
        defined=share is not None,
        share=share,
        share_interval=share_iv,
        note=share_iv.note or f"share of the {base}-to-{oracle} gap that {r} recovers",
    )


def _random_mix(
    r: str,
    rand: str,
    agg: Mapping[str, CaseAgg],
    arms: Mapping[str, ArmResult],
    plan: Plan,
    rng_for: Callable[[str], RngFor],
) -> RandomMixResult:
    spec = plan.analysis
    resampler = CaseResampler(rng_for(f"{r}-vs-{rand}")("reference"), spec.bootstrap.resamples)
    n, q, diff, iv = estimate_quality_difference(
        agg[r], agg[rand], 1.0 - spec.alpha, resampler, spec.min_cases
    )
    # no interval is no evidence either: the router is not shown to beat the mix
    flagged = iv.lower is None or iv.lower <= 0.0
    q_router, q_random = q or (None, None)
    return RandomMixResult(
        arm=r,
        random_arm=rand,
        unit="case",
        n_cases=n,
        router_quality=q_router,
        random_quality=q_random,
        difference=diff,
        interval=iv,
        random_did_as_well=flagged,
        router_cost_per_1k_usd=arms[r].cost_per_1k.estimate,
        random_cost_per_1k_usd=arms[rand].cost_per_1k.estimate,
        note=f"a random mix did as well: the lower end of {r} - {rand} is not above 0"
        if flagged
        else f"{r} beats the random mix {rand}: the interval's lower end is above 0",
    )


def reference_comparisons(
    plan: Plan,
    data: Mapping[str, ArmData],
    arms: Mapping[str, ArmResult],
    k: int,
    rng_for: Callable[[str], RngFor],
) -> ReferenceResult | None:
    """Every router against the reference arms; None when the plan has no reference arm.

    Gap shares need an ``oracle`` arm (the first in plan order is the ceiling) and take each
    control and ``fixed`` arm as a baseline; every ``random`` arm is compared with every router.
    Each comparison draws its own case resamples from ``analysis:reference:<router>-vs-<arm>``
    (``<router>-vs-<baseline>-vs-<oracle>`` for a gap share), so no other figure's draws move.
    """
    kinds = {a.id: a.kind for a in plan.arms}
    if not any(kind in ("fixed", "random", "oracle") for kind in kinds.values()):
        return None
    agg = {a: case_aggregate(d.downstream, d.cases, k) for a, d in data.items()}
    routers = [a for a, kind in kinds.items() if kind in DECIDING_KINDS]
    oracle = next((a for a, kind in kinds.items() if kind == "oracle"), None)
    baselines = [a for a, kind in kinds.items() if kind in ("control", "fixed")]
    randoms = [a for a, kind in kinds.items() if kind == "random"]
    shares = tuple(
        _gap_share(r, base, oracle, agg, plan, rng_for)
        for r in routers
        if oracle is not None
        for base in baselines
    )
    mixes = tuple(_random_mix(r, rand, agg, arms, plan, rng_for) for r in routers for rand in randoms)
    missing = "" if oracle is not None else "; no oracle arm, so no gap share"
    return ReferenceResult(NOTE + missing, shares, mixes)
