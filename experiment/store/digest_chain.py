"""The trial table's tamper evidence: row digests, a hash chain over committed batches, the check.

Every committed batch of trials leaves, in the same transaction, a digest of each of its rows and
one entry of a hash chain (``trial_batches``): the batch's digest over its rows' digests, chained
to the previous entry like the plan's log (prereg/log.py). Reading the store back recomputes both
(:func:`tamper_problems`), so a row edited, deleted or inserted afterwards is named by its trial id.
This is evidence, not proof: whoever rewrites the digests and the chain too goes unnoticed.

The functions that touch the database take the caller's connection and run inside the caller's
transaction: a batch and its chain entry are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from experiment.store.schema import TRIAL_COLUMN_NAMES

__all__ = [
    "CHAIN_GENESIS",
    "DIGEST_KEY",
    "DIGEST_VERSION",
    "HEAD_KEY",
    "ROW_DIGEST_CHARS",
    "StoredChain",
    "batch_digest",
    "build_digest_tables",
    "chain_digest",
    "read_chain",
    "record_batch",
    "row_digests",
    "tamper_problems",
]

#: The version of the digests, kept in ``meta`` (stores made before them have none: unchecked).
DIGEST_VERSION = "1"
#: The ``prev`` of the first batch.
CHAIN_GENESIS = "0" * 64
#: The meta keys of the tamper evidence: its version (absent in older stores) and the chain's head.
DIGEST_KEY = "trial_digest_version"
HEAD_KEY = "trial_chain_head"
#: Hex characters of one row digest.
ROW_DIGEST_CHARS = 32
_FIELD_SEP = "\x1f"
_NULL = "\x00"


def build_digest_tables(metadata: sa.MetaData) -> sa.Table:
    """The ``trial_batches`` table: one entry of the chain per committed batch.

    An entry holds the batch's trial ids (a JSON list, in the batch's order) and their row digests
    (32 hex characters each, concatenated in the same order): one row per batch, not per trial, so
    the evidence costs one small insert per transaction. No primary key: nothing looks entries up
    by key, and a duplicate or missing batch number is reported by the check.
    """
    return sa.Table(
        "trial_batches",
        metadata,
        sa.Column("batch", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("trial_ids", sa.String, nullable=False),
        sa.Column("row_digests", sa.String, nullable=False),
        sa.Column("batch_sha256", sa.String, nullable=False),
        sa.Column("prev", sa.String, nullable=False),
        sa.Column("chain_sha256", sa.String, nullable=False),
    )


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_string(column.type):
        # Escaped, so that a separator or NUL inside a string cannot shift a field into another.
        column = pc.replace_substring(column, "\\", "\\\\")
        column = pc.replace_substring(column, _FIELD_SEP, "\\u")
        return pc.replace_substring(column, _NULL, "\\0")
    # Floats cast to their shortest round-trip text: equal doubles, equal text, and only those.
    return pc.cast(column, pa.string())


def row_digests(table: pa.Table) -> list[str]:
    """The digest of each row of a trial table (its canonical text, BLAKE2b-128, hex), in row order."""
    if table.num_rows == 0:
        return []
    cols = [_as_text(table.column(name)) for name in TRIAL_COLUMN_NAMES]
    joined = pc.binary_join_element_wise(*cols, _FIELD_SEP, null_handling="replace", null_replacement=_NULL)
    blake = hashlib.blake2b
    return [blake(text.encode(), digest_size=16).hexdigest() for text in joined.to_pylist()]


def batch_digest(trial_ids: str, digests: str) -> str:
    """SHA-256 of a batch entry's trial ids (JSON) and concatenated row digests."""
    return hashlib.sha256(f"{trial_ids}\n{digests}".encode()).hexdigest()


def chain_digest(prev: str, batch: int, rows: int, batch_sha256: str) -> str:
    """The chain entry of a batch: SHA-256 of the previous entry, the batch number, size and digest."""
    return hashlib.sha256(f"{prev}:{batch}:{rows}:{batch_sha256}".encode()).hexdigest()


def record_batch(conn: sa.Connection, batches: sa.Table, data: pa.Table) -> str:
    """Append the chain entry of a batch of trials (caller's transaction); returns the new head.

    The caller records the head in ``meta`` under :data:`HEAD_KEY` in the same transaction.
    """
    b = batches.c
    # Results fetched to the end (.all(), not .first()): DuckDB refuses the Arrow insert that
    # follows while a result of the same connection is unfinished. max() rather than ORDER BY ...
    # LIMIT 1, which DuckDB answered with a stale row after rows of the table were deleted.
    top = conn.execute(sa.select(sa.func.max(b.batch))).all()[0][0]
    number, prev = 0, CHAIN_GENESIS
    if top is not None:
        number = int(top) + 1
        prev = str(conn.execute(sa.select(b.chain_sha256).where(b.batch == top)).all()[0][0])
    ids = json.dumps([str(t) for t in data.column("trial_id").to_pylist()], ensure_ascii=False)
    digests = "".join(row_digests(data))
    digest = batch_digest(ids, digests)
    chain = chain_digest(prev, number, data.num_rows, digest)
    conn.execute(
        sa.insert(batches).values(
            batch=number,
            rows=data.num_rows,
            trial_ids=ids,
            row_digests=digests,
            batch_sha256=digest,
            prev=prev,
            chain_sha256=chain,
        )
    )
    return chain


@dataclass(frozen=True, slots=True)
class StoredChain:
    """The chain as read back: its entries as stored and the head recorded in ``meta`` (None: none)."""

    entries: tuple[tuple[Any, ...], ...]
    head: str | None


def read_chain(conn: sa.Connection, batches: sa.Table, meta: sa.Table) -> StoredChain:
    """The chain's entries and head (inside the caller's transaction)."""
    b = batches.c
    entries = conn.execute(
        sa.select(b.batch, b.rows, b.trial_ids, b.row_digests, b.batch_sha256, b.prev, b.chain_sha256)
    ).all()
    head = conn.execute(sa.select(meta.c.value).where(meta.c.key == HEAD_KEY)).all()
    return StoredChain(tuple(tuple(e) for e in entries), str(head[0][0]) if head else None)


def _check_chain(chain: StoredChain) -> tuple[dict[str, tuple[int, str]], list[tuple[str, str]]]:
    """The committed digest of each trial id (with its batch) and the chain's own problems."""
    entries = sorted(chain.entries, key=lambda e: int(e[0]))
    stored: dict[str, tuple[int, str]] = {}
    problems: list[tuple[str, str]] = []
    prev = CHAIN_GENESIS
    for expected, (batch, rows, ids_json, digests, digest, entry_prev, chained) in enumerate(entries):
        batch, rows = int(batch), int(rows)
        try:
            batch_ids = [str(t) for t in json.loads(str(ids_json))]
        except (ValueError, TypeError):
            batch_ids = []
        first = min(batch_ids) if batch_ids else f"(batch {batch})"
        if batch != expected or str(entry_prev) != prev:
            problems.append((first, f"batch {batch}: the chain of batches is broken before it"))
        elif (
            len(batch_ids) != rows
            or len(str(digests)) != rows * ROW_DIGEST_CHARS
            or batch_digest(str(ids_json), str(digests)) != str(digest)
        ):
            problems.append((first, f"batch {batch}: its record of trials was altered"))
        elif chain_digest(prev, batch, rows, str(digest)) != str(chained):
            problems.append((first, f"batch {batch}: its chain entry was altered"))
        prev = str(chained)
        text = str(digests)
        for i, tid in enumerate(batch_ids):
            stored[tid] = (batch, text[i * ROW_DIGEST_CHARS : (i + 1) * ROW_DIGEST_CHARS])
    if (chain.head is None and entries) or (chain.head is not None and chain.head != prev):
        problems.append(("(chain head)", "the last batches' chain entries were removed or altered"))
    return stored, problems


def tamper_problems(ids: Sequence[str], digests: Sequence[str], chain: StoredChain) -> list[tuple[str, str]]:
    """``(trial_id, what)`` for every row that differs from what was committed, then the chain's.

    ``ids`` and ``digests`` are the stored rows' trial ids and :func:`row_digests`, in row order.
    Rows edited, deleted or inserted after their batch was committed come first (deleted ones by
    batch), then chain entries that were altered, removed or reordered.
    """
    actual = dict(zip(ids, digests, strict=True))
    stored, chain_problems = _check_chain(chain)
    problems: list[tuple[str, str]] = []
    for tid in ids:
        if tid not in stored:
            problems.append((tid, "was inserted after the campaign's batches were committed"))
        elif stored[tid][1] != actual[tid]:
            problems.append((tid, "was edited after it was stored (its row differs from its digest)"))
    deleted = sorted((batch, tid) for tid, (batch, _) in stored.items() if tid not in actual)
    problems += [(tid, "was deleted after it was stored") for _, tid in deleted]
    return problems + chain_problems
