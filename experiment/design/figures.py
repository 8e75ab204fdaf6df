"""From simulations to design figures: verdict probabilities, coverage, bias, Monte Carlo error.

Every probability estimated from ``N`` independent simulations, ``k`` of which had the event, is
reported as the share ``k / N`` with its 95% Wilson score interval (``<name>_ci: (lower,
upper)``, :data:`MC_LEVEL`, ``analysis.proportion_bounds``): unlike ``sqrt(p (1 - p) / N)`` it is
not of width zero at 0/N or N/N (200 of 200 gives [0.981, 1]), and it keeps close to its level
for shares near 0 or 1 (Brown, Cai & DasGupta 2001). A mean carries ``sd / sqrt(N)``
(``<name>_mc_se``). Every figure says how many simulations it rests on (``sims``). The figures
are the frozen dataclasses of :mod:`analysis._design_results`, rounded here for the results file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from analysis import (
    AccuracyCoverage,
    AssumedArmFigures,
    BoundaryFigures,
    CoverageFigures,
    CurveFigures,
    CurveShares,
    GateFigures,
    ShareCi,
    Verdict,
    VerdictShares,
    proportion_bounds,
)
from experiment.design.scenarios import (
    ACCURACY_METRIC,
    CONTROL_METRICS,
    LATENCY_METRICS,
    QUALITY_METRIC,
    Scenario,
)
from experiment.design.sim import SimOutcome
from prereg.schema import ConfidenceBoundRule, GateSpec

__all__ = [
    "MC_LEVEL",
    "MC_METHOD",
    "VERDICTS",
    "accuracy_interval_figures",
    "assumed_figures",
    "boundary_figures",
    "curve_figures",
    "gate_figures",
    "gate_truth",
    "mean_control_estimates",
    "no_boundary_figures",
    "nominal_alpha",
    "pooled_quantiles",
    "rounded",
    "share_ci",
    "target_verdict",
    "truth_source",
    "verdict_counts",
]

#: Level and method of the Monte Carlo interval of every share.
MC_LEVEL = 0.95
MC_METHOD = "wilson"

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
#: Where the calibration of the gates against the control without a boundary world lives.
CONTROL_CALIBRATION = "tests/test_analysis_cost_latency_vs_control_calibration.py"


def share_ci(k: int, n: int) -> ShareCi | None:
    """The 95% Wilson interval ``(lower, upper)`` of a share of ``k`` in ``n`` simulations
    (rounded to 6 decimals; None without simulations)."""
    if n <= 0:
        return None
    lower, upper = proportion_bounds(k, n, MC_LEVEL, MC_METHOD)
    return (round(float(lower), 6), round(float(upper), 6))


def _share(k: int, n: int) -> tuple[float | None, ShareCi | None]:
    """The share ``k / n`` and its Wilson interval (both None without simulations)."""
    return (rounded(k / n) if n else None), share_ci(k, n)


def rounded(x: float | None, digits: int = 6) -> float | None:
    """Rounded for the results file; NaN and None become None (null)."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def verdict_counts(verdicts: Sequence[str]) -> dict[str, int]:
    """Number of simulations ending in each verdict (keys ``PASS``, ``FAIL``, ``INCONCLUSIVE``)."""
    return {v: sum(1 for x in verdicts if x == v) for v in VERDICTS}


def _verdict_shares(verdicts: Sequence[str]) -> VerdictShares:
    """``p_pass``, ``p_fail``, ``p_inconclusive``, each with its interval."""
    n = len(verdicts)
    counts = verdict_counts(verdicts)
    p_pass, p_pass_ci = _share(counts["PASS"], n)
    p_fail, p_fail_ci = _share(counts["FAIL"], n)
    p_inc, p_inc_ci = _share(counts["INCONCLUSIVE"], n)
    return VerdictShares(n, p_pass, p_pass_ci, p_fail, p_fail_ci, p_inc, p_inc_ci)


def target_verdict(gate: GateSpec, truth: float | None) -> Verdict | None:
    """The verdict a perfect experiment would reach: PASS when the truth meets the gate, FAIL when
    it misses it, None when the truth is unknown or sits exactly on the threshold."""
    if truth is None or not math.isfinite(truth) or truth == gate.threshold:
        return None
    meets = truth >= gate.threshold if gate.op == ">=" else truth <= gate.threshold
    return "PASS" if meets else "FAIL"


def nominal_alpha(gate: GateSpec) -> float | None:
    """The error rate a gate's rule promises at the boundary: ``1 - level`` for a bound rule."""
    rule = gate.rule
    return round(1.0 - rule.level, 10) if isinstance(rule, ConfidenceBoundRule) else None


def gate_figures(
    outcomes: Sequence[SimOutcome],
    arm_pos: int,
    gate_pos: int,
    gate: GateSpec,
    truth: float | None,
    truth_source: str = "",
) -> GateFigures:
    """Verdict shares and power against the truth (each with its Wilson interval), and bias of
    the gate's estimate; ``truth_source`` says where the truth came from."""
    n = len(outcomes)
    verdicts = [o.arms[arm_pos].verdicts[gate_pos] for o in outcomes]
    shares = _verdict_shares(verdicts)
    estimates = np.array([o.arms[arm_pos].estimates[gate_pos] for o in outcomes], dtype=np.float64)
    finite = estimates[np.isfinite(estimates)]
    target = target_verdict(gate, truth)
    power, power_ci = _share(verdict_counts(verdicts)[target], n) if target is not None else (None, None)
    bias = bias_mc_se = rmse = None
    if truth is not None and finite.size:
        sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        bias = rounded(float(finite.mean()) - truth)
        bias_mc_se = rounded(sd / math.sqrt(finite.size))
        rmse = rounded(math.sqrt(float(np.mean((finite - truth) ** 2))))
    return GateFigures(
        truth=rounded(truth),
        target=target,
        sims=n,
        p_pass=shares.p_pass,
        p_pass_ci=shares.p_pass_ci,
        p_fail=shares.p_fail,
        p_fail_ci=shares.p_fail_ci,
        p_inconclusive=shares.p_inconclusive,
        p_inconclusive_ci=shares.p_inconclusive_ci,
        power=power,
        power_ci=power_ci,
        mean_estimate=rounded(float(finite.mean())) if finite.size else None,
        estimates=int(finite.size),
        bias=bias,
        bias_mc_se=bias_mc_se,
        rmse=rmse,
        truth_source=truth_source,
    )


def accuracy_interval_figures(outcomes: Sequence[SimOutcome], arm_pos: int, truth: float) -> AccuracyCoverage:
    """Coverage of the arm's two-sided accuracy interval (a missing end is unbounded), its mean
    width and the bias of the accuracy estimate; ``robust`` gives the same for the cluster-robust
    interval the analysis reports beside it (same level)."""
    arms = [o.arms[arm_pos] for o in outcomes]
    levels = [a.accuracy_level for a in arms if math.isfinite(a.accuracy_level)]
    main = _interval_figures(
        [a.accuracy_lower for a in arms],
        [a.accuracy_upper for a in arms],
        [a.accuracy for a in arms],
        truth,
    )
    robust = _interval_figures(
        [a.robust_lower for a in arms],
        [a.robust_upper for a in arms],
        [a.robust_accuracy for a in arms],
        truth,
    )
    return AccuracyCoverage(
        **vars(main), truth=rounded(truth), level=rounded(levels[0]) if levels else None, robust=robust
    )


def _interval_figures(
    lower_values: Sequence[float],
    upper_values: Sequence[float],
    estimates: Sequence[float],
    truth: float,
) -> CoverageFigures:
    lower = np.array(lower_values, dtype=np.float64)
    upper = np.array(upper_values, dtype=np.float64)
    estimate = np.array(estimates, dtype=np.float64)
    lo = np.where(np.isnan(lower), -np.inf, lower)
    hi = np.where(np.isnan(upper), np.inf, upper)
    covered = (lo <= truth) & (truth <= hi)
    n = lower.size
    width = hi - lo
    finite_width = width[np.isfinite(width)]
    est = estimate[np.isfinite(estimate)]
    coverage, coverage_ci = _share(int(covered.sum()), n)
    below, below_ci = _share(int((hi < truth).sum()), n)
    above, above_ci = _share(int((lo > truth).sum()), n)
    return CoverageFigures(
        sims=n,
        coverage=coverage,
        coverage_ci=coverage_ci,
        below=below,
        below_ci=below_ci,
        above=above,
        above_ci=above_ci,
        mean_width=rounded(float(finite_width.mean())) if finite_width.size else None,
        mean_estimate=rounded(float(est.mean())) if est.size else None,
        bias=rounded(float(est.mean()) - truth) if est.size else None,
        bias_mc_se=rounded(float(est.std(ddof=1)) / math.sqrt(est.size)) if est.size > 1 else None,
    )


def pooled_quantiles(
    outcomes: Sequence[SimOutcome], gates: Sequence[GateSpec], arm_ids: Sequence[str]
) -> dict[tuple[str, str], float]:
    """A reference value of each latency gate's quantile per arm, from all simulations pooled.

    Under the plan's assumed truths the routing-latency distribution includes queueing and has no
    closed form; the quantile of every simulated request together (``N`` times a campaign's
    requests) stands in for the truth, with a Monte Carlo error far below a campaign's.
    """
    out: dict[tuple[str, str], float] = {}
    if not outcomes or outcomes[0].latencies is None:
        return out
    for pos, arm_id in enumerate(arm_ids):
        pooled = np.concatenate([o.latencies[pos] for o in outcomes if o.latencies is not None])
        if not pooled.size:
            continue
        for gate in gates:
            if gate.metric in LATENCY_METRICS:
                out[(arm_id, gate.metric)] = float(np.quantile(pooled, LATENCY_METRICS[gate.metric]))
    return out


def mean_control_estimates(
    outcomes: Sequence[SimOutcome], gates: Sequence[GateSpec], arm_ids: Sequence[str]
) -> dict[tuple[str, str], float]:
    """A reference value of each cost or end-to-end latency gate against the control, per arm: the
    mean of the simulations' estimates.

    The relative cost and the end-to-end latency quantiles include retries and queueing and have
    no closed form; the mean estimate over ``N`` campaigns stands in for the truth (its Monte Carlo
    error is a campaign's divided by ``sqrt(N)``), so the bias against it is 0 by construction.
    """
    out: dict[tuple[str, str], float] = {}
    for gpos, gate in enumerate(gates):
        if gate.metric not in CONTROL_METRICS or gate.metric == QUALITY_METRIC:
            continue
        for pos, arm_id in enumerate(arm_ids):
            values = np.array([o.arms[pos].estimates[gpos] for o in outcomes], dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size:
                out[(arm_id, gate.metric)] = float(finite.mean())
    return out


def truth_source(gate: GateSpec) -> str:
    """Where a gate's truth under the assumed world comes from (the results file's ``truth_source``)."""
    if gate.metric == ACCURACY_METRIC:
        return "calibration"
    if gate.metric == QUALITY_METRIC:
        return "routing table, classifier accuracy and model quality"
    if gate.metric in CONTROL_METRICS:
        return "mean of the simulated estimates (no closed form)"
    return "pooled simulations"


def gate_truth(
    scenario: Scenario, arm_id: str, gate: GateSpec, reference: dict[tuple[str, str], float]
) -> float | None:
    """The true value a gate's estimate is judged against in a scenario (None: unknown)."""
    if gate.metric == ACCURACY_METRIC:
        return scenario.true_accuracy.get(arm_id)
    if gate.metric == QUALITY_METRIC:
        return scenario.true_quality.get(arm_id)
    fixed = scenario.true_latency_ms.get((arm_id, gate.metric))
    return fixed if fixed is not None else reference.get((arm_id, gate.metric))


def assumed_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gates: list[GateSpec],
    routers: list[str],
    reference: dict[tuple[str, str], float],
) -> dict[str, AssumedArmFigures]:
    """Per router arm under the assumed truths: gate verdict shares, power and bias, viability,
    accuracy interval coverage, mean routing failures and timeouts per simulation."""
    out: dict[str, AssumedArmFigures] = {}
    n = len(outcomes)
    for pos, arm in enumerate(routers):
        timeouts = sum(o.arms[pos].timeouts for o in outcomes)
        gate_out = {
            gate.id: gate_figures(
                outcomes,
                pos,
                gpos,
                gate,
                gate_truth(scenario, arm, gate, reference),
                truth_source(gate),
            )
            for gpos, gate in enumerate(gates)
        }
        truth = scenario.true_accuracy[arm]
        out[arm] = AssumedArmFigures(
            true_accuracy=round(truth, 6),
            true_accuracy_exact=scenario.accuracy_exact or timeouts == 0,
            reference_latency_ms={
                g.id: round(reference[(arm, g.metric)], 3)
                for g in gates
                if g.metric in LATENCY_METRICS and (arm, g.metric) in reference
            },
            gates=gate_out,
            viability=_verdict_shares([o.arms[pos].viability for o in outcomes]),
            accuracy_interval=accuracy_interval_figures(outcomes, pos, truth),
            routing_failures_per_sim=rounded(sum(o.arms[pos].failed for o in outcomes) / n) if n else None,
            timeouts_per_sim=rounded(timeouts / n) if n else None,
        )
    return out


def _boundary_fields(
    scenario: Scenario, outcomes: Sequence[SimOutcome], gate: GateSpec, gpos: int, pos: int, arm: str
) -> BoundaryFigures:
    figures = gate_figures(outcomes, pos, gpos, gate, gate_truth(scenario, arm, gate, {}))
    return BoundaryFigures(
        truth=figures.truth,
        sims=figures.sims,
        type_i_error=figures.p_pass,
        type_i_error_ci=figures.p_pass_ci,
        nominal_alpha=nominal_alpha(gate),
        p_fail=figures.p_fail,
        p_fail_ci=figures.p_fail_ci,
        p_inconclusive=figures.p_inconclusive,
        p_inconclusive_ci=figures.p_inconclusive_ci,
        mean_estimate=figures.mean_estimate,
        bias=figures.bias,
        bias_mc_se=figures.bias_mc_se,
        accuracy_interval=accuracy_interval_figures(outcomes, pos, scenario.true_accuracy[arm])
        if gate.metric == ACCURACY_METRIC
        else None,
    )


def boundary_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gate: GateSpec,
    gpos: int,
    routers: list[str],
) -> dict[str, BoundaryFigures]:
    """Per router arm at a gate's boundary: type I error (P(PASS)), the other verdicts (each with
    its Wilson interval), bias, and accuracy interval coverage for an accuracy gate."""
    return {
        arm: _boundary_fields(scenario, outcomes, gate, gpos, pos, arm) for pos, arm in enumerate(routers)
    }


def no_boundary_figures(gate: GateSpec, routers: list[str]) -> dict[str, BoundaryFigures]:
    """Per router arm, the boundary entry of a gate the diagnosis has no boundary world for (cost
    and end-to-end latency against the control): no simulations, and a note naming the test that
    calibrates the gate's bound instead."""
    empty = BoundaryFigures(
        truth=None,
        sims=0,
        type_i_error=None,
        type_i_error_ci=None,
        nominal_alpha=nominal_alpha(gate),
        p_fail=None,
        p_fail_ci=None,
        p_inconclusive=None,
        p_inconclusive_ci=None,
        mean_estimate=None,
        bias=None,
        bias_mc_se=None,
        world_note=f"no boundary world; calibration: {CONTROL_CALIBRATION}",
    )
    return dict.fromkeys(routers, empty)


def curve_figures(
    grid: Mapping[float, Sequence[SimOutcome]], gates: list[GateSpec], routers: list[str]
) -> dict[str, CurveFigures]:
    """Verdict shares of each accuracy gate at each true accuracy of the grid, per arm, each with
    its Wilson interval (one per grid point)."""
    out: dict[str, CurveFigures] = {}
    values = sorted(grid)
    for gpos, gate in enumerate(gates):
        if gate.metric != ACCURACY_METRIC:
            continue
        per_arm: dict[str, CurveShares] = {}
        for pos, arm in enumerate(routers):
            points = [_verdict_shares([o.arms[pos].verdicts[gpos] for o in grid[v]]) for v in values]
            per_arm[arm] = CurveShares(
                p_pass=tuple(p.p_pass for p in points),
                p_pass_ci=tuple(p.p_pass_ci for p in points),
                p_fail=tuple(p.p_fail for p in points),
                p_fail_ci=tuple(p.p_fail_ci for p in points),
                p_inconclusive=tuple(p.p_inconclusive for p in points),
                p_inconclusive_ci=tuple(p.p_inconclusive_ci for p in points),
            )
        out[gate.id] = CurveFigures(
            true_accuracy=tuple(values), sims=len(grid[values[0]]) if values else 0, arms=per_arm
        )
    return out
