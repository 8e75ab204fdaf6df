"""Requests from the schedule: the :class:`~arms.ArmRequest` for each seq, as both runners need it.

The schedule holds numpy arrays. The simulated runner asks for every seq in order, hundreds of
thousands of times a second: indexing numpy per element is slow there, so ``requests(seq)`` turns
the arrays into Python lists a chunk at a time (memory stays bounded whatever the campaign's
size, and a lookup is a few list indexings). The live runner asks out of order (replies finish in
any order) and a few hundred times a second: :meth:`ScheduleRequests.at` indexes the arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

from arms import ArmRequest
from prereg.records import Case, trial_id
from traffic import Schedule

__all__ = ["ScheduleRequests"]

#: Requests whose schedule entries are turned into Python values at a time.
_CHUNK = 65_536


class ScheduleRequests:
    """``requests(seq)``: the request of ``seq``, due at its scheduled time unless told otherwise."""

    __slots__ = (
        "_arm_ids",
        "_arm_of",
        "_case_of",
        "_due_of",
        "_hi",
        "_lo",
        "_replay_of",
        "cases",
        "schedule",
    )

    def __init__(self, schedule: Schedule, cases: Sequence[Case]) -> None:
        self.schedule = schedule
        by_id = {c.id: c for c in cases}
        self.cases = [by_id[c] for c in schedule.case_ids]
        self._arm_ids = schedule.arm_ids
        self._lo = self._hi = 0
        self._arm_of: list[int] = []
        self._case_of: list[int] = []
        self._replay_of: list[int] = []
        self._due_of: list[float] = []

    def _load(self, seq: int) -> None:
        s = self.schedule
        self._lo, self._hi = seq, min(seq + _CHUNK, len(s))
        self._arm_of = s.arm_index[self._lo : self._hi].tolist()
        self._case_of = s.case_index[self._lo : self._hi].tolist()
        self._replay_of = s.replay[self._lo : self._hi].tolist()
        self._due_of = s.scheduled_s[self._lo : self._hi].tolist()

    def __call__(self, seq: int) -> ArmRequest:
        """The request of ``seq`` due at its scheduled time (fast for seqs asked in order)."""
        if not self._lo <= seq < self._hi:
            self._load(seq)
        i = seq - self._lo
        arm = self._arm_ids[self._arm_of[i]]
        case = self.cases[self._case_of[i]]
        replay = self._replay_of[i]
        return ArmRequest(seq, trial_id(arm, case.id, replay), case, arm, replay, self._due_of[i])

    def at(self, seq: int, scheduled_s: float) -> ArmRequest:
        """The request of ``seq``, due at ``scheduled_s`` (any order)."""
        s = self.schedule
        arm = self._arm_ids[int(s.arm_index[seq])]
        case = self.cases[int(s.case_index[seq])]
        replay = int(s.replay[seq])
        return ArmRequest(seq, trial_id(arm, case.id, replay), case, arm, replay, scheduled_s)
