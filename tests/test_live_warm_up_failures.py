"""A server that fails its warm-up before the clock starts is reported, never silently (issue 14)."""

from __future__ import annotations

import socket
from pathlib import Path

from _live_plans import live_plan, starter_cases

from experiment.campaign.live import run_live_plan
from experiment.store import TrialStore

CASES = starter_cases(4)
HASH = "d" * 64


def _dead_port() -> int:
    # Bound and closed: nothing listens there, so a connection is refused at once.
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def test_a_server_down_at_warm_up_is_named_in_the_summary_and_the_store(tmp_path: Path) -> None:
    """Every warm-up request refused: the summary and store meta say so; the trials are data."""
    url = f"http://127.0.0.1:{_dead_port()}/v1"
    store = f"duckdb:///{tmp_path / 'down.duckdb'}"
    summary = run_live_plan(live_plan(url, cases=4, rate=50.0), CASES, HASH, tmp_path, store)
    assert list(summary.warm_up_failures or {}) == [url]
    assert "failed 16 of 16 times" in (summary.warm_up_failures or {})[url]
    with TrialStore.open(store, HASH, create=False) as st:
        meta = st.meta()
        statuses = set(st.read_columns()["status"].tolist())
    assert url in meta["live_warm_up_failures"]
    assert statuses == {"connection_error"}
    assert summary.complete


def test_a_live_server_warms_up_without_a_failure(tmp_path: Path) -> None:
    """The serve-based runs elsewhere warm up cleanly; here the report of failures is empty."""
    from _live_plans import sim_plan, start_server

    _, thread = start_server(sim_plan(cases=4), CASES)
    try:
        store = f"duckdb:///{tmp_path / 'up.duckdb'}"
        summary = run_live_plan(live_plan(thread.base_url, cases=4, rate=50.0), CASES, HASH, tmp_path, store)
    finally:
        thread.stop()
    assert summary.warm_up_failures == {}
