"""Campaign guarantees: allocation concealment, a re-derivable allocation, determinism across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest
from _experiment_plans import make_cases, make_plan, write_plan

from experiment.campaign.simulated import simulate_campaign
from experiment.store import TrialStore, store_url
from prereg.canonical import canonical_hash
from prereg.errors import StoreWriteError, TraceError
from traffic import build_schedule

ROUTETRIAL = str(Path(sys.executable).with_name("routetrial"))
N_CASES, REPLAYS = 12, 2


def test_allocation_is_stored_before_the_first_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign whose first trial write fails has the whole allocation on record and no trial."""
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS)
    url = store_url(tmp_path / "s.duckdb")

    def refuse(self: TrialStore, records: object) -> None:
        raise StoreWriteError("disk full (test)")

    monkeypatch.setattr(TrialStore, "write_trials", refuse)
    with pytest.raises(StoreWriteError, match="disk full"):
        simulate_campaign(plan, make_cases(N_CASES), canonical_hash(plan), Path("."), url, batch_size=5)
    monkeypatch.undo()
    with TrialStore.open(url, None, create=False) as store:
        assert store.existing_seqs().size == 0
        assert sum(store.planned_per_arm().values()) == N_CASES * REPLAYS * 4
        assert store.meta()["schedule_digest"]


def test_stored_allocation_is_the_one_anyone_re_derives_from_the_plan(tmp_path: Path) -> None:
    """The allocation table equals build_schedule(plan, case ids, canonical hash), request by request."""
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS)
    cases = make_cases(N_CASES)
    url = store_url(tmp_path / "s.duckdb")
    simulate_campaign(plan, cases, canonical_hash(plan), Path("."), url)
    schedule = build_schedule(plan, [c.id for c in cases], canonical_hash(plan), Path("."))
    with TrialStore.open(url, None, create=False) as store:
        assert store.meta()["schedule_digest"] == schedule.digest()
        table = store.read_arrow()
        duck = store._conn.connection.driver_connection
        assert duck is not None
        alloc = duck.sql("SELECT trial_id, scheduled_s FROM allocation ORDER BY seq").fetchall()
    assert [t for t, _ in alloc] == schedule.trial_ids() == table.column("trial_id").to_pylist()
    assert [s for _, s in alloc] == schedule.scheduled_s.tolist() == table.column("scheduled_s").to_pylist()
    assert pc.all(pc.equal(table.column("plan_hash"), canonical_hash(plan))).as_py()


def test_a_bad_trace_fails_before_any_store_exists(tmp_path: Path) -> None:
    """The schedule is built before the store is opened: an unsorted trace leaves no store file."""
    (tmp_path / "trace.txt").write_text("0\n2\n1\n" + "3\n" * 200)
    plan = make_plan(n_cases=N_CASES, replays=REPLAYS, arrival={"kind": "trace", "path": "trace.txt"})
    store = tmp_path / "s.duckdb"
    with pytest.raises(TraceError, match="non-decreasing order"):
        simulate_campaign(plan, make_cases(N_CASES), canonical_hash(plan), tmp_path, store_url(store))
    assert not store.exists()


@pytest.mark.slow
def test_same_plan_and_seed_give_byte_identical_exports_across_processes(tmp_path: Path) -> None:
    """Two `routetrial run` processes with different hash seeds export byte-identical CSV and Parquet."""
    plan = write_plan(tmp_path, n_cases=30, replays=10)
    subprocess.run([ROUTETRIAL, "freeze", str(plan)], check=True, capture_output=True)
    for name, hash_seed in (("a", "1"), ("b", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        store = str(tmp_path / f"{name}.duckdb")
        subprocess.run(
            [ROUTETRIAL, "run", str(plan), "--store", store, "--batch-size", "333"],
            check=True,
            capture_output=True,
            env=env,
        )
        for fmt in ("csv", "parquet"):
            subprocess.run(
                [ROUTETRIAL, "export", store, "--format", fmt], check=True, capture_output=True, env=env
            )
    for fmt in ("csv", "parquet"):
        assert (tmp_path / f"a.{fmt}").read_bytes() == (tmp_path / f"b.{fmt}").read_bytes()
