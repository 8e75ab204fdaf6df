"""The ``downstream_quality_vs_control`` gate's error rates, checked by simulation through analyze.

A control and one router arm see the same 60 cases x 5 replays; each dataset is a full trial table
analysed by :func:`analysis.analyze` (``scope="gates"``, the plan's default 2,000 resamples), the
gate ``>= -0.05`` under its one-sided 95% bound. Downstream quality is 0/1. Two worlds of correlation:

- ``independent``: no case effect (replay ICC 0): every request of the control is right with
  probability 0.80, every request of the router with ``0.80 + delta``;
- ``shared``: a strong case effect shared by both arms: the control's per-case probability is
  beta-binomial (:func:`tests._calibration.case_probabilities`, mean 0.80, replay ICC 0.3), the
  router's is the same case's scaled by ``(0.80 + delta) / 0.80``, so the per-case qualities of
  the arms are strongly correlated (as one corpus's hard cases are hard for every arm) and the
  mean over cases of the true difference is exactly ``delta``.

At the boundary (``delta = -0.05``) a PASS is a type I error; the target is at most alpha + 1
point. Well inside (``delta = 0``) the PASS rate is the power, which must exceed alpha. With 3,000
datasets a rate near 0.05 has a Monte Carlo standard error of 0.004 (with 1,000, 0.007: too
coarse to tell 0.05 from 0.06); the four tests take about 40 s on 2 busy cores.

Measured with these seeds: type I error 0.0477 (independent), 0.0493 (shared, ICC 0.3) and 0.049
(``shared_0.6``: the same world at replay ICC 0.6, 3,000 datasets); power 0.427
(independent) and 0.540 (shared) at a true difference of 0 (300 datasets each). Per-case means of
5 replays lie on a lattice, so about 1.4% of boundary datasets have a lower bound exactly at the
margin; the gate counts such a tie as INCONCLUSIVE (the margin is inside the one-sided interval).
Before that rule, floating-point rounding decided the ties and the shared world measured 0.063.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from reference.plans import HASH, study_plan, synthetic_columns

from analysis import RunMeta, TrialTable, analyze
from prereg.schema import GateSpec, Plan
from tests._calibration import case_probabilities

K, M, ALPHA, MARGIN, BASE = 60, 5, 0.05, 0.05, 0.80
META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"control": K * M, "phi": K * M})


def _plan() -> Plan:
    """The reference plan with the control, one router and only the quality gate."""
    base = study_plan()
    gate = GateSpec.model_validate(
        {"id": "quality", "metric": "downstream_quality_vs_control", "op": ">=", "threshold": -MARGIN}
    )
    arms = [a for a in base.arms if a.id in ("control", "phi")]
    size = base.sample_size.model_copy(update={"requests_total": 2 * K * M})
    return base.model_copy(update={"arms": arms, "gates": [gate], "sample_size": size})


#: The replay ICC of the control's correctness in each world with a shared case effect.
_ICC = {"shared": 0.3, "shared_0.6": 0.6}


def _pass_rate(world: str, delta: float, sims: int, seed: int) -> float:
    """Share of datasets on which the gate passes, for a true mean difference ``delta``."""
    plan = _plan()
    cols: dict[str, Any] = synthetic_columns(("control", "phi"), (0.0, 0.75), n_cases=K, replays=M)
    rng = np.random.default_rng(seed)
    cases = np.repeat(np.arange(K), M)
    passed = 0
    for _ in range(sims):
        pc = np.full(K, BASE) if world == "independent" else case_probabilities(rng, BASE, _ICC[world], K)
        pr = pc * ((BASE + delta) / BASE)
        # rows: the control's K x M requests, then the router's (synthetic_columns' arm order)
        p = np.concatenate([pc[cases], pr[cases]])
        cols["downstream_correct"] = (rng.random(p.size) < p).astype(np.float64)
        res = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
        passed += res.gates[0].verdict == "PASS"
    return passed / sims


@pytest.mark.slow
@pytest.mark.parametrize(("world", "seed"), [("independent", 21), ("shared", 22), ("shared_0.6", 25)])
def test_type_one_error_at_the_margin(world: str, seed: int) -> None:
    """True difference exactly -margin: PASS at most alpha + 1 point of the time."""
    rate = _pass_rate(world, -MARGIN, 3000, seed)
    assert rate <= ALPHA + 0.01, f"type I error {rate:.4f} ({world}, 3000 datasets)"


@pytest.mark.slow
@pytest.mark.parametrize(("world", "seed"), [("independent", 23), ("shared", 24)])
def test_power_well_inside_the_margin(world: str, seed: int) -> None:
    """True difference 0, a full margin inside: PASS more often than alpha."""
    rate = _pass_rate(world, 0.0, 300, seed)
    assert rate > ALPHA, f"power {rate:.4f} ({world}, 300 datasets)"
