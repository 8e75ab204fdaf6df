"""From simulations to design figures: verdict probabilities, coverage, bias, Monte Carlo error.

Every probability ``p`` estimated from ``N`` independent simulations carries the Monte Carlo
standard error ``sqrt(p (1 - p) / N)``; a mean carries ``sd / sqrt(N)``. Both are reported beside
the figure so a reader knows how many simulations the figure is worth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from experiment._design_scenarios import ACCURACY_METRIC, LATENCY_METRICS, Scenario
from experiment._design_sim import SimOutcome
from prereg.schema import ConfidenceBoundRule, GateSpec

__all__ = [
    "VERDICTS",
    "accuracy_interval_figures",
    "assumed_figures",
    "boundary_figures",
    "curve_figures",
    "failure_figures",
    "gate_figures",
    "gate_truth",
    "mc_se",
    "nominal_alpha",
    "pooled_quantiles",
    "target_verdict",
    "verdict_shares",
    "viability_figures",
]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


def mc_se(p: float, n: int) -> float:
    """Monte Carlo standard error of a share ``p`` estimated from ``n`` simulations."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n else math.nan


def _r(x: float | None, digits: int = 6) -> float | None:
    """Rounded for the results file; NaN and None become null."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def verdict_shares(verdicts: Sequence[str]) -> dict[str, float]:
    """Share of each verdict (keys ``PASS``, ``FAIL``, ``INCONCLUSIVE``)."""
    n = len(verdicts)
    return {v: (sum(1 for x in verdicts if x == v) / n if n else math.nan) for v in VERDICTS}


def target_verdict(gate: GateSpec, truth: float | None) -> str | None:
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
    outcomes: Sequence[SimOutcome], arm_pos: int, gate_pos: int, gate: GateSpec, truth: float | None
) -> dict[str, Any]:
    """Verdict shares (with MC SE), power against the truth, and bias of the gate's estimate."""
    n = len(outcomes)
    verdicts = [o.arms[arm_pos].verdicts[gate_pos] for o in outcomes]
    shares = verdict_shares(verdicts)
    estimates = np.array([o.arms[arm_pos].estimates[gate_pos] for o in outcomes], dtype=np.float64)
    finite = estimates[np.isfinite(estimates)]
    target = target_verdict(gate, truth)
    out: dict[str, Any] = {
        "truth": _r(truth),
        "target": target,
        "p_pass": _r(shares["PASS"]),
        "p_fail": _r(shares["FAIL"]),
        "p_inconclusive": _r(shares["INCONCLUSIVE"]),
        "mc_se_pass": _r(mc_se(shares["PASS"], n)),
        "power": _r(shares[target]) if target is not None else None,
        "power_mc_se": _r(mc_se(shares[target], n)) if target is not None else None,
        "mean_estimate": _r(float(finite.mean())) if finite.size else None,
        "estimates": int(finite.size),
    }
    if truth is not None and finite.size:
        bias = float(finite.mean()) - truth
        sd = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        out["bias"] = _r(bias)
        out["bias_mc_se"] = _r(sd / math.sqrt(finite.size))
        out["rmse"] = _r(math.sqrt(float(np.mean((finite - truth) ** 2))))
    else:
        out["bias"] = out["bias_mc_se"] = out["rmse"] = None
    return out


def accuracy_interval_figures(
    outcomes: Sequence[SimOutcome], arm_pos: int, truth: float
) -> dict[str, Any]:
    """Coverage of the arm's two-sided accuracy interval (a missing end is unbounded), its mean
    width and the bias of the accuracy estimate; ``robust`` gives the same for the cluster-robust
    interval the analysis reports beside it (same level)."""
    arms = [o.arms[arm_pos] for o in outcomes]
    levels = [a.accuracy_level for a in arms if math.isfinite(a.accuracy_level)]
    main = _interval_figures(
        [a.accuracy_lower for a in arms], [a.accuracy_upper for a in arms],
        [a.accuracy for a in arms], truth,
    )
    robust = _interval_figures(
        [a.robust_lower for a in arms], [a.robust_upper for a in arms],
        [a.robust_accuracy for a in arms], truth,
    )
    return {"truth": _r(truth), "level": _r(levels[0]) if levels else None, **main, "robust": robust}


def _interval_figures(
    lower_values: Sequence[float], upper_values: Sequence[float], estimates: Sequence[float],
    truth: float,
) -> dict[str, Any]:
    lower = np.array(lower_values, dtype=np.float64)
    upper = np.array(upper_values, dtype=np.float64)
    estimate = np.array(estimates, dtype=np.float64)
    lo = np.where(np.isnan(lower), -np.inf, lower)
    hi = np.where(np.isnan(upper), np.inf, upper)
    covered = (lo <= truth) & (truth <= hi)
    n = lower.size
    coverage = float(covered.mean()) if n else math.nan
    width = hi - lo
    finite_width = width[np.isfinite(width)]
    est = estimate[np.isfinite(estimate)]
    return {
        "coverage": _r(coverage),
        "coverage_mc_se": _r(mc_se(coverage, n)),
        "below": _r(float((hi < truth).mean())) if n else None,
        "above": _r(float((lo > truth).mean())) if n else None,
        "mean_width": _r(float(finite_width.mean())) if finite_width.size else None,
        "mean_estimate": _r(float(est.mean())) if est.size else None,
        "bias": _r(float(est.mean()) - truth) if est.size else None,
        "bias_mc_se": _r(float(est.std(ddof=1)) / math.sqrt(est.size)) if est.size > 1 else None,
    }


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


def gate_truth(
    scenario: Scenario, arm_id: str, gate: GateSpec, reference: dict[tuple[str, str], float]
) -> float | None:
    """The true value a gate's estimate is judged against in a scenario (None: unknown)."""
    if gate.metric == ACCURACY_METRIC:
        return scenario.true_accuracy.get(arm_id)
    fixed = scenario.true_latency_ms.get((arm_id, gate.metric))
    return fixed if fixed is not None else reference.get((arm_id, gate.metric))


def failure_figures(outcomes: Sequence[SimOutcome], arm_pos: int) -> dict[str, float | None]:
    """Mean routing failures and timeouts per simulation."""
    n = len(outcomes)
    return {
        "routing_failures_per_sim": _r(sum(o.arms[arm_pos].failed for o in outcomes) / n) if n else None,
        "timeouts_per_sim": _r(sum(o.arms[arm_pos].timeouts for o in outcomes) / n) if n else None,
    }


def viability_figures(outcomes: Sequence[SimOutcome], arm_pos: int) -> dict[str, float | None]:
    """Shares of the arm's overall verdict (PASS only when every gate passes)."""
    shares = verdict_shares([o.arms[arm_pos].viability for o in outcomes])
    n = len(outcomes)
    return {
        "p_pass": _r(shares["PASS"]),
        "p_fail": _r(shares["FAIL"]),
        "p_inconclusive": _r(shares["INCONCLUSIVE"]),
        "mc_se_pass": _r(mc_se(shares["PASS"], n)),
    }


def assumed_figures(
    scenario: Scenario, outcomes: Sequence[SimOutcome], gates: list[GateSpec], routers: list[str],
    reference: dict[tuple[str, str], float],
) -> dict[str, Any]:
    """Per router arm under the assumed truths: gate verdict shares, power and bias, viability,
    accuracy interval coverage, failures."""
    out: dict[str, Any] = {}
    for pos, arm in enumerate(routers):
        failures = failure_figures(outcomes, pos)
        timeouts = sum(o.arms[pos].timeouts for o in outcomes)
        gate_out = {}
        for gpos, gate in enumerate(gates):
            figures = gate_figures(outcomes, pos, gpos, gate, gate_truth(scenario, arm, gate, reference))
            figures["truth_source"] = (
                "calibration" if gate.metric == ACCURACY_METRIC else "pooled simulations"
            )
            gate_out[gate.id] = figures
        truth = scenario.true_accuracy[arm]
        out[arm] = {
            "true_accuracy": round(truth, 6),
            "true_accuracy_exact": scenario.accuracy_exact or timeouts == 0,
            "reference_latency_ms": {
                g.id: round(reference[(arm, g.metric)], 3)
                for g in gates if (arm, g.metric) in reference
            },
            "gates": gate_out,
            "viability": viability_figures(outcomes, pos),
            "accuracy_interval": accuracy_interval_figures(outcomes, pos, truth),
            **failures,
        }
    return out


def boundary_figures(
    scenario: Scenario, outcomes: Sequence[SimOutcome], gate: GateSpec, gpos: int,
    routers: list[str],
) -> dict[str, Any]:
    """Per router arm at a gate's boundary: type I error (P(PASS)) with its Monte Carlo error,
    the other verdicts, bias, and accuracy interval coverage for an accuracy gate."""
    out: dict[str, Any] = {}
    for pos, arm in enumerate(routers):
        truth = gate_truth(scenario, arm, gate, {})
        figures = gate_figures(outcomes, pos, gpos, gate, truth)
        entry: dict[str, Any] = {
            "truth": figures["truth"],
            "type_i_error": figures["p_pass"],
            "type_i_error_mc_se": figures["mc_se_pass"],
            "nominal_alpha": nominal_alpha(gate),
            "p_fail": figures["p_fail"],
            "p_inconclusive": figures["p_inconclusive"],
            "mean_estimate": figures["mean_estimate"],
            "bias": figures["bias"],
            "bias_mc_se": figures["bias_mc_se"],
        }
        if gate.metric == ACCURACY_METRIC:
            entry["accuracy_interval"] = accuracy_interval_figures(
                outcomes, pos, scenario.true_accuracy[arm]
            )
        out[arm] = entry
    return out


def curve_figures(
    grid: Mapping[float, Sequence[SimOutcome]], gates: list[GateSpec], routers: list[str]
) -> dict[str, Any]:
    """Verdict shares of each accuracy gate at each true accuracy of the grid, per arm."""
    out: dict[str, Any] = {}
    values = sorted(grid)
    for gpos, gate in enumerate(gates):
        if gate.metric != ACCURACY_METRIC:
            continue
        per_arm: dict[str, dict[str, list[float]]] = {}
        for pos, arm in enumerate(routers):
            rows: dict[str, list[float]] = {"p_pass": [], "p_fail": [], "p_inconclusive": []}
            for v in values:
                shares = verdict_shares([o.arms[pos].verdicts[gpos] for o in grid[v]])
                rows["p_pass"].append(round(shares["PASS"], 6))
                rows["p_fail"].append(round(shares["FAIL"], 6))
                rows["p_inconclusive"].append(round(shares["INCONCLUSIVE"], 6))
            per_arm[arm] = rows
        out[gate.id] = {"true_accuracy": values, "arms": per_arm}
    return out
