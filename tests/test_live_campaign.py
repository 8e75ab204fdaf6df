"""The open-loop live scheduler against the simulated server: storage, lateness, resume."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _live_plans import live_plan, sim_plan, start_server, starter_cases

from experiment.campaign.live import lateness_summary, run_live_plan
from experiment.serve import FaultSpec, SimulatedServer
from experiment.store import TrialStore

CASES = starter_cases(12)
HASH = "a" * 64


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatedServer, str]]:
    server, thread = start_server(sim_plan(), CASES)
    yield server, thread.base_url
    thread.stop()


def stored(url: str) -> dict[str, list[Any]]:
    with TrialStore.open(url, HASH, create=False) as store:
        return {k: v.tolist() for k, v in store.read_columns().items()}


def test_small_campaign_stores_every_trial(served: tuple[SimulatedServer, str], tmp_path: Path) -> None:
    """24 requests at 50/s: every trial stored once, sent on time, its timeline journalled."""
    server, url = served
    server.faults = FaultSpec()
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    switch = sys.getswitchinterval()
    summary = run_live_plan(live_plan(url, cases=12, rate=50.0), CASES, HASH, tmp_path, store)
    assert sys.getswitchinterval() == switch  # the dispatcher's GIL setting is undone
    cols = stored(store)
    assert sorted(cols["seq"]) == list(range(24))
    assert len(set(cols["trial_id"])) == 24
    assert set(cols["status"]) == {"ok"}
    assert (summary.written, summary.sent, summary.interrupted, summary.complete) == (24, 24, 0, True)
    assert all(late is not None and late >= 0.0 for late in cols["lateness_ms"])
    assert summary.lateness_p99_ms is not None
    events = [json.loads(line) for line in summary.journal_file.read_text().splitlines()]
    assert sorted(e["seq"] for e in events if e["e"] == "done") == list(range(24))
    done = next(e for e in events if e["e"] == "done")
    assert (
        done["scheduled_s"]
        <= done["sent_s"]
        <= done["first_byte_s"]
        <= done["first_token_s"]
        <= done["done_s"]
    )


def test_latency_counts_from_the_scheduled_time(served: tuple[SimulatedServer, str], tmp_path: Path) -> None:
    """e2e latency is end minus scheduled time, so it includes the dispatch lateness."""
    server, url = served
    server.faults = FaultSpec()
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    run_live_plan(live_plan(url, cases=12, rate=50.0), CASES, HASH, tmp_path, store)
    cols = stored(store)
    for sched, end, e2e in zip(cols["scheduled_s"], cols["end_s"], cols["e2e_latency_ms"], strict=False):
        assert e2e == pytest.approx((end - sched) * 1000.0, abs=1.0)


def test_faults_are_rows_and_rerun_skips_stored(served: tuple[SimulatedServer, str], tmp_path: Path) -> None:
    """Injected 500s are stored as http_error rows; a second run finds nothing left to send."""
    server, url = served
    server.faults = FaultSpec(error_rate=1.0)
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    plan = live_plan(url, cases=12, rate=200.0)
    try:
        first = run_live_plan(plan, CASES, HASH, tmp_path, store)
    finally:
        server.faults = FaultSpec()
    again = run_live_plan(plan, CASES, HASH, tmp_path, store)
    assert first.failures == {"http_error": 24}
    assert (again.sent, again.written, again.resumed, again.complete) == (0, 0, 24, True)


def test_invalid_when_lateness_exceeds_the_bound(served: tuple[SimulatedServer, str], tmp_path: Path) -> None:
    """A bound below any achievable lateness marks the run invalid, in the summary and the store."""
    _, url = served
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    summary = run_live_plan(
        live_plan(url, cases=12, rate=100.0, max_lateness_p99_ms=1e-9), CASES, HASH, tmp_path, store
    )
    with TrialStore.open(store, HASH, create=False) as s:
        assert s.meta()["live_valid"] == "false"
    assert summary.valid is False and summary.lateness_p99_ms is not None


def test_lateness_percentiles() -> None:
    """p50/p99 ignore unsent (NaN) entries; nothing sent gives None."""
    p50, p99 = lateness_summary([1.0, 2.0, 3.0, float("nan")])
    assert (p50, p99) == (2.0, pytest.approx(2.98))  # type: ignore[comparison-overlap]
    assert lateness_summary([]) == (None, None)
