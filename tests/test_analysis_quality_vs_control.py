"""The gate ``downstream_quality_vs_control``: router minus control downstream quality, paired by case."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reference.plans import HASH, study_plan, synthetic_columns
from strategies import small_plan, write_plan

from analysis import (
    CaseResampler,
    GateVerdict,
    Results,
    RunMeta,
    TrialTable,
    analyze,
    case_aggregate,
    estimate_quality_difference,
    paired_difference,
    results_from_json,
    results_to_json,
)
from analysis._control_gate import quality_vs_control_bounds
from experiment.cli.steps import design_summary, summary_lines
from experiment.design.diagnosis import require_simulated
from prereg.check import load_checked_plan
from prereg.errors import PlanMeaningError
from prereg.schema import GateSpec, Plan
from prereg.seeding import derive_rng
from reports import Registration, render_report

META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"control": 300, "phi": 300})
GATE = {"id": "quality", "metric": "downstream_quality_vs_control", "op": ">=", "threshold": -0.05}


def _plan(*gates: dict[str, Any], arms: tuple[str, ...] = ("control", "phi"), **analysis: Any) -> Plan:
    """The reference study plan with only ``arms`` and these gates (the reference gates first)."""
    base = study_plan(**analysis)
    keep = [a for a in base.arms if a.id in arms]
    extra = [GateSpec.model_validate(g) for g in gates]
    size = base.sample_size.model_copy(update={"requests_total": 300 * len(keep)})
    return base.model_copy(update={"arms": keep, "gates": [*base.gates, *extra], "sample_size": size})


def _table(
    downstream: np.ndarray | None = None, n_cases: int = 60, seed: int = 1, replays: int = 5
) -> dict[str, Any]:
    cols = synthetic_columns(("control", "phi"), (0.0, 0.75), n_cases=n_cases, replays=replays, seed=seed)
    if downstream is not None:
        cols["downstream_correct"] = downstream
    return cols


def _gate(results: Results | Any, arm: str = "phi", gate: str = "quality") -> GateVerdict:
    return next(g for g in results.gates if g.arm == arm and g.gate == gate)


def test_point_estimate_is_the_mean_of_per_case_differences_over_common_cases() -> None:
    """10 cases x 2 replays; case 9 has no graded control answer, so 9 common cases remain."""
    control = [1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, np.nan, np.nan]
    router = [1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1]
    cols = _table(np.array(control + router, dtype=np.float64), n_cases=10, replays=2)
    plan = _plan(GATE, min_cases=2)
    res = analyze(plan, TrialTable.from_columns(cols), META)
    # per-case means, router - control, cases 0-8 (by hand):
    # > python3 -c "c=[1,.5,.5,1,.5,0,1,1,.5]; r=[.5,1,0,1,0,1,1,.5,0]; print(sum(r)/9-sum(c)/9)"
    # -0.11111111111111105
    g = _gate(res)
    assert g.estimate == pytest.approx(-0.11111111111111105, abs=1e-12)
    assert g.unit == "case"


def test_bounds_are_the_paired_case_bootstrap_on_the_gates_own_stream() -> None:
    """The one-sided bounds at 0.95 are the ends of the paired case bootstrap's two-sided 0.90
    interval (:func:`analysis.estimate_quality_difference`), drawn from the gate's own stream."""
    plan = _plan(GATE)
    cols = _table()
    res = analyze(plan, TrialTable.from_columns(cols), META)
    arm = np.asarray(cols["arm"])
    cases = np.repeat(np.arange(60), 5)
    down = np.asarray(cols["downstream_correct"])
    a = case_aggregate(down[arm == "phi"], cases, 60)
    b = case_aggregate(down[arm == "control"], cases, 60)
    rng_name = "analysis:gate_quality_vs_control:phi"
    rng = derive_rng(plan.randomization.seed, HASH, rng_name)
    resampler = CaseResampler(rng, plan.analysis.bootstrap.resamples)
    n, _, est, iv = estimate_quality_difference(a, b, 0.90, resampler, plan.analysis.min_cases)
    g = _gate(res)
    assert g.deciding_bound is not None and g.opposite_bound is not None
    assert (n, g.estimate, g.deciding_bound.lower, g.opposite_bound.upper) == (60, est, iv.lower, iv.upper)
    # the same bootstrap as the descriptive paired difference of analysis._comparisons
    again = paired_difference(a, b, "case", 0.90, CaseResampler(derive_rng(7, HASH, rng_name), 2000))
    assert again.interval.lower == pytest.approx(iv.lower, abs=1e-12)
    assert g.deciding_bound.method == "paired_case_bootstrap_percentile"


def test_the_gate_moves_no_other_figure() -> None:
    """Adding the gate leaves every other part of the results as it was (its stream is its own)."""
    cols = _table()
    without = analyze(_plan(), TrialTable.from_columns(cols), META)
    with_gate = analyze(_plan(GATE), TrialTable.from_columns(cols), META)
    same = {"gates": without.gates, "viability": without.viability, "design": without.design}
    assert dataclasses.replace(with_gate, **same) == without
    assert with_gate.design.requirements[:2] == without.design.requirements
    assert with_gate.gates[:2] == without.gates


def test_verdict_joins_viability_and_matches_the_gate_scope() -> None:
    """A failed quality gate fails the arm; ``scope="gates"`` gives the full analysis' verdict."""
    cols = _table()
    arm = np.asarray(cols["arm"])
    cols["downstream_correct"] = np.where(arm == "control", 1.0, 0.0)
    cols["downstream_correct"][arm == "phi"] = np.tile([1.0, 0, 0, 0, 0], 60) * (np.arange(300) % 7 > 0)
    plan = _plan({**GATE, "id": "only"}, arms=("control", "phi")).model_copy(
        update={"gates": [GateSpec.model_validate({**GATE, "id": "only"})]}
    )
    full = analyze(plan, TrialTable.from_columns(cols), META)
    gates = analyze(plan, TrialTable.from_columns(cols), META, scope="gates")
    assert _gate(full, gate="only").verdict == "FAIL"
    assert full.viability[0].verdict == "FAIL" and full.viability[0].gates == ("only",)
    assert gates.gates == full.gates


def test_pass_and_point_estimate_rule() -> None:
    """Equal quality passes a -5 point margin; the point-estimate rule compares the estimate alone."""
    cols = _table(seed=3)
    arm = np.asarray(cols["arm"])
    cols["downstream_correct"][arm == "phi"] = cols["downstream_correct"][arm == "control"]
    rng = np.random.default_rng(0)
    flip = (arm == "phi") & (rng.random(arm.size) < 0.02)
    cols["downstream_correct"][flip] = 1.0 - cols["downstream_correct"][flip]
    point = {**GATE, "id": "point", "rule": {"kind": "point_estimate"}}
    res = analyze(_plan(GATE, point), TrialTable.from_columns(cols), META)
    assert _gate(res).verdict == "PASS", _gate(res).reason
    assert _gate(res, gate="point").verdict == "PASS"
    assert _gate(res, gate="point").reason.startswith("point estimate")


def test_no_control_data_is_inconclusive_with_the_reason() -> None:
    """A plan with a control arm whose trials are missing: INCONCLUSIVE, saying why."""
    cols = _table()
    keep = np.asarray(cols["arm"]) == "phi"
    cols = {k: np.asarray(v)[keep] for k, v in cols.items()}
    point = {**GATE, "id": "point", "rule": {"kind": "point_estimate"}}
    res = analyze(_plan(GATE, point), TrialTable.from_columns(cols), META)
    for gate in ("quality", "point"):
        g = _gate(res, gate=gate)
        assert (g.verdict, g.reason) == ("INCONCLUSIVE", "the control arm has no downstream quality data")
    assert res.viability[0].verdict != "PASS"


def test_too_few_common_cases_is_inconclusive_under_either_rule() -> None:
    """Below ``analysis.min_cases`` common cases there is no bound, and no point-estimate verdict."""
    cols = _table(n_cases=8)
    point = {**GATE, "id": "point", "rule": {"kind": "point_estimate"}}
    res = analyze(_plan(GATE, point), TrialTable.from_columns(cols), META)
    for gate in ("quality", "point"):
        g = _gate(res, gate=gate)
        assert g.verdict == "INCONCLUSIVE"
        assert g.reason == "too few cases for an interval: 8 < 10 (analysis.min_cases)"
        assert g.estimate is not None


def test_equal_differences_give_no_bound() -> None:
    """Every case with the same difference: no variance, so no bound and INCONCLUSIVE."""
    k = 12
    cases = np.repeat(np.arange(k), 2)
    ones = np.ones(cases.size)
    bounds = quality_vs_control_bounds(
        (ones, cases), (ones, cases), k, 0.95, CaseResampler(np.random.default_rng(0), 200), 10
    )
    assert bounds.estimate == 0.0 and bounds.lower is not None and bounds.lower.lower is None
    assert bounds.note is not None and "same difference" in bounds.note


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.update(arms=[a for a in p["arms"] if a["kind"] != "control"]),
            "gates[2].metric: expected an arm of kind 'control' for downstream_quality_vs_control, found none",
        ),
        (
            lambda p: p["gates"][2].update(op="<="),
            "gates[2].op: expected '>=' for downstream_quality_vs_control (non-inferiority), found '<='",
        ),
        (
            lambda p: p["gates"][2].update(threshold=-5),
            "gates[2].threshold: expected a difference strictly between -1 and 1 (e.g. -0.05), found -5.0",
        ),
    ],
    ids=["no control arm", "op <=", "margin in points"],
)
def test_check_refuses_a_gate_it_cannot_decide(tmp_path: Path, change: Any, message: str) -> None:
    """``check`` names the field of a quality gate without a control, with ``<=``, or out of range."""
    plan = small_plan()
    plan["gates"].append(dict(GATE))
    change(plan)
    with pytest.raises(PlanMeaningError, match=re.escape(message)):
        load_checked_plan(write_plan(tmp_path, plan))


def test_check_accepts_the_gate_with_a_control(tmp_path: Path) -> None:
    """The small plan has a control arm: the gate is accepted and the design summary describes it."""
    plan = small_plan()
    plan["gates"].append(dict(GATE))
    checked = load_checked_plan(write_plan(tmp_path, plan))
    lines = design_summary(checked.plan, 30)
    assert any("downstream_quality_vs_control >= -0.05" in line and "unit case" in line for line in lines)


def test_design_diagnosis_accepts_the_gate() -> None:
    """The design diagnosis simulates it (an exact truth and a boundary world on the margin)."""
    require_simulated(_plan(GATE))


def test_summary_and_report_show_the_gate_in_points() -> None:
    """The results JSON round-trips; ``routetrial analyze``'s summary lists the gate; the report
    renders it in percentage points."""
    plan = _plan(GATE)
    res = analyze(plan, TrialTable.from_columns(_table()), META)
    text = results_to_json(res)
    assert results_to_json(results_from_json(text)) == text and "downstream_quality_vs_control" in text
    lines = summary_lines(res)
    assert any(line.strip().startswith("phi  downstream_quality_vs_control >= -0.05:") for line in lines)
    reg = Registration(
        "plan.yaml", "b" * 64, HASH, "b" * 64, "2026-01-01T00:00:00Z", None, "0", "d" * 64, True
    )
    html = render_report(res, plan, reg)
    assert "downstream quality vs control ≥ −5.0 pp" in html


def test_a_bound_equal_to_the_threshold_does_not_pass() -> None:
    """A lower bound exactly at the margin (a tie on the lattice of per-case means) is INCONCLUSIVE."""
    cols = _table(seed=3)
    first = _gate(analyze(_plan(GATE), TrialTable.from_columns(cols), META))
    assert first.deciding_bound is not None and first.deciding_bound.lower is not None
    at = first.deciding_bound.lower
    tied = _gate(analyze(_plan({**GATE, "threshold": at}), TrialTable.from_columns(cols), META))
    below = _gate(analyze(_plan({**GATE, "threshold": at - 1e-6}), TrialTable.from_columns(cols), META))
    assert tied.verdict == "INCONCLUSIVE" and "a tie does not clear it" in tied.reason
    assert below.verdict == "PASS"
