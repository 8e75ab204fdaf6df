"""The simulated router arm: a classifier decision, then the model the routing table names."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import simpy

from arms._protocol import ArmOutcome, ArmRequest, DownstreamOutcome, RoutingOutcome
from arms._simulated_endpoint import Endpoint

__all__ = ["SimulatedRouterArm"]


class SimulatedRouterArm:
    """A router arm in virtual time: the end-to-end path of one request.

    The classifier's label picks the downstream model from ``routes``; a label without a route,
    or a failed routing decision (timeout, HTTP error, unparseable answer, after the retries the
    plan allows), sends the request to ``fallback``. The downstream call starts the moment the
    decision arrives.
    """

    __slots__ = ("_id", "classifier", "fallback", "routes")

    def __init__(
        self,
        arm_id: str,
        classifier: Endpoint[str],
        routes: Mapping[str, Endpoint[bool]],
        fallback: Endpoint[bool],
    ) -> None:
        self._id = arm_id
        self.classifier = classifier
        self.routes = dict(routes)
        self.fallback = fallback

    @property
    def id(self) -> str:
        """The arm id."""
        return self._id

    def process(self, env: simpy.Environment, request: ArmRequest) -> Generator[Any, Any, ArmOutcome]:
        """Serve ``request``: routing decision, then the downstream answer."""
        sent = env.now
        case = request.case
        replay = request.replay
        classifier = self.classifier
        # First attempts inline (see Endpoint.retry): the common path creates no sub-generator.
        label, r_status, elapsed = classifier.attempt(case, replay, sent)
        yield env.timeout(elapsed / 1000.0)
        if r_status == "ok":
            routed = classifier.ok(label, elapsed)
        else:
            routed = yield from classifier.retry(env, case, replay, r_status, elapsed)
        label, r_status, r_latency, attempts, r_in, r_out, r_cost, r_error = routed
        model = self.fallback if label is None else self.routes.get(label, self.fallback)
        correct, d_status, elapsed = model.attempt(case, replay, env.now)
        yield env.timeout(elapsed / 1000.0)
        if d_status == "ok":
            answered = model.ok(correct, elapsed)
        else:
            answered = yield from model.retry(env, case, replay, d_status, elapsed)
        correct, d_status, d_latency, _, d_in, d_out, d_cost, d_error = answered
        return ArmOutcome(
            sent_s=sent,
            end_s=env.now,
            routing=RoutingOutcome(r_status, r_latency, label, attempts, r_in, r_out, r_cost, None, r_error),
            downstream=DownstreamOutcome(
                model.name, d_status, d_latency, correct, d_in, d_out, d_cost, d_error
            ),
        )
