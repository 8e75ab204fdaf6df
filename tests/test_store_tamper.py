"""Tamper evidence: a trial row edited, deleted or inserted after it was stored is named (issue 12, item 8).

Each committed batch records a digest of every row and one entry of a hash chain over the batches;
`analyze` and `report` recompute them and refuse a store whose trial table changed, naming the
trial id. The edits here are made the way a user would make them: with duckdb, on the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from _cli import run_cli
from _experiment_plans import write_plan

import prereg.lock
from experiment.campaign.simulated import run_simulated
from experiment.cli import USER_ERROR_EXIT
from experiment.store import ARROW_TRIAL_SCHEMA, ROW_DIGEST_CHARS, TRIAL_COLUMN_NAMES, TrialStore, row_digests
from prereg.frozen import load_frozen_plan


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A frozen plan and its simulated store, written in batches of 10 trials."""
    folder = tmp_path_factory.mktemp("tamper")
    plan = write_plan(folder)
    prereg.lock.freeze(plan)
    run_simulated(load_frozen_plan(plan), str(folder / "plan.duckdb"), progress=False, batch_size=10)
    return plan, folder / "plan.duckdb"


def _copy(store: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy.duckdb"
    shutil.copyfile(store, out)
    return out


def _sql(store: Path, *statements: str) -> None:
    con = duckdb.connect(str(store))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _first_ids(store: Path, n: int) -> list[str]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return [
            str(r[0]) for r in con.execute(f"SELECT trial_id FROM trials ORDER BY seq LIMIT {n}").fetchall()
        ]
    finally:
        con.close()


def _analyze(capsys: pytest.CaptureFixture[str], plan: Path, store: Path) -> tuple[int, str]:
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store)
    return code, err


def test_an_untouched_store_passes(campaign: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The campaign as written analyses; its chain has one entry per batch."""
    plan, store = campaign
    code, err = _analyze(capsys, plan, store)
    assert code == 0, err
    with TrialStore.open(f"duckdb:///{store}", None, create=False, read_only=True) as st:
        assert st.tamper_problems() == []
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM trials").fetchone()
        batches = con.execute("SELECT count(*), sum(rows) FROM trial_batches").fetchone()
    finally:
        con.close()
    assert rows is not None and batches is not None
    assert batches[1] == rows[0] and batches[0] == -(-rows[0] // 10)


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        ("UPDATE trials SET correct = NOT correct WHERE trial_id = '{id}'", "was edited after it was stored"),
        (
            "UPDATE trials SET routing_latency_ms = routing_latency_ms + 1e-9 WHERE trial_id = '{id}'",
            "was edited after it was stored",
        ),
        ("UPDATE trials SET error = 'x' WHERE trial_id = '{id}'", "was edited after it was stored"),
        ("DELETE FROM trials WHERE trial_id = '{id}'", "was deleted after it was stored"),
    ],
    ids=["verdict", "one-ulp latency", "null to text", "deleted"],
)
def test_an_edited_or_deleted_row_is_named(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str, what: str
) -> None:
    """The edit is refused in one line naming the trial id; exit 2."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    # A router trial: its `correct` is not NULL, so NOT changes it.
    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute(
            "SELECT trial_id FROM trials WHERE correct IS NOT NULL ORDER BY seq LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    target = str(row[0])
    _sql(store, edit.format(id=target))
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"trial {target!r} {what}" in err, err


def test_an_inserted_row_is_named(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row added afterwards has no digest: it is named as inserted."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    _sql(
        store,
        "CREATE TEMP TABLE u AS SELECT * FROM trials ORDER BY seq LIMIT 1",
        "UPDATE u SET trial_id = 'control:forged:0', seq = 999999",
        "INSERT INTO trials SELECT * FROM u",
    )
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert err.count("\n") == 1
    assert "trial 'control:forged:0' was inserted after the campaign's batches were committed" in err, err


def test_a_row_moved_under_another_id_is_named(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted trial replaced by a copy of another one under its id: edited, not unnoticed."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    first, second = _first_ids(store, 2)
    _sql(
        store,
        f"CREATE TEMP TABLE t AS SELECT * FROM trials WHERE trial_id = '{second}'",
        f"DELETE FROM trials WHERE trial_id = '{first}'",
        f"UPDATE t SET trial_id = '{first}', seq = 0",
        "INSERT INTO trials SELECT * FROM t",
    )
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT and f"trial {first!r} was edited" in err, err


def _batch_ids(store: Path, where: str) -> list[str]:
    """The trial ids recorded by the chain entries matching ``where``."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute(f"SELECT trial_ids FROM trial_batches WHERE {where}").fetchall()
    finally:
        con.close()
    return [tid for (ids,) in rows for tid in json.loads(ids)]


def _drop_batches(store: Path, where: str, *, move_head: bool) -> None:
    """Delete the trials of the matching batches and their chain entries (``move_head``: as a run
    that never wrote them would have left the chain's head)."""
    ids = ", ".join(f"'{t}'" for t in _batch_ids(store, where))
    statements = [f"DELETE FROM trials WHERE trial_id IN ({ids})", f"DELETE FROM trial_batches WHERE {where}"]
    if move_head:
        statements.append(
            "UPDATE meta SET value = (SELECT chain_sha256 FROM trial_batches "
            "WHERE batch = (SELECT max(batch) FROM trial_batches)) WHERE key = 'trial_chain_head'"
        )
    _sql(store, *statements)


def test_a_rewritten_row_digest_breaks_the_chain(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing a row and rewriting its digest to match is caught by the batch's chain entry."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    ids = _batch_ids(store, "batch = 0")
    target = ids[2]
    _sql(store, f"UPDATE trials SET tokens_in = tokens_in + 1 WHERE trial_id = '{target}'")
    con = duckdb.connect(str(store))
    try:
        cols = ", ".join(TRIAL_COLUMN_NAMES)
        row = con.sql(f"SELECT {cols} FROM trials WHERE trial_id = '{target}'").to_arrow_table()
        digest = row_digests(row.cast(ARROW_TRIAL_SCHEMA))[0]
        (old,) = con.execute("SELECT row_digests FROM trial_batches WHERE batch = 0").fetchone() or ("",)
        new = old[: 2 * ROW_DIGEST_CHARS] + digest + old[3 * ROW_DIGEST_CHARS :]
        con.execute("UPDATE trial_batches SET row_digests = ? WHERE batch = 0", [new])
    finally:
        con.close()
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert "batch 0: its record of trials was altered" in err, err
    assert f"trial {min(ids)!r}" in err, err


def test_a_removed_chain_entry_is_noticed(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropping the last batch with its chain entry still leaves the chain's head behind."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    _drop_batches(store, "batch = (SELECT max(batch) FROM trial_batches)", move_head=False)
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert "chain entries were removed or altered" in err, err


def test_a_removed_middle_entry_breaks_the_chain(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropping a batch from the middle, its trials with it, breaks the next entry's link."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    _drop_batches(store, "batch = 1", move_head=False)
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert "batch 2: the chain of batches is broken before it" in err, err


def test_a_resumed_campaign_continues_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A campaign whose last batches were never written, resumed, analyses clean (the chain continues)."""
    plan = write_plan(tmp_path)
    prereg.lock.freeze(plan)
    store = tmp_path / "plan.duckdb"
    frozen = load_frozen_plan(plan)
    run_simulated(frozen, str(store), progress=False, batch_size=7)
    ids = _first_ids(store, 1000)
    _drop_batches(store, "batch >= 3", move_head=True)
    assert len(_first_ids(store, 1000)) == 21
    run_simulated(frozen, str(store), progress=False, batch_size=7)
    assert sorted(_first_ids(store, 1000)) == sorted(ids)
    code, err = _analyze(capsys, plan, store)
    assert code == 0, err


def test_a_dropped_record_of_batches_is_noticed(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropping the chain's table is refused in one line, not a database error."""
    plan, original = campaign
    store = _copy(original, tmp_path)
    _sql(store, "DROP TABLE trial_batches")
    code, err = _analyze(capsys, plan, store)
    assert code == USER_ERROR_EXIT, err
    assert err.count("\n") == 1 and "the record of committed batches was removed" in err, err


def test_verify_checks_the_store_too(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify says the store's trials are unchanged, and names an edited one (exit 2)."""
    plan, original = campaign
    code, out, err = run_cli(capsys, "verify", plan)
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"unchanged: {original}") and "trials agree" in out
    store = _copy(original, tmp_path)
    target = _first_ids(store, 1)[0]
    _sql(store, f"UPDATE trials SET replay = replay + 100 WHERE trial_id = '{target}'")
    code, _, err = run_cli(capsys, "verify", plan, "--store", store)
    assert code == USER_ERROR_EXIT and f"trial {target!r} was edited after it was stored" in err, err
