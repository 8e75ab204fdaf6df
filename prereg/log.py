"""The hash-chained log of a plan family: freezes, amendments and deviations, in order.

One log serves a plan and all its amendments: ``plan.yaml.log.jsonl`` beside the root plan
``plan.yaml``; the amendment ``plan.amend-2.yaml`` writes to the same log, so the whole history of a
pre-registration reads top to bottom in one file. Each line is a JSON object::

    {"seq": 0, "kind": "freeze", "at_utc": "...", "detail": {...}, "prev": "000...0", "hash": "..."}

``hash`` is the SHA-256 of the entry's canonical JSON without ``hash``; ``prev`` is the previous
entry's hash (64 zeros for the first). Editing, deleting or reordering an entry breaks the chain.
Removing entries from the end keeps a valid chain; :func:`prereg.lock.verify` catches that for
freezes and amendments by cross-checking the lock files, and the campaign's results record their
own deviations.
"""

from __future__ import annotations

import fcntl
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prereg.canonical import bytes_hash
from prereg.errors import InputError, PlanChangedError
from prereg.study_files import log_path, plan_root

__all__ = [
    "GENESIS",
    "LogEntry",
    "append_log",
    "entry_hash",
    "log_path",
    "log_problem",
    "plan_root",
    "read_log",
    "utc_now",
]

#: The ``prev`` of the first entry.
GENESIS = "0" * 64
_KIND = re.compile(r"^[a-z][a-z_]*$")


@dataclass(frozen=True)
class LogEntry:
    """One log entry; ``hash`` covers every other field."""

    seq: int
    kind: str
    at_utc: str
    detail: dict[str, str]
    prev: str
    hash: str


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def entry_hash(seq: int, kind: str, at_utc: str, detail: dict[str, str], prev: str) -> str:
    """The SHA-256 of an entry's canonical JSON (sorted keys, no whitespace) without ``hash``."""
    body = {"seq": seq, "kind": kind, "at_utc": at_utc, "detail": detail, "prev": prev}
    return bytes_hash(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )


def read_log(plan_path: Path) -> tuple[LogEntry, ...]:
    """The entries of the family's log, oldest first (empty when there is no log yet).

    Raises :class:`PlanChangedError` when the chain is broken: an entry was edited, deleted,
    inserted or moved.
    """
    path = log_path(plan_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanChangedError(f"{path}: log: expected a readable UTF-8 log, found {exc}") from None
    entries, problem = _parse(text)
    if problem is not None:
        raise PlanChangedError(f"{path}: log tampered: {problem}")
    return entries


def log_problem(plan_path: Path) -> str | None:
    """What is wrong with the family's log chain, or None when it is intact (or absent)."""
    try:
        read_log(plan_path)
    except PlanChangedError as exc:
        return str(exc).split("log tampered: ", 1)[-1]
    return None


def append_log(plan_path: Path, kind: str, detail: dict[str, str]) -> None:
    """Append an entry to the family's log, chained to the last one.

    ``kind`` is a lower-case word (``freeze``, ``amend``, ``deviation``); ``detail`` maps strings to
    strings. Refuses to extend a log whose chain is broken. Appends are serialised with a file lock.
    """
    if not _KIND.fullmatch(kind):
        raise InputError(f"expected a lower-case word, found {kind!r}", field="kind")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in detail.items()):
        raise InputError("expected string keys and values", field="detail")
    path = log_path(plan_path)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        entries, problem = _parse(handle.read())
        if problem is not None:
            raise PlanChangedError(f"{path}: log tampered: {problem}; not appending")
        seq = len(entries)
        prev = entries[-1].hash if entries else GENESIS
        at = utc_now()
        body: dict[str, Any] = {"seq": seq, "kind": kind, "at_utc": at, "detail": dict(detail), "prev": prev}
        body["hash"] = entry_hash(seq, kind, at, dict(detail), prev)
        handle.seek(0, 2)
        handle.write(json.dumps(body, ensure_ascii=False) + "\n")
        handle.flush()


def _parse(text: str) -> tuple[tuple[LogEntry, ...], str | None]:
    entries: list[LogEntry] = []
    prev = GENESIS
    if text and not text.endswith("\n"):
        return (), "the last line is incomplete"
    # entries end in "\n" only: splitlines() would also split inside a reason that holds U+2028
    for number, line in enumerate(text[:-1].split("\n") if text else [], start=1):
        try:
            obj = json.loads(line)
            entry = LogEntry(
                seq=int(obj["seq"]),
                kind=str(obj["kind"]),
                at_utc=str(obj["at_utc"]),
                detail={str(k): str(v) for k, v in dict(obj["detail"]).items()},
                prev=str(obj["prev"]),
                hash=str(obj["hash"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return (), f"line {number} is not a log entry"
        if entry.seq != len(entries):
            return (
                (),
                f"line {number}: expected entry {len(entries)}, found entry {entry.seq} (deleted or reordered)",
            )
        if entry.prev != prev:
            return (
                (),
                f"line {number}: entry {entry.seq} does not follow the previous entry (deleted or reordered)",
            )
        expected = entry_hash(entry.seq, entry.kind, entry.at_utc, entry.detail, entry.prev)
        if entry.hash != expected or obj["detail"] != entry.detail:
            return (), f"line {number}: entry {entry.seq} was edited (hash mismatch)"
        entries.append(entry)
        prev = entry.hash
    return tuple(entries), None
