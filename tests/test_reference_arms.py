"""Reference arms (``fixed``, ``random``, ``oracle``): refused when miswritten, run in simulated
and live campaigns through the CLI, routed reproducibly from the plan's seed, analysed and shown.

The campaigns run through ``routetrial check`` / ``freeze`` / ``run`` / ``export`` / ``analyze`` /
``report`` in this process; the live one against ``routetrial serve``'s server on 127.0.0.1.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _live_plans import STARTER, live_plan, sim_plan, start_server, starter_cases

from arms import ArmRequest, ReferenceRoutes
from prereg.canonical import canonical_hash
from prereg.corpus import load_corpus
from prereg.schema import Plan, ReferenceArmSpec

REFERENCE_ARMS: list[dict[str, Any]] = [
    {"id": "always_small", "kind": "fixed", "model": "small"},
    {"id": "coin", "kind": "random", "probabilities": {"small": 0.25, "large": 0.75}},
    {"id": "oracle", "kind": "oracle"},
]


def _study(directory: Path, plan: Plan, arms: list[dict[str, Any]] | None = None) -> Path:
    """``plan`` plus ``arms`` (the three reference arms by default) on the starter corpus's first
    cases, written beside a pinned copy of them."""
    doc: dict[str, Any] = plan.model_dump(mode="json", exclude_none=True)
    doc["arms"] = [*doc["arms"], *(REFERENCE_ARMS if arms is None else arms)]
    size = doc["sample_size"]
    size["requests_total"] = size["unique_cases"] * doc["traffic"]["replays_per_case"] * len(doc["arms"])
    n = size["unique_cases"]
    corpus = b"".join(STARTER.read_bytes().splitlines(keepends=True)[:n])
    (directory / "corpus.jsonl").write_bytes(corpus)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _rows(capsys: pytest.CaptureFixture[str], store: Path, out: Path) -> list[dict[str, str]]:
    code, _, err = run_cli(capsys, "export", store, "--format", "csv", "--out", out)
    assert code == 0, err
    with out.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _reference_arm(plan: Plan, arm_id: str) -> ReferenceArmSpec:
    arm = plan.arm(arm_id)
    assert isinstance(arm, ReferenceArmSpec)
    return arm


def _expected_routes(plan_path: Path, arm_id: str, rows: list[dict[str, str]]) -> list[str]:
    """The model :class:`ReferenceRoutes` names for each row, from the frozen plan alone."""
    plan = Plan.model_validate(yaml.safe_load(plan_path.read_text(encoding="utf-8")))
    cases = load_corpus(plan_path.parent / "corpus.jsonl")
    by_id = {c.id: c for c in cases}
    routes = ReferenceRoutes(plan, canonical_hash(plan), cases, _reference_arm(plan, arm_id))
    return [
        routes.route(ArmRequest(0, r["trial_id"], by_id[r["case_id"]], arm_id, int(r["replay"]), 0.0))[0]
        for r in rows
    ]


def _case_means(rows: list[dict[str, str]], arm: str) -> dict[str, float]:
    """Each case's share of correct downstream answers in ``arm`` (ungraded answers left out)."""
    graded: dict[str, list[float]] = {}
    for r in rows:
        if r["arm"] == arm and r["downstream_correct"] in ("true", "false"):
            graded.setdefault(r["case_id"], []).append(1.0 if r["downstream_correct"] == "true" else 0.0)
    return {c: sum(v) / len(v) for c, v in graded.items()}


def _check_reference_rows(plan_path: Path, rows: list[dict[str, str]]) -> None:
    """Fixed: one model, no label; random: the pre-drawn routes, no label; oracle: the gold label."""
    plan = Plan.model_validate(yaml.safe_load(plan_path.read_text(encoding="utf-8")))
    by_arm: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_arm.setdefault(r["arm"], []).append(r)
    assert {r["routed_model"] for r in by_arm["always_small"]} == {"small"}
    coin = by_arm["coin"]
    for r in by_arm["always_small"] + coin:
        assert (r["predicted_label"], r["routing_status"], r["correct"]) == ("", "", ""), r
    assert [r["routed_model"] for r in coin] == _expected_routes(plan_path, "coin", coin)
    for r in by_arm["oracle"]:
        gold = r["gold_labels"].split("|")[0]
        assert r["predicted_label"] == gold and r["routing_status"] == "ok", r
        assert r["routed_model"] == plan.routing.routes[gold]
        assert r["correct"].lower() in ("true", "1"), r
        assert r["tokens_in"] == "0" or r["downstream_status"] == "ok"


# --- the plan is refused, one line each ---------------------------------------------------------


@pytest.mark.parametrize(
    ("arm", "where", "says"),
    [
        (
            {"id": "f", "kind": "fixed", "model": "huge"},
            "arms[2].model",
            "expected a model defined in models",
        ),
        (
            {"id": "r", "kind": "random", "probabilities": {"small": 0.5, "huge": 0.5}},
            "arms[2].probabilities.huge",
            "expected a model defined in models",
        ),
        (
            {"id": "r", "kind": "random", "probabilities": {"small": 0.5, "large": 0.4}},
            "arms[2].probabilities",
            "expected probabilities summing to 1",
        ),
        (
            {"id": "r", "kind": "random", "probabilities": {"small": 1.5, "large": -0.5}},
            "arms[2].probabilities",
            "",
        ),
        (
            {"id": "r", "kind": "random", "probabilities": {}},
            "arms[2].probabilities",
            "expected probabilities summing to 1 (within 1e-09), found 0",
        ),
        ({"id": "o", "kind": "oracle", "model": "small"}, "arms[2]", ""),
        ({"id": "x", "kind": "ceiling"}, "arms[2]", ""),
    ],
)
def test_a_miswritten_reference_arm_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arm: dict[str, Any], where: str, says: str
) -> None:
    """Unknown models, probabilities off 1 or outside [0, 1], stray keys, kinds: one line, the field named."""
    plan = _study(tmp_path, sim_plan(cases=12), [arm])
    code, _, err = run_cli(capsys, "check", plan)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert where in err and says in err, err


def test_probabilities_may_miss_1_by_rounding_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three tenths and seven tenths pass (their float sum is 1 within 1e-9)."""
    arm = {"id": "r", "kind": "random", "probabilities": {"small": 0.1, "large": 0.2 + 0.7}}
    code, out, err = run_cli(capsys, "check", _study(tmp_path, sim_plan(cases=12), [arm]))
    assert code == 0, err
    assert "random: r" in out


# --- routes ---------------------------------------------------------------------------------------


def _random_routes(seed: int, replays: int = 3) -> list[str]:
    plan = sim_plan(cases=12)
    doc = plan.model_dump(mode="json", exclude_none=True)
    doc["arms"].append(REFERENCE_ARMS[1])
    doc["randomization"]["seed"] = seed
    doc["traffic"]["replays_per_case"] = replays
    plan = Plan.model_validate(doc)
    cases = starter_cases(12)
    routes = ReferenceRoutes(plan, canonical_hash(plan), cases, _reference_arm(plan, "coin"))
    return [routes.route(ArmRequest(0, "t", c, "coin", r, 0.0))[0] for c in cases for r in range(replays)]


def test_one_seed_gives_the_same_random_routes_and_another_seed_others() -> None:
    """Routes are a function of the plan: drawn again, they repeat; under another seed they differ."""
    first = _random_routes(3)
    assert first == _random_routes(3)
    assert first != _random_routes(4)
    assert set(first) == {"small", "large"}


def test_random_routes_follow_the_probabilities() -> None:
    """Over 12 cases x 300 replays the share of ``small`` is 0.25 within 4 standard errors."""
    routes = _random_routes(5, replays=300)
    share = Counter(routes)["small"] / len(routes)
    assert abs(share - 0.25) < 4 * (0.25 * 0.75 / len(routes)) ** 0.5


def test_a_model_of_probability_zero_is_never_drawn() -> None:
    """``{small: 0, large: 1}`` sends everything to ``large``."""
    plan = sim_plan(cases=12)
    doc = plan.model_dump(mode="json", exclude_none=True)
    doc["arms"].append({"id": "coin", "kind": "random", "probabilities": {"small": 0.0, "large": 1.0}})
    plan = Plan.model_validate(doc)
    cases = starter_cases(12)
    routes = ReferenceRoutes(plan, canonical_hash(plan), cases, _reference_arm(plan, "coin"))
    assert {routes.route(ArmRequest(0, "t", c, "coin", 0, 0.0))[0] for c in cases} == {"large"}


# --- campaigns ------------------------------------------------------------------------------------


def test_a_simulated_campaign_runs_analyses_and_reports_the_reference_arms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every reference arm stores its trials as the control does; the results and the report carry
    the gap share and the random-mix flag; the flow has a column per arm; a rerun repeats every row."""
    plan = _study(tmp_path, sim_plan(cases=30, replays=2))
    assert run_cli(capsys, "freeze", plan)[0] == 0
    store = tmp_path / "sim.duckdb"
    code, _, err = run_cli(capsys, "run", plan, "--store", store)
    assert code == 0, err
    rows = _rows(capsys, store, tmp_path / "trials.csv")
    assert Counter(r["arm"] for r in rows) == dict.fromkeys(
        ["control", "router", "always_small", "coin", "oracle"], 60
    )
    _check_reference_rows(plan, rows)
    again = tmp_path / "again.duckdb"
    assert run_cli(capsys, "run", plan, "--store", again)[0] == 0
    assert _rows(capsys, again, tmp_path / "again.csv") == rows

    out = tmp_path / "results.json"
    code, printed, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", out)
    assert code == 0, err
    results = json.loads(out.read_text(encoding="utf-8"))
    flagged = results["reference"]["random_mixes"][0]["random_did_as_well"]
    assert ("a random mix did as well" in printed) == flagged
    kinds = {a["arm"]: a["kind"] for a in results["arms"]}
    assert kinds == {
        "control": "control",
        "router": "router",
        "always_small": "fixed",
        "coin": "random",
        "oracle": "oracle",
    }
    reference = results["reference"]
    assert [(g["arm"], g["baseline"], g["oracle"]) for g in reference["gap_shares"]] == [
        ("router", "control", "oracle"),
        ("router", "always_small", "oracle"),
    ]
    assert [(m["arm"], m["random_arm"]) for m in reference["random_mixes"]] == [("router", "coin")]
    for g in reference["gap_shares"]:
        assert g["defined"] == (g["share"] is not None)
        # by hand from the exported rows: the mean over common cases of each case's graded answers
        q = {a: _case_means(rows, a) for a in (g["arm"], g["baseline"], g["oracle"])}
        common = set.intersection(*(set(m) for m in q.values()))
        assert g["n_cases"] == len(common)
        for key, arm in (("router_quality", g["arm"]), ("baseline_quality", g["baseline"])):
            assert g[key] == pytest.approx(sum(q[arm][c] for c in common) / len(common), abs=1e-9)
    # gates and accuracy are the router's only
    assert {g["arm"] for g in results["gates"]} == {"router"}
    assert all(a["accuracy"] is None for a in results["arms"] if a["kind"] != "router")

    page = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", plan, "--store", store, "--out", page)
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert 'id="reference-arms"' in html and "Share of the gap recovered" in html
    assert "a random mix did as well" in html or "beats the random mix" in html
    # a flagged router is a limitation of the campaign, stated in the Limitations list
    assert ("does not show that the router&#39;s choices beat a random mix" in html) == flagged
    from analysis import results_from_json
    from reports._limitations import _random_mix_limitations

    parsed = results_from_json(out.read_text(encoding="utf-8"))
    assert parsed.reference is not None
    as_flagged = dataclasses.replace(
        parsed.reference,
        random_mixes=tuple(
            dataclasses.replace(m, random_did_as_well=True) for m in parsed.reference.random_mixes
        ),
    )
    (sentence,) = _random_mix_limitations(dataclasses.replace(parsed, reference=as_flagged))
    assert sentence.startswith(
        "router: the random arm coin did as well on downstream quality (the 95% interval"
    )
    for arm in ("always_small", "coin", "oracle"):
        assert f"Allocated to {arm}" in html or f">{arm}<" in html


def test_a_plan_without_reference_arms_has_no_reference_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """New keys appear only with the new arms: the results JSON and the page are as before."""
    plan = _study(tmp_path, sim_plan(cases=12), [])
    assert run_cli(capsys, "freeze", plan)[0] == 0
    store = tmp_path / "sim.duckdb"
    assert run_cli(capsys, "run", plan, "--store", store)[0] == 0
    out = tmp_path / "results.json"
    assert run_cli(capsys, "analyze", plan, "--store", store, "--json", out)[0] == 0
    assert "reference" not in json.loads(out.read_text(encoding="utf-8"))
    page = tmp_path / "report.html"
    assert run_cli(capsys, "report", plan, "--store", store, "--out", page)[0] == 0
    assert 'id="reference-arms"' not in page.read_text(encoding="utf-8")


def test_a_live_campaign_routes_the_reference_arms_as_the_simulated_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Live, against ``routetrial serve``: the same kinds of rows, the random routes drawn from the
    frozen plan exactly as in virtual time, every answer graded or stored as the control's."""
    cases = 12
    _, thread = start_server(sim_plan(cases=cases, replays=2), starter_cases()[:cases])
    try:
        plan = _study(tmp_path, live_plan(thread.base_url, cases=cases, replays=2, rate=40.0))
        assert run_cli(capsys, "freeze", plan)[0] == 0
        store = tmp_path / "live.duckdb"
        code, _, err = run_cli(capsys, "run", plan, "--store", store)
        assert code == 0, err
    finally:
        thread.stop()
    rows = _rows(capsys, store, tmp_path / "trials.csv")
    assert Counter(r["arm"] for r in rows) == dict.fromkeys(
        ["control", "router", "always_small", "coin", "oracle"], 2 * cases
    )
    _check_reference_rows(plan, rows)
    assert all(r["downstream_status"] == "ok" for r in rows if r["arm"] != "router"), rows
    out = tmp_path / "results.json"
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", out)
    assert code == 0, err
    assert "reference" in json.loads(out.read_text(encoding="utf-8"))
