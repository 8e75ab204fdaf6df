"""CONSORT flow counts per arm and the check that they add up from node to node.

The flow follows CONSORT 2010's diagram, with the request as the randomized unit: enrolled
(scheduled requests and unique cases) -> allocated to an arm -> sent / not sent -> completed /
failed -> analysed / excluded. A plan with a warm-up (``traffic.warmup``) adds a box per arm before
the analysed one: the trials scheduled inside the warm-up, sent and stored as usual, by stored
status, all of them excluded (reason ``warmup``). Every count a reader sees in the diagram is checked here before the
page is written: a report whose boxes do not add up is refused with an :class:`AnalysisError`
naming the arm and the node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis import ArmKind
from prereg.errors import AnalysisError

__all__ = ["NEVER_RUN", "WARMUP", "ArmFlow", "Flow", "check_flow"]

Breakdown = tuple[tuple[str, int], ...]


def _total(items: Breakdown) -> int:
    return sum(n for _, n in items)


def breakdown(counts: Mapping[str, int]) -> Breakdown:
    """A reason -> count mapping as sorted pairs, zero counts dropped (largest first, then by name)."""
    return tuple(sorted(((k, int(v)) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0])))


#: The reason of a scheduled request that has no trial row (the results' ``flow.missing``).
NEVER_RUN = "never run (no trial row)"

#: The exclusion reason of warm-up trials (the results' ``flow.excluded`` key for router arms).
WARMUP = "warmup"


@dataclass(frozen=True, slots=True)
class ArmFlow:
    """The counts of one arm's column in the flow diagram (requests unless named ``*_cases``)."""

    arm: str
    kind: ArmKind
    allocated: int
    allocated_cases: int
    sent: int
    not_sent: Breakdown
    completed: int
    failed: Breakdown
    analysed: int
    analysed_cases: int
    excluded: Breakdown
    #: The warm-up trials by stored status; None when the plan declares no warm-up.
    warmup: Breakdown | None = None

    @property
    def not_sent_total(self) -> int:
        """Allocated requests that were never sent: no trial row, or a row with status ``not_sent``."""
        return _total(self.not_sent)

    @property
    def never_run(self) -> int:
        """Allocated requests without a trial row (the results' ``flow.missing``)."""
        return dict(self.not_sent).get(NEVER_RUN, 0)

    @property
    def not_sent_rows(self) -> int:
        """Trial rows with status ``not_sent`` (the results' ``flow.not_sent``)."""
        return self.not_sent_total - self.never_run

    @property
    def failed_total(self) -> int:
        """Sent requests that ended in a failure status."""
        return _total(self.failed)

    @property
    def warmup_total(self) -> int:
        """Trial rows inside the plan's warm-up, whatever their status (0 without a warm-up)."""
        return _total(self.warmup or ())

    @property
    def excluded_total(self) -> int:
        """Allocated requests left out of the primary analysis."""
        return _total(self.excluded)


@dataclass(frozen=True, slots=True)
class Flow:
    """The whole diagram: the enrolled node and one column per arm, in plan order."""

    scheduled: int
    unique_cases: int
    arms: tuple[ArmFlow, ...]
    #: The plan's warm-up rule in words (``scheduled before 30 s``); None without a warm-up.
    warmup_rule: str | None = None


def check_flow(flow: Flow) -> Flow:
    """Return ``flow`` unchanged when every node adds up, else raise naming the arm and node.

    Checked: no count is negative; the arms' allocations sum to the enrolled requests; in each
    arm allocated = sent + not sent, sent = completed + failed, allocated = analysed + excluded,
    the warm-up box = the ``warmup`` exclusion; no arm has more cases than were enrolled.
    """
    if flow.scheduled < 0 or flow.unique_cases < 0:
        raise AnalysisError(
            f"CONSORT flow: enrolled: counts must be >= 0, found {flow.scheduled} "
            f"requests and {flow.unique_cases} cases"
        )
    allocated = sum(a.allocated for a in flow.arms)
    if allocated != flow.scheduled:
        raise AnalysisError(
            f"CONSORT flow: enrolled -> allocated: {flow.scheduled} scheduled requests "
            f"but the arms' allocations sum to {allocated}"
        )
    for a in flow.arms:
        where = f"CONSORT flow: arm {a.arm!r}"
        counts = [
            a.allocated,
            a.allocated_cases,
            a.sent,
            a.completed,
            a.analysed,
            a.analysed_cases,
            *(n for _, n in (*a.not_sent, *a.failed, *a.excluded, *(a.warmup or ()))),
        ]
        if min(counts, default=0) < 0:
            raise AnalysisError(f"{where}: counts must be >= 0, found {min(counts)}")
        if a.allocated_cases > flow.unique_cases:
            raise AnalysisError(
                f"{where}: allocated: {a.allocated_cases} cases exceed the {flow.unique_cases} enrolled"
            )
        if a.sent + a.not_sent_total != a.allocated:
            raise AnalysisError(
                f"{where}: allocated -> sent: expected sent + not sent = "
                f"{a.allocated}, found {a.sent} + {a.not_sent_total}"
            )
        if a.completed + a.failed_total != a.sent:
            raise AnalysisError(
                f"{where}: sent -> completed: expected completed + failed = "
                f"{a.sent}, found {a.completed} + {a.failed_total}"
            )
        if a.analysed + a.excluded_total != a.allocated:
            raise AnalysisError(
                f"{where}: analysed: expected analysed + excluded = "
                f"{a.allocated}, found {a.analysed} + {a.excluded_total}"
            )
        if dict(a.excluded).get(WARMUP, 0) != a.warmup_total:
            raise AnalysisError(
                f"{where}: warm-up: expected the {a.warmup_total} warm-up trials among the "
                f"excluded, found {dict(a.excluded).get(WARMUP, 0)}"
            )
        if a.analysed_cases > a.allocated_cases:
            raise AnalysisError(
                f"{where}: analysed: {a.analysed_cases} cases exceed the {a.allocated_cases} allocated"
            )
    return flow
