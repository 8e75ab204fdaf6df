"""A live run never ends with a trial missing (issue 14, item 11).

The lost trial was the last one: the final periodic flush was cancelled while its batch waited
for the writer's queue on an executor thread, and the writer's close could reach the queue first,
so the batch came after the end marker and was never written; the run said ``finished``. Here
the machine is made slow where it matters (the thread that hands a batch to the writer is late
by 20 ms, as on a loaded machine) and flushes frequent, so the run ends while a flush is under
way; every run must store every trial.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _live_plans import live_plan, sim_plan, start_server, starter_cases

import experiment.campaign.dispatch as dispatch
from experiment.campaign import read_progress, run_live_plan
from experiment.campaign.writer import BatchWriter
from experiment.store import TrialStore

CASES = starter_cases(12)
HASH = "b" * 64


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    _server, thread = start_server(sim_plan(), CASES)
    yield thread.base_url
    thread.stop()


@pytest.fixture
def loaded_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handing a batch to the writer takes 20 ms longer; finished trials are flushed every 5 ms."""
    real = BatchWriter.submit

    def late(self: BatchWriter, batch: Sequence[Any]) -> None:
        time.sleep(0.02)
        real(self, batch)

    monkeypatch.setattr(BatchWriter, "submit", late)
    monkeypatch.setattr(dispatch, "FLUSH_EVERY_S", 0.005)


@pytest.mark.usefixtures("loaded_machine")
def test_every_run_ends_with_every_trial_stored(url: str, tmp_path: Path) -> None:
    plan = live_plan(url, cases=12, rate=400.0)
    for i in range(12):
        store = tmp_path / f"run{i}.duckdb"
        summary = run_live_plan(plan, CASES, HASH, tmp_path, f"duckdb:///{store}")
        with TrialStore.open(f"duckdb:///{store}", HASH, create=False) as opened:
            seqs = sorted(int(s) for s in opened.existing_seqs().tolist())
        assert seqs == list(range(24)), f"run {i}: stored {len(seqs)} of 24"
        assert summary.complete and summary.written == 24
        state = read_progress(Path(f"{store}.progress.json"))
        assert state is not None and state.state == "finished"
