"""Killing a live campaign (kill -9, Ctrl-C) and resuming it: no trial lost, none duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _live_plans import sim_plan, start_server, starter_cases

from experiment.serve import SimulatedServer
from experiment.store import TrialStore

HASH = "b" * 64
TESTS = Path(__file__).resolve().parent
PLANNED = 2 * 12 * 2
SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from _live_plans import live_plan, starter_cases
from experiment.campaign.live import run_live_plan
plan = live_plan({url!r}, cases=12, replays=2, rate=40.0)
s = run_live_plan(plan, starter_cases(12), {hash!r}, Path({dir!r}), {store!r})
print("SUMMARY", s.sent, s.written, s.interrupted, s.stopped, flush=True)
"""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatedServer, str]]:
    slow = {"median_ms": 150.0, "p95_ms": 250.0, "concurrency": 64}
    server, thread = start_server(sim_plan(latency=slow), starter_cases(12))
    yield server, thread.base_url
    thread.stop()


def launch(url: str, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    code = SCRIPT.format(tests=str(TESTS), url=url, hash=HASH, dir=str(tmp_path), store=store)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=TESTS.parent)
    return proc, store


def wait_for_sends(journal: Path, n: int) -> None:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"e":"sent"') >= n:
            return
        time.sleep(0.01)
    raise AssertionError("the campaign did not start sending")


def trials(store: str) -> list[tuple[int, str]]:
    with TrialStore.open(store, HASH, create=False) as s:
        cols = s.read_columns()
    return sorted(zip(cols["seq"].tolist(), cols["status"].tolist(), strict=False))


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_duplicates_nothing(
    served: tuple[SimulatedServer, str], tmp_path: Path
) -> None:
    """kill -9 mid-run, run again: every seq stored exactly once, in-flight ones as interrupted."""
    _, url = served
    proc, store = launch(url, tmp_path)
    journal = tmp_path / "live.duckdb.live.jsonl"
    wait_for_sends(journal, 20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sent_before = {
        json.loads(line)["seq"] for line in journal.read_text().splitlines() if '"e":"sent"' in line
    }
    again, _ = launch(url, tmp_path)
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    rows = trials(store)
    assert [seq for seq, _ in rows] == list(range(PLANNED))
    interrupted = {seq for seq, status in rows if status == "interrupted"}
    assert interrupted and interrupted <= sent_before
    assert {status for seq, status in rows if seq not in interrupted} == {"ok"}
    sends = Counter(
        json.loads(line)["seq"] for line in journal.read_text().splitlines() if '"e":"sent"' in line
    )
    assert max(sends.values()) == 1  # nothing was sent twice


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resumes(served: tuple[SimulatedServer, str], tmp_path: Path) -> None:
    """SIGINT: clean exit, in-flight requests stored as interrupted; a rerun completes the rest."""
    _, url = served
    proc, store = launch(url, tmp_path)
    wait_for_sends(tmp_path / "live.duckdb.live.jsonl", 15)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    sent, written, interrupted, stopped = out.split("SUMMARY", 1)[1].split()
    assert stopped == "True" and int(sent) == int(written) < PLANNED and int(interrupted) >= 1
    again, _ = launch(url, tmp_path)
    out, _ = again.communicate(timeout=60)
    rows = trials(store)
    assert [seq for seq, _ in rows] == list(range(PLANNED))
    assert Counter(status for _, status in rows)["interrupted"] == int(interrupted)
    assert os.path.exists(tmp_path / "live.duckdb.progress.json")
