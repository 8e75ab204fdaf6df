"""Driver and OS errors of a store translated into routetrial's one-line errors, once, at the edge.

A lock held by another process is :class:`StoreBusyError`, a location that cannot be written
(disk full, read-only, permissions) :class:`StoreWriteError`, anything else the driver says
:class:`StoreError`; each keeps only the first line of what the driver said.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import sqlalchemy as sa

from prereg.errors import StoreBusyError, StoreError, StoreWriteError

__all__ = ["first_line", "translating"]

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
_WRITE_MARKERS = (
    "IO Error",
    "No space",
    "Permission denied",
    "Read-only",
    "read-only",
    "Not a directory",
    "Cannot open",
    "File too large",
    "Disk full",
)


def first_line(exc: BaseException) -> str:
    """The first line of what the driver said (its original error when SQLAlchemy wraps one)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


@contextmanager
def translating(where: str, action: str) -> Iterator[None]:
    """Translate driver and OS errors raised inside into the store's one-line errors."""
    try:
        yield
    except (sa.exc.SQLAlchemyError, duckdb.Error, OSError) as exc:
        line = first_line(exc)
        if any(m in line for m in _LOCK_MARKERS):
            raise StoreBusyError(
                f"{where}: store is in use by a running campaign; use `routetrial status {where}` "
                "to follow it, or wait until it finishes"
            ) from exc
        if isinstance(exc, OSError) or any(m in line for m in _WRITE_MARKERS):
            raise StoreWriteError(f"{where}: cannot {action} the store: {line}") from exc
        raise StoreError(f"{where}: cannot {action} the store: {line}") from exc
