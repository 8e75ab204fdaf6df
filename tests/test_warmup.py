"""``traffic.warmup``: the first stretch of a campaign is sent and stored but not analysed.

A simulated campaign with a warm-up, through the CLI (freeze, run, analyze, report): each arm's
warm-up box counts its warm-up trials by stored status, the analysed n drops by exactly that
count against the same trials analysed without a warm-up, and membership goes by scheduled time
(moving completion times changes nothing). The plan's two spellings, their one-line errors, and a
plan without a warm-up keeping its JSON (no ``warmup`` key anywhere).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_plan, write_plan

from analysis import Results, TrialTable, analyze, results_from_json, results_to_json
from experiment.locked import run_locked_analysis
from prereg.canonical import canonical_hash
from prereg.errors import InputError
from prereg.loader import load_plan
from prereg.schema import Plan
from reports import flow_from_results, flow_svg

WARMUP_S = 10.0


def _with_warmup(path: Path, warmup: dict[str, Any] | None) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if warmup is None:
        data["traffic"].pop("warmup", None)
    else:
        data["traffic"]["warmup"] = warmup
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A frozen four-arm plan with a 10 s warm-up, its simulated store, results JSON and report."""
    folder = tmp_path_factory.mktemp("warmup")
    plan = _with_warmup(write_plan(folder), {"seconds": WARMUP_S})
    store = folder / "plan.duckdb"
    results, report = folder / "results.json", folder / "report.html"
    for args in (
        ("freeze", plan),
        ("run", plan, "--store", store),
        ("analyze", plan, "--store", store, "--json", results),
        ("report", plan, "--store", store, "--out", report),
    ):
        _run(*args)
    return plan, store, results


def _run(*args: str | Path) -> None:
    from experiment.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)


def _without_warmup(plan: Plan) -> Plan:
    return plan.model_copy(update={"traffic": plan.traffic.model_copy(update={"warmup": None})})


def _warm_rows(table: TrialTable, arm: str) -> int:
    return int(np.count_nonzero((table.arm == arm) & (table.scheduled_s < WARMUP_S)))


def test_each_arm_shows_its_warmup_box_with_the_right_count(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, results_path = campaign
    locked = run_locked_analysis(plan, store=str(store))
    results = results_from_json(results_path.read_text(encoding="utf-8"))
    assert results_path.read_text(encoding="utf-8") == results_to_json(locked.results)
    table = locked.table
    total = 0
    for arm in results.arms:
        w = arm.flow.warmup
        assert w is not None
        assert w.requests == _warm_rows(table, arm.arm) > 0
        assert sum(w.by_status.values()) == w.requests  # every stored status counted, none hidden
        total += w.requests
    assert total == int(np.count_nonzero(table.scheduled_s < WARMUP_S))
    flow = flow_from_results(results, locked.frozen.plan)
    for a in flow.arms:
        assert a.warmup_total == _warm_rows(table, a.arm)
        assert dict(a.excluded)["warmup"] == a.warmup_total
    svg = flow_svg(flow, {})
    assert svg.count("Warm-up (pre-registered)") == 4
    assert "scheduled before 10 s" in svg
    report = (plan.parent / "report.html").read_text(encoding="utf-8")
    assert "Warm-up (pre-registered)" in report
    doc = json.loads(results_path.read_text(encoding="utf-8"))
    assert doc["arms"][1]["flow"]["warmup"]["requests"] == results.arms[1].flow.warmup.requests  # type: ignore[union-attr]


def test_the_analysed_n_drops_by_exactly_the_warmup_count(campaign: tuple[Path, Path, Path]) -> None:
    """The same trials analysed with and without the warm-up: routers' analysed n and every arm's
    end-to-end n differ by exactly the warm-up trials (all sent and analysable in this campaign)."""
    plan, store, _ = campaign
    locked = run_locked_analysis(plan, store=str(store))
    without = analyze(_without_warmup(locked.frozen.plan), locked.table, locked.meta)
    for warm, cold in zip(locked.results.arms, without.arms, strict=True):
        assert warm.flow.warmup is not None and cold.flow.warmup is None
        n = warm.flow.warmup.requests
        assert warm.flow.warmup.sent == n
        assert warm.e2e_latency_median.n == cold.e2e_latency_median.n - n
        if warm.kind == "router":
            assert warm.flow.analysed == cold.flow.analysed - n
            assert warm.flow.excluded["warmup"] == n and "warmup" not in cold.flow.excluded
            assert warm.accuracy is not None and cold.accuracy is not None
            assert warm.accuracy.n_requests == cold.accuracy.n_requests - n
        # sent, completed and failed still count the warm-up trials: they were sent as usual
        assert (warm.flow.sent, warm.flow.completed) == (cold.flow.sent, cold.flow.completed)


def test_srm_and_balance_leave_the_warmup_out_of_what_was_sent(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, _ = campaign
    results = run_locked_analysis(plan, store=str(store)).results
    sent = next(s for s in results.srm if s.what == "sent")
    allocated = next(s for s in results.srm if s.what == "allocated")
    for arm in results.arms:
        assert arm.flow.warmup is not None
        assert sent.observed[arm.arm] == arm.flow.sent - arm.flow.warmup.sent
        # the allocation check covers the whole schedule: it checks the randomizer
        assert allocated.observed[arm.arm] == arm.flow.scheduled
    balanced = sum(sum(row) for row in results.balance.counts)
    assert balanced == sum(a.flow.sent - a.flow.warmup.sent for a in results.arms if a.flow.warmup)


def test_membership_goes_by_scheduled_time_never_completion_time(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, _ = campaign
    locked = run_locked_analysis(plan, store=str(store))
    table = locked.table
    # Trials scheduled inside the warm-up that completed after it: completion time would differ.
    assert np.count_nonzero(table.end_s < WARMUP_S) != np.count_nonzero(table.scheduled_s < WARMUP_S)
    late = dataclasses.replace(table, sent_s=table.sent_s + 1e4, end_s=table.end_s + 1e4)
    early = dataclasses.replace(table, sent_s=table.sent_s * 0.0, end_s=table.end_s * 0.0)
    flows = [r.flow for r in locked.results.arms]
    for moved in (late, early):
        assert [r.flow for r in analyze(locked.frozen.plan, moved, locked.meta).arms] == flows
    # Moving the schedule itself moves trials in or out.
    shifted = dataclasses.replace(table, scheduled_s=table.scheduled_s + WARMUP_S)
    assert all(r.flow.warmup.requests == 0 for r in analyze(locked.frozen.plan, shifted, locked.meta).arms)  # type: ignore[union-attr]


def test_a_failed_warmup_trial_is_counted_in_the_box_by_its_status(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, _ = campaign
    locked = run_locked_analysis(plan, store=str(store))
    table = locked.table
    first = int(np.flatnonzero((table.arm == "qwen") & (table.scheduled_s < WARMUP_S))[0])
    status = table.status.astype(object)
    status[first] = "timeout"
    failed = dataclasses.replace(table, status=status.astype(str))
    results = analyze(locked.frozen.plan, failed, locked.meta)
    qwen = next(a for a in results.arms if a.arm == "qwen")
    before = next(a for a in locked.results.arms if a.arm == "qwen")
    assert qwen.flow.warmup is not None and before.flow.warmup is not None
    assert qwen.flow.warmup.by_status.get("timeout", 0) == before.flow.warmup.by_status.get("timeout", 0) + 1
    assert qwen.flow.warmup.requests == before.flow.warmup.requests
    assert qwen.flow.analysed == before.flow.analysed  # a warm-up failure costs the analysis nothing
    flow = flow_from_results(results, locked.frozen.plan)
    box = next(a for a in flow.arms if a.arm == "qwen")
    assert dict(box.warmup or ())["timeout"] >= 1
    assert "timeout" in flow_svg(flow, {})


def test_requests_warmup_takes_the_first_n_of_the_schedule_by_seq(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, _ = campaign
    locked = run_locked_analysis(plan, store=str(store))
    doc = locked.frozen.plan.model_dump(mode="json")
    doc["traffic"]["warmup"] = {"requests": 17}
    by_requests = analyze(Plan.model_validate(doc), locked.table, locked.meta)
    table = locked.table
    for arm in by_requests.arms:
        assert arm.flow.warmup is not None
        assert arm.flow.warmup.requests == int(np.count_nonzero((table.arm == arm.arm) & (table.seq < 17)))
    assert sum(a.flow.warmup.requests for a in by_requests.arms if a.flow.warmup) == 17
    text = results_to_json(by_requests)
    assert results_to_json(results_from_json(text)) == text
    flow = flow_from_results(by_requests, Plan.model_validate(doc))
    assert flow.warmup_rule == "first 17 requests of the schedule"


def test_without_a_warmup_nothing_changes(tmp_path: Path) -> None:
    """No warm-up: no key in the plan's canonical form nor in the results document."""
    plan = make_plan()
    assert "warmup" not in plan.model_dump(mode="json")["traffic"]
    doc = plan.model_dump(mode="json")
    doc["traffic"]["warmup"] = None
    assert canonical_hash(Plan.model_validate(doc)) == canonical_hash(plan)
    doc["traffic"]["warmup"] = {"seconds": 5}
    assert canonical_hash(Plan.model_validate(doc)) != canonical_hash(plan)


def test_results_without_warmup_carry_no_warmup_key(campaign: tuple[Path, Path, Path]) -> None:
    plan, store, _ = campaign
    locked = run_locked_analysis(plan, store=str(store))
    cold: Results = analyze(_without_warmup(locked.frozen.plan), locked.table, locked.meta)
    text = results_to_json(cold)
    assert '"warmup"' not in text
    assert results_to_json(results_from_json(text)) == text


@pytest.mark.parametrize(
    ("warmup", "expected"),
    [
        (
            {"seconds": 5, "requests": 3},
            "traffic.warmup: expected exactly one of seconds or requests, found both",
        ),
        ({}, "traffic.warmup: expected exactly one of seconds or requests, found neither"),
        ({"seconds": 0}, "traffic.warmup.seconds: expected greater than 0"),
        ({"requests": 2.5}, "traffic.warmup.requests: expected a valid integer, found 2.5"),
        ({"minutes": 2}, "traffic.warmup.minutes: unknown key 'minutes'"),
    ],
)
def test_a_wrong_warmup_is_one_line_naming_the_field(tmp_path: Path, warmup: Any, expected: str) -> None:
    path = _with_warmup(write_plan(tmp_path), warmup)
    with pytest.raises(InputError) as info:
        load_plan(path)
    message = str(info.value)
    assert "\n" not in message and expected in message, message


def test_check_accepts_both_spellings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, warmup in enumerate(({"seconds": 30}, {"requests": 10})):
        path = _with_warmup(write_plan(tmp_path / str(i)), warmup)
        code, out, err = run_cli(capsys, "check", path)
        assert code == 0, (out, err)


def test_check_refuses_a_warmup_of_every_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _with_warmup(write_plan(tmp_path), {"requests": 96})  # 12 cases x 2 replays x 4 arms
    code, _, err = run_cli(capsys, "check", path)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert (
        "traffic.warmup.requests: expected fewer than sample_size.requests_total (96), found 96" in lines[0]
    )
