"""Design diagnosis: what the other design tests leave out.

The P(PASS) curve's shape (exact under common random numbers), the sample-size search's answer
read back from a real run, the latency gate's type I error at its boundary (slow), and the
one-line message when Dask is asked for but missing.
"""

from __future__ import annotations

import importlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from analysis import design_results_to_json
from experiment.design import DesignSettings, EngineSettings, diagnose
from experiment.design import engine as _design_engine
from experiment.design.scenarios import UNREACHABLE_TIMEOUT_MS
from prereg.errors import InputError
from tests.test_design_plans import make_cases, make_plan

GRID = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)


@pytest.fixture(scope="module")
def small_design() -> dict[str, Any]:
    """One router arm on 40 cases: curve over GRID and the sample-size search, a few sims each
    (as the results file's JSON object)."""
    plan = make_plan(cases=40, replays=1, routers=("small",), control=False, unparseable=0.0)
    settings = DesignSettings(sims=4, curve_sims=12, grid=GRID, max_cases=160, icc_grid=())
    design = diagnose(
        plan, make_cases(40), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 1)
    )
    data: dict[str, Any] = json.loads(design_results_to_json(design))
    return data


def test_pass_curve_rises_with_the_true_accuracy(small_design: dict[str, Any]) -> None:
    """Under common random numbers each simulation's verdict is monotone in the true accuracy, so
    P(PASS) never falls and P(FAIL) never rises along the grid, and both move end to end."""
    curve = small_design["curve"]["accuracy"]
    assert curve["true_accuracy"] == list(GRID)
    rows = curve["arms"]["small"]
    p_pass, p_fail = rows["p_pass"], rows["p_fail"]
    assert all(a <= b for a, b in itertools.pairwise(p_pass))
    assert all(a >= b for a, b in itertools.pairwise(p_fail))
    # at 0.6 a campaign of 40 cases may still (rarely) land near 0.85: FAIL nearly always, not always
    assert (p_pass[0], p_fail[-1]) == (0.0, 0.0) and p_fail[0] >= 0.75 and p_pass[-1] > 0.5
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
    simulated type I error's 95% Wilson interval contains it, and its lower end is at most alpha."""
    plan = make_plan(
        cases=60,
        replays=1,
        routers=("small",),
        control=False,
        unparseable=0.0,
        gates=("latency_p95",),
        timeout_ms=UNREACHABLE_TIMEOUT_MS,
    )
    settings = DesignSettings(sims=1000, curve_sims=1, grid=(), min_cases=False, icc_grid=())
    figures = diagnose(
        plan, make_cases(60), base_dir=Path("."), settings=settings, engine=EngineSettings("local", 2)
    )
    b = figures.boundary["latency_p95"]["small"]
    assert (b.truth, b.nominal_alpha) == (2000.0, 0.05)
    assert b.type_i_error_ci is not None and b.bias is not None
    lo, hi = b.type_i_error_ci
    assert lo <= 0.05 and lo <= 0.95**60 <= hi
    assert b.bias < 0.0  # the sample P95 of 60 draws is biased low


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


def test_a_design_simulation_is_the_campaign_the_runner_would_store(tmp_path: Path) -> None:
    """Simulation i of the design is, trial for trial, the simulated campaign `routetrial run` stores
    under the same seed, and its verdicts are the locked analysis's on that store."""
    from analysis import RunMeta, TrialTable, analyze
    from experiment.campaign.simulated import simulate_campaign
    from experiment.design.scenarios import assumed_scenario
    from experiment.design.sim import ChunkTask, run_campaign, sim_seed, simulate
    from experiment.store import TrialStore
    from prereg.canonical import canonical_hash

    plan, cases = make_plan(cases=12, replays=2), make_cases(12)
    plan_hash = canonical_hash(plan)
    index = 3
    seeded = plan.model_copy(
        update={
            "randomization": plan.randomization.model_copy(
                update={"seed": sim_seed(plan.randomization.seed, plan_hash, index)}
            )
        }
    )
    url = f"duckdb:///{tmp_path / 'run.duckdb'}"
    simulate_campaign(seeded, cases, plan_hash, tmp_path, url)
    with TrialStore.open(url, plan_hash, create=False) as store:
        table = TrialTable.from_columns(store.read_columns())
        stored = {k: v.tolist() for k, v in store.read_columns().items()}
    scenario = assumed_scenario(plan, cases)
    schedule, records = run_campaign(seeded, scenario, plan_hash, tmp_path)
    for name in (
        "seq",
        "trial_id",
        "arm",
        "status",
        "predicted_label",
        "correct",
        "routing_latency_ms",
        "e2e_latency_ms",
        "downstream_correct",
        "cost_usd",
    ):
        assert stored[name] == [getattr(r, name) for r in records], name
    allocated = schedule.allocation_counts()
    meta = RunMeta(
        plan_canonical_sha256=plan_hash,
        plan_bytes_sha256=plan_hash,
        analysis_code_matches=True,
        deviations=(),
        source="store",
        planned_per_arm={a: sum(c.values()) for a, c in allocated.items()},
        allocated_per_arm_case=allocated,
        live=None,
    )
    from_store = analyze(seeded, table, meta)
    outcome = simulate(
        ChunkTask(scenario, plan.randomization.seed, plan_hash, tmp_path, index, index + 1, False), index
    )
    by_gate = {(v.arm, v.gate): v.verdict for v in from_store.gates}
    for pos, arm in enumerate(a.id for a in plan.router_arms):
        assert outcome.arms[pos].verdicts == tuple(by_gate[(arm, g.id)] for g in plan.gates)
    # the design's table and gate-only analysis give the store's gate verdicts, bounds and all
    assert analyze(seeded, TrialTable.from_records(records), meta, scope="gates").gates == from_store.gates
