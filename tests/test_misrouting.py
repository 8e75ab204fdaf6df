"""The misrouting cost (``analysis.misrouting_cost``) and its gate ``misrouting_cost_per_1k``: per-request
costs, the estimate and its studentized case-bootstrap bounds, the plan checks, results and report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cli import run_cli
from reference.plans import HASH, study_plan, synthetic_columns
from strategies import small_plan, write_plan

import prereg.lock
from analysis import (
    CaseResampler,
    GateVerdict,
    Results,
    RunMeta,
    TrialTable,
    analyze,
    estimate_misrouting_cost,
    gate_requirement,
    misrouting_costs,
    results_from_json,
    results_to_json,
)
from experiment.campaign.simulated import run_simulated
from experiment.design.diagnosis import require_simulated
from prereg.canonical import canonical_json
from prereg.check import load_checked_plan
from prereg.errors import InputError, PlanMeaningError
from prereg.frozen import load_frozen_plan
from prereg.schema import AnalysisSpec, GateSpec, MisroutingCostSpec, Plan
from prereg.seeding import derive_rng
from reports._format import fmt_against, metric_formatter

ROUTERS = ("control", "phi", "qwen", "deepseek")
META = RunMeta(HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(ROUTERS, 300))
GATE = {"id": "misrouting", "metric": "misrouting_cost_per_1k", "op": "<=", "threshold": 300.0}
LABELS = ("code", "math", "summarization")


def _plan(*gates: dict[str, Any], **analysis: Any) -> Plan:
    """The reference study plan with these gates after its own."""
    base = study_plan(**analysis)
    extra = [GateSpec.model_validate(g) for g in gates]
    return base.model_copy(update={"gates": [*base.gates, *extra]})


def _table(seed: int = 1) -> dict[str, Any]:
    return synthetic_columns(ROUTERS, (0.0, 0.75, 0.79, 0.83), n_cases=60, replays=5, seed=seed)


def _gate(results: Results | Any, arm: str = "phi", gate: str = "misrouting") -> GateVerdict:
    return next(g for g in results.gates if g.arm == arm and g.gate == gate)


def _costs(**spec: Any) -> MisroutingCostSpec:
    return MisroutingCostSpec.model_validate(spec)


def test_default_costs_give_a_thousand_times_the_error_rate_on_either_unit() -> None:
    """With every error costing 1 the estimate is 1000 x (1 - routing accuracy), case or request unit."""
    for unit in ("case", "request"):
        res = analyze(_plan(GATE, unit=unit), TrialTable.from_columns(_table()), META)
        for arm in res.arms:
            if arm.accuracy is None:
                assert arm.misrouting_cost_per_1k is None
                continue
            mis = arm.misrouting_cost_per_1k
            acc = arm.accuracy.estimate
            assert mis is not None and mis.unit == unit and mis.n == arm.accuracy.n_requests
            assert acc is not None and mis.estimate == pytest.approx(1000.0 * (1.0 - acc), rel=1e-12)
            assert _gate(res, arm.arm).estimate == pytest.approx(mis.estimate, rel=1e-12)


def test_a_small_example_computed_by_hand() -> None:
    """Three cases, two replays each, pair costs 5 and 0.5, default 1: costs and both units' means."""
    costs = _costs(
        pairs=[
            {"gold": "code", "predicted": "math", "cost": 5.0},
            {"gold": "math", "predicted": "code", "cost": 0.5},
        ]
    )
    gold = np.array(["code", "code", "math", "math", "summarization", "summarization"])
    predicted = np.array([1, 0, 0, 1, 0, -1])  # math, code, code, math, code, (failed)
    correct = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    ok = np.array([True, True, True, True, True, False])
    c = misrouting_costs(gold, predicted, LABELS, correct, ok, costs)
    assert c.tolist() == [5.0, 0.0, 0.5, 0.0, 1.0, 1.0]
    cases = np.array([0, 0, 1, 1, 2, 2])
    rs = CaseResampler(np.random.default_rng(0), 200)
    by_case = estimate_misrouting_cost(c, cases, 3, "case", 0.95, rs, 2)
    # per-case means 2.5, 0.25, 1.0 -> mean 1.25 -> 1250 per 1,000 requests
    assert by_case.estimate == pytest.approx(1250.0)
    pooled = estimate_misrouting_cost(c[:5], cases[:5], 3, "request", 0.95, rs, 2)
    assert pooled.estimate == pytest.approx(1000.0 * 6.5 / 5)


def test_multi_label_cases_cost_the_least_of_their_gold_labels() -> None:
    """A prediction in the gold set costs 0; outside it, the least cost over the gold labels."""
    costs = _costs(
        default=2.0,
        pairs=[
            {"gold": "code", "predicted": "math", "cost": 7.0},
            {"gold": "summarization", "predicted": "math", "cost": 3.0},
        ],
    )
    gold = np.array(["code|summarization", "code|summarization", "code|summarization", "code"])
    predicted = np.array([0, 2, 1, 2])  # code, summarization, math, summarization
    correct = np.array([1.0, 1.0, 0.0, 0.0])
    c = misrouting_costs(gold, predicted, LABELS, correct, np.ones(4, bool), costs)
    assert c.tolist() == [0.0, 0.0, 3.0, 2.0]


def test_failed_and_unlabelled_decisions() -> None:
    """A failed decision costs ``failed``; a wrong one without a label (a router service) is unknown
    when the plan lists pairs, and costs the default when it lists none."""
    gold = np.array(["code", "code"])
    predicted = np.array([-1, -1])
    correct = np.array([0.0, 0.0])
    ok = np.array([False, True])
    listed = _costs(failed=4.0, pairs=[{"gold": "code", "predicted": "math", "cost": 5.0}])
    c = misrouting_costs(gold, predicted, LABELS, correct, ok, listed)
    assert c[0] == 4.0 and np.isnan(c[1])
    assert misrouting_costs(gold, predicted, LABELS, correct, ok, _costs(default=2.0)).tolist() == [2.0, 2.0]
    rs = CaseResampler(np.random.default_rng(0), 200)
    b = estimate_misrouting_cost(c, np.array([0, 1]), 2, "case", 0.95, rs, 2)
    assert b.estimate is None and b.note is not None and "no predicted label" in b.note


def test_bounds_are_the_studentized_case_bootstrap_on_the_gates_own_stream() -> None:
    """An independent reference: the bounds recomputed with plain numpy from the trial table's columns
    and the same stream's case resamples (the t quantiles of each resample's mean and standard error)."""
    plan = _plan(GATE)
    cols = _table()
    res = analyze(plan, TrialTable.from_columns(cols), META)
    g = _gate(res)
    # > the same estimate by hand: phi's rows, cost 1 per wrong decision (failed ones included)
    rows = np.flatnonzero(np.asarray(cols["arm"]) == "phi")
    wrong = 1.0 - np.nan_to_num(np.asarray(cols["correct"], dtype=float)[rows], nan=0.0)
    case = np.unique(np.asarray(cols["case_id"])[rows], return_inverse=True)[1]
    m = 1000.0 * np.bincount(case, weights=wrong) / np.bincount(case)
    k = m.size
    est, se = m.mean(), m.std(ddof=1) / np.sqrt(k)
    w = CaseResampler(derive_rng(7, HASH, "analysis:misrouting:phi"), 2000)(k)
    mb = w @ m / k
    seb = np.sqrt(np.maximum(w @ (m * m) / k - mb * mb, 0.0) * k / (k - 1) / k)
    t = (mb - est) / seb
    lo_t, hi_t = np.quantile(t[seb > 0], [0.05, 0.95])
    assert g.estimate == pytest.approx(est, rel=1e-12)
    assert g.deciding_bound is not None and g.deciding_bound.upper == pytest.approx(est - lo_t * se, rel=1e-9)
    assert g.opposite_bound is not None
    assert g.opposite_bound.lower == pytest.approx(max(est - hi_t * se, 0.0), rel=1e-9)
    assert g.deciding_bound.method == "case_bootstrap_studentized"


def test_the_gate_and_the_figure_move_no_other_figure_and_gates_scope_agrees() -> None:
    """Adding the costs and the gate leaves every other figure as it was; ``scope="gates"`` gives
    the full analysis' verdict."""
    table = TrialTable.from_columns(_table())
    before = analyze(_plan(), table, META)
    after = analyze(_plan(GATE), table, META)
    assert tuple(g for g in after.gates if g.gate != "misrouting") == before.gates
    assert [a.accuracy for a in after.arms] == [a.accuracy for a in before.arms]
    assert [a.cost_per_1k for a in after.arms] == [a.cost_per_1k for a in before.arms]
    gates = analyze(_plan(GATE), table, META, scope="gates")
    assert _gate(gates) == _gate(after)


def test_results_without_costs_keep_their_bytes_and_with_costs_round_trip() -> None:
    """No costs: no ``misrouting_cost_per_1k`` key anywhere; with them the JSON reads back to the same bytes."""
    table = TrialTable.from_columns(_table())
    plain = results_to_json(analyze(_plan(), table, META))
    assert "misrouting" not in plain
    res = analyze(_plan(misrouting_cost={"default": 2.0}), table, META)
    text = results_to_json(res)
    assert '"misrouting_cost_per_1k"' in text and results_to_json(results_from_json(text)) == text


def test_a_plan_without_costs_keeps_its_canonical_form() -> None:
    """``analysis.misrouting_cost`` unset is dumped as no key (the plan hash of existing plans stays)."""
    assert "misrouting_cost" not in canonical_json(study_plan())
    assert '"misrouting_cost":{"default":2.0' in canonical_json(study_plan(misrouting_cost={"default": 2.0}))


def test_too_few_cases_is_inconclusive_with_the_reason() -> None:
    """Below ``analysis.min_cases`` the estimate stands but the gate is INCONCLUSIVE, with why."""
    cols = synthetic_columns(ROUTERS, (0.0, 0.75, 0.79, 0.83), n_cases=6, replays=5, seed=1)
    res = analyze(_plan(GATE), TrialTable.from_columns(cols), META)
    g = _gate(res)
    assert g.verdict == "INCONCLUSIVE" and g.estimate is not None and "cases" in g.reason


def test_no_error_at_all_has_no_bound() -> None:
    """Every case with the same mean cost (no errors) gives no bound: a zero-width one would be an artefact."""
    rs = CaseResampler(np.random.default_rng(0), 200)
    b = estimate_misrouting_cost(np.zeros(40), np.repeat(np.arange(20), 2), 20, "case", 0.95, rs, 10)
    assert b.estimate == 0.0 and b.upper.upper is None and b.note is not None


PAIR = {"gold": "code", "predicted": "math", "cost": 5.0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["analysis"]["misrouting_cost"]["pairs"].append({**PAIR, "gold": "poetry"}),
            "analysis.misrouting_cost.pairs[1].gold: expected a taxonomy label",
        ),
        (
            lambda p: p["analysis"]["misrouting_cost"]["pairs"].append({**PAIR, "predicted": "code"}),
            "analysis.misrouting_cost.pairs[1].predicted: expected a label other than gold (a correct "
            "decision costs 0), found 'code'",
        ),
        (
            lambda p: p["analysis"]["misrouting_cost"]["pairs"].append({**PAIR, "cost": 2.0}),
            "analysis.misrouting_cost.pairs[1]: expected each gold -> predicted pair once, found code -> "
            "math again (first at pairs[0])",
        ),
        (
            lambda p: p["gates"].append({**GATE, "op": ">="}),
            "gates[2].op: expected '<=' for misrouting_cost_per_1k (a cost ceiling), found '>='",
        ),
        (
            lambda p: p["gates"].append({**GATE, "threshold": -1.0}),
            "gates[2].threshold: expected a cost per 1,000 requests of at least 0, found -1.0",
        ),
    ],
    ids=["unknown label", "correct pair", "duplicate", "op >=", "negative threshold"],
)
def test_check_names_the_field(tmp_path: Path, change: Any, message: str) -> None:
    """``check`` refuses bad pairs and a misrouting gate it cannot decide, naming the field."""
    plan = small_plan()
    plan["analysis"] = {"misrouting_cost": {"pairs": [dict(PAIR)]}}
    change(plan)
    with pytest.raises(PlanMeaningError, match=re.escape(message)):
        load_checked_plan(write_plan(tmp_path, plan))


def test_the_schema_refuses_a_negative_or_infinite_cost() -> None:
    """Costs are finite and at least 0 (a plan field error, before any meaning check)."""
    for bad in (-1.0, float("inf")):
        with pytest.raises(ValueError, match="misrouting_cost"):
            AnalysisSpec.model_validate({"misrouting_cost": {"pairs": [{**PAIR, "cost": bad}]}})


def test_the_design_refuses_and_describes_the_gate() -> None:
    """The design diagnosis has no boundary world for the gate; its requirement names the bound."""
    with pytest.raises(InputError, match=r"^gates\[2\]\.metric: expected a gate the design diagnosis"):
        require_simulated(_plan(GATE))
    plan = _plan(GATE)
    req = gate_requirement(plan.gates[2], plan.analysis, 60, 5)
    assert req.decidable and req.unit == "case" and "upper bound" in req.needs


def test_formats_the_cost_as_a_plain_number() -> None:
    """The gate's numbers print as costs per 1,000 requests, with digits enough to tell a bound from the threshold."""
    assert metric_formatter("misrouting_cost_per_1k")(152.25) == "152.2"
    assert fmt_against(300.04, 300.0, "misrouting_cost_per_1k") == "300.04"


def test_a_simulated_campaign_analyses_and_reports_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: check, freeze, a simulated campaign, ``analyze`` and ``report`` show the gate."""
    data = small_plan()
    data["analysis"] = {
        "min_cases": 2,
        "misrouting_cost": {"pairs": [{"gold": "code", "predicted": "math", "cost": 5.0}]},
    }
    data["gates"].append({**GATE, "threshold": 400.0})
    plan = write_plan(tmp_path, data)
    prereg.lock.freeze(plan)
    store = tmp_path / "plan.duckdb"
    run_simulated(load_frozen_plan(plan), str(store), progress=False)
    out_json, out_html = tmp_path / "results.json", tmp_path / "report.html"
    code, out, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", out_json)
    assert code == 0, err
    assert any("misrouting_cost_per_1k <= 400" in line for line in out.splitlines())
    results = results_from_json(out_json.read_text(encoding="utf-8"))
    router = next(a for a in results.arms if a.arm == "qwen")
    assert router.misrouting_cost_per_1k is not None and router.misrouting_cost_per_1k.estimate is not None
    assert _gate(results, "qwen").verdict in ("PASS", "FAIL", "INCONCLUSIVE")
    code, _, err = run_cli(capsys, "report", plan, "--store", store, "--out", out_html)
    assert code == 0, err
    html = out_html.read_text(encoding="utf-8")
    assert "Expected misrouting cost" in html and "misrouting cost per 1k ≤ 400.0" in html
    assert "gate misrouting: one-sided 95% lower bound" in html
