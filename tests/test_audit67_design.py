"""Design diagnosis, audited against issue 7: what the other design tests leave out.

The P(PASS) curve's shape (exact under common random numbers), the sample-size search's answer
read back from a real run, the latency gate's type I error at its boundary (slow), and the
one-line message when Dask is asked for but missing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from experiment import _design_engine
from experiment._design_scenarios import UNREACHABLE_TIMEOUT_MS
from experiment.design import DesignSettings, EngineSettings, diagnose
from prereg.errors import InputError
from tests.test_design_plans import make_cases, make_plan

GRID = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)


@pytest.fixture(scope="module")
def small_design() -> dict[str, Any]:
    """One router arm on 40 cases: curve over GRID and the sample-size search, a few sims each."""
    plan = make_plan(cases=40, replays=1, routers=("small",), control=False, unparseable=0.0)
    settings = DesignSettings(sims=4, curve_sims=12, grid=GRID, max_cases=160)
    return diagnose(plan, make_cases(40), base_dir=Path("."), settings=settings,
                    engine=EngineSettings("local", 1))


def test_pass_curve_rises_with_the_true_accuracy(small_design: dict[str, Any]) -> None:
    """Under common random numbers each simulation's verdict is monotone in the true accuracy, so
    P(PASS) never falls and P(FAIL) never rises along the grid, and both move end to end."""
    curve = small_design["curve"]["accuracy"]
    assert curve["true_accuracy"] == list(GRID)
    rows = curve["arms"]["small"]
    p_pass, p_fail = rows["p_pass"], rows["p_fail"]
    assert all(a <= b for a, b in zip(p_pass, p_pass[1:]))
    assert all(a >= b for a, b in zip(p_fail, p_fail[1:]))
    assert (p_pass[0], p_fail[0], p_fail[-1]) == (0.0, 1.0, 0.0) and p_pass[-1] > 0.5
    for k in range(len(GRID)):
        assert p_pass[k] + p_fail[k] + rows["p_inconclusive"][k] == pytest.approx(1.0)


def test_min_cases_is_the_smallest_size_tried_that_reached_the_target(
    small_design: dict[str, Any],
) -> None:
    """For each arm and gate with a target verdict, the answer reached 80% power and every
    smaller size tried fell short; with no answer, even n_max fell short."""
    found = small_design["min_cases"]["arms"]["small"]
    target = small_design["target_power"]
    assert set(found) == {"accuracy", "latency_p95"}
    checked = 0
    for gate, r in found.items():
        if r["target"] is None:
            continue
        checked += 1
        powers = {int(n): p for n, p in r["evaluated"].items()}
        if r["n"] is None:
            assert powers[small_design["min_cases"]["n_max"]] < target
            continue
        assert powers[r["n"]] >= target and r["power"] == powers[r["n"]]
        assert all(p < target for n, p in powers.items() if n < r["n"]), gate
        assert small_design["assumed"]["small"]["gates"][gate]["target"] == r["target"]
    assert checked >= 1


@pytest.mark.slow
def test_latency_type_i_error_at_the_p95_boundary_is_at_most_alpha() -> None:
    """At 60 routing latencies whose true P95 is the 2,000 ms threshold, the distribution-free
    95% upper bound is the sample maximum, which passes with probability 0.95**60 = 0.046; the
    simulated type I error agrees within 3 Monte Carlo SE and stays within alpha + 2 SE."""
    plan = make_plan(cases=60, replays=1, routers=("small",), control=False, unparseable=0.0,
                     gates=("latency_p95",), timeout_ms=UNREACHABLE_TIMEOUT_MS)
    settings = DesignSettings(sims=1000, curve_sims=1, grid=(), min_cases=False)
    figures = diagnose(plan, make_cases(60), base_dir=Path("."), settings=settings,
                       engine=EngineSettings("local", 2))
    b = figures["boundary"]["latency_p95"]["small"]
    assert (b["truth"], b["nominal_alpha"]) == (2000.0, 0.05)
    assert b["type_i_error"] <= 0.05 + 2 * b["type_i_error_mc_se"]
    assert abs(b["type_i_error"] - 0.95**60) <= 3 * b["type_i_error_mc_se"]
    assert b["bias"] < 0.0  # the sample P95 of 60 draws is biased low


def test_dask_asked_for_but_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """--engine dask without dask.distributed installed says how to install it (local needs none)."""
    real = importlib.import_module

    def no_dask(name: str, package: str | None = None) -> Any:
        if name.startswith("dask"):
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_dask)
    with pytest.raises(InputError, match=r"routetrial\[distributed\]"):
        _design_engine.run_tasks(abs, [1, -2], EngineSettings("dask", 1))
    assert _design_engine.run_tasks(abs, [1, -2], EngineSettings("local", 2)) == [1, 2]
