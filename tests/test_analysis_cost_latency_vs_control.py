"""The gates ``cost_vs_control`` and ``e2e_latency_*_vs_control``: relative cost and latency
quantile differences of a router arm against the control, paired by case."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reference.plans import HASH, study_plan, synthetic_columns
from strategies import small_plan, write_plan

from analysis import CaseResampler, GateVerdict, Results, RunMeta, TrialTable, analyze, bootstrap_quantile
from analysis._control_gate import cost_vs_control_bounds, expanded_level, latency_vs_control_bounds
from experiment.cli.steps import design_summary, summary_lines
from experiment.design.diagnosis import require_simulated
from prereg.check import load_checked_plan
from prereg.errors import PlanMeaningError
from prereg.schema import GateSpec, Plan
from prereg.seeding import derive_rng
from reports import Registration, render_report
from reports._format import fmt_against, metric_formatter

META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"control": 300, "phi": 300})
COST = {"id": "cost", "metric": "cost_vs_control", "op": "<=", "threshold": -0.30}
P95 = {"id": "p95c", "metric": "e2e_latency_p95_vs_control", "op": "<=", "threshold": 200.0}
MEDIAN = {"id": "medc", "metric": "e2e_latency_median_vs_control", "op": "<=", "threshold": 100.0}


def _plan(*gates: dict[str, Any], **analysis: Any) -> Plan:
    """The reference study plan with the control and ``phi`` only, the reference gates, then these."""
    base = study_plan(**analysis)
    keep = [a for a in base.arms if a.id in ("control", "phi")]
    extra = [GateSpec.model_validate(g) for g in gates]
    size = base.sample_size.model_copy(update={"requests_total": 300 * len(keep)})
    return base.model_copy(update={"arms": keep, "gates": [*base.gates, *extra], "sample_size": size})


def _table(n_cases: int = 60, seed: int = 1, replays: int = 5) -> dict[str, Any]:
    """Synthetic columns with costs that vary by case (tokens) and by the model the router chose."""
    cols = synthetic_columns(("control", "phi"), (0.0, 0.75), n_cases=n_cases, replays=replays, seed=seed)
    rng = np.random.default_rng(seed + 100)
    n = n_cases * replays
    tokens = np.tile(rng.lognormal(np.log(900.0), 0.5, n_cases).repeat(replays), 2)
    price = np.concatenate([np.full(n, 1e-5), np.where(rng.random(n) < 0.5, 1e-6, 1e-5)])
    cols["cost_usd"] = tokens * price
    return cols


def _gate(results: Results | Any, gate: str, arm: str = "phi") -> GateVerdict:
    return next(g for g in results.gates if g.arm == arm and g.gate == gate)


def test_cost_estimate_is_the_ratio_of_mean_per_case_costs_over_common_cases() -> None:
    """4 cases x 2 replays; case 3 has no control cost, so 3 common cases remain."""
    control = np.array([2.0, 4.0, 1.0, 1.0, 6.0, 2.0, np.nan, np.nan])
    router = np.array([1.0, 1.0, 1.0, 0.0, 2.0, 4.0, 9.0, 9.0])
    cases = np.repeat(np.arange(4), 2)
    b = cost_vs_control_bounds(
        (router, cases), (control, cases), 4, 0.95, CaseResampler(np.random.default_rng(0), 50), 2
    )
    # per-case means router [1, .5, 3], control [3, 1, 4] (by hand):
    # > python3 -c "print((1 + .5 + 3) / (3 + 1 + 4) - 1)"
    # -0.4375
    assert (b.n_cases, b.estimate) == (3, pytest.approx(-0.4375, abs=1e-12))


def test_cost_bounds_are_expanded_percentiles_of_the_paired_ratio_on_the_gates_own_stream() -> None:
    """The bounds are the expanded percentiles (level 0.9540 at 60 cases) of the resampled ratio
    of mean per-case costs, both arms on the same case draw, from the gate's own stream."""
    plan = _plan(COST)
    cols = _table()
    g = _gate(analyze(plan, TrialTable.from_columns(cols), META), "cost")
    arm, cost = np.asarray(cols["arm"]), np.asarray(cols["cost_usd"])
    m_r = cost[arm == "phi"].reshape(60, 5).mean(axis=1)
    m_c = cost[arm == "control"].reshape(60, 5).mean(axis=1)
    rng = derive_rng(plan.randomization.seed, HASH, "analysis:gate_cost_vs_control:phi")
    w = CaseResampler(rng, plan.analysis.bootstrap.resamples)(60)
    # > python3 -c "from scipy import stats; print(stats.norm.cdf((60/59)**.5 * stats.t.ppf(.95, 59)))"
    # 0.9540245544012999
    at = expanded_level(0.95, 60)
    assert at == pytest.approx(0.95404, abs=5e-5)
    lo, hi = np.quantile((w @ m_r) / (w @ m_c) - 1.0, [1.0 - at, at])
    assert g.estimate == pytest.approx(m_r.mean() / m_c.mean() - 1.0, rel=1e-12)
    assert g.deciding_bound is not None and g.opposite_bound is not None
    assert (g.deciding_bound.upper, g.opposite_bound.lower) == (pytest.approx(hi), pytest.approx(lo))
    assert (g.unit, g.deciding_bound.side, g.deciding_bound.method) == (
        "case",
        "upper",
        "paired_case_bootstrap_expanded_percentile",
    )
    assert g.deciding_bound.level == 0.95
    # a router at about 55% of the control's cost clears a 30% saving; a 60% saving it misses
    assert g.verdict == "PASS", g.reason
    fail = _gate(analyze(_plan({**COST, "threshold": -0.6}), TrialTable.from_columns(cols), META), "cost")
    assert fail.verdict == "FAIL" and fail.reason.startswith("one-sided lower bound")


def test_latency_estimate_and_bounds_are_the_paired_quantile_difference() -> None:
    """Estimate: lower empirical P95 of the router's requests minus the control's; bounds: the
    percentiles of :func:`analysis.bootstrap_quantile` differences on one case draw."""
    plan = _plan(P95)
    cols = _table()
    g = _gate(analyze(plan, TrialTable.from_columns(cols), META), "p95c")
    arm, lat = np.asarray(cols["arm"]), np.asarray(cols["e2e_latency_ms"])
    r, c = lat[arm == "phi"], lat[arm == "control"]
    cases = np.repeat(np.arange(60), 5)
    rng = derive_rng(plan.randomization.seed, HASH, "analysis:gate_e2e_latency_p95_vs_control:phi")
    w = CaseResampler(rng, plan.analysis.bootstrap.resamples)(60)
    boot = bootstrap_quantile(r, cases, 0.95, w) - bootstrap_quantile(c, cases, 0.95, w)
    lo, hi = np.quantile(boot, [0.05, 0.95])
    est = np.quantile(r, 0.95, method="inverted_cdf") - np.quantile(c, 0.95, method="inverted_cdf")
    assert g.estimate == pytest.approx(est, rel=1e-12) and g.unit == "request"
    assert g.deciding_bound is not None and g.opposite_bound is not None
    assert (g.deciding_bound.upper, g.opposite_bound.lower) == (pytest.approx(hi), pytest.approx(lo))


def test_latency_on_common_cases_only() -> None:
    """A case the control never completed is left out of both arms' quantiles."""
    cases = np.repeat(np.arange(3), 2)
    router = np.array([10.0, 20.0, 30.0, 40.0, 1000.0, 1000.0])
    control = np.array([5.0, 5.0, 6.0, 6.0, np.nan, np.nan])
    b = latency_vs_control_bounds(
        (router, cases), (control, cases), 3, 0.5, 0.95, CaseResampler(np.random.default_rng(0), 50), 2
    )
    # median (inverted CDF) of [10, 20, 30, 40] is 20, of [5, 5, 6, 6] is 5
    assert (b.n_cases, b.estimate) == (2, 15.0)


def test_the_gates_move_no_other_figure() -> None:
    """Adding the gates leaves every other part of the results as it was (their streams are their own)."""
    cols = _table()
    without = analyze(_plan(), TrialTable.from_columns(cols), META)
    with_gates = analyze(_plan(COST, P95, MEDIAN), TrialTable.from_columns(cols), META)
    same = {"gates": without.gates, "viability": without.viability, "design": without.design}
    assert dataclasses.replace(with_gates, **same) == without
    assert with_gates.gates[:2] == without.gates
    assert with_gates.viability[0].gates == ("accuracy", "p95", "cost", "p95c", "medc")


def test_gates_scope_gives_the_full_analysis_verdicts() -> None:
    """``scope="gates"`` reads the control's data too and gives the same verdicts."""
    plan = _plan(COST, P95, MEDIAN)
    cols = _table(seed=4)
    full = analyze(plan, TrialTable.from_columns(cols), META)
    gates = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
    assert gates.gates == full.gates and gates.viability == full.viability


def test_no_control_data_or_too_few_cases_is_inconclusive_with_the_reason() -> None:
    """Without the control's trials, or below ``analysis.min_cases``, each gate says why."""
    cols = _table()
    keep = np.asarray(cols["arm"]) == "phi"
    alone = {k: np.asarray(v)[keep] for k, v in cols.items()}
    point = {**COST, "id": "point", "rule": {"kind": "point_estimate"}}
    res = analyze(_plan(COST, P95, point), TrialTable.from_columns(alone), META)
    assert _gate(res, "cost").reason == "the control arm has no cost data"
    assert _gate(res, "point").reason == "the control arm has no cost data"
    assert _gate(res, "p95c").reason == "the control arm has no end-to-end latency data"
    assert {_gate(res, g).verdict for g in ("cost", "p95c", "point")} == {"INCONCLUSIVE"}
    few = analyze(_plan(COST, P95, point), TrialTable.from_columns(_table(n_cases=8)), META)
    for gate in ("cost", "p95c", "point"):
        g = _gate(few, gate)
        assert (g.verdict, g.reason) == (
            "INCONCLUSIVE",
            "too few cases for an interval: 8 < 10 (analysis.min_cases)",
        )
        assert g.estimate is not None


def test_an_invalid_live_run_leaves_latency_gates_inconclusive() -> None:
    """Dispatch lateness over the plan's bound: the latency gates against the control are
    INCONCLUSIVE with that reason, like the routing-latency gates; the cost gate is decided."""
    live = dataclasses.replace(META, live={"p50_ms": 1.0, "p99_ms": 1e6, "not_sent_in_time": 0})
    res = analyze(_plan(COST, P95), TrialTable.from_columns(_table()), live)
    assert _gate(res, "p95c").reason.startswith("invalid run: dispatch lateness p99")
    assert _gate(res, "p95").reason == _gate(res, "p95c").reason
    assert _gate(res, "cost").verdict == "PASS"


@pytest.mark.parametrize(
    ("gate", "change", "message"),
    [
        (
            COST,
            lambda p: p.update(arms=[a for a in p["arms"] if a["kind"] != "control"]),
            "gates[2].metric: expected an arm of kind 'control' for cost_vs_control, found none",
        ),
        (
            COST,
            lambda p: p["gates"][2].update(op=">="),
            "gates[2].op: expected '<=' for cost_vs_control (savings), found '>='",
        ),
        (
            COST,
            lambda p: p["gates"][2].update(threshold=-30),
            "gates[2].threshold: expected a relative cost strictly between -1 and 10 (e.g. -0.30), found -30.0",
        ),
        (
            COST,
            lambda p: p["gates"][2].update(threshold=10),
            "gates[2].threshold: expected a relative cost strictly between -1 and 10 (e.g. -0.30), found 10.0",
        ),
        (
            P95,
            lambda p: p.update(arms=[a for a in p["arms"] if a["kind"] != "control"]),
            "gates[2].metric: expected an arm of kind 'control' for e2e_latency_p95_vs_control, found none",
        ),
        (
            MEDIAN,
            lambda p: p["gates"][2].update(op=">="),
            "gates[2].op: expected '<=' for e2e_latency_median_vs_control (non-inferiority), found '>='",
        ),
    ],
    ids=["cost no control", "cost op >=", "cost in percent", "cost at 10", "p95 no control", "median op >="],
)
def test_check_refuses_a_gate_it_cannot_decide(
    tmp_path: Path, gate: dict[str, Any], change: Any, message: str
) -> None:
    """``check`` names the field of a gate against the control it cannot decide."""
    plan = small_plan()
    plan["gates"].append(dict(gate))
    change(plan)
    with pytest.raises(PlanMeaningError, match=re.escape(message)):
        load_checked_plan(write_plan(tmp_path, plan))


def test_check_accepts_the_gates_and_the_design_summary_describes_them(tmp_path: Path) -> None:
    """With a control arm the gates are accepted, a negative latency margin (faster) included."""
    plan = small_plan()
    plan["gates"] += [dict(COST), dict(P95), {**MEDIAN, "threshold": -50.0}]
    checked = load_checked_plan(write_plan(tmp_path, plan))
    text = "\n".join(design_summary(checked.plan, 30))
    assert (
        "cost_vs_control <= -0.3" in text and "upper bound of the paired case-bootstrap relative cost" in text
    )
    assert "e2e_latency_p95_vs_control <= 200 (confidence_bound@0.95, unit request" in text


@pytest.mark.parametrize("gate", [COST, P95, MEDIAN], ids=["cost", "p95", "median"])
def test_design_diagnosis_accepts_the_gates(gate: dict[str, Any]) -> None:
    """The design diagnosis simulates them (their truth is the simulated mean; no boundary world)."""
    require_simulated(_plan(gate))


def test_formats_signed_percent_and_signed_ms() -> None:
    """Relative cost prints as a signed percent, a latency difference as signed milliseconds, with
    digits enough to tell a bound from the threshold."""
    cost, lat = metric_formatter("cost_vs_control"), metric_formatter("e2e_latency_p95_vs_control")
    assert (cost(-0.30), cost(0.125), lat(200.0), lat(-1234.4)) == (
        "−30.0%",
        "+12.5%",
        "+200 ms",
        "−1,234 ms",
    )
    assert fmt_against(-0.30004, -0.30, "cost_vs_control") == "−30.004%"
    assert fmt_against(200.3, 200.0, "e2e_latency_p95_vs_control") == "+200.3 ms"
    assert fmt_against(-0.05, -0.05, "downstream_quality_vs_control") == "−5.0 pp"


def test_summary_and_report_show_the_gates() -> None:
    """The summary lists the gates; the report renders them in signed percent and signed ms."""
    plan = _plan(COST, P95)
    res = analyze(plan, TrialTable.from_columns(_table()), META)
    lines = summary_lines(res)
    assert any(line.strip().startswith("phi  cost_vs_control <= -0.3:") for line in lines)
    reg = Registration(
        "plan.yaml", "b" * 64, HASH, "b" * 64, "2026-01-01T00:00:00Z", None, "0", "d" * 64, True
    )
    html = render_report(res, plan, reg)
    assert "cost vs control ≤ −30.0%" in html
    assert "e2e latency p95 vs control ≤ +200 ms" in html
