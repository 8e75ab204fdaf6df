"""Cluster-robust intervals, case bootstraps and the design effect against independent references:
statsmodels' GEE (tests/reference/clustered.py) and exact enumeration of every case resample."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray
from reference import clustered as cref
from reference import estimators as ref
from scipy import special

from analysis import (
    CaseResampler,
    bootstrap_proportion,
    case_aggregate,
    estimate_clustered_mean,
    gee_proportion,
    paired_difference,
    summarize_clustering,
)

Y = np.array(ref.ICC_Y, dtype=float)
CASES = np.array(ref.ICC_CASES)


@pytest.mark.parametrize(
    ("structure", "expected"),
    [("exchangeable", cref.GEE_EXCHANGEABLE), ("independence", cref.GEE_INDEPENDENCE)],
)
def test_gee_interval_matches_statsmodels(structure: str, expected: tuple[float, float]) -> None:
    """The GEE estimate and Wald interval are expit(beta) and expit(beta -/+ z se) of statsmodels' fit."""
    beta, se = expected
    est, iv = gee_proportion(Y, CASES, 0.95, structure)
    assert est == pytest.approx(special.expit(beta), rel=1e-9)
    assert iv.lower == pytest.approx(special.expit(beta - cref.Z975 * se), rel=1e-9)
    assert iv.upper == pytest.approx(special.expit(beta + cref.Z975 * se), rel=1e-9)
    assert iv.method == f"gee_{structure}"


def test_design_effect_and_effective_n_follow_the_icc() -> None:
    """deff = 1 + (N/k - 1) * ICC and effective n = N / deff, with the reference ICC."""
    res = summarize_clustering(Y, CASES, "case", 0.95, "gee", None)
    m = 91 / 25
    assert (res.n_cases, res.n_requests) == (25, 91)
    assert res.mean_cluster_size == pytest.approx(m)
    assert res.icc == pytest.approx(ref.ICC_ANOVA, rel=1e-10)
    assert res.design_effect == pytest.approx(1 + (m - 1) * ref.ICC_ANOVA, rel=1e-10)
    assert res.effective_n == pytest.approx(91 / (1 + (m - 1) * ref.ICC_ANOVA), rel=1e-10)
    assert res.robust_interval.lower is not None and res.robust_interval.upper is not None


# Three cases with unequal replays: the exact bootstrap distribution has 3**3 = 27 equally likely
# ordered resamples, enumerated below and expanded request by request (no weights involved).
SMALL_CASES = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
SMALL_Y = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
SMALL_COST = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 5.0, 5.0, 6.0, 4.0])
DRAWS = list(itertools.product(range(3), repeat=3))


def _weights(k: int = 3) -> NDArray[np.float64]:
    return np.array([np.bincount(d, minlength=k) for d in DRAWS], dtype=np.float64)


class _Enumerated(CaseResampler):
    """A resampler that returns every ordered resample of three cases once."""

    def __init__(self) -> None:
        super().__init__(np.random.default_rng(0), len(DRAWS))

    def __call__(self, k: int) -> NDArray[np.float64]:
        assert k == 3
        return _weights()


def _expanded(values: NDArray[np.float64], draw: tuple[int, ...]) -> list[NDArray[np.float64]]:
    return [values[c == SMALL_CASES] for c in draw]


def _quantiles(stats: list[float], level: float = 0.9) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(np.array(stats), [a, 1 - a])
    return float(lo), float(hi)


def test_case_bootstrap_of_accuracy_equals_enumeration() -> None:
    """Both units: the percentile interval over all 27 resamples, computed on expanded requests."""
    sums = np.bincount(SMALL_CASES, weights=SMALL_Y)
    counts = np.bincount(SMALL_CASES).astype(float)
    by_case = [float(np.mean([g.mean() for g in _expanded(SMALL_Y, d)])) for d in DRAWS]
    by_request = [float(np.concatenate(_expanded(SMALL_Y, d)).mean()) for d in DRAWS]
    for unit, stats in (("case", by_case), ("request", by_request)):
        iv = bootstrap_proportion(sums, counts, unit, 0.9, _weights())  # type: ignore[arg-type]
        assert (iv.lower, iv.upper) == pytest.approx(_quantiles(stats), abs=1e-12)


def test_clustered_mean_per_1k_equals_enumeration() -> None:
    """Cost per 1,000 requests: the pooled mean x 1000, interval over expanded resamples."""
    res = estimate_clustered_mean(SMALL_COST, SMALL_CASES, 3, 0.9, _Enumerated(), 1000.0)
    assert res.estimate == pytest.approx(1000 * SMALL_COST.mean())
    stats = [1000 * float(np.concatenate(_expanded(SMALL_COST, d)).mean()) for d in DRAWS]
    assert (res.interval.lower, res.interval.upper) == pytest.approx(_quantiles(stats), abs=1e-9)
    assert (res.unit, res.n, res.n_cases) == ("request", 9, 3)


def test_paired_difference_resamples_both_arms_together() -> None:
    """a - b on the case unit: each resample draws the same cases for both arms (enumeration)."""
    other = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    a, b = case_aggregate(SMALL_Y, SMALL_CASES, 3), case_aggregate(other, SMALL_CASES, 3)
    res = paired_difference(a, b, "case", 0.9, _Enumerated())

    def case_mean(v: NDArray[np.float64], d: tuple[int, ...]) -> float:
        return float(np.mean([g.mean() for g in _expanded(v, d)]))

    stats = [case_mean(SMALL_Y, d) - case_mean(other, d) for d in DRAWS]
    assert res.estimate == pytest.approx(case_mean(SMALL_Y, (0, 1, 2)) - case_mean(other, (0, 1, 2)))
    assert (res.interval.lower, res.interval.upper) == pytest.approx(_quantiles(stats), abs=1e-12)
    assert res.n_cases == 3
