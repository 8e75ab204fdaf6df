"""The trial store: plan binding, allocation, batch transactions, errors, read-back and export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from experiment.store import TrialStore, columns_markdown, progress_path, store_path, store_url
from prereg.errors import StoreBusyError, StoreError, StorePlanMismatchError, StoreWriteError
from prereg.records import TRIAL_COLUMNS, TrialRecord
from traffic import Schedule

PLAN = "a" * 64
OTHER = "b" * 64


def make_schedule(n_cases: int = 3, arms: tuple[str, ...] = ("control", "qwen")) -> Schedule:
    """A tiny schedule: every arm sees every case once, in a fixed interleaved order."""
    n = n_cases * len(arms)
    return Schedule(
        arm_ids=arms,
        case_ids=tuple(f"c{i}" for i in range(n_cases)),
        arm_index=np.array([i % len(arms) for i in range(n)], dtype=np.int16),
        case_index=np.array([i // len(arms) for i in range(n)], dtype=np.int32),
        replay=np.zeros(n, dtype=np.int32),
        scheduled_s=np.arange(n, dtype=np.float64) * 0.5,
    )


def make_record(schedule: Schedule, seq: int, *, status: str = "ok") -> TrialRecord:
    """A trial record for request ``seq`` of ``schedule``; router arms get a routing decision."""
    arm = schedule.arm_ids[schedule.arm_index[seq]]
    control = arm == "control"
    ok = status == "ok"
    return TrialRecord(
        plan_hash=PLAN,
        trial_id=schedule.trial_id(seq),
        seq=seq,
        case_id=schedule.case_ids[schedule.case_index[seq]],
        family="code",
        arm=arm,
        replay=int(schedule.replay[seq]),
        scheduled_s=float(schedule.scheduled_s[seq]),
        sent_s=float(schedule.scheduled_s[seq]),
        end_s=float(schedule.scheduled_s[seq]) + 1.25,
        wire_s=None,
        connect_wait_ms=None,
        lateness_ms=None,
        routing_status=None if control else status,  # type: ignore[arg-type]
        routing_latency_ms=None if control else 250.0,
        routing_first_token_ms=None,
        routing_attempts=None if control else 1,
        predicted_label=None if control or not ok else "code",
        gold_labels="code|summarization",
        correct=None if control or not ok else seq % 3 != 0,
        routed_model="big",
        downstream_status="ok",
        downstream_latency_ms=1000.0,
        downstream_first_token_ms=None,
        downstream_itl_ms=None,
        downstream_correct=True,
        e2e_latency_ms=1250.0,
        tokens_in=500,
        tokens_out=404,
        cost_usd=0.0125,
        routing_cost_usd=None if control else 0.0005,
        status=status,  # type: ignore[arg-type]
        error=None if ok else "classifier timed out after 10000 ms",
    )


@pytest.fixture()
def url(tmp_path: Path) -> str:
    """A DuckDB store URL in a fresh directory."""
    return store_url(tmp_path / "campaign.duckdb")


def test_urls_and_progress_path(tmp_path: Path) -> None:
    """A plain path becomes a DuckDB URL; the progress file sits beside the store file."""
    url = store_url(tmp_path / "s.duckdb")
    assert url == f"duckdb:///{tmp_path / 's.duckdb'}"
    assert store_path(url) == tmp_path / "s.duckdb"
    assert progress_path(url) == tmp_path / "s.duckdb.progress.json"
    assert progress_path("postgresql://u:p@db/x") is None


def test_round_trip_in_seq_order_with_nulls(url: str) -> None:
    """Trials written out of order read back ordered by seq, NULLs masked, columns as documented."""
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_allocation(schedule)
        store.write_trials([make_record(schedule, s) for s in (5, 1, 3)])
        store.write_trials([make_record(schedule, s) for s in (0, 4, 2)])
        cols = store.read_columns()
    assert list(cols) == [c.name for c in TRIAL_COLUMNS]
    assert cols["seq"].tolist() == [0, 1, 2, 3, 4, 5]
    assert cols["trial_id"].tolist() == [schedule.trial_id(i) for i in range(6)]
    assert cols["routing_status"].tolist() == [None, "ok", None, "ok", None, "ok"]
    assert np.ma.getmaskarray(cols["correct"]).tolist() == [True, False, True, False, True, False]
    assert np.ma.compressed(cols["correct"]).tolist() == [True, False, True]
    assert cols["cost_usd"].dtype == np.float64


def test_allocation_written_once_and_counted(url: str) -> None:
    """The allocation is stored with its digest; the same schedule again is a no-op."""
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_allocation(schedule)
        store.write_allocation(schedule)
        assert store.allocation_counts() == {
            "control": {"c0": 1, "c1": 1, "c2": 1},
            "qwen": {"c0": 1, "c1": 1, "c2": 1},
        }
        assert store.planned_per_arm() == {"control": 3, "qwen": 3}
        assert store.meta()["schedule_digest"] == schedule.digest()
        assert store.meta()["planned_total"] == "6"


def test_another_schedule_is_refused(url: str) -> None:
    """A store holding one allocation refuses a different one."""
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_allocation(make_schedule())
        with pytest.raises(StorePlanMismatchError, match="store holds allocation"):
            store.write_allocation(make_schedule(n_cases=4))


def test_store_from_another_plan_is_refused(url: str) -> None:
    """Opening a store with another plan's hash names both hashes."""
    TrialStore.open(url, PLAN, create=True).close()
    with pytest.raises(StorePlanMismatchError, match=f"belongs to plan {PLAN}, not to plan {OTHER}"):
        TrialStore.open(url, OTHER, create=True)
    with TrialStore.open(url, None, create=False) as store:
        assert store.plan_hash == PLAN


def test_missing_store_is_an_error(tmp_path: Path) -> None:
    """Opening a store that does not exist, without create, is a one-line error."""
    with pytest.raises(StoreError, match="no store here"):
        TrialStore.open(str(tmp_path / "nope.duckdb"), None, create=False)


def test_unwritable_location(tmp_path: Path) -> None:
    """A store under a regular file (not a directory) is a StoreWriteError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreWriteError, match="cannot open the store"):
        TrialStore.open(str(blocker / "s.duckdb"), PLAN, create=True)


def test_failed_batch_writes_nothing(url: str) -> None:
    """A batch that fails (a duplicate trial) leaves none of its rows behind."""
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_trials([make_record(schedule, 0)])
        with pytest.raises(StoreError):
            store.write_trials([make_record(schedule, 1), make_record(schedule, 0)])
        assert store.existing_trial_ids() == {schedule.trial_id(0)}
        assert store.existing_seqs().tolist() == [0]


def test_busy_store_from_another_process(url: str) -> None:
    """While another process holds the store, opening it is a StoreBusyError pointing to status."""
    TrialStore.open(url, PLAN, create=True).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(store_path(url)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError, match="in use by a running campaign; use `routetrial status"):
            TrialStore.open(url, PLAN, create=True)
    finally:
        holder.communicate("")


def test_counts_for_status(url: str) -> None:
    """Done per arm and failures by status come from the stored trials."""
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_trials(
            [
                make_record(schedule, 0),
                make_record(schedule, 1, status="timeout"),
                make_record(schedule, 3, status="timeout"),
                make_record(schedule, 5),
            ]
        )
        assert store.done_per_arm() == {"control": 1, "qwen": 3}
        assert store.failures_by_status() == {"timeout": 2}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_matches_the_table(url: str, tmp_path: Path, fmt: str) -> None:
    """Export writes the trial table ordered by seq with the documented columns."""
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_trials([make_record(schedule, s) for s in (2, 0, 1)])
        out = store.export(tmp_path / f"t.{fmt}", fmt)  # type: ignore[arg-type]
        expected = store.read_arrow()
    nulls = pcsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    got = (
        pq.read_table(out)
        if fmt == "parquet"
        else pcsv.read_csv(out, convert_options=nulls).cast(expected.schema)
    )
    assert got.column_names == [c.name for c in TRIAL_COLUMNS]
    assert got.to_pylist() == expected.to_pylist()
    assert got.column("seq").to_pylist() == [0, 1, 2]


def test_server_database_url_works(tmp_path: Path) -> None:
    """Any SQLAlchemy URL works through the generic path (SQLite stands in for a server)."""
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    schedule = make_schedule()
    with TrialStore.open(url, PLAN, create=True) as store:
        store.write_allocation(schedule)
        store.write_trials([make_record(schedule, s) for s in (1, 0)])
        assert store.read_columns()["trial_id"].tolist() == [schedule.trial_id(0), schedule.trial_id(1)]
        assert store.planned_per_arm() == {"control": 3, "qwen": 3}
    with TrialStore.open(url, None, create=False) as again:
        assert again.plan_hash == PLAN
        assert again.existing_seqs().tolist() == [0, 1]


def test_docs_list_the_trial_columns() -> None:
    """docs/trial-table.md embeds the column table generated from TRIAL_COLUMNS, verbatim."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "trial-table.md").read_text()
    begin, end = "<!-- BEGIN GENERATED COLUMNS -->\n", "<!-- END GENERATED COLUMNS -->"
    assert doc[doc.index(begin) + len(begin) : doc.index(end)].strip() == columns_markdown().strip()
