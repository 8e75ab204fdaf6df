"""The simulated campaign runner: one row per trial, determinism, resume, progress file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from _experiment_plans import make_cases, make_plan

from experiment.campaign.simulated import BATCH_SIZE_ENV, RunSummary, batch_size_from_env, simulate_campaign
from experiment.store import TrialStore, progress_path, store_url
from prereg.canonical import canonical_hash
from prereg.errors import InputError, StorePlanMismatchError
from prereg.records import TRIAL_COLUMNS

N_CASES, REPLAYS = 12, 2
PLANNED = N_CASES * REPLAYS * 4


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pa.Table]:
    """One uninterrupted run of the small plan (batches of 17) and its trial table."""
    url = store_url(tmp_path_factory.mktemp("run") / "a.duckdb")
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS)
    summary = simulate_campaign(
        plan, make_cases(N_CASES), canonical_hash(plan), Path("."), url, batch_size=17
    )
    assert summary.written == PLANNED and summary.resumed == 0 and summary.complete
    with TrialStore.open(url, None, create=False) as store:
        return url, store.read_arrow()


def run(url: str, batch_size: int = 50_000, **plan_kwargs: Any) -> RunSummary:
    """Run the small plan (optionally changed) into ``url``."""
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS, **plan_kwargs)
    return simulate_campaign(
        plan, make_cases(N_CASES), canonical_hash(plan), Path("."), url, batch_size=batch_size
    )


def test_one_row_per_allocated_request(finished: tuple[str, pa.Table]) -> None:
    """Every allocated request has exactly one row, in seq order, failures included."""
    url, table = finished
    with TrialStore.open(url, None, create=False) as store:
        counts = store.allocation_counts()
        planned = store.planned_per_arm()
    assert table.num_rows == PLANNED
    assert table.column("seq").to_pylist() == list(range(PLANNED))
    assert planned == {"control": 24, "phi": 24, "qwen": 24, "deepseek": 24}
    assert all(n == REPLAYS for cases in counts.values() for n in cases.values())
    assert table.column_names == [c.name for c in TRIAL_COLUMNS]
    assert set(table.column("status").to_pylist()) >= {"ok"}


def test_same_plan_same_table(finished: tuple[str, pa.Table], tmp_path: Path) -> None:
    """Same plan and seed in another store, with another batch size: the identical table and CSV."""
    url, table = finished
    other = store_url(tmp_path / "b.duckdb")
    run(other, batch_size=50_000)
    with TrialStore.open(other, None, create=False) as store:
        assert store.read_arrow().equals(table)
        store.export(tmp_path / "b.csv", "csv")
    with TrialStore.open(url, None, create=False) as store:
        store.export(tmp_path / "a.csv", "csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_another_seed_another_table(finished: tuple[str, pa.Table], tmp_path: Path) -> None:
    """A different seed is a different plan: different allocation, different outcomes."""
    other = store_url(tmp_path / "c.duckdb")
    run(other, seed=12)
    with TrialStore.open(other, None, create=False) as store:
        assert not store.read_arrow().equals(finished[1])


def test_resume_writes_only_the_missing_trials(finished: tuple[str, pa.Table], tmp_path: Path) -> None:
    """A store holding some trials is completed to exactly the uninterrupted run's table."""
    _, table = finished
    url = store_url(tmp_path / "partial.duckdb")
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS)
    part = table.filter(pc.equal(pc.bit_wise_and(table.column("seq"), 3), 1))
    with TrialStore.open(url, canonical_hash(plan), create=True) as store:
        store.write_trials_arrow(part)
    summary = run(url, batch_size=7)
    assert summary.resumed == part.num_rows
    assert summary.written == PLANNED - part.num_rows
    with TrialStore.open(url, None, create=False) as store:
        assert store.read_arrow().equals(table)


def test_rerun_of_a_complete_store_writes_nothing(finished: tuple[str, pa.Table]) -> None:
    """Running a finished campaign again changes nothing."""
    summary = run(finished[0])
    assert summary.written == 0 and summary.resumed == PLANNED


def test_progress_file_after_a_run(finished: tuple[str, pa.Table]) -> None:
    """The progress file says finished, with done equal to planned per arm."""
    path = progress_path(finished[0])
    assert path is not None
    state = json.loads(path.read_text())
    assert state["state"] == "finished"
    assert state["done"] == state["planned"] == {"control": 24, "deepseek": 24, "phi": 24, "qwen": 24}
    assert sum(state["failures"].values()) == sum(s != "ok" for s in finished[1].column("status").to_pylist())


def test_store_of_another_plan_is_refused(finished: tuple[str, pa.Table]) -> None:
    """A store written under one plan refuses a campaign of another."""
    with pytest.raises(StorePlanMismatchError, match="belongs to plan"):
        run(finished[0], rate_per_s=3.0)


def test_batch_size_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """ROUTETRIAL_BATCH_SIZE sets the batch size; anything but a positive integer is an error."""
    monkeypatch.setenv(BATCH_SIZE_ENV, "123")
    assert batch_size_from_env() == 123
    monkeypatch.setenv(BATCH_SIZE_ENV, "0")
    with pytest.raises(InputError, match="ROUTETRIAL_BATCH_SIZE: expected a positive integer, found '0'"):
        batch_size_from_env()
