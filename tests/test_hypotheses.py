"""Hypotheses linked to gates by id: schema, check, the verdict per arm, the results JSON and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _experiment_plans import write_plan as write_campaign_plan
from strategies import small_plan, write_plan

import prereg.lock
from analysis import GateVerdict, HypothesisResult, HypothesisVerdict, results_from_json, results_to_json
from analysis._hypotheses import UNLINKED, decide_hypotheses
from experiment.campaign.simulated import run_simulated
from prereg.canonical import canonical_hash, canonical_json
from prereg.check import load_checked_plan
from prereg.errors import AnalysisError, PlanMeaningError, PlanSchemaError
from prereg.frozen import load_frozen_plan
from prereg.loader import load_plan
from prereg.schema import HypothesisSpec, Plan

LINKED: dict[str, Any] = {
    "id": "H1",
    "statement": "qwen routes accurately and fast",
    "gates": ["accuracy", "p95"],
    "arms": ["qwen"],
}


def _plan(*hypotheses: Any) -> dict[str, Any]:
    data = small_plan()
    data["study"]["hypotheses"] = list(hypotheses)
    return data


# --- schema --------------------------------------------------------------------------------------


def test_bare_statements_and_mappings_round_trip_through_the_canonical_json() -> None:
    """A bare statement dumps bare, a mapping as a mapping, and the canonical JSON reads back equal."""
    plan = Plan.model_validate(_plan("H0: it routes", LINKED))
    first, second = plan.study.hypotheses
    assert first == HypothesisSpec(statement="H0: it routes") and not first.linked
    assert second.gates == ("accuracy", "p95") and second.arms == ("qwen",) and second.linked
    dumped = json.loads(canonical_json(plan))["study"]["hypotheses"]
    assert dumped == ["H0: it routes", LINKED]
    assert Plan.model_validate(json.loads(canonical_json(plan))) == plan


def test_a_plan_of_bare_statements_keeps_its_canonical_hash() -> None:
    """Plans written before hypotheses could name gates hash as they did then."""
    # > canonical_hash(Plan.model_validate(plan)) at commit 34eec80 (hypotheses: list[str]), with
    # > plan = strategies.small_plan() and hypotheses ["H1: it routes", "H2: it routes fast"]
    old = "006107ad0daf277c5b79116dbe3ac13dfe63ebca08a39cf89d6d66ddcb3be8b9"
    assert canonical_hash(Plan.model_validate(_plan("H1: it routes", "H2: it routes fast"))) == old
    # the mapping with a statement alone is the bare statement
    assert (
        canonical_hash(Plan.model_validate(_plan({"statement": "H1: it routes"}, "H2: it routes fast")))
        == old
    )


@pytest.mark.parametrize(
    ("hypothesis", "expected"),
    [
        (
            {"id": "H1", "statement": "s", "gate": ["accuracy"]},
            "study.hypotheses[1].gate: unknown key 'gate': did you mean 'gates'?",
        ),
        ({"id": "H1", "gates": ["accuracy"]}, "study.hypotheses[1].statement: expected a value"),
        (5, "study.hypotheses[1]: expected a valid dictionary"),
        ({"id": "H 1", "statement": "s"}, "study.hypotheses[1].id: expected String should match pattern"),
    ],
)
def test_a_malformed_hypothesis_is_one_line_naming_its_field(
    tmp_path: Path, hypothesis: Any, expected: str
) -> None:
    """Wrong keys, a missing statement and a wrong type each name the field path in one line."""
    with pytest.raises(PlanSchemaError) as info:
        load_plan(write_plan(tmp_path, _plan("bare", hypothesis)))
    message = str(info.value)
    assert "\n" not in message and expected in message, message


# --- check ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hypotheses", "expected"),
    [
        (
            ["bare", {**LINKED, "gates": ["accuracy", "acc"]}],
            "study.hypotheses[1].gates[1]: expected a gate id of the plan (accuracy, p95), found 'acc'",
        ),
        (
            [{**LINKED, "arms": ["control"]}],
            "study.hypotheses[0].arms[0]: expected an arm the gates judge (kind router or service: qwen), "
            "found 'control'",
        ),
        (
            [LINKED, {**LINKED, "statement": "again"}],
            "study.hypotheses[1].id: expected a unique hypothesis id, found 'H1' again (first at study.hypotheses[0])",
        ),
        (
            [{"statement": "s", "gates": ["accuracy"]}],
            "study.hypotheses[0].id: expected an id for a hypothesis that names gates, found none",
        ),
        (
            [{**LINKED, "arms": ["qwen", "qwen"]}],
            "study.hypotheses[0].arms[1]: expected distinct arms, found 'qwen' twice",
        ),
        (
            [{"id": "H1", "statement": "s", "arms": ["qwen"]}],
            "study.hypotheses[0].arms: expected the gates that decide the hypothesis for these arms",
        ),
    ],
)
def test_a_hypothesis_naming_what_the_plan_lacks_is_one_line(
    tmp_path: Path, hypotheses: list[Any], expected: str
) -> None:
    """Unknown gates and arms, duplicate ids and gates without an id name the file and field path."""
    path = write_plan(tmp_path, _plan(*hypotheses))
    with pytest.raises(PlanMeaningError) as info:
        load_checked_plan(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {expected}"), message


def test_linked_hypotheses_pass_the_check(tmp_path: Path) -> None:
    """Bare statements, a hypothesis on every deciding arm and one on named arms all pass."""
    every = {"id": "H2", "statement": "routing is fast", "gates": ["p95"]}
    checked = load_checked_plan(write_plan(tmp_path, _plan("bare", LINKED, every)))
    assert [h.id for h in checked.plan.study.linked_hypotheses] == ["H1", "H2"]


# --- analysis ------------------------------------------------------------------------------------


def _gate(arm: str, gate: str, verdict: str) -> GateVerdict:
    return GateVerdict(arm, gate, "m", ">=", 0.5, "point_estimate", "case", 0.6, None, None, verdict, "r")  # type: ignore[arg-type]


def _two_routers(*hypotheses: Any) -> Plan:
    data = _plan(*hypotheses)
    deepseek = json.loads(json.dumps(data["arms"][1]))
    deepseek["id"] = "deepseek"
    data["arms"].append(deepseek)
    return Plan.model_validate(data)


@pytest.mark.parametrize(
    ("accuracy", "p95", "expected"),
    [
        ("PASS", "PASS", "PASS"),
        ("PASS", "FAIL", "FAIL"),
        ("INCONCLUSIVE", "FAIL", "FAIL"),
        ("PASS", "INCONCLUSIVE", "INCONCLUSIVE"),
        ("INCONCLUSIVE", "INCONCLUSIVE", "INCONCLUSIVE"),
    ],
)
def test_the_verdict_is_the_intersection_union_of_the_linked_gates(
    accuracy: str, p95: str, expected: str
) -> None:
    """PASS only when every linked gate passes, FAIL when one fails, INCONCLUSIVE otherwise."""
    plan = _two_routers(LINKED)
    gates = [_gate("qwen", "accuracy", accuracy), _gate("qwen", "p95", p95)]
    gates += [_gate("deepseek", "accuracy", "FAIL"), _gate("deepseek", "p95", "FAIL")]
    (result,) = decide_hypotheses(plan, gates) or ()
    assert result.arms == ("qwen",) and result.gates == ("accuracy", "p95")
    assert [(v.arm, v.verdict) for v in result.verdicts] == [("qwen", expected)]
    assert result.summary == f"{expected} for qwen"


def test_arms_default_to_every_deciding_arm_and_only_linked_gates_count() -> None:
    """Without arms, each deciding arm is judged, on the hypothesis's gates alone; bare ones say so."""
    plan = _two_routers("bare", {"id": "H2", "statement": "fast", "gates": ["p95"]})
    gates = [_gate("qwen", "accuracy", "FAIL"), _gate("qwen", "p95", "PASS")]
    gates += [_gate("deepseek", "accuracy", "PASS"), _gate("deepseek", "p95", "INCONCLUSIVE")]
    bare, fast = decide_hypotheses(plan, gates) or ()
    assert bare == HypothesisResult(None, "bare", (), (), (), UNLINKED)
    assert fast.verdicts == (
        HypothesisVerdict("qwen", "PASS", "every gate passes (intersection-union test)"),
        HypothesisVerdict("deepseek", "INCONCLUSIVE", "inconclusive: p95"),
    )
    assert fast.summary == "PASS for qwen; INCONCLUSIVE for deepseek"


def test_no_linked_hypothesis_leaves_the_section_out() -> None:
    """A plan of bare statements has no hypotheses section; a gate without a verdict is an error."""
    assert decide_hypotheses(_two_routers("a", "b"), [_gate("qwen", "accuracy", "PASS")]) is None
    with pytest.raises(AnalysisError, match=r"study.hypotheses\[0\]: expected a verdict of gate 'p95'"):
        decide_hypotheses(_two_routers(LINKED), [_gate("qwen", "accuracy", "PASS")])


# --- end to end: a simulated campaign, its results JSON and its report -----------------------------


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A frozen four-arm plan with linked hypotheses and the store of its simulated campaign."""
    folder = tmp_path_factory.mktemp("hypotheses")
    path = write_campaign_plan(folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["study"]["hypotheses"] = [
        "Routing by task family is worth studying",
        {"id": "H1", "statement": "qwen is viable", "gates": ["accuracy", "p95"], "arms": ["qwen"]},
        {"id": "H2", "statement": "every router is fast enough", "gates": ["p95"]},
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    prereg.lock.freeze(path)
    run_simulated(load_frozen_plan(path), str(folder / "plan.duckdb"), progress=False)
    return path, folder / "plan.duckdb"


def test_a_campaign_states_each_hypothesis_verdict_in_its_results_and_report(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The results JSON carries each hypothesis's verdicts (read back equal) and the page states them."""
    plan, store = campaign
    out = tmp_path / "results.json"
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", out)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    results = results_from_json(text)
    assert results_to_json(results) == text
    assert results.hypotheses is not None
    bare, h1, h2 = results.hypotheses
    assert bare.summary == UNLINKED and bare.verdicts == ()
    assert h1.arms == ("qwen",) and h2.arms == ("phi", "qwen", "deepseek")
    gates = {(g.arm, g.gate): g.verdict for g in results.gates}
    for v in h2.verdicts:
        assert v.verdict == gates[(v.arm, "p95")]
    page = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", plan, "--store", store, "--out", page)
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    verdict = html[html.index('id="verdict"') : html.index('id="flow"')]
    assert "<h3>Hypotheses</h3>" in verdict
    for h in (h1, h2):
        assert f"<strong>{h.id}</strong> {h.statement}" in verdict and h.summary in verdict
    assert verdict.count('class="badge ') >= len(h1.verdicts) + len(h2.verdicts)
    assert "Routing by task family is worth studying" in verdict and UNLINKED in verdict


def test_bare_statements_write_no_hypotheses_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan of bare statements writes results without the key and a page without the table."""
    path = write_campaign_plan(tmp_path)
    prereg.lock.freeze(path)
    run_simulated(load_frozen_plan(path), str(tmp_path / "plan.duckdb"), progress=False)
    out, page = tmp_path / "results.json", tmp_path / "report.html"
    assert run_cli(capsys, "analyze", path, "--json", out)[0] == 0
    assert "hypotheses" not in json.loads(out.read_text(encoding="utf-8"))
    assert run_cli(capsys, "report", path, "--out", page)[0] == 0
    assert "<h3>Hypotheses</h3>" not in page.read_text(encoding="utf-8")
