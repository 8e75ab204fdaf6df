"""Design diagnosis of a group-sequential plan: every night analysed look by look and at the
fixed horizon, with the requests the campaign would run."""

from __future__ import annotations

from pathlib import Path

from analysis import design_results_from_json, design_results_to_json
from experiment.design import DesignSettings, diagnose
from experiment.design.engine import EngineSettings
from experiment.design.table import format_design
from prereg.schema import Plan
from tests.test_design_plans import make_cases, make_plan

SETTINGS = DesignSettings(sims=12, curve_sims=4, grid=(0.5, 0.95), min_cases=False, icc_grid=())


def _sequential(plan: Plan, spending: str = "pocock") -> Plan:
    doc = plan.model_dump(mode="json", exclude_none=True)
    doc.setdefault("analysis", {})["stopping"] = {
        "kind": "group_sequential",
        "looks": [0.5, 1.0],
        "spending": spending,
    }
    return Plan.model_validate(doc)


def test_a_sequential_design_reports_requests_and_both_designs_p_pass() -> None:
    """The sequential section: per world the mean and P90 requests (never above the fixed horizon),
    where the nights stopped, and every gate's P(PASS)/P(FAIL) sequential and fixed; it survives the
    results file and prints."""
    plan = _sequential(make_plan(gates=("accuracy",)))
    cases = make_cases(20)
    result = diagnose(plan, cases, base_dir=Path("."), settings=SETTINGS, engine=EngineSettings("local", 1))
    seq = result.sequential
    assert seq is not None and seq.spending == "pocock" and seq.looks == (0.5, 1.0)
    assert {"assumed", *(f"boundary:{g.id}" for g in plan.gates)} <= set(seq.worlds)
    for key, w in seq.worlds.items():
        assert 0 < w.expected_requests <= seq.fixed_requests and w.p90_requests <= seq.fixed_requests
        assert sum(w.stopped_at.values()) == w.sims
        assert set(w.gates) == {a.id for a in plan.router_arms}
        for by_gate in w.gates.values():
            for g in by_gate.values():
                assert 0.0 <= g.p_pass <= 1.0 and 0.0 <= g.fixed_p_pass <= 1.0, key
    # An accuracy far below the threshold is decided (FAIL) at the first look most nights.
    low = seq.worlds["grid:0.500"]
    assert low.expected_share < 1.0
    assert design_results_from_json(design_results_to_json(result)) == result
    assert any(line.startswith("group-sequential (pocock spending") for line in format_design(result))


def test_a_fixed_horizon_design_has_no_sequential_section() -> None:
    plan = make_plan()
    result = diagnose(
        plan, make_cases(20), base_dir=Path("."), settings=SETTINGS, engine=EngineSettings("local", 1)
    )
    assert result.sequential is None
