"""What a campaign has stored so far: trials per arm, failures by status, what this run wrote.

Both runners keep one :class:`Tally`, seeded from the store when a run starts or resumes and
updated by the writer thread after each committed batch (hence the lock); the progress file, the
summary and ``complete`` are read from it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prereg.records import TrialRecord
from traffic import Schedule

__all__ = ["Tally", "TallySnapshot", "planned_per_arm"]


def planned_per_arm(schedule: Schedule) -> dict[str, int]:
    """Requests allocated to each arm (every arm of the schedule listed)."""
    return {arm: sum(cases.values()) for arm, cases in schedule.allocation_counts().items()}


@dataclass(frozen=True)
class TallySnapshot:
    """The counts at one moment (sorted by arm and by status)."""

    done: dict[str, int]
    failures: dict[str, int]
    written: int
    interrupted: int


class Tally:
    """Committed trials per arm and failures by status; thread-safe."""

    def __init__(
        self, planned: Mapping[str, int], done: Mapping[str, int], failures: Mapping[str, int]
    ) -> None:
        self.planned = dict(planned)
        self._done = Counter(done)
        self._failures = Counter(failures)
        self._written = 0
        self._interrupted = 0
        self._lock = threading.Lock()

    def add(self, batch: Sequence[TrialRecord]) -> None:
        """Count a committed batch."""
        with self._lock:
            self._done.update(r.arm for r in batch)
            self._failures.update(r.status for r in batch if r.status != "ok")
            self._written += len(batch)
            self._interrupted += sum(1 for r in batch if r.status == "interrupted")

    def snapshot(self) -> TallySnapshot:
        """The counts now."""
        with self._lock:
            return TallySnapshot(
                done=dict(sorted(self._done.items())),
                failures=dict(sorted(self._failures.items())),
                written=self._written,
                interrupted=self._interrupted,
            )

    @property
    def complete(self) -> bool:
        """Every allocated request has its trial row."""
        done = self.snapshot().done
        return all(done.get(arm, 0) == n for arm, n in self.planned.items())
