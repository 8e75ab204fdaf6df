"""The ``cost_vs_control`` and ``e2e_latency_p95_vs_control`` gates' error rates, by simulation.

A control and one router arm see the same 60 cases x 5 replays; each dataset is a full trial table
analysed by :func:`analysis.analyze` (``scope="gates"``, the plan's default 2,000 resamples), one
gate at a time under its one-sided 95% bound. At the boundary a PASS is a type I error; the target
is at most alpha + 1 point, measured on :data:`BOUNDARY_SIMS` datasets per world.

Cost, gate ``cost_vs_control <= -0.30`` (at least 30% cheaper). A request's cost is its tokens
times the price of the model that answered it: the control always pays the big model's price; the
router sends a request to a model at a tenth of that price with probability 1/3, so its expected
cost per token is exactly 0.70 of the control's (the boundary). Worlds:

- ``independent``: every request's token count is lognormal (median 900, sigma 0.5), no case effect;
- ``shared``: a per-case token count (lognormal, sigma 0.6) shared by both arms, times a
  per-request factor (sigma 0.3): costs are strongly correlated within a case and across arms.

Latency, gate ``e2e_latency_p95_vs_control <= +200 ms``. Log end-to-end latency of the control is
``log 1000 + 0.5 (sqrt(rho) a_i + sqrt(1 - rho) e_ij)``; the router's is drawn the same way plus
the boundary's shift of 200 ms, so the true P95 difference is exactly 200 ms. Worlds: ``independent``
(``rho = 0``) and ``shared`` (``rho = 0.5``, the case factor ``a_i`` shared by both arms).

Measured with these seeds (at the boundary 3,000 datasets for cost, 1,000 for P95; 300 for power):
cost type I error 0.0553 (independent) and 0.0567 (shared), power 0.750 and 0.880 at a true ratio
of 0.60; P95 type I error 0.040 and 0.023 (0.0393 and 0.0273 on 3,000), power 0.207 and 0.300 at
no difference. The cost gate's plain
percentile bound measured 0.0597 and 0.0617 on the same datasets (above the target in the shared
world), which is why it takes the expanded percentile (docs/design.md, "The gate against the
control"). The eight tests took 6.6 minutes on 2 cores shared with other jobs (the P95 ones most
of it: about 30 ms an analysis against 8 ms for cost).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from reference.plans import HASH, study_plan, synthetic_columns

from analysis import RunMeta, TrialTable, analyze
from prereg.schema import GateSpec, Plan

K, M, ALPHA = 60, 5, 0.05
SAVING, MARGIN_MS = -0.30, 200.0
META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"control": K * M, "phi": K * M})
CASES = np.repeat(np.arange(K), M)
#: Datasets at the boundary. Cost sits near the target (0.055): 3,000 (s.e. 0.004) tell 0.05 from
#: 0.06. The P95 gate is conservative (0.039 and 0.027 on 3,000) and four times slower to analyse,
#: so 1,000 (s.e. 0.006) show it below 0.06 and keep CI's test time in bounds.
BOUNDARY_SIMS = {"cost": 3000, "latency": 1000}


def _plan(metric: str, threshold: float) -> Plan:
    """The reference plan with the control, one router and only this gate."""
    base = study_plan()
    gate = GateSpec.model_validate({"id": "g", "metric": metric, "op": "<=", "threshold": threshold})
    arms = [a for a in base.arms if a.id in ("control", "phi")]
    size = base.sample_size.model_copy(update={"requests_total": 2 * K * M})
    return base.model_copy(update={"arms": arms, "gates": [gate], "sample_size": size})


def _costs(rng: np.random.Generator, world: str, ratio: float) -> np.ndarray:
    """Control then router request costs (USD) whose true ratio of means is ``ratio``."""
    if world == "independent":
        tokens = rng.lognormal(np.log(900.0), 0.5, 2 * K * M)
    else:
        per_case = rng.lognormal(np.log(900.0), 0.6, K)[CASES]
        tokens = np.tile(per_case, 2) * rng.lognormal(0.0, 0.3, 2 * K * M)
    price = 1e-5
    # cheap with probability pi at a tenth of the price: E price = (1 - 0.9 pi) price = ratio price
    cheap = rng.random(K * M) < (1.0 - ratio) / 0.9
    router_price = np.where(cheap, 0.1 * price, price)
    return tokens * np.concatenate([np.full(K * M, price), router_price])


def _latencies(rng: np.random.Generator, world: str, shift_ms: float) -> np.ndarray:
    """Control then router end-to-end latencies (ms): the router's distribution shifted by ``shift_ms``."""
    rho = 0.0 if world == "independent" else 0.5
    a = np.tile(rng.standard_normal(K)[CASES], 2)
    e = rng.standard_normal(2 * K * M)
    lat = np.exp(np.log(1000.0) + 0.5 * (np.sqrt(rho) * a + np.sqrt(1.0 - rho) * e))
    lat[K * M :] += shift_ms
    return lat


def _pass_rate(outcome: str, world: str, truth: float, sims: int, seed: int) -> float:
    """Share of datasets on which the gate passes, for a true ratio (cost) or shift (latency)."""
    cost = outcome == "cost"
    plan = _plan("cost_vs_control", SAVING) if cost else _plan("e2e_latency_p95_vs_control", MARGIN_MS)
    cols: dict[str, Any] = synthetic_columns(("control", "phi"), (0.0, 0.75), n_cases=K, replays=M)
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(sims):
        if cost:
            cols["cost_usd"] = _costs(rng, world, truth)
        else:
            cols["e2e_latency_ms"] = _latencies(rng, world, truth)
        res = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
        passed += res.gates[0].verdict == "PASS"
    return passed / sims


@pytest.mark.slow
@pytest.mark.parametrize(
    ("outcome", "world", "truth", "seed"),
    [
        ("cost", "independent", 1.0 + SAVING, 31),
        ("cost", "shared", 1.0 + SAVING, 32),
        ("latency", "independent", MARGIN_MS, 33),
        ("latency", "shared", MARGIN_MS, 34),
    ],
)
def test_type_one_error_at_the_boundary(outcome: str, world: str, truth: float, seed: int) -> None:
    """True contrast exactly at the threshold: PASS at most alpha + 1 point of the time."""
    sims = BOUNDARY_SIMS[outcome]
    rate = _pass_rate(outcome, world, truth, sims, seed)
    assert rate <= ALPHA + 0.01, f"type I error {rate:.4f} ({outcome}, {world}, {sims} datasets)"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("outcome", "world", "truth", "seed"),
    [
        ("cost", "independent", 0.60, 35),
        ("cost", "shared", 0.60, 36),
        ("latency", "independent", 0.0, 37),
        ("latency", "shared", 0.0, 38),
    ],
)
def test_power_inside_the_threshold(outcome: str, world: str, truth: float, seed: int) -> None:
    """A true ratio of 0.60 (cost) or no latency difference: PASS more often than alpha."""
    rate = _pass_rate(outcome, world, truth, 300, seed)
    assert rate > ALPHA, f"power {rate:.4f} ({outcome}, {world}, 300 datasets)"
