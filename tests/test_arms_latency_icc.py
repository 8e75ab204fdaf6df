"""Case-correlated service times: marginally the plan's lognormal, a ``case_icc`` share per case.

The model under test (``arms/_behaviour.py``): ``log service = mu + sigma * (sqrt(icc) * a_c +
sqrt(1 - icc) * e)``, ``a_c ~ N(0, 1)`` once per case, ``e ~ N(0, 1)`` per request, ``(mu, sigma)``
fitted to the plan's median and P95. Checked for both simulated backends (a router's classifier and
a downstream model) and through the SimPy arms, with tolerances derived from the Monte Carlo error
of each estimate (never a timing).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
import simpy
from scipy.stats import kstest, lognorm, norm

from arms import (
    ArmOutcome,
    ArmRequest,
    ClassifierBehaviour,
    ModelBehaviour,
    build_simulated_arms,
    fit_lognormal,
    to_trial_record,
)
from prereg.records import Case, TrialRecord
from prereg.schema import DEFAULT_LABELS, Plan, SimulatedClassifierSpec, SimulatedModelSpec
from tests._experiment_plans import make_cases, plan_dict

LATENCY = {"median_ms": 988.0, "p95_ms": 2295.0}
MU, SIGMA = fit_lognormal(LATENCY["median_ms"], LATENCY["p95_ms"])
Z_95 = float(norm.isf(0.05))

#: ``service(case, replay) -> ms`` of a freshly built backend.
Service = Callable[[Case, int], float]


def cases(n: int) -> list[Case]:
    return [Case(f"c{i}", "text", DEFAULT_LABELS[i % 6], (DEFAULT_LABELS[i % 6],)) for i in range(n)]


def classifier(corpus: list[Case], icc: float, seed: int) -> Service:
    spec = SimulatedClassifierSpec.model_validate(
        {
            "kind": "simulated",
            "accuracy": dict.fromkeys(DEFAULT_LABELS, 0.8),
            "latency": {**LATENCY, "case_icc": icc},
            "failures": {"http_error_rate": 0.01, "unparseable_rate": 0.02},
        }
    )
    b = ClassifierBehaviour(spec, DEFAULT_LABELS, corpus, np.random.default_rng(seed))
    return lambda case, replay: b.decide(case, replay)[2]


def model(corpus: list[Case], icc: float, seed: int) -> Service:
    spec = SimulatedModelSpec.model_validate(
        {
            "kind": "simulated",
            "quality": dict.fromkeys(DEFAULT_LABELS, 0.8),
            "latency": {**LATENCY, "case_icc": icc},
            "failures": {"http_error_rate": 0.01},
        }
    )
    b = ModelBehaviour(spec, corpus, np.random.default_rng(seed))
    return lambda case, replay: b.answer(case, replay)[2]


BACKENDS = {"classifier": classifier, "model": model}


def log_service(kind: str, icc: float, n_cases: int, replays: int, seed: int = 1) -> np.ndarray:
    """A cases x replays matrix of log service times, requested replay by replay over the corpus
    (replays of a case are never adjacent, as in a campaign)."""
    corpus = cases(n_cases)
    service = BACKENDS[kind](corpus, icc, seed)
    x = np.empty((n_cases, replays))
    for r in range(replays):
        for i, case in enumerate(corpus):
            x[i, r] = service(case, r)
    return np.log(x)


def anova_icc(x: np.ndarray) -> tuple[float, float]:
    """One-way ANOVA estimates ``(ICC, within-case variance)`` of a cases x replays matrix."""
    m = x.shape[1]
    msb = m * x.mean(axis=1).var(ddof=1)
    msw = x.var(axis=1, ddof=1).mean()
    return float((msb - msw) / (msb + (m - 1) * msw)), float(msw)


def anova_icc_se(icc: float, n_cases: int, replays: int) -> float:
    """Large-sample SE of the ANOVA ICC for a balanced design (Fisher 1925; Donner 1986, eq. 3):
    ``sqrt(2 (1 - r)^2 (1 + (m - 1) r)^2 / (m (m - 1) (k - 1)))``."""
    m, k = replays, n_cases
    return float(np.sqrt(2 * (1 - icc) ** 2 * (1 + (m - 1) * icc) ** 2 / (m * (m - 1) * (k - 1))))


@pytest.mark.parametrize("kind", sorted(BACKENDS))
@pytest.mark.parametrize("icc", [0.0, 0.5, 0.9])
def test_marginal_median_and_p95_are_the_plans(kind: str, icc: float) -> None:
    """Over 40,000 cases x 5 replays the median and the P95 of service time are the plan's.

    Tolerance: 4 standard errors of a sample quantile, ``sqrt(q (1 - q)) / phi(z_q) * sigma /
    sqrt(n_eff)`` on the log scale, with ``n_eff = N / (1 + (m - 1) icc)``: the design effect of
    the log times, which bounds that of the quantile's indicator (for a bivariate normal the
    correlation of ``1{X <= x}`` never exceeds that of ``X``).
    """
    k, m = 40_000, 5
    x = log_service(kind, icc, k, m).ravel()
    n_eff = x.size / (1 + (m - 1) * icc)
    for q, target in ((0.5, MU), (0.95, MU + Z_95 * SIGMA)):
        se = np.sqrt(q * (1 - q)) / norm.pdf(norm.ppf(q)) * SIGMA / np.sqrt(n_eff)
        assert np.quantile(x, q) == pytest.approx(target, abs=4 * se)


@pytest.mark.parametrize("kind", sorted(BACKENDS))
@pytest.mark.parametrize("icc", [0.0, 0.3, 0.5, 0.9])
def test_the_case_share_of_log_variance_is_case_icc(kind: str, icc: float) -> None:
    """The ANOVA ICC of log service time over 4,000 cases x 10 replays is ``case_icc``, and the
    within-case variance ``sigma^2 (1 - icc)``, each within 4 standard errors."""
    k, m = 4_000, 10
    estimate, within = anova_icc(log_service(kind, icc, k, m))
    assert estimate == pytest.approx(icc, abs=4 * anova_icc_se(icc, k, m))
    # MSW ~ sigma_w^2 chi2_{k(m-1)} / (k(m-1)): relative SE sqrt(2 / (k (m - 1))).
    assert within == pytest.approx(SIGMA**2 * (1 - icc), rel=4 * np.sqrt(2 / (k * (m - 1))))


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_log_service_is_the_stated_mixture_of_a_case_effect_and_a_request_draw(kind: str) -> None:
    """With the same seed the per-request draws ``e`` do not depend on ``case_icc``, so a run at
    icc 0 recovers them, and a run at icc 0.6 must then give the same ``a_c`` on every replay of a
    case, standard normal across cases: exactly the formula, not merely its moments."""
    k, m, icc = 2_000, 4, 0.6
    e = (log_service(kind, 0.0, k, m) - MU) / SIGMA
    y = (log_service(kind, icc, k, m) - MU) / SIGMA
    a = (y - np.sqrt(1 - icc) * e) / np.sqrt(icc)
    assert np.ptp(a, axis=1).max() < 1e-9
    assert kstest(a[:, 0], "norm").pvalue > 0.01


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_icc_zero_gives_independent_draws_whatever_the_case(kind: str) -> None:
    """At ``case_icc: 0`` the i-th service time does not depend on which case asks for it, and one
    case's service times are the plan's lognormal, serially uncorrelated."""
    corpus = cases(50)
    one, other = (BACKENDS[kind](corpus, 0.0, 5) for _ in range(2))
    n = 20_000
    first = np.array([one(corpus[0], r) for r in range(n)])
    mixed = np.array([other(corpus[i % 50], i // 50) for i in range(n)])
    np.testing.assert_allclose(first, mixed, rtol=1e-12)
    assert kstest(first, lognorm(SIGMA, scale=np.exp(MU)).cdf).pvalue > 0.01
    lag1 = np.corrcoef(np.log(first[:-1]), np.log(first[1:]))[0, 1]
    assert abs(lag1) < 4 / np.sqrt(n)


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_same_seed_same_draws_and_another_seed_others(kind: str) -> None:
    """Equal seeds give identical service times call for call, at any ICC; another seed does not."""
    for icc in (0.0, 0.5, 0.9):
        a, b, c = (log_service(kind, icc, 200, 3, seed=s) for s in (7, 7, 8))
        assert np.array_equal(a, b)
        assert not np.allclose(a, c)


def test_case_icc_moves_service_times_only() -> None:
    """A classifier's labels and statuses, for the same seed, do not depend on ``case_icc``."""
    corpus = cases(600)

    def decisions(icc: float) -> list[tuple[str | None, str]]:
        spec = SimulatedClassifierSpec.model_validate(
            {
                "kind": "simulated",
                "accuracy": dict.fromkeys(DEFAULT_LABELS, 0.7),
                "latency": {**LATENCY, "case_icc": icc},
                "failures": {"unparseable_rate": 0.05},
            }
        )
        b = ClassifierBehaviour(spec, DEFAULT_LABELS, corpus, np.random.default_rng(11))
        return [b.decide(c, r)[:2] for r in range(3) for c in corpus]

    assert decisions(0.0) == decisions(0.5) == decisions(0.9)


def _campaign(icc: float, n_cases: int = 300, replays: int = 8) -> list[TrialRecord]:
    """Every case ``replays`` times through every arm of a four-arm plan, in SimPy."""
    data = plan_dict(n_cases=n_cases, replays=replays)
    for arm in data["arms"]:
        if arm["kind"] == "router":
            arm["classifier"]["backend"]["latency"]["case_icc"] = icc
            arm["classifier"]["timeout_ms"] = 60_000.0
    for spec in data["models"].values():
        spec["backend"]["latency"]["case_icc"] = icc
    plan = Plan.model_validate(data)
    corpus = make_cases(n_cases)
    env = simpy.Environment()
    arms = build_simulated_arms(plan, corpus, "cd" * 32, env)
    records: list[TrialRecord] = []

    def one(seq: int, at: float, arm_id: str, case: Case, replay: int) -> Generator[Any, Any, None]:
        yield env.timeout(at)
        request = ArmRequest(seq, f"{arm_id}:{case.id}:{replay}", case, arm_id, replay, at)
        result: ArmOutcome = yield from arms[arm_id].process(env, request)
        records.append(to_trial_record("cd" * 32, request, result))

    seq = 0
    for replay in range(replays):
        for case in corpus:
            for arm_id in arms:
                # 2 requests/s in all: the servers are lightly loaded, latency ~ service time
                env.process(one(seq, seq * 0.5, arm_id, case, replay))
                seq += 1
    env.run()
    return records


def _icc_of(records: list[TrialRecord], arm: str, field: str, n_cases: int) -> float:
    by_case: dict[str, list[float]] = {}
    for r in records:
        value = getattr(r, field)
        if r.arm == arm and value is not None:
            by_case.setdefault(r.case_id, []).append(float(np.log(value)))
    m = min(len(v) for v in by_case.values())
    assert len(by_case) == n_cases and m == 8
    return anova_icc(np.array([v[:m] for v in by_case.values()]))[0]


def test_simulated_arms_correlate_latency_within_a_case() -> None:
    """Through the SimPy arms, a router's routing latency and the control's downstream latency are
    correlated within a case at ``case_icc`` 0.5 and not at 0 (every construction site passes the
    corpus, so the model's case effects exist too)."""
    n = 300
    correlated, independent = _campaign(0.5, n), _campaign(0.0, n)
    for arm, field in (("qwen", "routing_latency_ms"), ("control", "downstream_latency_ms")):
        # 300 cases x 8 replays: the SE of the ICC is about 0.025 at 0.5 and 0.011 at 0; queue
        # waits (light here) add a little latency that is not the case's, so allow ~6 SE below
        assert _icc_of(correlated, arm, field, n) == pytest.approx(0.5, abs=0.15)
        assert abs(_icc_of(independent, arm, field, n)) < 0.05
