"""The CONSORT flow counts of one arm, as the results document records them."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FlowCounts", "WarmupCounts"]

#: Field metadata of the results document: the key is left out of the JSON when the value is None
#: (an optional section added within a schema version; a document without it reads as None).
OMIT_IF_NONE = {"omit_if_none": True}


@dataclass(frozen=True)
class WarmupCounts:
    """The trial rows of one arm inside the plan's warm-up (``traffic.warmup``), by stored status.

    Warm-up goes by the schedule (``scheduled_s`` or ``seq``), never by completion time; these
    trials were sent and stored as usual and are left out of every estimate, gate and check of
    what was analysed.
    """

    requests: int
    by_status: dict[str, int]

    @property
    def sent(self) -> int:
        """Warm-up trials that were sent (every stored status but ``not_sent``)."""
        return self.requests - self.by_status.get("not_sent", 0)


@dataclass(frozen=True)
class FlowCounts:
    """CONSORT flow of one arm: scheduled -> allocated -> sent -> completed / failed -> analysed.

    ``rows`` counts trial rows in the table; ``missing`` = scheduled - rows (never run or lost).
    ``excluded`` maps a reason to a count of routing-accuracy exclusions (router arms);
    ``analysed`` counts requests in the arm's primary analysis: routing accuracy for a router, the
    end-to-end latency for the control (which makes no routing decision). ``warmup`` is None
    unless the plan declares a warm-up; sent, completed and failed count warm-up trials too.
    """

    scheduled: int
    allocated: int | None
    rows: int
    missing: int
    sent: int
    not_sent: int
    completed: int
    failed_by_status: dict[str, int]
    excluded: dict[str, int]
    analysed: int
    warmup: WarmupCounts | None = field(default=None, metadata=OMIT_IF_NONE)
    #: Trials an abort rule kept from being sent (``not_sent``, error ``aborted: ...``; part of
    #: ``not_sent``) and the rule's reason; omitted when none was.
    aborted: int | None = field(default=None, metadata=OMIT_IF_NONE)
    abort_reason: str | None = field(default=None, metadata=OMIT_IF_NONE)
