"""From simulations to design figures: verdict probabilities, coverage, bias, Monte Carlo error.

Every probability estimated from ``N`` independent simulations, ``k`` of which had the event, is
reported as the share ``k / N`` with its 95% Wilson score interval (``<name>_ci: [lower,
upper]``, :data:`MC_LEVEL`, ``analysis.proportion_bounds``): unlike ``sqrt(p (1 - p) / N)`` it is
not of width zero at 0/N or N/N (200 of 200 gives [0.981, 1]), and it keeps close to its level
for shares near 0 or 1 (Brown, Cai & DasGupta 2001). A mean carries ``sd / sqrt(N)``
(``<name>_mc_se``). Every figure says how many simulations it rests on (``sims``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analysis import proportion_bounds
from experiment.design.scenarios import ACCURACY_METRIC, LATENCY_METRICS, Scenario
from experiment.design.sim import SimOutcome
from prereg.schema import ConfidenceBoundRule, GateSpec

__all__ = [
    "ICC_TOLERANCE",
    "MC_LEVEL",
    "MC_METHOD",
    "VERDICTS",
    "accuracy_interval_figures",
    "assumed_figures",
    "boundary_figures",
    "curve_figures",
    "failure_figures",
    "gate_figures",
    "gate_truth",
    "icc_point_figures",
    "nominal_alpha",
    "pooled_quantiles",
    "share_ci",
    "target_verdict",
    "verdict_counts",
    "verdict_shares",
    "viability_figures",
]

#: Level and method of the Monte Carlo interval of every share.
MC_LEVEL = 0.95
MC_METHOD = "wilson"
#: A world of the ICC grid whose mean realised ICC is further than this (or than 4 Monte Carlo
#: standard errors, when larger) from the one asked for gets a note: the simulated arms did not
#: produce the correlation the row is labelled with.
ICC_TOLERANCE = 0.1

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


def share_ci(k: int, n: int) -> list[float] | None:
    """The 95% Wilson interval ``[lower, upper]`` of a share of ``k`` in ``n`` simulations
    (rounded to 6 decimals; None without simulations)."""
    if n <= 0:
        return None
    lower, upper = proportion_bounds(k, n, MC_LEVEL, MC_METHOD)
    return [round(float(lower), 6), round(float(upper), 6)]


def _share(prefix: str, k: int, n: int) -> dict[str, Any]:
    """``{prefix: k / n, prefix_ci: [lower, upper]}``."""
    return {prefix: _r(k / n) if n else None, f"{prefix}_ci": share_ci(k, n)}


def _r(x: float | None, digits: int = 6) -> float | None:
    """Rounded for the results file; NaN and None become null."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def verdict_counts(verdicts: Sequence[str]) -> dict[str, int]:
    """Number of simulations ending in each verdict (keys ``PASS``, ``FAIL``, ``INCONCLUSIVE``)."""
    return {v: sum(1 for x in verdicts if x == v) for v in VERDICTS}


def verdict_shares(verdicts: Sequence[str]) -> dict[str, float]:
    """Share of each verdict (keys ``PASS``, ``FAIL``, ``INCONCLUSIVE``)."""
    n = len(verdicts)
    return {v: (k / n if n else math.nan) for v, k in verdict_counts(verdicts).items()}


def _verdict_figures(verdicts: Sequence[str]) -> dict[str, Any]:
    """``p_pass``, ``p_fail``, ``p_inconclusive``, each with its ``_ci``."""
    n = len(verdicts)
    counts = verdict_counts(verdicts)
    return {
        **_share("p_pass", counts["PASS"], n),
        **_share("p_fail", counts["FAIL"], n),
        **_share("p_inconclusive", counts["INCONCLUSIVE"], n),
    }


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
    """Verdict shares and power against the truth (each with its Wilson interval), and bias of
    the gate's estimate."""
    n = len(outcomes)
    verdicts = [o.arms[arm_pos].verdicts[gate_pos] for o in outcomes]
    counts = verdict_counts(verdicts)
    estimates = np.array([o.arms[arm_pos].estimates[gate_pos] for o in outcomes], dtype=np.float64)
    finite = estimates[np.isfinite(estimates)]
    target = target_verdict(gate, truth)
    out: dict[str, Any] = {
        "truth": _r(truth),
        "target": target,
        "sims": n,
        **_verdict_figures(verdicts),
        **(_share("power", counts[target], n) if target is not None else {"power": None, "power_ci": None}),
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


def accuracy_interval_figures(outcomes: Sequence[SimOutcome], arm_pos: int, truth: float) -> dict[str, Any]:
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
    return {"truth": _r(truth), "level": _r(levels[0]) if levels else None, **main, "robust": robust}


def _interval_figures(
    lower_values: Sequence[float],
    upper_values: Sequence[float],
    estimates: Sequence[float],
    truth: float,
) -> dict[str, Any]:
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
    return {
        "sims": n,
        **_share("coverage", int(covered.sum()), n),
        **_share("below", int((hi < truth).sum()), n),
        **_share("above", int((lo > truth).sum()), n),
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


def viability_figures(outcomes: Sequence[SimOutcome], arm_pos: int) -> dict[str, Any]:
    """Shares of the arm's overall verdict (PASS only when every gate passes)."""
    return {"sims": len(outcomes), **_verdict_figures([o.arms[arm_pos].viability for o in outcomes])}


def assumed_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gates: list[GateSpec],
    routers: list[str],
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
                g.id: round(reference[(arm, g.metric)], 3) for g in gates if (arm, g.metric) in reference
            },
            "gates": gate_out,
            "viability": viability_figures(outcomes, pos),
            "accuracy_interval": accuracy_interval_figures(outcomes, pos, truth),
            **failures,
        }
    return out


def boundary_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gate: GateSpec,
    gpos: int,
    routers: list[str],
) -> dict[str, Any]:
    """Per router arm at a gate's boundary: type I error (P(PASS)), the other verdicts (each with
    its Wilson interval), bias, and accuracy interval coverage for an accuracy gate."""
    out: dict[str, Any] = {}
    for pos, arm in enumerate(routers):
        truth = gate_truth(scenario, arm, gate, {})
        figures = gate_figures(outcomes, pos, gpos, gate, truth)
        entry: dict[str, Any] = {
            "truth": figures["truth"],
            "sims": figures["sims"],
            "type_i_error": figures["p_pass"],
            "type_i_error_ci": figures["p_pass_ci"],
            "nominal_alpha": nominal_alpha(gate),
            "p_fail": figures["p_fail"],
            "p_fail_ci": figures["p_fail_ci"],
            "p_inconclusive": figures["p_inconclusive"],
            "p_inconclusive_ci": figures["p_inconclusive_ci"],
            "mean_estimate": figures["mean_estimate"],
            "bias": figures["bias"],
            "bias_mc_se": figures["bias_mc_se"],
        }
        if gate.metric == ACCURACY_METRIC:
            entry["accuracy_interval"] = accuracy_interval_figures(outcomes, pos, scenario.true_accuracy[arm])
        out[arm] = entry
    return out


def curve_figures(
    grid: Mapping[float, Sequence[SimOutcome]], gates: list[GateSpec], routers: list[str]
) -> dict[str, Any]:
    """Verdict shares of each accuracy gate at each true accuracy of the grid, per arm, each with
    its Wilson interval (``<share>_ci``: one ``[lower, upper]`` per grid point)."""
    out: dict[str, Any] = {}
    values = sorted(grid)
    for gpos, gate in enumerate(gates):
        if gate.metric != ACCURACY_METRIC:
            continue
        per_arm: dict[str, dict[str, list[Any]]] = {}
        for pos, arm in enumerate(routers):
            rows: dict[str, list[Any]] = {}
            for v in values:
                for key, value in _verdict_figures([o.arms[pos].verdicts[gpos] for o in grid[v]]).items():
                    rows.setdefault(key, []).append(value)
            per_arm[arm] = rows
        out[gate.id] = {
            "true_accuracy": values,
            "sims": len(grid[values[0]]) if values else 0,
            "arms": per_arm,
        }
    return out


def icc_point_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gate: GateSpec,
    gpos: int,
    routers: list[str],
    icc: float,
) -> dict[str, Any]:
    """Per router arm in a gate's boundary world at one ICC of the grid: the boundary figures
    (type I error, P(FAIL), coverage for accuracy, with Wilson intervals) and the ICC the
    simulations realised (mean of the per-simulation ANOVA estimates), with a note when it is
    further than :data:`ICC_TOLERANCE` from ``icc``."""
    figures = boundary_figures(scenario, outcomes, gate, gpos, routers)
    accuracy = gate.metric == ACCURACY_METRIC
    for pos, arm in enumerate(routers):
        values = np.array(
            [o.arms[pos].correct_icc if accuracy else o.arms[pos].latency_icc for o in outcomes],
            dtype=np.float64,
        )
        finite = values[np.isfinite(values)]
        realised = float(finite.mean()) if finite.size else math.nan
        se = float(finite.std(ddof=1)) / math.sqrt(finite.size) if finite.size > 1 else math.nan
        figures[arm]["realised_icc"] = _r(realised)
        figures[arm]["realised_icc_mc_se"] = _r(se)
        tolerance = max(ICC_TOLERANCE, 4.0 * se) if math.isfinite(se) else math.inf
        figures[arm]["note"] = (
            None
            if not math.isfinite(realised) or abs(realised - icc) <= tolerance
            else f"the simulated arms realised an ICC of {realised:.2f}, not {icc:.2f}: "
            "this world lacks the correlation it is labelled with"
        )
    return figures
