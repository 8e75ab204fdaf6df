"""Reference arms: where a ``fixed``, ``random`` or ``oracle`` arm sends each request, and the
simulated arm that sends it there.

No reference arm calls a classifier. ``fixed`` always names one model (it runs as the control
does). ``random`` draws the model of every (case, replay) in advance from the plan's seeded stream
``route:<arm id>`` (:func:`prereg.seeding.derive_rng`): one uniform per case (corpus order) and
replay, mapped through the cumulative probabilities of the models in sorted key order, so the
routes are a function of the frozen plan alone and identical in virtual and live time, whatever
order the requests arrive in. ``oracle`` takes the route of the case's first gold label from the
plan's routing table and records that label as its decision: a correct routing decision by
construction, made in no time.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from arms._protocol import ArmOutcome, ArmRequest, DownstreamOutcome, RoutingOutcome
from arms._simulated_endpoint import Endpoint
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import FixedArmSpec, OracleArmSpec, Plan, RandomArmSpec, ReferenceArmSpec
from prereg.seeding import derive_rng

__all__ = ["ReferenceRoutes", "SimulatedReferenceArm", "oracle_decision"]


def oracle_decision(label: str, latency_ms: float) -> RoutingOutcome:
    """The oracle's routing decision: the gold ``label``, no classifier call (no tokens, no cost)."""
    return RoutingOutcome(
        status="ok",
        latency_ms=latency_ms,
        predicted_label=label,
        attempts=0,
        tokens_in=0,
        tokens_out=0,
        cost_usd=0.0,
    )


class ReferenceRoutes:
    """Which model a reference arm sends each request to, and the label it records (oracle only)."""

    __slots__ = ("_fallback", "_fixed", "_keys", "_oracle", "_routes", "_row", "_table")

    def __init__(self, plan: Plan, plan_hash: str, cases: Sequence[Case], arm: ReferenceArmSpec) -> None:
        self._fixed = arm.model if isinstance(arm, FixedArmSpec) else None
        self._oracle = isinstance(arm, OracleArmSpec)
        self._routes: Mapping[str, str] = plan.routing.routes
        self._fallback = plan.routing.fallback
        self._keys: tuple[str, ...] = ()
        self._row: dict[str, int] = {}
        self._table = np.zeros((0, 0), dtype=np.intp)
        if isinstance(arm, RandomArmSpec):
            # Sorted keys: the routes do not depend on the order the plan lists the models in.
            self._keys = tuple(sorted(arm.probabilities))
            if not self._keys:  # `check` refuses this plan; a plan built in code may still hold one
                raise ArmError(f"arm {arm.id}: probabilities: expected at least one model, found none")
            cum = np.cumsum([arm.probabilities[k] for k in self._keys])
            # The allocation gives an arm exactly replays x ratio requests per case.
            replays = plan.traffic.replays_per_case * max(plan.ratio_of(arm.id), 1)
            u = derive_rng(plan.randomization.seed, plan_hash, f"route:{arm.id}").random(
                (len(cases), replays)
            )
            # side="right": a model of probability 0 is never drawn; the clip absorbs a sum a
            # rounding error below 1 (check allows 1e-9)
            self._table = np.minimum(np.searchsorted(cum, u, side="right"), len(self._keys) - 1)
            self._row = {c.id: i for i, c in enumerate(cases)}

    @property
    def model_keys(self) -> tuple[str, ...]:
        """Every model key this arm may send to (the routing table's for the oracle)."""
        if self._fixed is not None:
            return (self._fixed,)
        if self._oracle:
            return tuple(sorted({*self._routes.values(), self._fallback}))
        return self._keys

    def route(self, request: ArmRequest) -> tuple[str, str | None]:
        """``(model key, recorded label)`` for ``request``; the label is None but for the oracle."""
        if self._fixed is not None:
            return self._fixed, None
        case = request.case
        if self._oracle:
            label = case.gold_labels[0]
            return self._routes.get(label, self._fallback), label
        row = self._table[self._row[case.id]]
        # replays beyond the table cannot be allocated; wrapping keeps a stray one deterministic
        return self._keys[int(row[request.replay % row.size])], None


class SimulatedReferenceArm:
    """A random or oracle arm in virtual time: the model its routes name, one downstream call."""

    __slots__ = ("_id", "_models", "_routes")

    def __init__(self, arm_id: str, routes: ReferenceRoutes, models: Mapping[str, Endpoint[bool]]) -> None:
        self._id = arm_id
        self._routes = routes
        self._models = models

    @property
    def id(self) -> str:
        """The arm id."""
        return self._id

    def process(self, env: simpy.Environment, request: ArmRequest) -> Generator[Any, Any, ArmOutcome]:
        """Serve ``request`` at its route's model, as the control serves at its one model."""
        sent = env.now
        key, label = self._routes.route(request)
        model = self._models[key]
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
            routing=None if label is None else oracle_decision(label, 0.0),
            downstream=DownstreamOutcome(model.name, status, latency, correct, t_in, t_out, cost, error),
        )
