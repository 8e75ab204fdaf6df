"""What the campaign runner needs from an arm, and the frozen types that cross that line.

The runner depends on these protocols and never on a backend: a simulated arm is a SimPy process
in virtual time, a live arm is a coroutine against a real server; both turn an :class:`ArmRequest`
into an :class:`ArmOutcome`, which :func:`arms.to_trial_record` flattens into a stored row.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from prereg.records import Case, Status

__all__ = [
    "ArmOutcome",
    "ArmRequest",
    "DownstreamOutcome",
    "LiveArm",
    "RoutingOutcome",
    "SimulatedArm",
]


@dataclass(frozen=True, slots=True)
class ArmRequest:
    """One scheduled request for one arm: the case, which replay, and when it is due."""

    seq: int
    trial_id: str
    case: Case
    arm: str
    replay: int
    scheduled_s: float


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """The routing decision of a router arm (latencies measured from the scheduled send time)."""

    status: Status
    latency_ms: float
    predicted_label: str | None
    attempts: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    first_token_ms: float | None = None
    error: str | None = None
    #: Route-level correctness, for a decision that names a model and no label (a router
    #: service): the chosen model is the route of a gold label. None: judged by the label.
    route_correct: bool | None = None


@dataclass(frozen=True, slots=True)
class DownstreamOutcome:
    """The downstream answer: which model, how long it took, whether it was graded correct."""

    model: str
    status: Status
    latency_ms: float
    correct: bool | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    error: str | None = None
    #: Scheduled send to the answer's first token, content or reasoning (live, streamed).
    first_token_ms: float | None = None
    #: Mean inter-token latency of the answer's stream (live, streamed).
    itl_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ArmOutcome:
    """What an arm did with one request; ``routing`` is None for the control."""

    sent_s: float | None
    end_s: float | None
    routing: RoutingOutcome | None
    downstream: DownstreamOutcome | None
    lateness_ms: float | None = None
    #: When the trial's first request was written to the wire (live; None when it never was).
    wire_s: float | None = None


class SimulatedArm(Protocol):
    """An arm that runs in SimPy virtual time."""

    @property
    def id(self) -> str: ...

    def process(self, env: Any, request: ArmRequest) -> Generator[Any, Any, ArmOutcome]:
        """A SimPy process serving ``request``; its return value is the result."""
        ...


class LiveArm(Protocol):
    """An arm that talks to real servers; ``clock`` returns seconds on the campaign's timeline."""

    @property
    def id(self) -> str: ...

    def handle(self, request: ArmRequest, clock: Callable[[], float]) -> Coroutine[Any, Any, ArmOutcome]:
        """Serve ``request`` (already sent at ``clock()``) and return its result."""
        ...
