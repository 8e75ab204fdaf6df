"""Where a store is: its SQLAlchemy URL, its file, the progress file beside it, its name in messages.

A plain path means an embedded DuckDB file; anything with ``://`` is a SQLAlchemy URL (a server
database, or ``duckdb:///...`` spelt out). The files beside a store file are named by
:mod:`prereg.study_files`, not here.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from prereg.errors import StoreError
from prereg.study_files import progress_file

__all__ = ["progress_path", "store_label", "store_path", "store_url"]


def store_url(location: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (a path means a DuckDB file).

    Raises :class:`StoreError` for a URL that does not parse.
    """
    text = str(location)
    if "://" in text:
        try:
            sa.engine.make_url(text)
        except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
            # The URL is not echoed: it may hold a password.
            raise StoreError(
                "store: expected a file path or a SQLAlchemy URL (dialect://...), "
                "found a URL that does not parse"
            ) from None
        return text
    return f"duckdb:///{Path(text).expanduser().resolve()}"


def store_path(url: str) -> Path | None:
    """The file of a DuckDB store URL; None for server databases and in-memory DuckDB."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "duckdb" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def progress_path(url: str) -> Path | None:
    """``<store>.progress.json`` beside a DuckDB store file; None when the store is no file."""
    path = store_path(url)
    return None if path is None else progress_file(path)


def store_label(url: str) -> str:
    """How messages name a store: its file path, or its URL with the password hidden."""
    path = store_path(url)
    return str(path) if path is not None else sa.engine.make_url(url).render_as_string(hide_password=True)
