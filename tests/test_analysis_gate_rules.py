"""The rules around the calibrated gates: what a design can decide, what a plan is warned about,
intervals that the data cannot support, an invalid live run, and the Pareto axes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis import (
    RunMeta,
    TrialTable,
    analyze,
    bootstrap_proportion,
    effective_n_bounds,
    estimate_accuracy,
    gate_requirement,
    plan_warnings,
)
from prereg.schema import PointEstimateRule
from reports._format import fmt_against
from tests._calibration import META, columns, one_router_plan
from tests.reference.plans import study_plan, synthetic_columns


def test_effective_n_bounds_are_wilson_on_the_effective_n() -> None:
    """The interval is statsmodels' Wilson interval at x = p n*, n = n* (the effective n it reports).

    Reference: statsmodels.stats.proportion.proportion_confint(p * n, n, alpha=0.05, method="wilson").
    """
    rng = np.random.default_rng(4)
    means = rng.binomial(5, rng.beta(2, 0.5, 60)) / 5.0
    p = means.mean()
    r = means - p
    b = effective_n_bounds(np.array([p]), np.array([(r**2).mean()]), np.array([(r**4).mean()]), 60, 300, 0.95)
    n = float(b.n_eff[0])
    assert 59.0 <= n <= 300.0 and 1.0 <= float(b.df[0]) <= 59.0
    lo, hi = proportion_confint(p * n, n, alpha=0.05, method="wilson")
    assert (float(b.lower[0]), float(b.upper[0])) == pytest.approx((lo, hi), abs=1e-12)


def test_all_or_nothing_cases_give_k_minus_one_and_no_df_penalty() -> None:
    """Cases right or wrong on every replay: n* = k - 1 exactly, whatever the replays."""
    means = np.r_[np.ones(51), np.zeros(9)]
    p, r = means.mean(), means - means.mean()
    b = effective_n_bounds(np.array([p]), np.array([(r**2).mean()]), np.array([(r**4).mean()]), 60, 300, 0.95)
    assert float(b.n_eff[0]) == pytest.approx(59.0)


def test_no_zero_width_interval_from_finite_data() -> None:
    """60 of 60 all correct: a real interval below 1; one case: none, with the reason."""
    cases = np.repeat(np.arange(60), 5)
    full = estimate_accuracy(np.ones(300), cases, "case", 0.95, "wilson", min_cases=10)
    assert full.interval.lower is not None and 0.9 < full.interval.lower < 1.0
    one = estimate_accuracy(
        np.array([1.0, 1.0, 0.0]), np.zeros(3, dtype=np.intp), "case", 0.95, "wilson", min_cases=10
    )
    assert one.interval.lower is None and "too few cases for an interval: 1 < 10" in (one.interval.note or "")
    weights = np.ones((100, 60))
    iv = bootstrap_proportion(np.full(60, 5.0), np.full(60, 5.0), "case", 0.95, weights)
    assert iv.lower is None and "cannot vary" in (iv.note or "")


def test_one_requirement_function_for_every_rule() -> None:
    """Point rule: 51 of 60 (x / n >= 0.85); confidence bound: 56 of 60; P95: 53 cases."""
    plan = one_router_plan()
    acc, p95 = plan.gates
    point = acc.model_copy(update={"rule": PointEstimateRule(kind="point_estimate")})
    assert gate_requirement(point, plan.analysis, 60, 5).fewest_correct == 51
    assert gate_requirement(acc, plan.analysis, 60, 5).fewest_correct == 56
    req = gate_requirement(p95, plan.analysis, 52, 5)
    assert (req.min_cases, req.decidable) == (53, False)
    assert gate_requirement(p95, plan.analysis, 53, 5).decidable
    few = gate_requirement(acc, plan.analysis, 6, 5)
    assert not few.decidable and "analysis.min_cases" in few.needs


def test_plan_warnings_name_the_uncalibrated_choices() -> None:
    assert plan_warnings(one_router_plan(), 60) == ()
    warned = plan_warnings(one_router_plan(unit="request", latency_interval="order_statistic"), 60)
    assert any(w.startswith("analysis.unit: request") for w in warned)
    assert any(w.startswith("analysis.latency_interval: order_statistic") for w in warned)
    assert any("bootstrap" in w for w in plan_warnings(one_router_plan(latency_interval="bootstrap"), 60))
    plan = one_router_plan()
    point = plan.model_copy(
        update={
            "gates": [
                g.model_copy(update={"rule": PointEstimateRule(kind="point_estimate")}) for g in plan.gates
            ]
        }
    )
    assert any("controls no error rate" in w for w in plan_warnings(point, 4))


def test_an_invalid_live_run_decides_no_latency_gate() -> None:
    plan = one_router_plan()
    table = TrialTable.from_columns(
        columns(np.random.default_rng(1), accuracy=0.9, icc=0.2, latency_icc=0.5, true_p95_ms=1000.0)
    )
    valid = analyze(
        plan, table, dataclasses.replace(META, live={"p50_ms": 0.1, "p99_ms": 1.0}), scope="gates"
    )
    assert next(g for g in valid.gates if g.gate == "p95").verdict == "PASS"
    invalid = analyze(plan, table, dataclasses.replace(META, live={"p50_ms": 0.1, "p99_ms": 50.0}))
    gate = next(g for g in invalid.gates if g.gate == "p95")
    assert gate.verdict == "INCONCLUSIVE" and gate.reason.startswith("invalid run: dispatch lateness p99 50")
    assert gate.deciding_bound is not None and gate.deciding_bound.upper is not None  # the bound is kept
    acc = next(g for g in invalid.gates if g.gate == "accuracy")
    assert not acc.reason.startswith("invalid run")


def test_pareto_is_over_the_routers_own_cost() -> None:
    """The downstream cost is reported apart; the frontier uses the classifier's cost."""
    cols = synthetic_columns()
    cols["routing_cost_usd"] = np.where(
        cols["arm"] == "control", np.nan, np.where(cols["arm"] == "phi", 0.0, 0.001)
    )
    res = analyze(
        study_plan(),
        TrialTable.from_columns(cols),
        RunMeta(
            "a" * 64,
            "c" * 64,
            True,
            planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300),
        ),
    )
    by = {p.arm: p for p in res.pareto}
    assert by["phi"].cost_per_1k_usd == 0.0 and by["qwen"].cost_per_1k_usd == pytest.approx(1.0)
    arm = next(a for a in res.arms if a.arm == "qwen")
    assert arm.routing_cost_per_1k is not None and arm.cost_per_1k.estimate == pytest.approx(1.0)
    assert next(a for a in res.arms if a.arm == "control").routing_cost_per_1k is None


@pytest.mark.parametrize(
    ("x", "t", "metric", "text"),
    [
        (2000.3, 2000.0, "routing_latency_p95_ms", "2,000.3 ms"),
        (1974.31, 2000.0, "routing_latency_p95_ms", "1,974 ms"),
        (2000.0, 2000.0, "routing_latency_p95_ms", "2,000 ms"),
        (0.8496, 0.85, "routing_accuracy", "84.96%"),
        (0.8278, 0.85, "routing_accuracy", "82.8%"),
    ],
)
def test_a_bound_never_reads_as_the_threshold(x: float, t: float, metric: str, text: str) -> None:
    assert fmt_against(x, t, metric) == text


@pytest.mark.parametrize("method", ["wilson", "clopper_pearson", "agresti_coull"])
def test_screened_methods_move_monotonically_with_n(method: str) -> None:
    """The quantile bounds screen thresholds with the bound at the extreme n: that needs the lower
    bound to rise with n (estimates >= 0.5) and the upper bound to fall with n, on a fine grid."""
    from analysis import proportion_bounds

    p = np.linspace(0.0, 1.0, 401)[:, None]
    n = np.geomspace(2.0, 1e6, 300)[None, :]
    lo, _ = proportion_bounds(p * n, n, 0.95, method, "lower")
    _, hi = proportion_bounds(p * n, n, 0.95, method, "upper")
    assert (np.diff(lo, axis=1)[p[:, 0] >= 0.5] >= -1e-12).all()
    assert (np.diff(hi, axis=1) <= 1e-12).all()


def test_screened_quantile_bounds_equal_the_exhaustive_ones() -> None:
    """The screened, block-wise search gives exactly the bounds of testing every threshold."""
    from analysis._clustered_quantile import _bounds, _cdf_moments

    rng = np.random.default_rng(8)
    for k, m in ((60, 5), (1000, 40), (7, 3)):
        a, e = rng.standard_normal((k, 1)), rng.standard_normal((k, m))
        values = np.exp(np.sqrt(0.6) * a + np.sqrt(0.4) * e).ravel()
        cases = np.repeat(np.arange(k), m)
        for q in (0.5, 0.95):
            t, p, m2, m4, kk, n = _cdf_moments(values, cases, q)
            lo = effective_n_bounds(p, m2, m4, kk, n, 0.95, "wilson", "lower").lower >= q
            hi = effective_n_bounds(p, m2, m4, kk, n, 0.95, "wilson", "upper").upper >= q
            misses = np.flatnonzero(~lo)
            upper = None if not lo[-1] else float(t[misses[-1] + 1] if misses.size else t[0])
            zero = np.zeros(1)
            floor = effective_n_bounds(zero, zero, zero, kk, n, 0.95, "wilson", "upper").upper[0]
            lower = float(t[int(np.argmax(hi))]) if floor < q else None
            assert _bounds(t, p, m2, m4, kk, n, q, 0.95, "wilson") == (lower, upper)
