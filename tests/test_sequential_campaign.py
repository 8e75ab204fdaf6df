"""Group-sequential campaigns: looks on balanced blocks, the stop, the log, resume, live, analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_cases, plan_dict, write_plan
from _live_plans import live_plan, sim_plan, start_server, starter_cases

from analysis import RunMeta, TrialTable, analyze
from experiment.campaign.live import run_live_plan
from experiment.campaign.simulated import simulate_campaign
from experiment.store import TrialStore, store_trials, store_url
from prereg.canonical import canonical_hash
from prereg.looks import look_cases, look_ends
from prereg.schema import Plan
from traffic import build_schedule

N_CASES, REPLAYS = 40, 2
LOOKS = [0.25, 0.5, 0.75, 1.0]


def gs_plan(
    *, threshold: float = 0.5, futility: bool = False, gates: list[Any] | None = None, **kw: Any
) -> Plan:
    """The four-arm test plan with one accuracy gate (far below the truth: decided early) and looks."""
    doc = plan_dict(n_cases=N_CASES, replays=REPLAYS, **kw)
    doc["gates"] = gates or [
        {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": threshold}
    ]
    doc["analysis"] = {"stopping": {"kind": "group_sequential", "looks": LOOKS, "futility": futility}}
    return Plan.model_validate(doc)


def run(plan: Plan, url: str, plan_path: Path | None = None, batch_size: int = 50_000) -> Any:
    return simulate_campaign(
        plan,
        make_cases(N_CASES),
        canonical_hash(plan),
        Path("."),
        url,
        batch_size=batch_size,
        plan_path=plan_path,
    )


def analysed(plan: Plan, url: str) -> Any:
    with TrialStore.open(url, None, create=False) as st:
        table, meta = store_trials(st, canonical_hash(plan), canonical_hash(plan), True)
    return analyze(plan, table, meta), table


def test_schedule_serves_whole_cases_in_blocks_one_per_look() -> None:
    """Each look's requests are exactly all replays of its cases on every arm (balanced information)."""
    plan = gs_plan()
    schedule = build_schedule(plan, [c.id for c in make_cases(N_CASES)], canonical_hash(plan), Path("."))
    ends = look_ends(plan, N_CASES)
    assert look_cases(plan, N_CASES) == (10, 20, 30, 40) and ends[-1] == len(schedule)
    start, seen = 0, set()
    for end in ends:
        arms = schedule.arm_index[start:end]
        cases = schedule.case_index[start:end]
        block = set(cases.tolist())
        assert not block & seen and len(block) == (end - start) // (REPLAYS * 4)
        for c in block:  # every arm has every replay of every case of the block
            assert sorted(arms[cases == c].tolist()) == sorted(list(range(4)) * REPLAYS)
        seen |= block
        start = end


def test_fixed_horizon_schedule_is_unchanged_by_the_block_code() -> None:
    """A fixed-horizon plan draws its allocation exactly as before (one permutation)."""
    doc = plan_dict(n_cases=N_CASES, replays=REPLAYS)
    plan = Plan.model_validate(doc)
    a = build_schedule(plan, [c.id for c in make_cases(N_CASES)], canonical_hash(plan), Path("."))
    doc["analysis"] = {"stopping": {"kind": "fixed_horizon"}}
    assert canonical_hash(Plan.model_validate(doc)) == canonical_hash(plan)
    assert (
        a.trial_ids()
        == build_schedule(
            Plan.model_validate(doc), [c.id for c in make_cases(N_CASES)], canonical_hash(plan), Path(".")
        ).trial_ids()
    )


def test_simulated_campaign_stops_at_the_first_look_that_decides_every_gate(tmp_path: Path) -> None:
    """A gate far from the truth is decided early: the run stops there, says so, logs every look,
    and the analysis of the store finds the same stop and cuts the trials at it."""
    plan = gs_plan()
    url = store_url(tmp_path / "gs.duckdb")
    plan_path = tmp_path / "plan.yaml"
    summary = run(plan, url, plan_path)
    assert summary.stopped_early is not None and summary.stopped_early.startswith("stopped at look ")
    look = int(summary.stopped_early.split()[3])
    total = N_CASES * REPLAYS * 4
    assert sum(summary.done.values()) < total and summary.finished and not summary.complete
    results, table = analysed(plan, url)
    seq = results.sequential
    assert seq is not None and seq.stopped_at == look and seq.last_look == look
    assert all(v.verdict == "PASS" and v.look is not None and v.look <= look for v in results.gates)
    cut = look_ends(plan, N_CASES)[look - 1]
    assert sum(a.flow.rows for a in results.arms) == cut  # rows after the stop are not analysed
    assert seq.rows_after_stop == len(table) - cut
    assert all(a.flow.missing == 0 for a in results.arms)  # the flow's planned counts end at the stop
    entries = [json.loads(line) for line in (tmp_path / "plan.yaml.log.jsonl").read_text().splitlines()]
    looks = [e["detail"] for e in entries if e["kind"] == "look"]
    assert [d["look"] for d in looks] == [str(j) for j in range(1, look + 1)]
    assert looks[-1]["stop"] == "yes" and looks[-1]["reason"] == summary.stopped_early
    assert float(json.loads(looks[0]["levels"])["accuracy"]) > 0.999  # O'Brien-Fleming's first look
    # A re-run sends nothing more and logs nothing twice.
    again = run(plan, url, plan_path)
    assert (again.written, again.stopped_early) == (0, summary.stopped_early)
    assert len((tmp_path / "plan.yaml.log.jsonl").read_text().splitlines()) == len(entries)


def test_a_killed_run_resumes_into_the_same_looks(tmp_path: Path) -> None:
    """A store holding only part of the run (a kill leaves whole batches) resumes to the very table
    an uninterrupted run writes, stopping at the same look."""
    plan = gs_plan()
    whole = store_url(tmp_path / "whole.duckdb")
    first = run(plan, whole)
    with TrialStore.open(whole, None, create=False) as st:
        rows = st.read_arrow()
    part = store_url(tmp_path / "part.duckdb")
    h = canonical_hash(plan)
    schedule = build_schedule(plan, [c.id for c in make_cases(N_CASES)], h, Path("."))
    from experiment.store import arrow_to_columns

    with TrialStore.open(part, h, create=True) as st:
        st.write_allocation(schedule)
        cols = arrow_to_columns(rows.slice(0, rows.num_rows // 3))
        st.write_trials(_records(cols))
    resumed = run(plan, part)
    assert resumed.stopped_early == first.stopped_early and resumed.resumed == rows.num_rows // 3
    with TrialStore.open(part, None, create=False) as st:
        again = st.read_arrow()
    assert again.column("trial_id").to_pylist() == rows.column("trial_id").to_pylist()
    assert again.column("correct").to_pylist() == rows.column("correct").to_pylist()


def _records(cols: dict[str, Any]) -> list[Any]:
    """Trial records from store columns (masked entries are NULL)."""
    from prereg.records import TrialRecord

    names = list(TrialRecord.__dataclass_fields__)
    values = [np.ma.asarray(cols[n]).tolist(None) for n in names]
    return [TrialRecord(**dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]


def test_a_gate_the_data_cannot_decide_early_runs_to_the_end(tmp_path: Path) -> None:
    """A threshold at the truth keeps the gate open: every look is analysed, no early stop."""
    plan = gs_plan(threshold=0.79, seed=12)
    url = store_url(tmp_path / "gs.duckdb")
    summary = run(plan, url)
    results, _ = analysed(plan, url)
    assert results.sequential is not None
    if summary.stopped_early is None:
        assert summary.complete and results.sequential.last_look == len(LOOKS)
        assert results.sequential.reason == "ran to look 4 of 4 (the last)"
        assert all(lk.analysed for lk in results.sequential.looks)


def test_futility_stops_once_every_arm_is_decided_or_failed(tmp_path: Path) -> None:
    """With futility, an arm that failed one gate needs no verdict on the others."""
    gates = [
        {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.99},
        {"id": "p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 100000.0},
    ]
    plan = gs_plan(gates=gates, futility=True)
    url = store_url(tmp_path / "gs.duckdb")
    summary = run(plan, url)
    results, _ = analysed(plan, url)
    assert summary.stopped_early is not None and "futility" in summary.stopped_early
    assert all(v.verdict == "FAIL" for v in results.viability)
    assert results.sequential is not None and results.sequential.stopped_at is not None


def test_an_incomplete_look_is_not_analysed() -> None:
    """Trials of a look that are not all stored do not enter the analysis (looks are cut whole)."""
    plan = gs_plan()
    h = canonical_hash(plan)
    schedule = build_schedule(plan, [c.id for c in make_cases(N_CASES)], h, Path("."))
    from experiment.design.scenarios import Scenario
    from experiment.design.sim import run_campaign

    world = Scenario(
        key="x",
        plan=plan,
        cases=make_cases(N_CASES),
        true_accuracy={},
        true_latency_ms={},
        accuracy_exact=False,
    )
    _, records = run_campaign(plan, world, h, Path("."))
    ends = look_ends(plan, N_CASES)
    kept = [r for r in records if r.seq < ends[1] - 1]  # look 2 misses one row
    meta = RunMeta(
        h, h, True, (), "store", dict.fromkeys(plan.arm_ids, N_CASES * REPLAYS), schedule.allocation_counts()
    )
    results = analyze(plan, TrialTable.from_records(kept), meta)
    assert results.sequential is not None and results.sequential.last_look == 1
    assert [lk.analysed for lk in results.sequential.looks] == [True, False, False, False]
    assert results.sequential.reason.startswith("incomplete") or results.sequential.stopped_at == 1


def test_check_refuses_looks_that_add_no_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a small corpus two fractions can round to one case count: a one-line error names the look."""
    path = write_plan(tmp_path, n_cases=12)
    doc = yaml.safe_load(path.read_text())
    doc["analysis"] = {"stopping": {"kind": "group_sequential", "looks": [0.9, 0.95, 1.0]}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = run_cli(capsys, "check", path)
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "analysis.stopping.looks[1]" in err and "adds cases" in err
    doc["analysis"] = {"stopping": {"kind": "group_sequential", "looks": [0.5, 0.25, 1.0]}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = run_cli(capsys, "check", path)
    assert code != 0 and "strictly increasing" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def served() -> Any:
    cases = starter_cases(40)
    _, thread = start_server(sim_plan(accuracy=0.95, cases=40), cases)
    yield cases, thread.base_url
    thread.stop()


def test_live_campaign_stops_at_a_look_and_a_rerun_sends_nothing(served: Any, tmp_path: Path) -> None:
    """Against a real HTTP server: the look is decided from the store while sends go on; at the
    stop, what is in flight is stored (after the look, not analysed) and a re-run sends nothing."""
    cases, url = served
    plan = live_plan(url, cases=40, rate=80.0)
    doc = plan.model_dump(mode="json", exclude_none=True)
    doc["gates"] = [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.3}]
    doc["analysis"] = {
        "stopping": {"kind": "group_sequential", "looks": [0.25, 0.5, 1.0], "spending": "pocock"}
    }
    plan = Plan.model_validate(doc)
    h = canonical_hash(plan)
    store = store_url(tmp_path / "live.duckdb")
    summary = run_live_plan(plan, cases, h, tmp_path, store, plan_path=tmp_path / "plan.yaml")
    assert summary.stopped_early is not None and summary.stopped_early.startswith("stopped at look 1 of 3")
    assert summary.sent < 80 and summary.finished
    with TrialStore.open(store, None, create=False) as st:
        table, meta = store_trials(st, h, h, True)
        assert st.meta()["stopped_at_look"] == "1"
    results = analyze(plan, table, meta)
    assert results.sequential is not None and results.sequential.stopped_at == 1
    assert sum(a.flow.rows for a in results.arms) == look_ends(plan, 40)[0]
    again = run_live_plan(plan, cases, h, tmp_path, store, plan_path=tmp_path / "plan.yaml")
    assert (again.sent, again.written, again.stopped_early) == (0, 0, summary.stopped_early)


def test_a_confidence_sequence_campaign_stops_once_its_bounds_decide(tmp_path: Path) -> None:
    """kind: confidence_sequence: the same looks, bounds valid at every look at once; a gate far
    below the truth is decided before the end and the campaign stops there."""
    doc = plan_dict(n_cases=N_CASES, replays=REPLAYS)
    doc["gates"] = [{"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.3}]
    doc["analysis"] = {"stopping": {"kind": "confidence_sequence", "looks": LOOKS}}
    plan = Plan.model_validate(doc)
    url = store_url(tmp_path / "cs.duckdb")
    summary = run(plan, url)
    assert summary.stopped_early is not None
    results, _ = analysed(plan, url)
    seq = results.sequential
    assert seq is not None and seq.method == "empirical_bernstein_confidence_sequence"
    assert all(lk.levels == {"accuracy": 0.95} for lk in seq.looks)
    assert all(v.verdict == "PASS" for v in results.gates)


def test_check_refuses_a_confidence_sequence_on_a_quantile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A confidence sequence bounds a mean over cases: a P95 gate is refused in one line."""
    path = write_plan(tmp_path, n_cases=12)
    doc = yaml.safe_load(path.read_text())
    doc["analysis"] = {"stopping": {"kind": "confidence_sequence", "looks": [0.5, 1.0]}, "min_cases": 5}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = run_cli(capsys, "check", path)
    assert code != 0 and "gates[1].metric" in err and "group_sequential" in err and "Traceback" not in err
