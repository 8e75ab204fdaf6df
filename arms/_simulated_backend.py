"""The ``simulated`` backend: calibrated behaviours behind FIFO servers, virtual time only.

A classifier is a :class:`~arms._behaviour.ClassifierBehaviour` on its own server
(``classifier:<arm id>``), drawing from the ``"arm:<id>"`` stream with the difficulty it shares
with the other routers; a model is a :class:`~arms._behaviour.ModelBehaviour` on the server of its
key (``model:<key>``), drawing from ``"model:<key>"`` (see :mod:`arms._simulated` for the streams).
"""

from __future__ import annotations

import math

from arms._backend import Backend, VirtualContext
from arms._behaviour import ClassifierBehaviour, ModelBehaviour
from arms._server import FifoServer
from arms._simulated_endpoint import Endpoint
from prereg.errors import ArmError
from prereg.schema import ModelSpec, RouterArmSpec, SimulatedClassifierSpec, SimulatedModelSpec
from prereg.seeding import derive_rng

__all__ = ["SHARED_DIFFICULTY", "SIMULATED"]

#: Share of a case's difficulty variance common to all routers (illustrative, not from the study).
SHARED_DIFFICULTY = 0.5


def virtual_model(ctx: VirtualContext, key: str, spec: ModelSpec) -> Endpoint[bool]:
    """The endpoint of the simulated downstream model ``plan.models[key]``."""
    backend = spec.backend
    if not isinstance(backend, SimulatedModelSpec):  # the registry dispatches on kind: a bug if hit
        raise ArmError(f"models.{key}.backend.kind: expected 'simulated', found {backend.kind!r}")
    missing = [f for f in ctx.families if f not in backend.quality]
    if missing:
        raise ArmError(
            f"models.{key}.backend.quality: expected a figure for every task family, "
            f"missing {', '.join(missing)}"
        )
    rng = derive_rng(ctx.plan.randomization.seed, ctx.plan_hash, f"model:{key}")
    behaviour = ModelBehaviour(backend, ctx.cases, rng)
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


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The endpoint of the simulated classifier of ``plan.arms[index]``."""
    spec = arm.classifier
    backend = spec.backend
    if not isinstance(backend, SimulatedClassifierSpec):  # as above
        raise ArmError(f"arms[{index}].classifier.backend.kind: expected 'simulated', found {backend.kind!r}")
    rng = derive_rng(ctx.plan.randomization.seed, ctx.plan_hash, f"arm:{arm.id}")
    own_z = rng.standard_normal(len(ctx.cases))
    case_z = math.sqrt(SHARED_DIFFICULTY) * ctx.shared_z + math.sqrt(1.0 - SHARED_DIFFICULTY) * own_z
    try:
        behaviour = ClassifierBehaviour(
            backend, ctx.plan.taxonomy.labels, ctx.cases, rng, case_z=case_z.tolist()
        )
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


#: The registry's entry: classifier and model, virtual time only.
SIMULATED = Backend(virtual_classifier=virtual_classifier, virtual_model=virtual_model)
