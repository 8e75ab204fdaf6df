"""Refusing an output path that would overwrite a command's own input or a file of the study.

Every command that writes a file the user names (``analyze --json``, ``report --out``, ``export
--out``, ``design``, ``demo``) calls :func:`refuse_study_files` before it computes anything. The
files of a study are the plan, its lock record (``<plan>.lock.json``), the family's hash-chained
log (``<root plan>.log.jsonl``), the corpus, arrival trace and managed servers' model files the
plan names, and the store with the files kept beside it (DuckDB's ``.wal``, the progress file, the
live journal, each managed server's log). Paths are
compared by identity: :func:`os.path.samefile` when both exist (hard links and symlinks included),
fully resolved paths otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prereg.errors import OutputCollisionError, RoutetrialError

__all__ = ["refuse_study_files", "study_files"]


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.expanduser().resolve() == b.expanduser().resolve()
    except (OSError, ValueError, RuntimeError):  # unreadable, NUL in a path, a symlink loop
        return False


def _plan_files(plan: Path) -> list[tuple[str, Path]]:
    from prereg.study_files import lock_path, log_path

    files = [("plan", plan), ("plan's lock record", lock_path(plan)), ("plan's log", log_path(plan))]
    try:
        from prereg.check import resolve_beside
        from prereg.loader import read_plan
        from prereg.schema import TraceArrival

        loaded = read_plan(plan).plan
    except RoutetrialError:
        return files  # a plan that does not load: the command itself will say why
    files.append(("plan's corpus", resolve_beside(plan, loaded.corpus.path)))
    arrival = loaded.traffic.arrival
    if isinstance(arrival, TraceArrival):
        files.append(("plan's arrival trace", resolve_beside(plan, arrival.path)))
    from prereg.servers import model_file_path

    for name, server in loaded.servers.items():
        weights = None if server.model_file is None else model_file_path(server.model_file, plan.parent)
        if weights is not None:
            files.append((f"model file of servers.{name}", weights))
    return files


def _server_ids(plan: Path | None) -> list[str]:
    from prereg.loader import read_plan

    try:
        return [] if plan is None else list(read_plan(plan).plan.servers)
    except RoutetrialError:
        return []


def _store_files(store: str, servers: Iterable[str] = ()) -> list[tuple[str, Path]]:
    from experiment.store import store_path, store_url
    from prereg.study_files import journal_file, progress_file, server_log_file, wal_file

    path = store_path(store_url(store))
    if path is None:
        return []
    return [
        ("store", path),
        ("store's write-ahead log", wal_file(path)),
        ("store's progress file", progress_file(path)),
        ("store's live journal", journal_file(path)),
        *((f"log of servers.{name}", server_log_file(path, name)) for name in servers),
    ]


def study_files(plan: Path | None = None, store: str | None = None) -> list[tuple[str, Path]]:
    """``(what, path)`` for every file of the study of ``plan`` and ``store`` (either may be None)."""
    files: list[tuple[str, Path]] = []
    if plan is not None:
        files += _plan_files(Path(plan))
        try:
            real = Path(plan).resolve()
        except (OSError, RuntimeError):
            real = Path(plan)
        if real != Path(plan).absolute():  # named through a symlink: the real plan's files too
            files += _plan_files(real)
    if store is not None:
        files += _store_files(store, _server_ids(plan))
    return files


def refuse_study_files(
    out: Path,
    *,
    option: str,
    plan: Path | None = None,
    store: str | None = None,
    inputs: Iterable[tuple[str, Path | None]] = (),
) -> None:
    """Raise :class:`OutputCollisionError` when ``out`` is an input or a file of the study.

    ``option`` names where the output path came from (``--json``, ``--out``, ``design``);
    ``inputs`` adds the command's other input files (``("trial file", path)``).
    """
    out = Path(out)
    candidates = [*study_files(plan, store), *((what, p) for what, p in inputs if p is not None)]
    for what, path in candidates:
        if _same(out, Path(path)):
            raise OutputCollisionError(
                f"expected an output file that is not an input of the study, found the {what} "
                f"({path}); refusing to overwrite it, choose another path",
                file=str(out),
                field=option,
            )
