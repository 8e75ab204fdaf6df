"""The traffic mix: ``analysis.target_mix``, estimates post-stratified to it, and gates under it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_cases, plan_dict
from pydantic import ValidationError
from reference.plans import HASH, study_plan, synthetic_columns
from strategies import small_plan, write_plan

import prereg.lock
from analysis import (
    Mix,
    RunMeta,
    TrialTable,
    analyze,
    estimate_accuracy,
    estimate_post_stratified,
    results_from_json,
    results_to_json,
    stratified_case_weights,
)
from experiment.campaign.simulated import run_simulated
from prereg.canonical import canonical_json
from prereg.check import load_checked_plan
from prereg.errors import PlanMeaningError
from prereg.frozen import load_frozen_plan
from prereg.schema import DEFAULT_LABELS, GateSpec, Plan

META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"control": 300, "phi": 300})
ACC_MIX = {"id": "acc_mix", "metric": "routing_accuracy", "op": ">=", "threshold": 0.6, "mix": "target"}


def _mix(families: tuple[str, ...], share: list[float], of_case: list[int]) -> Mix:
    return Mix(families, np.array(share, dtype=np.float64), np.array(of_case, dtype=np.intp))


def _cases(families: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"id": f"{f}{i}", "text": f"request {f} {i}", "family": f, "gold_labels": [f]}
        for f, n in families.items()
        for i in range(n)
    ]


def _checked(
    tmp_path: Path, target: dict[str, float] | None, gates: Sequence[dict[str, Any]] = (), **n: int
) -> None:
    """Check the small plan over a corpus with ``n`` cases per family and this target mix and gates."""
    families = n or {"code": 3, "math": 3, "summarization": 2}
    plan = small_plan(hashlib.sha256(b"").hexdigest())
    cases = _cases(families)
    data = "".join(json.dumps(c) + "\n" for c in cases).encode()
    plan["corpus"]["sha256"] = hashlib.sha256(data).hexdigest()
    plan["sample_size"] = {
        "unique_cases": len(cases),
        "requests_total": len(cases) * plan["traffic"]["replays_per_case"] * len(plan["arms"]),
    }
    if target is not None:
        plan.setdefault("analysis", {})["target_mix"] = target
    plan["gates"] = [*plan["gates"], *gates]
    load_checked_plan(write_plan(tmp_path, plan, cases=cases))


# --- the plan ------------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [1.5, -0.1, "0.5", True])
def test_a_share_outside_0_1_or_not_a_number_is_refused_by_the_schema(share: object) -> None:
    """Shares are strict probabilities: numbers in [0, 1]."""
    with pytest.raises(ValidationError, match="target_mix"):
        study_plan(target_mix={"code": share})


def test_a_mix_other_than_corpus_or_target_is_refused() -> None:
    """``mix`` is ``corpus`` or ``target``."""
    with pytest.raises(ValidationError, match="mix"):
        GateSpec.model_validate({**ACC_MIX, "mix": "production"})


def test_a_plan_without_a_mix_hashes_as_before_the_fields_existed() -> None:
    """No ``target_mix`` and ``mix: corpus`` (said or not) leave no key in the canonical form."""
    plan = study_plan()
    text = canonical_json(plan)
    assert '"target_mix"' not in text and '"mix"' not in text
    said = plan.model_copy(
        update={"gates": [GateSpec.model_validate({**g.model_dump(), "mix": "corpus"}) for g in plan.gates]}
    )
    assert canonical_json(said) == text
    mixed = study_plan(target_mix={"code": 1.0})
    assert '"target_mix":{"code":1.0}' in canonical_json(mixed)
    target = GateSpec.model_validate(ACC_MIX)
    assert target.model_dump()["mix"] == "target"


def test_a_target_mix_naming_every_family_with_shares_summing_to_1_checks(tmp_path: Path) -> None:
    """Decimal shares summing to 1 up to rounding pass, as does a family with share 0."""
    _checked(tmp_path, {"code": 0.7, "math": 0.3, "summarization": 0.0}, [ACC_MIX])


@pytest.mark.parametrize(
    ("target", "families", "field", "message"),
    [
        (
            {"code": 0.5, "math": 0.3, "summarization": 0.1, "poetry": 0.1},
            {},
            "analysis.target_mix.poetry",
            "expected a family of the corpus (code, math, summarization), found 'poetry'",
        ),
        (
            {"code": 0.5, "math": 0.5},
            {},
            "analysis.target_mix",
            "expected a share for every family of the corpus (0 if none in production), found none for "
            "summarization",
        ),
        (
            {"code": 0.5, "math": 0.3, "summarization": 0.1},
            {},
            "analysis.target_mix",
            "expected shares summing to 1 (within 1e-09), found 0.9",
        ),
        (
            {"code": 0.5, "math": 0.3, "summarization": 0.2},
            {"code": 3, "math": 3, "summarization": 1},
            "analysis.target_mix.summarization",
            "expected at least 2 cases of family 'summarization' for a share above 0",
        ),
    ],
)
def test_a_bad_target_mix_gets_one_line_naming_its_field(
    tmp_path: Path, target: dict[str, float], families: dict[str, int], field: str, message: str
) -> None:
    """Unknown and unnamed families, a sum other than 1 and a weighted family of one case are refused."""
    with pytest.raises(PlanMeaningError) as info:
        _checked(tmp_path, target, **families)
    assert info.value.field == field
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_zero_share_family_of_one_case_is_allowed(tmp_path: Path) -> None:
    """A family not in production needs no interval, so one case is enough."""
    _checked(tmp_path, {"code": 0.5, "math": 0.5, "summarization": 0.0}, code=3, math=3, summarization=1)


@pytest.mark.parametrize(
    ("gate", "target", "message"),
    [
        (ACC_MIX, None, "expected analysis.target_mix for mix 'target', found none"),
        (
            {
                "id": "p95_mix",
                "metric": "routing_latency_p95_ms",
                "op": "<=",
                "threshold": 900.0,
                "mix": "target",
            },
            {"code": 0.5, "math": 0.3, "summarization": 0.2},
            "expected mix 'corpus' for routing_latency_p95_ms",
        ),
    ],
)
def test_a_gate_under_the_target_mix_needs_the_mix_and_a_mean(
    tmp_path: Path, gate: dict[str, Any], target: dict[str, float] | None, message: str
) -> None:
    """``mix: target`` without a target mix, or on a latency quantile, is refused at ``gates[i].mix``."""
    with pytest.raises(PlanMeaningError) as info:
        _checked(tmp_path, target, [gate])
    assert info.value.field is not None and info.value.field.endswith(".mix")
    assert message in str(info.value)


# --- the estimator -------------------------------------------------------------------------------


def test_under_the_corpus_own_mix_the_estimate_is_the_plain_case_level_mean() -> None:
    """Shares n_f / n give exactly the mean of per-case means (to rounding)."""
    cols = synthetic_columns(("control", "phi"), (0.0, 0.75))
    table = TrialTable.from_columns(cols)
    cases, case_codes = np.unique(table.case_id, return_inverse=True)
    families, fam_codes = np.unique(table.family, return_inverse=True)
    of_case = np.zeros(cases.size, dtype=np.intp)
    of_case[case_codes] = fam_codes
    share = np.bincount(of_case) / cases.size
    phi = table.arm == "phi"
    y, c = np.asarray(table.correct, dtype=np.float64)[phi], case_codes[phi]
    mix = Mix(tuple(families), share, of_case)
    got = estimate_post_stratified(y, c, mix, "case", 0.95, np.random.default_rng(1), 500, 10)
    plain = estimate_accuracy(y, c, "case", 0.95, "wilson")
    assert got.estimate == pytest.approx(plain.estimate, abs=1e-12)
    assert got.n_cases == 60 and got.n == 300 and got.unit == "case"


def test_a_hand_computed_post_stratified_mean_on_either_unit() -> None:
    """Family a: cases with 1/1, 1/2 and 0/1 correct; family b: 2/2 and 0/1; shares 0.25 and 0.75."""
    y = np.array([1, 1, 0, 0, 1, 1, 0], dtype=np.float64)
    c = np.array([0, 1, 1, 2, 3, 3, 4], dtype=np.intp)
    mix = _mix(("a", "b"), [0.25, 0.75], [0, 0, 0, 1, 1])
    rng = np.random.default_rng(0)
    # > python3 -c "print(0.25*(1+0.5+0)/3 + 0.75*(1+0)/2, 0.25*2/4 + 0.75*2/3)"
    # 0.5 0.625
    case = estimate_post_stratified(y, c, mix, "case", 0.95, rng, 200, 2)
    request = estimate_post_stratified(y, c, mix, "request", 0.95, rng, 200, 2)
    assert case.estimate == pytest.approx(0.5, abs=1e-12)
    assert request.estimate == pytest.approx(0.625, abs=1e-12)
    cost = estimate_post_stratified(y, c, mix, "case", 0.95, rng, 200, 2, scale=1000.0)
    assert cost.estimate == pytest.approx(500.0, abs=1e-9)


def test_the_interval_matches_the_stratified_wald_interval_on_a_large_sample() -> None:
    """The stratified bootstrap's variance is sum_f w_f^2 s_f^2 / n_f, the closed form (Cochran 5.6)."""
    rng = np.random.default_rng(3)
    n_f, replays = (30, 60, 90), 5
    p = (0.6, 0.8, 0.9)
    of_case = np.repeat(np.arange(3), n_f)
    per_case_p = np.clip(np.repeat(p, n_f) + rng.normal(0, 0.1, of_case.size), 0, 1)
    y = (rng.random((of_case.size, replays)) < per_case_p[:, None]).astype(np.float64).ravel()
    c = np.repeat(np.arange(of_case.size), replays)
    share = np.array([0.5, 0.3, 0.2])
    mix = Mix(("a", "b", "c"), share, of_case)
    got = estimate_post_stratified(y, c, mix, "case", 0.95, np.random.default_rng(4), 20_000, 10)
    means = y.reshape(-1, replays).mean(axis=1)
    # the independent reference: the stratified Wald interval
    var = sum(share[f] ** 2 * means[of_case == f].var(ddof=1) / n_f[f] for f in range(3))
    est = float(sum(share[f] * means[of_case == f].mean() for f in range(3)))
    assert got.estimate == pytest.approx(est, abs=1e-12)
    assert got.interval.lower is not None and got.interval.upper is not None
    half = (got.interval.upper - got.interval.lower) / 2
    assert half == pytest.approx(1.959964 * np.sqrt(var), rel=0.04)
    # a proportion's interval: the plan's binomial interval on the effective n of the same variance
    wilson = estimate_post_stratified(
        y, c, mix, "case", 0.95, np.random.default_rng(4), 100, 10, method="wilson"
    )
    assert wilson.interval.method == "wilson_effective_n_post_stratified"
    assert wilson.interval.lower is not None and wilson.interval.upper is not None
    assert (wilson.interval.upper - wilson.interval.lower) / 2 == pytest.approx(
        1.959964 * np.sqrt(var), rel=0.04
    )


def test_stratified_weights_keep_each_family_size_and_draw_one_case_fewer() -> None:
    """Within a family of n cases the weights sum to n, drawn as n - 1 cases rescaled by n/(n-1)."""
    strata = np.array([0, 0, 0, 1, 1, 2], dtype=np.intp)
    w = stratified_case_weights(np.random.default_rng(5), strata, 1000)
    assert w.shape == (1000, 6)
    np.testing.assert_allclose(w[:, :3].sum(axis=1), 3.0)
    np.testing.assert_allclose(w[:, 3:5].sum(axis=1), 2.0)
    np.testing.assert_array_equal(w[:, 5], 1.0)  # a family of one case cannot vary
    np.testing.assert_allclose(np.unique(np.round(w[:, :3] * 2 / 3, 9)), [0.0, 1.0, 2.0])


def test_a_weighted_family_without_cases_has_no_estimate_and_one_case_no_interval() -> None:
    """A share above 0 with no analysable case leaves the mix undefined; one case, no interval."""
    y = np.array([1, 0, 1, 1], dtype=np.float64)
    mix = _mix(("a", "b"), [0.5, 0.5], [0, 0, 0, 1])
    rng = np.random.default_rng(0)
    none = estimate_post_stratified(y[:3], np.array([0, 1, 2]), mix, "case", 0.95, rng, 100, 2)
    assert none.estimate is None and "family 'b'" in (none.interval.note or "")
    one = estimate_post_stratified(y, np.array([0, 1, 2, 3]), mix, "case", 0.95, rng, 100, 2)
    assert one.estimate == pytest.approx(0.5 * 2 / 3 + 0.5)
    assert one.interval.lower is None and "needs 2 cases" in (one.interval.note or "")


# --- the analysis --------------------------------------------------------------------------------


def _mixed_plan(target: dict[str, float], *gates: dict[str, Any]) -> Plan:
    base = study_plan(target_mix=target)
    keep = [a for a in base.arms if a.id in ("control", "phi")]
    size = base.sample_size.model_copy(update={"requests_total": 600})
    extra = [GateSpec.model_validate(g) for g in gates]
    return base.model_copy(update={"arms": keep, "gates": [*base.gates, *extra], "sample_size": size})


def test_results_carry_the_mix_section_and_gates_under_it_say_so() -> None:
    """The mix section has every arm; a mix gate's reason says "under the target mix"; without a
    target mix the results document has no ``mix`` key."""
    even = dict.fromkeys(DEFAULT_LABELS, 1 / 6)
    quality = {"id": "q_mix", "metric": "downstream_quality_vs_control", "op": ">=", "threshold": -0.3}
    plan = _mixed_plan(even, ACC_MIX, {**quality, "mix": "target"})
    cols = synthetic_columns(("control", "phi"), (0.0, 0.75))
    res = analyze(plan, TrialTable.from_columns(cols), META)
    assert res.mix is not None
    assert [a.arm for a in res.mix.arms] == ["control", "phi"]
    assert res.mix.arms[0].accuracy is None
    phi = next(a for a in res.arms if a.arm == "phi")
    mixed = res.mix.arms[1].accuracy
    assert mixed is not None and phi.accuracy is not None
    # the corpus mix is even (10 cases per family), so the two agree
    assert mixed.estimate == pytest.approx(phi.accuracy.estimate, abs=1e-12)
    gate = next(g for g in res.gates if g.gate == "acc_mix")
    assert gate.reason.endswith("(under the target mix)")
    assert gate.estimate == pytest.approx(phi.accuracy.estimate, abs=1e-12)
    assert next(g for g in res.gates if g.gate == "q_mix").reason.endswith("(under the target mix)")
    text = results_to_json(res)
    assert '"mix"' in text and results_to_json(results_from_json(text)) == text
    plain = analyze(study_plan(), TrialTable.from_columns(synthetic_columns()), META)
    assert '"mix"' not in results_to_json(plain)


def test_a_skewed_mix_moves_the_estimate_towards_the_heavy_family() -> None:
    """All weight on one family gives that family's case-level accuracy."""
    cols = synthetic_columns(("control", "phi"), (0.0, 0.75))
    target = {f: (1.0 if f == "math" else 0.0) for f in DEFAULT_LABELS}
    res = analyze(_mixed_plan(target, ACC_MIX), TrialTable.from_columns(cols), META)
    phi = next(a for a in res.arms if a.arm == "phi")
    math = next(f for f in phi.per_family if f.family == "math")
    assert res.mix is not None and res.mix.arms[1].accuracy is not None
    assert res.mix.arms[1].accuracy.estimate == pytest.approx(math.accuracy.estimate, abs=1e-12)


def test_a_simulated_campaign_with_a_target_mix_shows_it_in_json_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Freeze, run (simulated), analyze and report a plan with a target mix and a gate under it."""
    cases = make_cases(24)
    lines = [
        json.dumps({"id": c.id, "text": c.text, "family": c.family, "gold_labels": list(c.gold_labels)})
        for c in cases
    ]
    corpus = ("\n".join(lines) + "\n").encode()
    (tmp_path / "corpus.jsonl").write_bytes(corpus)
    data = plan_dict(n_cases=24, replays=2, corpus_sha256=hashlib.sha256(corpus).hexdigest())
    target = {f: 0.5 if f == "code" else 0.1 for f in DEFAULT_LABELS}
    data["analysis"] = {"target_mix": target, "min_cases": 4}
    data["gates"].append({**ACC_MIX, "threshold": 0.5})
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    prereg.lock.freeze(plan)
    store = tmp_path / "plan.duckdb"
    run_simulated(load_frozen_plan(plan), str(store), progress=False)
    out_json, out_html = tmp_path / "results.json", tmp_path / "report.html"
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", out_json)
    assert code == 0, err
    res = results_from_json(out_json.read_text(encoding="utf-8"))
    assert res.mix is not None and res.mix.target == target
    assert {a.arm for a in res.mix.arms} == {"control", "phi", "qwen", "deepseek"}
    assert all(a.cost_per_1k.estimate is not None for a in res.mix.arms)
    assert all(g.reason.endswith("(under the target mix)") for g in res.gates if g.gate == "acc_mix")
    code, _, err = run_cli(capsys, "report", plan, "--store", store, "--out", out_html)
    assert code == 0, err
    html = out_html.read_text(encoding="utf-8")
    assert "Estimated under the target mix" in html
    assert 'acc_mix<div class="small">routing accuracy ≥ 50.0% (under the target mix)</div>' in html
    assert "<td>code</td><td>50.0%</td>" in html
