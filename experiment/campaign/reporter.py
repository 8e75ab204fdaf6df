"""The progress file a running campaign keeps up to date for ``routetrial status``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from experiment.campaign.progress import (
    ProgressState,
    RunState,
    expected_finish,
    now_utc,
    try_write_progress,
    write_progress,
)
from experiment.campaign.tally import Tally

__all__ = ["ProgressReporter"]


class ProgressReporter:
    """Write the run's state, counts and expected finish to ``path`` (no file: nothing written).

    ``virtual_now`` gives a simulated run's virtual clock for the file. :meth:`report` with
    ``final=True`` (the last state, maybe while an error is being raised) lets a file that cannot
    be written go rather than raise.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        store: str,
        plan_hash: str,
        tally: Tally,
        started: datetime,
        t0: float,
        virtual_now: Callable[[], float] | None = None,
    ) -> None:
        self.path = path
        self._store, self._plan_hash, self._tally = store, plan_hash, tally
        self._started, self._t0, self._virtual_now = started, t0, virtual_now

    def report(
        self,
        state: RunState,
        error: str | None = None,
        *,
        final: bool = False,
        stopped_early: str | None = None,
    ) -> None:
        """Rewrite the progress file with ``state``."""
        if self.path is None:
            return
        now = now_utc()
        counts = self._tally.snapshot()
        planned = self._tally.planned
        remaining = sum(planned.values()) - sum(counts.done.values())
        finish = (
            None
            if state in ("failed", "interrupted", "stopped")
            else expected_finish(self._started, now, counts.written, remaining)
        )
        (try_write_progress if final else write_progress)(
            self.path,
            ProgressState(
                store=self._store,
                plan_hash=self._plan_hash,
                pid=os.getpid(),
                state=state,
                started_at_utc=self._started.isoformat(timespec="seconds"),
                updated_at_utc=now.isoformat(timespec="seconds"),
                elapsed_s=round(time.perf_counter() - self._t0, 3),
                planned=dict(planned),
                done=counts.done,
                failures=counts.failures,
                new_done=counts.written,
                expected_finish_utc=finish,
                virtual_now_s=None if self._virtual_now is None else float(self._virtual_now()),
                error=error,
                stopped_early=stopped_early,
            ),
        )

    def error(self, exc: BaseException) -> None:
        """The final ``failed`` state, with the first line of ``exc``."""
        self.report("failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, final=True)
