"""The simulated no-routing control: every request goes straight to the control's model."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from arms._protocol import ArmOutcome, ArmRequest, DownstreamOutcome
from arms._simulated_endpoint import Endpoint

__all__ = ["SimulatedControlArm"]


class SimulatedControlArm:
    """The control arm in virtual time: no routing decision, one downstream call."""

    __slots__ = ("_id", "model")

    def __init__(self, arm_id: str, model: Endpoint[bool]) -> None:
        self._id = arm_id
        self.model = model

    @property
    def id(self) -> str:
        """The arm id."""
        return self._id

    def process(self, env: simpy.Environment, request: ArmRequest) -> Generator[Any, Any, ArmOutcome]:
        """Serve ``request`` at the control's model; the result has ``routing=None``."""
        sent = env.now
        model = self.model
        case = request.case
        correct, status, elapsed = model.attempt(case, request.replay, sent)
        yield env.timeout(elapsed / 1000.0)
        if status == "ok":
            answered = model.ok(correct, elapsed)
        else:
            answered = yield from model.retry(env, case, request.replay, status, elapsed)
        correct, status, latency, _, t_in, t_out, cost, error = answered
        return ArmOutcome(
            sent_s=sent,
            end_s=env.now,
            routing=None,
            downstream=DownstreamOutcome(model.name, status, latency, correct, t_in, t_out, cost, error),
        )
