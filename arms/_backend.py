"""The seam between arms and backends: "ask a model", in either time model, and how to build one.

An arm never knows which backend it talks to. A router arm *classifies* (request text -> label)
and every arm has a downstream model *answer* (request -> answer); what does the asking is a
backend, built from the plan by the factory its ``kind`` names in :data:`arms._registry.BACKENDS`.

In virtual time (a simulated campaign) a backend is an :class:`~arms._simulated_endpoint.Endpoint`:
a behaviour ``(case, replay) -> (value, status, service_ms)`` (:data:`Behave`) behind a FIFO
server, with the plan's timeout, retries and prices; the SimPy arms call the endpoint. On the
wall clock (a live campaign) a classifier is a :class:`LiveClassifier` and a downstream model a
:class:`LiveModel`; both are coroutines that never raise for a failed call (failures are data,
in the status). A backend supports the time models its schema variant declares
(``TIME_MODELS``); for a role or a time model it does not serve, its :class:`Backend` entry has
no factory and building the arm is an :class:`~prereg.errors.ArmError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from arms._client_pool import ClientPool
from arms._protocol import ArmRequest
from arms._redaction import Redactor
from arms._simulated_endpoint import Endpoint
from prereg.records import Case, Status
from prereg.schema import ModelSpec, Plan, PriceSpec, RouterArmSpec

__all__ = [
    "Backend",
    "Behave",
    "ChatResult",
    "Classification",
    "LiveClassifier",
    "LiveContext",
    "LiveModel",
    "VirtualContext",
    "cost_usd",
]

#: A virtual-time behaviour: ``(case, replay) -> (value, status, service_ms)``, value None on a failure.
Behave = Callable[[Case, int], tuple[object, Status, float]]


@dataclass(frozen=True, slots=True)
class ChatResult:
    """What one live call (all its attempts) produced; times are on the caller's clock (s)."""

    status: Status
    text: str | None
    attempts: int
    tokens_in: int
    tokens_out: int
    started_s: float
    first_byte_s: float | None
    first_token_s: float | None
    end_s: float
    error: str | None = None
    http_status: int | None = None
    #: When the first attempt's request was written to the wire (None: it never was).
    wire_s: float | None = None
    #: When the last token (content or reasoning) arrived, for inter-token latency.
    last_token_s: float | None = None
    #: Stream chunks that carried a token (content or reasoning): ITL's count without usage.
    token_chunks: int = 0
    #: The model that answered as the reply names it (a router service's pick: a header or the
    #: body's ``model``); None when the reply named none.
    served_model: str | None = None


def cost_usd(tokens_in: int, tokens_out: int, price: PriceSpec) -> float:
    """Tokens times the plan's prices (US dollars per 1,000 tokens): what one call cost."""
    return tokens_in / 1000.0 * price.input_per_1k + tokens_out / 1000.0 * price.output_per_1k


@dataclass(frozen=True, slots=True)
class Classification:
    """A live classifier's decision: the label (None on a failure), its status and error, the call."""

    label: str | None
    status: Status
    error: str | None
    call: ChatResult


class LiveClassifier(Protocol):
    """A router's classifier on the wall clock: request text -> taxonomy label."""

    async def classify(self, request: ArmRequest, clock: Callable[[], float]) -> Classification:
        """Decide ``request``'s label; a failed call is a status, never an exception."""
        ...


class LiveModel(Protocol):
    """A downstream model on the wall clock: a text in, an answer out (graded by the arm)."""

    async def answer(self, text: str, clock: Callable[[], float], *, tag: str | None = None) -> ChatResult:
        """Answer ``text``; ``tag`` (the trial id) is sent along where the backend can carry it."""
        ...


@dataclass(frozen=True)
class VirtualContext:
    """What a backend needs to build itself for a simulated campaign.

    ``shared_z`` is the ``"cases"`` stream's standard normal per case (the difficulty every
    router shares, see :mod:`arms._simulated`); ``families`` the corpus's task families, sorted.
    """

    plan: Plan
    cases: Sequence[Case]
    plan_hash: str
    families: tuple[str, ...]
    shared_z: np.ndarray
    #: The plan file's folder, where files the plan names (an examples file) are found; None when
    #: the plan is not from a file (built in code): such a plan cannot name one.
    plan_dir: Path | None = None


@dataclass(frozen=True)
class LiveContext:
    """What a backend needs to build itself for a live campaign: one pool, one redactor."""

    plan: Plan
    cases: Sequence[Case]
    plan_hash: str
    pool: ClientPool
    redactor: Redactor
    #: The plan file's folder, as in :class:`VirtualContext`.
    plan_dir: Path | None = None


VirtualClassifierFactory = Callable[[VirtualContext, int, RouterArmSpec], Endpoint[str]]
VirtualModelFactory = Callable[[VirtualContext, str, ModelSpec], Endpoint[bool]]
LiveClassifierFactory = Callable[[LiveContext, int, RouterArmSpec], LiveClassifier]
LiveModelFactory = Callable[[LiveContext, str, ModelSpec], LiveModel]


@dataclass(frozen=True)
class Backend:
    """How one backend kind is built, per role and time model; None where it does not serve.

    The ``int`` a classifier factory takes is the arm's index in ``plan.arms`` (for messages and
    field paths); the ``str`` a model factory takes is the key in ``plan.models``.
    """

    virtual_classifier: VirtualClassifierFactory | None = None
    virtual_model: VirtualModelFactory | None = None
    live_classifier: LiveClassifierFactory | None = None
    live_model: LiveModelFactory | None = None
