"""Paired comparisons: each test dual to its interval and checked against an independent reference
(tests/reference/comparisons.py), no interval of width zero from data that cannot support one, and
the plan's family of planned comparisons adjusted as one (issue 11, items 4 and 5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from reference import comparisons as ref
from reference.plans import HASH, study_plan, synthetic_columns

import analysis
from analysis import (
    CaseResampler,
    DifferenceResult,
    RunMeta,
    TrialTable,
    adjust_pvalues,
    analyze,
    case_aggregate,
    paired_mean_difference,
    paired_proportion_difference,
    paired_quantile_difference,
)
from analysis._paired import P_FLOOR, paired_mean_prepared, paired_proportion_prepared

META = RunMeta(
    HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(("control", "phi", "qwen", "deepseek"), 300)
)
FIVE = np.full(12, 5.0)
A = (np.array(ref.CORRECT_A, dtype=float), FIVE)
B = (np.array(ref.CORRECT_B, dtype=float), FIVE)


def _ends(d: DifferenceResult) -> tuple[float | None, float | None]:
    return d.interval.lower, d.interval.upper


def _latency() -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]]:
    va = np.concatenate([np.array(v) for v in ref.LATENCY_A])
    ca = np.concatenate([np.full(len(v), i) for i, v in enumerate(ref.LATENCY_A)])
    vb = np.concatenate([np.array(v) for v in ref.LATENCY_B])
    cb = np.concatenate([np.full(len(v), i) for i, v in enumerate(ref.LATENCY_B)])
    return va, ca, vb, cb


# --- against the independent references --------------------------------------------------------


@pytest.mark.parametrize(("level", "expected"), [(0.95, ref.MOVER_95), (0.99, ref.MOVER_99)])
def test_mover_matches_the_hand_computation(level: float, expected: tuple[float, float, float]) -> None:
    """Wilson on each arm's effective n combined with the Pearson correlation of the cases."""
    res = paired_proportion_difference(A, B, "case", level)
    assert (res.estimate, *_ends(res)) == pytest.approx(expected, abs=1e-12)
    assert (res.unit, res.n_cases, res.interval.method) == ("case", 12, "mover_wilson_effective_n")
    assert res.p_value == pytest.approx(ref.MOVER_P, rel=1e-8)


def test_mover_with_clopper_pearson_and_on_requests() -> None:
    """The plan's interval method is each arm's; unit request pools each arm's requests."""
    cp = paired_proportion_difference(A, B, "case", 0.95, "clopper_pearson")
    assert _ends(cp) == pytest.approx(ref.MOVER_CP_95, abs=1e-10)
    req = paired_proportion_difference(A, B, "request", 0.95)
    assert (req.estimate, *_ends(req)) == pytest.approx(ref.MOVER_REQUEST_95, abs=1e-12)
    assert (req.unit, req.interval.method) == ("request", "mover_wilson")


@pytest.mark.parametrize(("level", "expected"), [(0.95, ref.TTEST_REL_CI_95), (0.99, ref.TTEST_REL_CI_99)])
def test_paired_t_matches_ttest_rel_on_case_means(level: float, expected: tuple[float, float]) -> None:
    """Mean of per-case differences of means, interval and p-value: scipy's ttest_rel on case means."""
    va, ca, vb, cb = _latency()
    res = paired_mean_difference(case_aggregate(va, ca, 10), case_aggregate(vb, cb, 10), level)
    assert res.estimate == pytest.approx(ref.TTEST_REL[0], rel=1e-12)
    assert res.p_value == pytest.approx(ref.TTEST_REL[1], rel=1e-10)
    assert _ends(res) == pytest.approx(expected, rel=1e-10)
    assert (res.unit, res.n_cases, res.interval.method) == ("case", 10, "paired_t_case_means")
    per_1k = paired_mean_difference(
        case_aggregate(va, ca, 10), case_aggregate(vb, cb, 10), level, scale=1000.0
    )
    assert per_1k.estimate == pytest.approx(1000 * ref.TTEST_REL[0], rel=1e-12)
    assert per_1k.p_value == pytest.approx(res.p_value, rel=1e-12)


# --- test and interval are dual ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["mover", "mover_request", "t"])
def test_the_p_value_is_where_the_interval_reaches_zero(which: str) -> None:
    """Just below the p-value the 1 - alpha interval contains 0; just above it excludes 0."""
    va, ca, vb, cb = _latency()
    prepared = {
        "mover": paired_proportion_prepared(A, B, "case"),
        "mover_request": paired_proportion_prepared(A, B, "request"),
        "t": paired_mean_prepared(case_aggregate(va, ca, 10), case_aggregate(vb, cb, 10)),
    }[which]
    p = prepared.p_value
    assert p is not None and P_FLOOR < p < 1.0
    inside, outside = prepared.interval(1.0 - p * (1.0 - 1e-6)), prepared.interval(1.0 - p * (1.0 + 1e-6))
    assert inside.lower is not None and inside.upper is not None
    assert outside.lower is not None and outside.upper is not None
    assert inside.lower <= 0.0 <= inside.upper
    assert not outside.lower <= 0.0 <= outside.upper


def test_the_bootstrap_p_value_is_dual_to_its_percentile_interval() -> None:
    """p <= alpha exactly when the 1 - alpha percentile interval excludes 0, at every alpha."""
    va, ca, vb, cb = _latency()
    rng = np.random.default_rng(0)
    # arm a shifted so that the p-value is neither tiny nor large
    for shift in (-100.0, 60.0, 150.0):
        res = paired_quantile_difference(va + shift, ca, vb, cb, 0.5, 10, 0.95, CaseResampler(rng, 999))
        p = res.p_value
        assert p is not None and p >= 2.0 / 1000
        prepared = analysis._comparisons.paired_quantile_prepared(
            va + shift, ca, vb, cb, 0.5, 10, CaseResampler(np.random.default_rng(1), 999)
        )
        assert prepared.p_value is not None
        for alpha in np.linspace(0.002, 0.5, 200):
            iv = prepared.interval(1.0 - alpha)
            if iv.lower is None or iv.upper is None:
                continue
            excludes = not iv.lower <= 0.0 <= iv.upper
            assert excludes == (prepared.p_value <= alpha), (shift, alpha, prepared.p_value, iv)


# --- no interval of width zero from data that cannot support it ---------------------------------


def test_one_case_has_no_interval_and_no_test() -> None:
    """Below min_cases every estimator says so instead of printing [x, x]."""
    one = (np.array([4.0]), np.array([5.0]))
    other = (np.array([3.0]), np.array([5.0]))
    for res in (
        paired_proportion_difference(one, other, "case", 0.95, min_cases=10),
        paired_mean_difference(one, other, 0.95, min_cases=10),
    ):
        assert res.estimate == pytest.approx(0.2)
        assert _ends(res) == (None, None) and res.p_value is None
        assert res.interval.note == "too few cases for an interval: 1 < 10 (analysis.min_cases)"
    med = paired_quantile_difference(
        np.array([5.0, 6.0]),
        np.array([0, 0]),
        np.array([1.0, 2.0]),
        np.array([0, 0]),
        0.5,
        1,
        0.95,
        CaseResampler(np.random.default_rng(0), 200),
        min_cases=10,
    )
    assert _ends(med) == (None, None) and med.p_value is None and med.estimate == 4.0


def test_every_case_with_the_same_difference_has_no_interval() -> None:
    """Constant case differences carry no variance: no interval and no test, with the reason."""
    base = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 1.0, 4.0, 3.0, 2.0, 1.0, 3.0])
    same = paired_mean_difference((base, FIVE), (base - 5.0, FIVE), 0.95)
    assert same.estimate == pytest.approx(1.0) and _ends(same) == (None, None) and same.p_value is None
    assert "same difference" in (same.interval.note or "")
    twins = paired_proportion_difference(A, A, "case", 0.95)
    assert twins.estimate == 0.0 and _ends(twins) == (None, None) and twins.p_value is None
    assert "same difference" in (twins.interval.note or "")


def test_arms_right_on_every_replay_keep_an_honest_interval() -> None:
    """60/60 in both arms: the difference 0 with an interval of positive width (effective n = k - 1)."""
    all_right = (np.full(60, 5.0), np.full(60, 5.0))
    res = paired_proportion_difference(all_right, all_right, "case", 0.95)
    lo, hi = _ends(res)
    assert res.estimate == 0.0 and lo is not None and hi is not None
    assert lo < -0.03 and hi > 0.03 and lo == pytest.approx(-hi)
    assert res.p_value == 1.0
    one_wrong = paired_proportion_difference(all_right, (np.full(60, 0.0), np.full(60, 5.0)), "case", 0.95)
    assert one_wrong.interval.upper == 1.0 and one_wrong.interval.lower is not None
    assert 0.9 < one_wrong.interval.lower < 1.0


def test_a_degenerate_bootstrap_has_no_interval() -> None:
    """Every resample of equal latencies gives the same difference: no interval, no test."""
    cases = np.repeat(np.arange(12), 3)
    res = paired_quantile_difference(
        np.full(36, 900.0),
        cases,
        np.full(36, 700.0),
        cases,
        0.5,
        12,
        0.95,
        CaseResampler(np.random.default_rng(0), 500),
    )
    assert res.estimate == 200.0 and _ends(res) == (None, None) and res.p_value is None
    assert "same difference" in (res.interval.note or "")


def test_the_issue_pair_test_and_interval_agree() -> None:
    """Issue 11's pair: a right on most replays of 20 cases, b far better on 30 others. McNemar on
    majorities said 20/0 for a; the test now measures the mean difference it sits beside."""
    a = np.array([3.0] * 20 + [0.0] * 30 + [2.0] * 10)
    b = np.array([2.0] * 20 + [2.0] * 30 + [2.0] * 10)
    n = np.full(60, 5.0)
    res = paired_proportion_difference((a, n), (b, n), "case", 0.95, min_cases=10)
    assert res.estimate == pytest.approx(-8.0 / 60)
    assert res.interval.upper is not None and res.interval.upper < 0.0
    assert res.p_value is not None and res.p_value < 0.05


# --- the family --------------------------------------------------------------------------------


def _run(cols: dict[str, Any] | None = None, **plan_analysis: Any) -> analysis.Results:
    return analyze(study_plan(**plan_analysis), TrialTable.from_columns(cols or synthetic_columns()), META)


def _all(res: analysis.Results) -> list[DifferenceResult]:
    out = [c.difference for c in res.accuracy_comparisons] + [c.difference for c in res.control_comparisons]
    out += [
        g.versus_control
        for d in res.downstream
        for g in d.groups
        if g.versus_control is not None and g.group != "all"
    ]
    return out


def test_holm_over_the_whole_family_with_bonferroni_level_intervals() -> None:
    """A family of all three kinds: m counts members with enough cases; Holm's p-values over
    them; every tested member's interval at 1 - alpha/m."""
    res = _run(family=["router_vs_router", "router_vs_control", "downstream_groups"])
    diffs = _all(res)
    tested = [d for d in diffs if d.in_family and d.n_cases >= 10]
    m = len(tested)
    assert m == 3 + 3 * 4 + 3 * 2  # pairs; 4 outcomes per router; correctly routed and misrouted
    assert all(d.family_size == m and d.in_family for d in diffs)
    assert all(d.interval.level == pytest.approx(1 - 0.05 / m) and d.correction == "holm" for d in tested)
    raw = [1.0 if d.p_value is None else d.p_value for d in tested]
    expected = adjust_pvalues(raw, "holm")
    for d, adj in zip(tested, expected, strict=True):
        assert d.p_adjusted == (None if d.p_value is None else pytest.approx(adj))
        if (
            d.interval.lower is not None
            and d.interval.upper is not None
            and not d.interval.lower <= 0 <= d.interval.upper
        ):
            assert d.p_adjusted is not None and d.p_adjusted <= 0.05  # a Bonferroni rejection is a Holm one
    assert "Bonferroni level" in tested[0].adjustment and f"m = {m}" in tested[0].adjustment


def test_default_family_leaves_the_downstream_groups_exploratory() -> None:
    """The downstream groups by routing outcome are not randomized: outside the default family."""
    res = _run()
    groups = [
        g.versus_control
        for d in res.downstream
        for g in d.groups
        if g.versus_control is not None and g.group in ("correctly_routed", "misrouted")
    ]
    assert groups and not any(g.in_family for g in groups)
    assert all(g.interval.level == pytest.approx(0.95) for g in groups)
    members = [d for d in _all(res) if d.in_family]
    assert {d.family_size for d in members} == {3 + 3 * 4}


def test_bonferroni_p_values_are_dual_to_the_intervals() -> None:
    """min(1, m p) <= alpha exactly where the interval at 1 - alpha/m excludes 0."""
    res = _run(multiplicity="bonferroni")
    for d in _all(res):
        if not d.in_family or d.p_value is None or d.interval.lower is None or d.interval.upper is None:
            continue
        assert d.p_adjusted == pytest.approx(min(1.0, d.family_size * d.p_value))
        excludes = not d.interval.lower <= 0.0 <= d.interval.upper
        if abs(d.p_adjusted - 0.05) > 1e-6:
            assert excludes == (d.p_adjusted < 0.05), d


def test_comparisons_outside_the_family_are_exploratory() -> None:
    """Only router vs router planned: three members; the rest unadjusted at 1 - alpha."""
    res = _run(family=["router_vs_router"])
    for c in res.accuracy_comparisons:
        d = c.difference
        assert d.in_family and d.family_size == 3 and d.interval.level == pytest.approx(1 - 0.05 / 3)
    for d in _all(res)[3:]:
        assert not d.in_family and d.correction == "none" and d.interval.level == 0.95
        assert d.p_adjusted == d.p_value and d.adjustment.startswith("exploratory")


def test_multiplicity_none_leaves_the_level() -> None:
    res = _run(multiplicity="none")
    for d in _all(res):
        assert d.interval.level == 0.95 and d.p_adjusted == d.p_value and d.correction == "none"


def test_all_versus_the_control_is_the_downstream_quality_comparison() -> None:
    """The 'all' group and the control comparison on downstream quality are one comparison."""
    res = _run()
    for d in res.downstream:
        everything = next(g for g in d.groups if g.group == "all")
        quality = next(
            c for c in res.control_comparisons if c.arm == d.arm and c.outcome == "downstream_quality"
        )
        assert everything.versus_control == quality.difference


def test_a_one_case_subgroup_has_no_interval() -> None:
    """The demo report's "+20.0% [+20.0%, +20.0%]": a router that misroutes one case only."""
    cols = synthetic_columns()
    phi = cols["arm"] == "phi"
    first = cols["case_id"] == cols["case_id"][0]
    cols["correct"] = np.where(phi, np.where(first, 0.0, 1.0), cols["correct"])
    res = _run(cols)
    mis = next(g for d in res.downstream if d.arm == "phi" for g in d.groups if g.group == "misrouted")
    assert mis.versus_control is not None and mis.versus_control.n_cases == 1
    assert _ends(mis.versus_control) == (None, None) and mis.versus_control.p_value is None
    assert mis.quality.interval.lower is None and "too few cases" in (mis.quality.interval.note or "")
    assert not any(d.interval.lower is not None and d.interval.lower == d.interval.upper for d in _all(res))


def test_the_results_round_trip_through_json() -> None:
    """The new fields serialise and read back unchanged."""
    res = _run(multiplicity="bonferroni")
    text = analysis.results_to_json(res)
    assert analysis.results_to_json(analysis.results_from_json(text)) == text
    assert '"family_size"' in text and '"mcnemar_p"' not in text
