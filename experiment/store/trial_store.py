"""The trial store: one database per campaign, bound to its plan, written in batch transactions.

By default a store is an embedded DuckDB file reached through SQLAlchemy (``duckdb:///path``);
any other SQLAlchemy URL (a server database) works through the generic path, so a team can point
campaigns at a shared server later. Four tables:

- ``meta``: key/value facts binding the store to its plan (``plan_canonical_sha256``,
  ``plan_bytes_sha256``, ``routetrial_version``, ``created_at_utc``, ``schedule_digest``);
- ``allocation``: the whole randomized schedule, written before the first request is sent
  (allocation concealment: the sequence is fixed and on record before any outcome exists);
- ``trials``: one row per trial with exactly :data:`prereg.records.TRIAL_COLUMNS`;
- ``trial_batches``: tamper evidence. Each committed batch records, in its own transaction, its
  trial ids, a digest of every row and one entry of a hash chain over the batches (chained like
  the plan's log); :meth:`TrialStore.check_trials` recomputes them, so a row edited, deleted or
  inserted after it was stored is named by its trial id (``analyze`` and ``report`` refuse it).

Every write is one transaction, so a kill or a full disk leaves whole batches or nothing. DuckDB
allows a single process per file; a second one gets :class:`StoreBusyError` (``routetrial status``
reads the runner's progress file instead). Third-party errors are translated once, at the edge
(:mod:`experiment.store.driver_errors`). Where a store is (:mod:`~experiment.store.locations`),
the tamper evidence (:mod:`~experiment.store.digest_chain`) and the export
(:mod:`~experiment.store.export`) are modules of their own; this one opens, binds, writes and reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from experiment.store.digest_chain import (
    DIGEST_KEY,
    DIGEST_VERSION,
    HEAD_KEY,
    build_digest_tables,
    read_chain,
    record_batch,
    row_digests,
    tamper_problems,
)
from experiment.store.driver_errors import first_line, translating
from experiment.store.export import ExportFormat, export_trials
from experiment.store.locations import store_label, store_path, store_url
from experiment.store.schema import (
    ARROW_TRIAL_SCHEMA,
    TRIAL_COLUMN_NAMES,
    ScheduleLike,
    allocation_table,
    arrow_to_columns,
    build_metadata,
    records_to_arrow,
)
from prereg.errors import StoreError, StorePlanMismatchError
from prereg.records import TrialRecord
from prereg.version import version as routetrial_version

__all__ = ["DUCKDB_MEMORY_LIMIT", "TrialStore"]

#: DuckDB's buffer pool per store: bounds a campaign's memory whatever its size.
DUCKDB_MEMORY_LIMIT = "512MB"

_ALLOCATION_SLICE = 100_000


class TrialStore:
    """A campaign's trial store, bound to one plan's canonical hash.

    Open it with :meth:`open`; use it as a context manager or call :meth:`close`, which releases
    the DuckDB file lock.
    """

    def __init__(self, url: str, engine: sa.Engine, conn: sa.Connection, plan_hash: str) -> None:
        self._url = url
        self._engine = engine
        self._conn = conn
        self._plan_hash = plan_hash
        self._metadata, self._meta, self._allocation, self._trials = build_metadata()
        self._batches = build_digest_tables(self._metadata)
        self._duck = engine.dialect.name == "duckdb"
        self._digesting = False

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, plan_hash: str | None, *, create: bool, read_only: bool = False) -> TrialStore:
        """Open (or create) the store at ``url`` for the plan with canonical hash ``plan_hash``.

        ``plan_hash=None`` opens an existing store whatever its plan (for ``status`` and
        ``export``). Raises :class:`StorePlanMismatchError` when the store belongs to another plan,
        :class:`StoreBusyError` when another process holds it, :class:`StoreWriteError` when its
        location cannot be written, and :class:`StoreError` when there is no store to open or the
        URL names a database whose dialect or driver is not installed.
        """
        url = store_url(url)
        where = store_label(url)
        path = store_path(url)
        if not create and path is not None and not path.is_file():
            raise StoreError(f"{where}: no store here (expected a DuckDB file written by `routetrial run`)")
        if create and plan_hash is None:
            raise StoreError(f"{where}: creating a store needs the plan's canonical hash")
        connect_args: dict[str, Any] = {}
        if path is not None:
            # DuckDB would otherwise cache up to 80% of RAM; a campaign streams, it need not.
            connect_args["config"] = {"memory_limit": DUCKDB_MEMORY_LIMIT}
            if read_only:
                connect_args["read_only"] = True
        try:
            engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (sa.exc.ArgumentError, ImportError) as exc:
            # An unknown dialect (NoSuchModuleError is an ArgumentError) or a driver not installed.
            raise StoreError(
                f"{where}: expected a usable store URL, found {first_line(exc)} "
                "(unknown database, or its driver is not installed)"
            ) from None
        try:
            with translating(where, "open"):
                conn = engine.connect()
        except BaseException:
            engine.dispose()
            raise
        store = cls(url, engine, conn, plan_hash or "")
        try:
            store._bind(plan_hash, create=create, where=where)
        except BaseException:
            store.close()
            raise
        return store

    def _bind(self, plan_hash: str | None, *, create: bool, where: str) -> None:
        with translating(where, "initialise"), self._conn.begin():
            if create:
                self._metadata.create_all(self._conn, checkfirst=True)
            elif not sa.inspect(self._conn).has_table("meta"):
                raise StoreError(f"{where}: not a routetrial store (no meta table)")
            row = self._conn.execute(
                sa.select(self._meta.c.value).where(self._meta.c.key == "plan_canonical_sha256")
            ).first()
            if row is None:
                if not create:
                    raise StoreError(f"{where}: store has no plan hash (never initialised)")
                assert plan_hash is not None
                self._put_meta(
                    {
                        "plan_canonical_sha256": plan_hash,
                        "routetrial_version": routetrial_version(),
                        "created_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                        DIGEST_KEY: DIGEST_VERSION,
                    }
                )
                self._digesting = True
                return
            bound = str(row[0])
            if plan_hash is not None and bound != plan_hash:
                raise StorePlanMismatchError(
                    f"{where}: store belongs to plan {bound}, not to plan {plan_hash}; "
                    "use a new --store for this plan"
                )
            self._plan_hash = bound
            version = self._conn.execute(
                sa.select(self._meta.c.value).where(self._meta.c.key == DIGEST_KEY)
            ).first()
            self._digesting = version is not None and str(version[0]) == DIGEST_VERSION

    @property
    def url(self) -> str:
        """The store's SQLAlchemy URL."""
        return self._url

    @property
    def plan_hash(self) -> str:
        """The canonical hash of the plan this store is bound to."""
        return self._plan_hash

    @property
    def where(self) -> str:
        """The store's file path (or its URL without password), for messages."""
        return store_label(self._url)

    def close(self) -> None:
        """Close the connection and release the file."""
        try:
            self._conn.close()
        finally:
            self._engine.dispose()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- meta ------------------------------------------------------------------------------

    def _put_meta(self, items: Mapping[str, str]) -> None:
        for key, value in items.items():
            self._conn.execute(sa.delete(self._meta).where(self._meta.c.key == key))
            self._conn.execute(sa.insert(self._meta).values(key=key, value=value))

    def set_meta(self, items: Mapping[str, str]) -> None:
        """Record facts about the campaign (one transaction); the plan binding cannot change."""
        if "plan_canonical_sha256" in items:
            raise StoreError(f"{self.where}: the plan hash of a store is fixed at creation")
        with translating(self.where, "write"), self._conn.begin():
            self._put_meta(items)

    def meta(self) -> dict[str, str]:
        """Every meta fact, by key."""
        with translating(self.where, "read"), self._conn.begin():
            rows = self._conn.execute(sa.select(self._meta.c.key, self._meta.c.value)).all()
        return {str(k): str(v) for k, v in rows}

    # --- allocation ------------------------------------------------------------------------

    def write_allocation(self, schedule: ScheduleLike) -> None:
        """Write the whole allocation sequence before the first request (once per store).

        On a resumed campaign the sequence is already there: it must be the same one (its digest
        is compared), otherwise the store holds another schedule and is refused.
        """
        digest = schedule.digest()
        stored = self.meta().get("schedule_digest")
        if stored is not None:
            if stored != digest:
                raise StorePlanMismatchError(
                    f"{self.where}: store holds allocation {stored}, this run derives {digest}"
                )
            return
        with translating(self.where, "write"), self._conn.begin():
            # In slices, so a million-request schedule never sits in memory as one Arrow table.
            for lo in range(0, len(schedule), _ALLOCATION_SLICE):
                self._insert_arrow(self._allocation, allocation_table(schedule, lo, lo + _ALLOCATION_SLICE))
            self._put_meta({"schedule_digest": digest, "planned_total": str(len(schedule))})

    def allocation_counts(self) -> dict[str, dict[str, int]]:
        """Allocated requests per arm and case: ``{arm: {case_id: n}}``."""
        a = self._allocation.c
        stmt = sa.select(a.arm, a.case_id, sa.func.count()).group_by(a.arm, a.case_id)
        with translating(self.where, "read"), self._conn.begin():
            rows = self._conn.execute(stmt.order_by(a.arm, a.case_id)).all()
        out: dict[str, dict[str, int]] = {}
        for arm, case_id, n in rows:
            out.setdefault(str(arm), {})[str(case_id)] = int(n)
        return out

    def planned_per_arm(self) -> dict[str, int]:
        """Allocated requests per arm."""
        return {arm: sum(cases.values()) for arm, cases in self.allocation_counts().items()}

    # --- trials ----------------------------------------------------------------------------

    def _insert_arrow(self, table: sa.Table, data: pa.Table) -> None:
        """Insert an Arrow table inside the caller's transaction (DuckDB: one INSERT ... SELECT)."""
        if data.num_rows == 0:
            return
        if self._duck:
            duck = self._conn.connection.driver_connection
            assert duck is not None
            name = f"_routetrial_{table.name}_batch"
            cols = ", ".join(data.column_names)
            duck.register(name, data)
            try:
                duck.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {name}")
            finally:
                duck.unregister(name)
        else:
            self._conn.execute(sa.insert(table), data.to_pylist())

    def write_trials(self, records: Sequence[TrialRecord]) -> None:
        """Insert a batch of trials in one transaction: all of them or, on any failure, none."""
        self.write_trials_arrow(records_to_arrow(records))

    def write_trials_arrow(self, data: pa.Table) -> None:
        """Insert a batch already in the trial table's Arrow schema, in one transaction.

        The same transaction records the batch's row digests and its entry of the hash chain.
        """
        with translating(self.where, "write"), self._conn.begin():
            self._insert_arrow(self._trials, data)
            if self._digesting and data.num_rows:
                self._put_meta({HEAD_KEY: record_batch(self._conn, self._batches, data)})

    def tamper_problems(self, trials: pa.Table | None = None) -> list[tuple[str, str]]:
        """``(trial_id, what)`` for every stored row that differs from what was committed.

        Rows edited, deleted or inserted after their batch was committed (rows by ``seq``), then
        chain entries that were altered, removed or reordered (see
        :func:`experiment.store.digest_chain.tamper_problems`). ``trials`` is the table as
        :meth:`read_arrow` gives it (read here when None). A store made before the digests existed
        has nothing to check: the list is empty.
        """
        if not self._digesting:
            return []
        with translating(self.where, "read"), self._conn.begin():
            has_chain = sa.inspect(self._conn).has_table(self._batches.name)
        if not has_chain:
            return [("(every trial)", "cannot be checked: the record of committed batches was removed")]
        trials = self.read_arrow() if trials is None else trials
        ids = [str(t) for t in trials.column("trial_id").to_pylist()]
        digests = row_digests(trials)
        with translating(self.where, "read"), self._conn.begin():
            chain = read_chain(self._conn, self._batches, self._meta)
        return tamper_problems(ids, digests, chain)

    def check_trials(self, trials: pa.Table | None = None) -> None:
        """Raise :class:`StoreError` naming the first trial that changed after it was stored."""
        problems = self.tamper_problems(trials)
        if problems:
            tid, what = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise StoreError(
                f"{self.where}: the trial table was changed after it was written: trial {tid!r} {what}{more}"
            )

    def _query_arrow(self, stmt: sa.Select[Any], sql: str) -> pa.Table:
        with translating(self.where, "read"), self._conn.begin():
            if self._duck:
                duck = self._conn.connection.driver_connection
                assert duck is not None
                rel = duck.sql(sql)
                fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
                return fetch()
            result = self._conn.execute(stmt)
            names = list(result.keys())
            rows = result.all()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def existing_seqs(self) -> npt.NDArray[np.int64]:
        """Schedule positions already stored, ascending (for resume; cheaper than a set of ids)."""
        stmt = sa.select(self._trials.c.seq).order_by(self._trials.c.seq)
        table = self._query_arrow(stmt, "SELECT seq FROM trials ORDER BY seq")
        return np.asarray(table.column("seq").to_numpy(), dtype=np.int64)

    def existing_trial_ids(self) -> set[str]:
        """Trial ids already stored."""
        table = self._query_arrow(sa.select(self._trials.c.trial_id), "SELECT trial_id FROM trials")
        return {str(x) for x in table.column("trial_id").to_pylist()}

    def read_arrow(self) -> pa.Table:
        """The trial table ordered by ``seq``, with the documented schema."""
        cols = ", ".join(TRIAL_COLUMN_NAMES)
        stmt = sa.select(self._trials).order_by(self._trials.c.seq)
        table = self._query_arrow(stmt, f"SELECT {cols} FROM trials ORDER BY seq")
        return table.cast(ARROW_TRIAL_SCHEMA)

    def read_columns(self) -> dict[str, npt.NDArray[Any]]:
        """The trial table as numpy columns ordered by ``seq`` (see :func:`arrow_to_columns`)."""
        return arrow_to_columns(self.read_arrow())

    def done_per_arm(self) -> dict[str, int]:
        """Stored trials per arm."""
        t = self._trials.c
        with translating(self.where, "read"), self._conn.begin():
            rows = self._conn.execute(sa.select(t.arm, sa.func.count()).group_by(t.arm)).all()
        return {str(arm): int(n) for arm, n in rows}

    def failures_by_status(self) -> dict[str, int]:
        """Stored failed trials by status (everything but ``ok``)."""
        t = self._trials.c
        stmt = sa.select(t.status, sa.func.count()).where(t.status != "ok").group_by(t.status)
        with translating(self.where, "read"), self._conn.begin():
            rows = self._conn.execute(stmt).all()
        return {str(status): int(n) for status, n in sorted(rows)}

    # --- export ----------------------------------------------------------------------------

    def export(self, out: Path, fmt: ExportFormat) -> Path:
        """Write the trial table, ordered by ``seq``, to a Parquet or CSV file (DuckDB ``COPY``)."""
        return export_trials(self._conn, out, fmt, duck=self._duck, read_arrow=self.read_arrow)
