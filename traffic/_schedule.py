"""The schedule of a campaign: every request's arm, case, replay and send time, fixed in advance.

A schedule is a pure function of the frozen plan, its canonical hash and the corpus's case ids: the
allocation comes from the ``"allocation"`` stream and the send times from the ``"arrivals"`` stream
(:func:`prereg.seeding.derive_rng`). Anyone holding the plan re-derives it, and the runner stores it
(with :meth:`Schedule.digest`) before the first request is sent: allocation concealment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prereg.looks import look_cases
from prereg.records import trial_id
from prereg.schema import Plan
from prereg.seeding import derive_rng
from traffic._allocation import assign_arms
from traffic._arrivals import arrival_times

__all__ = ["Schedule", "build_schedule"]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Every request of a campaign in time order; the index into the arrays is the request's seq.

    ``arm_index`` (int16) indexes ``arm_ids``, ``case_index`` (int32) indexes ``case_ids``,
    ``replay`` (int32) counts a case's requests within an arm in time order, and ``scheduled_s``
    (float64, non-decreasing) is the send time in seconds from the campaign's time origin. The
    arrays are made read-only. Compare schedules by :meth:`digest` (``==`` on arrays is ambiguous).
    """

    arm_ids: tuple[str, ...]
    case_ids: tuple[str, ...]
    arm_index: np.ndarray
    case_index: np.ndarray
    replay: np.ndarray
    scheduled_s: np.ndarray

    def __post_init__(self) -> None:
        n = self.scheduled_s.shape[0]
        for name in ("arm_index", "case_index", "replay"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Schedule.{name}: expected shape ({n},), found {getattr(self, name).shape}")
        for array in (self.arm_index, self.case_index, self.replay, self.scheduled_s):
            array.setflags(write=False)

    def __len__(self) -> int:
        return int(self.scheduled_s.shape[0])

    def trial_id(self, i: int) -> str:
        """The deterministic trial id of request ``i``: ``"{arm}:{case}:{replay}"``."""
        arm, case = self.arm_ids[self.arm_index[i]], self.case_ids[self.case_index[i]]
        return trial_id(arm, case, int(self.replay[i]))

    def trial_ids(self) -> list[str]:
        """Every trial id in seq order (faster than calling :meth:`trial_id` for each)."""
        arms, cases = self.arm_ids, self.case_ids
        return [
            trial_id(arms[a], cases[c], r)
            for a, c, r in zip(
                self.arm_index.tolist(), self.case_index.tolist(), self.replay.tolist(), strict=True
            )
        ]

    def allocation_counts(self) -> dict[str, dict[str, int]]:
        """Requests per arm and case, ``{arm_id: {case_id: count}}``, every pair listed."""
        cells = np.bincount(
            self.arm_index.astype(np.int64) * len(self.case_ids) + self.case_index,
            minlength=len(self.arm_ids) * len(self.case_ids),
        ).reshape(len(self.arm_ids), len(self.case_ids))
        return {
            arm: dict(zip(self.case_ids, row, strict=True))
            for arm, row in zip(self.arm_ids, cells.tolist(), strict=True)
        }

    def digest(self) -> str:
        """SHA-256 (hex) fingerprint of the allocation and the send times.

        Hashed in order: the arm ids and the case ids (each as UTF-8 joined by ``\\x00``,
        prefixed with its byte length as 8 little-endian bytes), then the little-endian bytes of
        ``arm_index`` (int16), ``case_index`` (int32), ``replay`` (int32) and ``scheduled_s``
        (float64).
        """
        h = hashlib.sha256()
        for ids in (self.arm_ids, self.case_ids):
            blob = "\x00".join(ids).encode("utf-8")
            h.update(len(blob).to_bytes(8, "little"))
            h.update(blob)
        for array, dtype in (
            (self.arm_index, "<i2"),
            (self.case_index, "<i4"),
            (self.replay, "<i4"),
            (self.scheduled_s, "<f8"),
        ):
            h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
        return h.hexdigest()


def build_schedule(plan: Plan, case_ids: Sequence[str], plan_hash: str, base_dir: Path) -> Schedule:
    """The campaign's schedule for ``plan`` over the corpus's ``case_ids`` (in corpus order).

    ``plan_hash`` is the plan's canonical SHA-256 (it seeds the streams with the plan's seed);
    ``base_dir`` is the plan's directory, against which a trace file's path is resolved. The number
    of requests is ``len(case_ids) * replays_per_case * sum(ratio)``.
    """
    arm_ids = plan.arm_ids
    seed = plan.randomization.seed
    arm_index, case_index, replay = assign_arms(
        len(case_ids),
        arm_ids,
        [plan.ratio_of(arm) for arm in arm_ids],
        plan.traffic.replays_per_case,
        derive_rng(seed, plan_hash, "allocation"),
        blocks=None if plan.analysis.stopping.kind == "fixed_horizon" else look_cases(plan, len(case_ids)),
    )
    scheduled_s = arrival_times(
        plan.traffic.arrival, arm_index.size, derive_rng(seed, plan_hash, "arrivals"), base_dir
    )
    return Schedule(
        arm_ids=arm_ids,
        case_ids=tuple(case_ids),
        arm_index=arm_index,
        case_index=case_index,
        replay=replay,
        scheduled_s=scheduled_s,
    )
