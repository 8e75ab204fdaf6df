"""Quantile intervals, multiplicity, SRM, balance, ICC, GEE, bootstrap and Pareto
against scipy/statsmodels reference values and exact enumeration (tests/reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import estimators as ref
from scipy import stats

from analysis import (
    adjust_pvalues,
    bootstrap_case_weights,
    bootstrap_quantile,
    check_balance,
    check_srm,
    estimate_accuracy,
    estimate_quantile,
    gee_proportion,
    icc_anova,
    order_statistic_ranks,
    pareto_frontier,
)


def _none_if_inf(v: float) -> float | None:
    return None if math.isnan(v) or math.isinf(v) else v


@pytest.mark.parametrize(("key", "expected"), sorted(ref.QUANTILE_TEST_CI.items(), key=str))
def test_order_statistic_bounds_match_scipy(
    key: tuple[str, float, str], expected: tuple[float, float]
) -> None:
    """Two-sided and one-sided order-statistic bounds equal scipy.stats.quantile_test's."""
    name, q, alt = key
    res = estimate_quantile(np.array(ref.SAMPLES[name]), q, 0.95)
    if alt == "two-sided":
        got = (res.interval.lower, res.interval.upper)
    elif alt == "greater":
        got = (res.lower_bound.lower, None)
    else:
        got = (None, res.upper_bound.upper)
    assert got == (_none_if_inf(expected[0]), _none_if_inf(expected[1]))


def test_p95_at_60_has_no_two_sided_upper_end() -> None:
    """STUDY.md: a 95% interval for a P95 at n = 60 needs ranks 53..61, so its upper end is None;
    the one-sided 95% upper bound is the maximum, which exists from n = 59 (NOTES.md)."""
    assert order_statistic_ranks(60, 0.95, 0.95, "two-sided") == (53, None)
    res = estimate_quantile(np.arange(60.0), 0.95, 0.95)
    assert res.interval.upper is None and res.interval.note is not None
    assert res.upper_bound.upper == 59.0
    short = estimate_quantile(np.arange(58.0), 0.95, 0.95)
    assert short.upper_bound.upper is None
    assert short.upper_bound.note is not None and "n >= 59" in short.upper_bound.note


@pytest.mark.parametrize(("n", "q"), [(5, 0.5), (12, 0.9), (30, 0.95), (59, 0.95)])
def test_ranks_cover_by_exact_enumeration(n: int, q: float) -> None:
    """The exact binomial coverage of the returned ranks is at least the level, and one rank less wide is not."""
    _lo, hi = order_statistic_ranks(n, q, 0.95, "upper")
    if hi is not None:
        assert stats.binom.cdf(hi - 1, n, q) >= 0.95
        assert hi == 1 or stats.binom.cdf(hi - 2, n, q) < 0.95


def test_ties_and_empty() -> None:
    """All-equal latencies give that value everywhere; no values give None with a note."""
    res = estimate_quantile(np.full(100, 1234.0), 0.95, 0.95)
    assert (res.estimate, res.interval.lower, res.upper_bound.upper) == (1234.0, 1234.0, 1234.0)
    empty = estimate_quantile(np.zeros(0), 0.5, 0.95)
    assert empty.estimate is None and empty.interval.note == "no observations"


def test_multiplicity_matches_statsmodels() -> None:
    """Holm and Bonferroni adjustments equal statsmodels' multipletests."""
    assert adjust_pvalues(ref.PVALUES, "holm") == pytest.approx(ref.ADJUSTED_HOLM, rel=1e-12)
    assert adjust_pvalues(ref.PVALUES, "bonferroni") == pytest.approx(ref.ADJUSTED_BONFERRONI, rel=1e-12)
    assert adjust_pvalues(ref.PVALUES, "none") == ref.PVALUES


def test_srm_matches_scipy_chisquare() -> None:
    """The SRM statistic and p-value equal scipy.stats.chisquare's for an equal ratio."""
    observed = dict(zip("abcd", ref.SRM_OBSERVED, strict=False))
    res = check_srm("sent", observed, dict.fromkeys("abcd", 1))
    assert (res.chi2, res.p_value) == pytest.approx(ref.SRM_CHISQUARE, rel=1e-12)
    assert not res.mismatch
    skewed = check_srm("sent", {"a": 400, "b": 200}, {"a": 1, "b": 1})
    assert skewed.mismatch and skewed.p_value is not None and skewed.p_value < 1e-10


def test_balance_matches_chi2_contingency() -> None:
    """The family x arm test equals scipy's chi2_contingency without continuity correction."""
    res = check_balance(("f1", "f2", "f3"), ("a", "b", "c"), np.array(ref.BALANCE_TABLE))
    assert (res.chi2, res.p_value) == pytest.approx(ref.BALANCE_CHI2[:2], rel=1e-12)
    assert res.df == ref.BALANCE_CHI2[2]


def test_icc_matches_ols_anova() -> None:
    """The ANOVA ICC equals the one computed from statsmodels' OLS ANOVA mean squares."""
    icc = icc_anova(np.array(ref.ICC_Y, dtype=float), np.array(ref.ICC_CASES))
    assert icc == pytest.approx(ref.ICC_ANOVA, rel=1e-10)


def test_icc_undefined_cases() -> None:
    """One case, or one request per case, has no ICC."""
    assert icc_anova(np.array([1.0, 0.0]), np.array([0, 0])) is None
    assert icc_anova(np.array([1.0, 0.0]), np.array([0, 1])) is None


def test_case_unit_uses_mean_of_case_proportions() -> None:
    """Unit case: x = n_cases * mean per-case proportion; unit request: plain counts."""
    y = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    cases = np.array([0, 0, 0, 1, 1, 2, 2])
    by_case = estimate_accuracy(y, cases, "case", 0.95, "wilson")
    assert (by_case.successes, by_case.n, by_case.n_requests) == pytest.approx((2 / 3 + 1 / 2, 3, 7))
    by_request = estimate_accuracy(y, cases, "request", 0.95, "wilson")
    assert (by_request.successes, by_request.n) == (3.0, 7.0)


def test_gee_independence_estimates_pooled_proportion() -> None:
    """Intercept-only GEE estimates the pooled proportion, and refuses a constant outcome."""
    y = np.array(ref.ICC_Y, dtype=float)
    est, interval = gee_proportion(y, np.array(ref.ICC_CASES), 0.95, "independence")
    assert est == pytest.approx(y.mean(), rel=1e-8)
    assert interval.lower is not None and interval.upper is not None
    assert interval.lower < y.mean() < interval.upper
    _, none = gee_proportion(np.ones(10), np.arange(10), 0.95)
    assert none.lower is None and none.note is not None


def test_bootstrap_weights_are_deterministic_resamples() -> None:
    """Each resample draws k cases; the same generator seed gives the same matrix."""
    w1 = bootstrap_case_weights(np.random.default_rng(5), 7, 50)
    w2 = bootstrap_case_weights(np.random.default_rng(5), 7, 50)
    assert w1.shape == (50, 7) and (w1.sum(axis=1) == 7).all()
    assert np.array_equal(w1, w2)


def test_bootstrap_quantile_equals_brute_force() -> None:
    """The binned resample quantile equals the lower empirical quantile of the expanded resample."""
    rng = np.random.default_rng(2)
    cases = np.repeat(np.arange(6), 4)
    values = np.round(rng.lognormal(6, 0.5, cases.size))
    w = bootstrap_case_weights(np.random.default_rng(3), 6, 20)
    got = bootstrap_quantile(values, cases, 0.95, w)
    for b in range(20):
        expanded = np.repeat(values, w[b][cases].astype(int))
        assert got[b] == np.quantile(expanded, 0.95, method="inverted_cdf")


def test_pareto_marks_dominated_arms() -> None:
    """An arm worse on every axis is dominated; an arm with a missing estimate is off the frontier."""
    pts = pareto_frontier(
        [
            ("qwen", 0.79, 1500.0, 0.0),
            ("phi", 0.75, 1600.0, 0.0),
            ("deepseek", 0.83, 2295.0, 0.3),
            ("empty", None, None, 0.0),
        ]
    )
    assert [(p.arm, p.on_frontier, p.dominated_by) for p in pts] == [
        ("qwen", True, ()),
        ("phi", False, ("qwen",)),
        ("deepseek", True, ()),
        ("empty", False, ()),
    ]


def test_factorize_sorted_codes_and_nulls() -> None:
    """Codes index the sorted distinct values; NULL (None) gets -1 and no name."""
    from analysis import factorize

    names, codes = factorize(np.array(["qwen", "phi", "qwen", "deepseek", "phi"]))
    assert names == ("deepseek", "phi", "qwen") and codes.tolist() == [2, 1, 2, 0, 1]
    names, codes = factorize(np.array(["b", None, "a", None], dtype=object))
    assert names == ("a", "b") and codes.tolist() == [1, -1, 0, -1]
    names, codes = factorize(np.array(["", None, "x"], dtype=object))
    assert names == ("", "x") and codes.tolist() == [0, -1, 1]


def test_empirical_curve_is_the_whole_ecdf_for_small_n() -> None:
    """Up to CURVE_POINTS values the curve is every order statistic at i/n (ties kept)."""
    from analysis import empirical_curve

    curve = empirical_curve(np.array([3.0, 1.0, 2.0, 2.0]))
    assert curve is not None
    assert (curve.unit, curve.n) == ("request", 4)
    assert curve.probabilities == (0.25, 0.5, 0.75, 1.0)
    assert curve.values_ms == (1.0, 2.0, 2.0, 3.0)
    assert empirical_curve(np.zeros(0)) is None


def test_empirical_curve_downsamples_to_inverse_ecdf() -> None:
    """Beyond CURVE_POINTS values the curve is numpy's inverted_cdf quantile at j/CURVE_POINTS."""
    from analysis import CURVE_POINTS, empirical_curve

    values = np.array(ref.SAMPLES["n300"] * 7)  # 2,100 values with ties
    curve = empirical_curve(values)
    assert curve is not None and len(curve.probabilities) == CURVE_POINTS
    probs = np.arange(1, CURVE_POINTS + 1) / CURVE_POINTS
    assert curve.probabilities == pytest.approx(tuple(probs), abs=0)
    assert np.array_equal(curve.values_ms, np.quantile(values, probs, method="inverted_cdf"))
