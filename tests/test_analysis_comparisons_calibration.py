"""The router-vs-router comparison's error rates, checked by simulation through its own code.

Two router arms see the same 60 cases x 5 replays. Case difficulty is shared: arm a's per-case
probabilities are beta-binomial (:func:`tests._calibration.case_probabilities`, replay ICC 0.3) and
arm b's are the same case's, scaled (a true difference of 0.10) or equal (no difference), so the
arms' per-case accuracies are strongly correlated, as two routers' are on one corpus. Replays are
drawn independently given the case. Targets (issue 11): coverage of the 95% MOVER interval within
93-97.5% and type I error of its p-value at most alpha + 1 point. With 4,000 datasets a rate near
0.05 (or 0.95) has a Monte Carlo standard error of 0.0034; the paired t, cheaper, gets 20,000.

Measured with these seeds: coverage 0.9520 (shared, difference 0.10) and 0.9508 (half the cases
shared, no difference); type I error 0.0513 (MOVER p-value, same per-case probabilities in both
arms) and 0.0530 (paired t on latency means, 20,000 datasets).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import case_aggregate, paired_mean_difference
from analysis._paired import paired_mean_prepared, paired_proportion_prepared
from tests._calibration import case_probabilities

K, M, ICC, SIMS, T_SIMS, ALPHA = 60, 5, 0.3, 4000, 20000, 0.05
REPLAYS = np.full(K, float(M))


def _arms(rng: np.random.Generator, scenario: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-case probabilities of the two arms and the true difference of their mean accuracies."""
    if scenario == "shared":
        pa = case_probabilities(rng, 0.85, ICC, K)
        return pa, pa * (0.75 / 0.85), 0.10
    if scenario == "half_shared":
        pa = case_probabilities(rng, 0.80, ICC, K)
        return pa, np.where(rng.random(K) < 0.5, pa, case_probabilities(rng, 0.80, ICC, K)), 0.0
    pa = case_probabilities(rng, 0.80, ICC, K)
    return pa, pa, 0.0


def _correct(rng: np.random.Generator, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rng.binomial(M, p).astype(np.float64), REPLAYS


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), [("shared", 11), ("half_shared", 12)])
def test_coverage_of_the_router_difference(scenario: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(SIMS):
        pa, pb, truth = _arms(rng, scenario)
        iv = paired_proportion_prepared(_correct(rng, pa), _correct(rng, pb), "case", "wilson", 10).interval(
            0.95
        )
        covered += iv.lower is not None and iv.upper is not None and iv.lower <= truth <= iv.upper
    assert 0.93 <= covered / SIMS <= 0.975, covered / SIMS


@pytest.mark.slow
def test_type_one_error_of_the_router_p_value() -> None:
    rng = np.random.default_rng(13)
    rejected = 0
    for _ in range(SIMS):
        pa, pb, _ = _arms(rng, "same")
        p = paired_proportion_prepared(_correct(rng, pa), _correct(rng, pb), "case", "wilson", 10).p_value
        rejected += p is not None and p < ALPHA
    assert rejected / SIMS <= ALPHA + 0.01, rejected / SIMS


@pytest.mark.slow
def test_type_one_error_of_the_paired_t_with_shared_case_latency() -> None:
    """Log latency with a case effect shared by both arms (ICC 0.3), no difference in means."""
    rng = np.random.default_rng(14)
    cases = np.repeat(np.arange(K), M)
    rejected = 0
    for _ in range(T_SIMS):
        shared = rng.standard_normal(K)[cases]
        x, y = (
            np.exp(7.0 + 0.5 * (np.sqrt(ICC) * shared + np.sqrt(1 - ICC) * rng.standard_normal(K * M)))
            for _ in range(2)
        )
        p = paired_mean_prepared(case_aggregate(x, cases, K), case_aggregate(y, cases, K), 10).p_value
        rejected += p is not None and p < ALPHA
    assert rejected / T_SIMS <= ALPHA + 0.01, rejected / T_SIMS


def test_the_public_estimators_are_the_prepared_ones() -> None:
    """What the simulation exercises is what the analysis calls (quick)."""
    rng = np.random.default_rng(0)
    pa, pb, _ = _arms(rng, "shared")
    a, b = _correct(rng, pa), _correct(rng, pb)
    prepared = paired_proportion_prepared(a, b, "case", "wilson", 10)
    assert prepared.interval(0.95) == prepared.at(0.95).interval
    agg = case_aggregate(np.arange(20.0), np.repeat(np.arange(10), 2), 10)
    other = case_aggregate(np.arange(20.0)[::-1], np.repeat(np.arange(10), 2), 10)
    assert paired_mean_difference(agg, other, 0.9) == paired_mean_prepared(agg, other).at(0.9)
