"""Pre-registered abort rules: an arm stopped for its failure rate, a live run for invalid dispatch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _experiment_plans import make_cases, plan_dict
from _live_plans import live_plan, sim_plan, start_server, starter_cases

from analysis import analyze
from experiment.campaign.live import run_live_plan
from experiment.campaign.simulated import simulate_campaign
from experiment.serve import FaultSpec
from experiment.store import TrialStore, store_trials, store_url
from prereg.canonical import canonical_hash
from prereg.schema import Plan

N_CASES, REPLAYS = 24, 2


def failing_plan(rate: float = 0.6, **abort: Any) -> Plan:
    """The four-arm plan with the phi router failing ``rate`` of its calls, and an abort rule."""
    doc = plan_dict(n_cases=N_CASES, replays=REPLAYS)
    phi = next(a for a in doc["arms"] if a["id"] == "phi")
    phi["classifier"]["backend"]["failures"] = {"http_error_rate": rate}
    doc["analysis"] = {"abort": {"max_failure_rate": 0.3, "min_trials": 10, **abort}}
    return Plan.model_validate(doc)


def run(plan: Plan, url: str, batch_size: int = 50_000) -> Any:
    return simulate_campaign(
        plan, make_cases(N_CASES), canonical_hash(plan), Path("."), url, batch_size=batch_size
    )


def rows(plan: Plan, url: str) -> tuple[Any, Any]:
    with TrialStore.open(url, None, create=False) as st:
        table, _ = store_trials(st, canonical_hash(plan), canonical_hash(plan), True)
        return table, st.meta()


def test_an_arm_over_its_failure_rate_is_stopped_and_its_rest_stored_unsent(tmp_path: Path) -> None:
    """The failing arm sends nothing after the rule trips; its later requests are rows, unsent, with
    the rule's reason; the other arms run their whole schedule; the flow says so."""
    plan = failing_plan()
    url = store_url(tmp_path / "a.duckdb")
    summary = run(plan, url)
    assert summary.complete  # every allocated request has a row
    table, meta = rows(plan, url)
    assert json.loads(meta["aborted_arms"]).keys() == {"phi"}
    phi = table.arm == "phi"
    unsent = phi & (table.status == "not_sent")
    assert unsent.sum() > 0 and all(e.startswith("aborted: failure rate") for e in table.error[unsent])
    sent = phi & ~unsent
    assert sent.sum() >= 10 and (table.seq[unsent].min() > table.seq[sent].min())
    assert not ((table.arm != "phi") & (table.status == "not_sent")).any()
    results = analyze(plan, table, store_trials_meta(plan, url))
    flow = next(a.flow for a in results.arms if a.arm == "phi").__dict__
    assert flow["aborted"] == int(unsent.sum()) and "max_failure_rate 0.3" in flow["abort_reason"]
    assert all(a.flow.aborted is None for a in results.arms if a.arm != "phi")


def store_trials_meta(plan: Plan, url: str) -> Any:
    with TrialStore.open(url, None, create=False) as st:
        return store_trials(st, canonical_hash(plan), canonical_hash(plan), True)[1]


def test_the_abort_is_the_same_after_a_resume(tmp_path: Path) -> None:
    """A run killed after some batches resumes to the very table an uninterrupted run writes (the
    virtual night is replayed, so the rule trips at the same trial)."""
    plan = failing_plan()
    whole = store_url(tmp_path / "whole.duckdb")
    run(plan, whole)
    part = store_url(tmp_path / "part.duckdb")
    import os
    import signal
    import threading

    from experiment.campaign import simulated

    calls = {"n": 0}
    real = simulated.BatchWriter.submit

    def submit_then_stop(self: Any, batch: Any) -> None:
        real(self, batch)
        calls["n"] += 1
        if calls["n"] == 3:
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
            threading.Event().wait(0.2)

    simulated.BatchWriter.submit = submit_then_stop  # type: ignore[method-assign]
    try:
        first = run(plan, part, batch_size=7)
    finally:
        simulated.BatchWriter.submit = real  # type: ignore[method-assign]
    assert first.interrupted_by is not None
    run(plan, part)
    a, _ = rows(plan, whole)
    b, meta = rows(plan, part)
    assert a.trial_id.tolist() == b.trial_id.tolist() and a.status.tolist() == b.status.tolist()
    assert json.loads(meta["aborted_arms"]).keys() == {"phi"}


def test_no_rule_no_abort(tmp_path: Path) -> None:
    """Without analysis.abort a failing arm runs its whole schedule (its failures are data)."""
    doc = failing_plan().model_dump(mode="json", exclude_none=True)
    doc["analysis"].pop("abort")
    plan = Plan.model_validate(doc)
    url = store_url(tmp_path / "a.duckdb")
    run(plan, url)
    table, meta = rows(plan, url)
    assert "aborted_arms" not in meta and not (table.status == "not_sent").any()


@pytest.fixture(scope="module")
def served() -> Any:
    cases = starter_cases(12)
    server, thread = start_server(sim_plan(cases=12), cases)
    yield server, cases, thread.base_url
    thread.stop()


def _live(url: str, **abort: Any) -> Plan:
    doc = live_plan(url, cases=12, replays=4, rate=40.0).model_dump(mode="json", exclude_none=True)
    doc["analysis"] = {"abort": abort}
    return Plan.model_validate(doc)


def test_live_arms_over_their_failure_rate_stop_sending(served: Any, tmp_path: Path) -> None:
    """Against a server failing every call: both arms trip the rule after min_trials, the rest of the
    schedule is stored unsent, a re-run sends nothing."""
    server, cases, url = served
    plan = _live(url, max_failure_rate=0.5, min_trials=5)
    store = store_url(tmp_path / "live.duckdb")
    server.faults = FaultSpec(error_rate=1.0)
    try:
        summary = run_live_plan(plan, cases, canonical_hash(plan), tmp_path, store)
    finally:
        server.faults = FaultSpec()
    assert summary.complete and summary.sent < 96
    table, meta = rows(plan, store)
    assert json.loads(meta["aborted_arms"]).keys() == {"control", "router"}
    assert (table.status == "not_sent").sum() == 96 - summary.sent
    again = run_live_plan(plan, cases, canonical_hash(plan), tmp_path, store)
    assert (again.sent, again.written) == (0, 0)


def test_a_live_run_with_invalid_dispatch_for_the_stated_time_is_stopped(served: Any, tmp_path: Path) -> None:
    """A lateness bound no dispatcher meets: after max_invalid_dispatch_s the run stops, what was
    never sent is stored unsent with the rule's reason, and the store records the abort."""
    _, cases, url = served
    doc = _live(url, max_invalid_dispatch_s=0.5).model_dump(mode="json", exclude_none=True)
    doc["traffic"]["max_lateness_p99_ms"] = 1e-9
    plan = Plan.model_validate(doc)
    store = store_url(tmp_path / "live.duckdb")
    summary = run_live_plan(plan, cases, canonical_hash(plan), tmp_path, store)
    assert summary.complete and summary.sent < 96
    table, meta = rows(plan, store)
    assert "dispatch lateness p99" in meta["run_abort_reason"]
    unsent = table.status == "not_sent"
    assert unsent.sum() > 0 and all("max_invalid_dispatch_s 0.5" in e for e in table.error[unsent])
