"""Build a plan's simulated arms: control, router and reference arms over the registry's backends.

Each backend is built by its kind's factory in :data:`arms._registry.BACKENDS`, in virtual time;
one endpoint per downstream model key, shared by every arm that sends to it.

Random streams (all from :func:`prereg.seeding.derive_rng` with the plan's seed and hash, so the
outcomes are a deterministic function of the frozen plan):

- ``"cases"``: a standard normal per case, the part of case difficulty that every router shares
  (an ambiguous request trips every classifier, so router errors are correlated across arms, as
  real ones are; this is what a paired comparison of routers by case exploits);
- ``"arm:<id>"``: the router's own part of each case's difficulty, then each case's latency
  effect (a standard normal per case, in corpus order), then its labels, failures and service
  times;
- ``"model:<key>"``: each case's latency effect for the model (drawn once, in corpus order), then
  its answers, failures and service times, consumed by every arm that sends to the model in the
  order the requests arrive;
- ``"route:<id>"``: a random arm's routes, one uniform per (case, replay) drawn up front
  (:mod:`arms._reference`); fixed and oracle arms draw nothing of their own.

A router's standardised difficulty is ``sqrt(r) * shared + sqrt(1 - r) * own`` with
``r = SHARED_DIFFICULTY`` (:mod:`arms._simulated_backend`) (illustrative, 0.5), still standard normal, so the calibration to the
plan's marginal accuracy is unaffected. Servers: one per downstream model key, shared by every arm
that sends to it (the control and the routers compete for it), and one per router arm's classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import simpy

from arms._backend import VirtualContext
from arms._control import SimulatedControlArm
from arms._protocol import SimulatedArm
from arms._reference import ReferenceRoutes, SimulatedReferenceArm
from arms._registry import virtual_classifier, virtual_model
from arms._router import SimulatedRouterArm
from arms._simulated_backend import SHARED_DIFFICULTY
from arms._simulated_endpoint import Endpoint
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import ControlArmSpec, FixedArmSpec, OracleArmSpec, Plan, RandomArmSpec, RouterArmSpec
from prereg.seeding import derive_rng

__all__ = ["SHARED_DIFFICULTY", "build_simulated_arms"]


def build_simulated_arms(
    plan: Plan,
    cases: Sequence[Case],
    plan_hash: str,
    env: simpy.Environment,
    *,
    plan_dir: Path | None = None,
) -> dict[str, SimulatedArm]:
    """The plan's arms as SimPy processes, keyed by arm id in plan order.

    ``env`` is the environment the arms will run in (the arms take it again per request, as the
    protocol says). Raises :class:`~prereg.errors.ArmError` when an arm uses a backend that cannot
    be simulated or the calibration lacks a figure the corpus needs.
    """
    families = tuple(sorted({c.family for c in cases}))
    shared_z = derive_rng(plan.randomization.seed, plan_hash, "cases").standard_normal(len(cases))
    ctx = VirtualContext(plan, cases, plan_hash, families, shared_z, plan_dir)
    models: dict[str, Endpoint[bool]] = {}

    def model(key: str, where: str) -> Endpoint[bool]:
        if key not in models:
            spec = plan.models.get(key)
            if spec is None:
                raise ArmError(f"{where}: expected a key of models, found {key!r}")
            models[key] = virtual_model(ctx, key, spec)
        return models[key]

    arms: dict[str, SimulatedArm] = {}
    for index, arm in enumerate(plan.arms):
        if isinstance(arm, RouterArmSpec):
            routes = {
                label: model(key, f"routing.routes.{label}") for label, key in plan.routing.routes.items()
            }
            fallback = model(plan.routing.fallback, "routing.fallback")
            arms[arm.id] = SimulatedRouterArm(arm.id, virtual_classifier(ctx, index, arm), routes, fallback)
        elif isinstance(arm, ControlArmSpec | FixedArmSpec):
            arms[arm.id] = SimulatedControlArm(arm.id, model(arm.model, f"arms[{index}].model"))
        elif isinstance(arm, RandomArmSpec | OracleArmSpec):
            routes_of = ReferenceRoutes(plan, plan_hash, cases, arm)
            where = f"arms[{index}].probabilities" if isinstance(arm, RandomArmSpec) else "routing"
            targets = {key: model(key, f"{where}.{key}") for key in routes_of.model_keys}
            arms[arm.id] = SimulatedReferenceArm(arm.id, routes_of, targets)
        else:
            raise ArmError(
                f"arms[{index}].kind: expected an arm that runs in virtual time, found {arm.kind!r}"
            )
    return arms
