"""Build a plan's simulated arms: behaviours, shared servers, endpoints, control and router arms.

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
  order the requests arrive.

A router's standardised difficulty is ``sqrt(r) * shared + sqrt(1 - r) * own`` with
``r = SHARED_DIFFICULTY`` (illustrative, 0.5), still standard normal, so the calibration to the
plan's marginal accuracy is unaffected. Servers: one per downstream model key, shared by every arm
that sends to it (the control and the routers compete for it), and one per router arm's classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import simpy

from arms._behaviour import ClassifierBehaviour, ModelBehaviour
from arms._control import SimulatedControlArm
from arms._protocol import SimulatedArm
from arms._router import SimulatedRouterArm
from arms._server import FifoServer
from arms._simulated_endpoint import Endpoint
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import Plan, RouterArmSpec, SimulatedClassifierSpec, SimulatedModelSpec
from prereg.seeding import derive_rng

__all__ = ["SHARED_DIFFICULTY", "build_simulated_arms"]

#: Share of a case's difficulty variance common to all routers (illustrative, not from the study).
SHARED_DIFFICULTY = 0.5


def build_simulated_arms(
    plan: Plan, cases: Sequence[Case], plan_hash: str, env: simpy.Environment
) -> dict[str, SimulatedArm]:
    """The plan's arms as SimPy processes, keyed by arm id in plan order.

    ``env`` is the environment the arms will run in (the arms take it again per request, as the
    protocol says). Raises :class:`~prereg.errors.ArmError` when an arm uses a backend that cannot
    be simulated or the calibration lacks a figure the corpus needs.
    """
    seed = plan.randomization.seed
    families = sorted({c.family for c in cases})
    models: dict[str, Endpoint[bool]] = {}

    def model(key: str, where: str) -> Endpoint[bool]:
        if key not in models:
            models[key] = _model_endpoint(plan, key, where, cases, families, seed, plan_hash)
        return models[key]

    shared_z = derive_rng(seed, plan_hash, "cases").standard_normal(len(cases))
    arms: dict[str, SimulatedArm] = {}
    for index, arm in enumerate(plan.arms):
        if isinstance(arm, RouterArmSpec):
            routes = {
                label: model(key, f"routing.routes.{label}") for label, key in plan.routing.routes.items()
            }
            fallback = model(plan.routing.fallback, "routing.fallback")
            classifier = _classifier_endpoint(plan, index, arm, cases, shared_z, seed, plan_hash)
            arms[arm.id] = SimulatedRouterArm(arm.id, classifier, routes, fallback)
        else:
            arms[arm.id] = SimulatedControlArm(arm.id, model(arm.model, f"arms[{index}].model"))
    return arms


def _model_endpoint(
    plan: Plan,
    key: str,
    where: str,
    cases: Sequence[Case],
    families: list[str],
    seed: int,
    plan_hash: str,
) -> Endpoint[bool]:
    spec = plan.models.get(key)
    if spec is None:
        raise ArmError(f"{where}: expected a key of models, found {key!r}")
    backend = spec.backend
    if not isinstance(backend, SimulatedModelSpec):
        raise ArmError(
            f"models.{key}.backend.kind: expected 'simulated' in a simulated campaign, found {backend.kind!r}"
        )
    missing = [f for f in families if f not in backend.quality]
    if missing:
        raise ArmError(
            f"models.{key}.backend.quality: expected a figure for every task family, "
            f"missing {', '.join(missing)}"
        )
    behaviour = ModelBehaviour(backend, cases, derive_rng(seed, plan_hash, f"model:{key}"))
    return Endpoint(
        key,
        behaviour.answer,
        FifoServer(f"model:{key}", backend.latency.concurrency),
        timeout_ms=spec.timeout_ms,
        network_rtt_ms=backend.latency.network_rtt_ms,
        retry=spec.retry,
        tokens=backend.tokens,
        price=spec.price,
    )


def _classifier_endpoint(
    plan: Plan,
    index: int,
    arm: RouterArmSpec,
    cases: Sequence[Case],
    shared_z: np.ndarray,
    seed: int,
    plan_hash: str,
) -> Endpoint[str]:
    spec = arm.classifier
    backend = spec.backend
    if not isinstance(backend, SimulatedClassifierSpec):
        raise ArmError(
            f"arms[{index}].classifier.backend.kind: expected 'simulated' in a simulated campaign, "
            f"found {backend.kind!r}"
        )
    rng = derive_rng(seed, plan_hash, f"arm:{arm.id}")
    own_z = rng.standard_normal(len(cases))
    case_z = math.sqrt(SHARED_DIFFICULTY) * shared_z + math.sqrt(1.0 - SHARED_DIFFICULTY) * own_z
    try:
        behaviour = ClassifierBehaviour(backend, plan.taxonomy.labels, cases, rng, case_z=case_z.tolist())
    except ArmError as exc:
        raise ArmError(f"arms[{index}] ({arm.id}): {exc}") from None
    return Endpoint(
        spec.model,
        behaviour.decide,
        FifoServer(f"classifier:{arm.id}", backend.latency.concurrency),
        timeout_ms=spec.timeout_ms,
        network_rtt_ms=backend.latency.network_rtt_ms,
        retry=spec.retry,
        tokens=backend.tokens,
        price=spec.price,
    )
