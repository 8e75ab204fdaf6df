"""The gap share and the router-minus-random difference: checked against a hand computation, and
their intervals' coverage checked by simulation through the estimators' own code.

Calibration: 60 cases x 5 replays per arm. Every arm's case probability is a probit of one case
difficulty shared by all arms (``Phi((Phi^-1(Q) + sqrt(r) z_i) / sqrt(1 - r))`` with ``r = 0.3``,
marginal quality exactly ``Q``), so replays of a case are correlated within an arm and cases are
correlated across arms, as the simulated backends make them. Baseline 0.60, oracle 0.85, the
router recovers 60% (0.75) or 30% (0.675) of the gap; the random arm mixes the baseline's and the
oracle's case probabilities half and half (true quality 0.725). Target: coverage of the 95%
case-bootstrap percentile intervals within 0.93-0.97 (4,000 datasets: Monte Carlo standard error
0.0035 near 0.95), as for the other comparisons (tests/test_analysis_comparisons_calibration.py).

Measured with these seeds (4,000 datasets, 1,000 resamples each): share 60% -> coverage of the
share 0.9475, of router minus random 0.9410; share 30% -> 0.9338 and 0.9460. Percentile intervals
over 60 clusters run about a point narrow (the bootstrap variance is (k - 1)/k of the true one),
more for a small share. A gap of 0.02 (oracle 0.62, 500 datasets): the share is undefined in
91.4% of them, never a ratio there, and covers in every dataset where it is given.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from analysis import CaseResampler, bootstrap_case_weights, estimate_gap_share, estimate_quality_difference

K, M, R, B, SIMS = 60, 5, 0.3, 1000, 4000
COUNTS = np.full(K, float(M))


def _agg(sums: list[float], counts: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(sums, dtype=np.float64), np.array(counts, dtype=np.float64)


def _linear_quantile(values: list[float], q: float) -> float:
    """numpy's default (linear) quantile, written out: ``h = (n - 1) q`` between order statistics."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


# Four cases; the router answers 2/2, 1/2, 1/1, 0/1; the baseline 1/2, 0/2, 0/1, 0/1; the oracle
# 2/2, 2/2, 1/1, 0/1. Case means: router (1, .5, 1, 0), baseline (.5, 0, 0, 0), oracle (1, 1, 1, 0).
# By hand: Q_router = 2.5/4 = 0.625, Q_baseline = 0.5/4 = 0.125, Q_oracle = 3/4 = 0.75,
# gap = 0.625, share = (0.625 - 0.125) / 0.625 = 0.8, router - baseline = 0.5.
ROUTER = _agg([2, 1, 1, 0], [2, 2, 1, 1])
BASELINE = _agg([1, 0, 0, 0], [2, 2, 1, 1])
ORACLE = _agg([2, 2, 1, 0], [2, 2, 1, 1])


def test_the_gap_share_matches_the_hand_computation_and_an_independent_bootstrap() -> None:
    """Point estimates by hand; the intervals from the same resamples recomputed case by case in
    plain Python (``bootstrap_case_weights(default_rng(0), 4, 400)``, linear percentiles)."""
    n, q, gap, gap_iv, share, share_iv = estimate_gap_share(
        ROUTER, BASELINE, ORACLE, 0.9, CaseResampler(np.random.default_rng(0), 400), 1
    )
    assert n == 4 and q == pytest.approx((0.625, 0.125, 0.75)) and gap == pytest.approx(0.625)
    assert share == pytest.approx(0.8)
    w = bootstrap_case_weights(np.random.default_rng(0), 4, 400).tolist()
    r, b, o = (1.0, 0.5, 1.0, 0.0), (0.5, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 0.0)
    gaps, shares = [], []
    for row in w:
        g = sum(wi * (oi - bi) for wi, oi, bi in zip(row, o, b, strict=True)) / 4
        num = sum(wi * (ri - bi) for wi, ri, bi in zip(row, r, b, strict=True)) / 4
        gaps.append(g)
        if g != 0.0:
            shares.append(num / g)
    assert gap_iv.lower == pytest.approx(_linear_quantile(gaps, 0.05))
    assert gap_iv.upper == pytest.approx(_linear_quantile(gaps, 0.95))
    assert gap_iv.lower is not None and gap_iv.lower > 0.0  # so the share is defined
    assert share_iv.lower == pytest.approx(_linear_quantile(shares, 0.05))
    assert share_iv.upper == pytest.approx(_linear_quantile(shares, 0.95))
    assert (share_iv.method, share_iv.side, share_iv.level) == ("case_bootstrap_percentile", "two-sided", 0.9)


def test_the_quality_difference_matches_the_hand_computation() -> None:
    """Router minus baseline on the four cases: 0.5 by hand, its interval the same plain-Python
    bootstrap of the per-case differences (.5, .5, 1, 0)."""
    n, q, diff, iv = estimate_quality_difference(
        ROUTER, BASELINE, 0.95, CaseResampler(np.random.default_rng(1), 300), 1
    )
    assert n == 4 and diff == pytest.approx(0.5) and q == pytest.approx((0.625, 0.125))
    d = (0.5, 0.5, 1.0, 0.0)
    reps = [
        sum(wi * di for wi, di in zip(row, d, strict=True)) / 4
        for row in bootstrap_case_weights(np.random.default_rng(1), 4, 300).tolist()
    ]
    assert iv.lower == pytest.approx(_linear_quantile(reps, 0.025))
    assert iv.upper == pytest.approx(_linear_quantile(reps, 0.975))


def test_cases_an_arm_did_not_answer_are_left_out() -> None:
    """A case without an answer in one arm leaves the comparison: three common cases remain."""
    oracle = _agg([2, 2, 1, 0], [2, 2, 1, 0])
    n, q, *_ = estimate_gap_share(
        ROUTER, BASELINE, oracle, 0.9, CaseResampler(np.random.default_rng(0), 50), 1
    )
    assert n == 3 and q == pytest.approx((2.5 / 3, 0.5 / 3, 1.0))


def test_a_gap_that_may_be_nothing_gives_no_share() -> None:
    """Oracle equal to the baseline case by case, an oracle below it, and too few cases: no ratio,
    and the note says why."""
    resampler = CaseResampler(np.random.default_rng(2), 200)
    *_, share, iv = estimate_gap_share(ROUTER, BASELINE, BASELINE, 0.95, resampler, 1)
    assert share is None and iv.lower is None and iv.note is not None and iv.note.startswith("undefined")
    *_, share, iv = estimate_gap_share(ROUTER, ORACLE, BASELINE, 0.95, resampler, 1)
    assert share is None and iv.note is not None and "below the baseline" in iv.note
    *_, share, iv = estimate_gap_share(ROUTER, BASELINE, ORACLE, 0.95, resampler, 10)
    assert share is None and iv.note is not None and "too few cases" in iv.note


def _arm(rng: np.random.Generator, z: np.ndarray, quality: float) -> np.ndarray:
    """Per-case probabilities of marginal ``quality`` with the shared case difficulty ``z``."""
    return np.asarray(norm.cdf((norm.ppf(quality) + np.sqrt(R) * z) / np.sqrt(1 - R)))


def _answered(rng: np.random.Generator, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rng.binomial(M, p).astype(np.float64), COUNTS


def _coverage(
    seed: int, router_quality: float, oracle_quality: float = 0.85, sims: int = SIMS
) -> tuple[float, float, float]:
    """Share of datasets whose share interval (when defined) and difference interval cover the
    truth, and the share of datasets with an undefined share."""
    rng = np.random.default_rng(seed)
    qb, qo = 0.60, oracle_quality
    share_truth = (router_quality - qb) / (qo - qb)
    diff_truth = router_quality - 0.5 * (qb + qo)
    covered_share = covered_diff = undefined = 0
    for _ in range(sims):
        z = rng.standard_normal(K)
        pb, po, pr = _arm(rng, z, qb), _arm(rng, z, qo), _arm(rng, z, router_quality)
        base, oracle, router = _answered(rng, pb), _answered(rng, po), _answered(rng, pr)
        mix = _answered(rng, 0.5 * pb + 0.5 * po)
        *_, share, iv = estimate_gap_share(router, base, oracle, 0.95, CaseResampler(rng, B), 10)
        if share is None:
            undefined += 1
        else:
            assert iv.lower is not None and iv.upper is not None
            covered_share += iv.lower <= share_truth <= iv.upper
        *_, d_iv = estimate_quality_difference(router, mix, 0.95, CaseResampler(rng, B), 10)
        assert d_iv.lower is not None and d_iv.upper is not None
        covered_diff += d_iv.lower <= diff_truth <= d_iv.upper
    defined = sims - undefined
    return (covered_share / defined if defined else math.nan), covered_diff / sims, undefined / sims


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "router_quality"), [(1, 0.75), (2, 0.675)])
def test_coverage_of_the_gap_share_and_the_difference(seed: int, router_quality: float) -> None:
    """Both 95% intervals cover the truth 93-97% of the time under correlated replays."""
    share, diff, undefined = _coverage(seed, router_quality)
    assert undefined < 0.01, undefined
    assert 0.93 <= share <= 0.97, share
    assert 0.93 <= diff <= 0.97, diff


@pytest.mark.slow
def test_a_gap_near_zero_is_mostly_undefined_not_a_huge_ratio() -> None:
    """A true gap of 0.02 rarely clears 0: the share is mostly undefined, and covers when given."""
    share, _, undefined = _coverage(5, 0.61, oracle_quality=0.62, sims=500)
    assert undefined > 0.8, undefined
    assert math.isnan(share) or share >= 0.9, share
