"""Campaign progress: a progress file for ``routetrial status``, a bar on the terminal, a summary.

DuckDB lets one process hold a store file, and while a campaign runs nobody else can open it, not
even to read. So the runner rewrites a small JSON file beside the store after every committed
batch (``<store>.progress.json``, written to a temporary file and renamed over the old one, so a
reader sees either the old or the new version, never half of one), and ``routetrial status``
reads it whenever the store is busy. The figures in the file describe committed trials only.

A run stopped by a signal (:mod:`experiment.stop_signals`) writes the state ``interrupted``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from prereg.atomic_write import write_text_atomically
from prereg.errors import InputError, StoreError, StoreWriteError

__all__ = [
    "PROGRESS_VERSION",
    "ProgressState",
    "expected_finish",
    "format_status",
    "now_utc",
    "pid_alive",
    "read_progress",
    "try_write_progress",
    "write_progress",
]

PROGRESS_VERSION = 1

#: ``stopped``: the pre-registered stopping rule ended the campaign at a look (nothing is missing).
RunState = Literal["running", "finished", "stopped", "failed", "interrupted"]


@dataclass(frozen=True)
class ProgressState:
    """What a campaign has committed so far, as written to the progress file.

    ``done`` and ``failures`` count trials in the store (resumed ones included); ``new_done`` counts
    those this process wrote, which is what the rate and the expected finish are estimated from.
    """

    store: str
    plan_hash: str
    pid: int
    state: RunState
    started_at_utc: str
    updated_at_utc: str
    elapsed_s: float
    planned: dict[str, int]
    done: dict[str, int]
    failures: dict[str, int]
    new_done: int = 0
    expected_finish_utc: str | None = None
    virtual_now_s: float | None = None
    error: str | None = None
    #: Why a ``stopped`` campaign stopped (its look and rule).
    stopped_early: str | None = None
    version: int = field(default=PROGRESS_VERSION)

    @property
    def planned_total(self) -> int:
        """Allocated requests over all arms."""
        return sum(self.planned.values())

    @property
    def done_total(self) -> int:
        """Stored trials over all arms."""
        return sum(self.done.values())


def expected_finish(started: datetime, now: datetime, new_done: int, remaining: int) -> str | None:
    """Wall-clock finish estimated from this process's rate; None before anything was written."""
    if remaining <= 0:
        return now.isoformat(timespec="seconds")
    if new_done <= 0:
        return None
    rate = new_done / max((now - started).total_seconds(), 1e-9)
    return (now + timedelta(seconds=remaining / rate)).isoformat(timespec="seconds")


def write_progress(path: Path, state: ProgressState) -> None:
    """Rewrite the progress file atomically (temporary file in the same directory, then rename).

    On a full disk the temporary file cannot be created, but the old file's blocks are still
    there: the state is then written over the old file in place (not atomic, but the only way the
    final ``failed`` reaches the file). A file that cannot be written either way (a read-only
    directory) raises :class:`~prereg.errors.StoreWriteError` naming it.
    """
    text = json.dumps(asdict(state), indent=1, sort_keys=True) + "\n"
    try:
        write_text_atomically(path, text, in_place_on_failure=True)
    except InputError as exc:
        found = str(exc).rsplit("found ", 1)[-1]
        raise StoreWriteError(f"{path}: cannot write the progress file: {found}") from None


def try_write_progress(path: Path, state: ProgressState) -> bool:
    """:func:`write_progress`, for a final state written while another error is being reported:
    False instead of an error when the file cannot be written."""
    try:
        write_progress(path, state)
    except StoreWriteError:
        return False
    return True


def read_progress(path: Path) -> ProgressState | None:
    """The last progress state, or None when there is no progress file."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{path}: expected a routetrial progress file, found unreadable JSON ({exc})"
        ) from None
    if not isinstance(raw, dict) or raw.get("version") != PROGRESS_VERSION:
        raise StoreError(f"{path}: expected progress file version {PROGRESS_VERSION}, found another format")
    known = set(ProgressState.__dataclass_fields__)
    return ProgressState(**{k: v for k, v in raw.items() if k in known})


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _percent(done: int, planned: int) -> str:
    return f"{100.0 * done / planned:5.1f}%" if planned else "  -  "


def format_status(
    store: str,
    planned: Mapping[str, int],
    done: Mapping[str, int],
    failures: Mapping[str, int],
    *,
    headline: str,
    elapsed_s: float | None = None,
    expected_finish_utc: str | None = None,
) -> str:
    """The text of ``routetrial status``: done/planned per arm, failures by status, timing."""
    arms = list(planned) + [a for a in done if a not in planned]
    width = max([len(a) for a in arms] + [5])
    lines = [f"{store}: {headline}"]
    for arm in arms:
        d, p = done.get(arm, 0), planned.get(arm, 0)
        lines.append(f"  {arm:<{width}}  {d:>9,} / {p:<9,} {_percent(d, p)}")
    total_d, total_p = sum(done.values()), sum(planned.values())
    lines.append(f"  {'total':<{width}}  {total_d:>9,} / {total_p:<9,} {_percent(total_d, total_p)}")
    fails = ", ".join(f"{status} {n:,}" for status, n in sorted(failures.items())) or "none"
    lines.append(f"  failures: {fails}")
    if elapsed_s is not None:
        lines.append(f"  elapsed: {timedelta(seconds=round(elapsed_s))}")
    if expected_finish_utc is not None:
        lines.append(f"  expected finish: {expected_finish_utc}")
    return "\n".join(lines)


def now_utc() -> datetime:
    """The current UTC time (one place, so the rest reads no clock)."""
    return datetime.now(UTC)
