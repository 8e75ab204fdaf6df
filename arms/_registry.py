"""The backend registry: the plan's backend ``kind`` -> how to build it (one line per backend).

Adding a backend is a schema variant (``prereg/backends.py``), one module in ``arms/``
that ends in a :class:`~arms._backend.Backend` entry, and one line here (DEVELOPERS.md, "Adding a
backend"). The arm builders (:func:`arms.build_simulated_arms`, :func:`arms.build_live_arms`) ask
only the functions below, which refuse, naming the field, a backend that cannot serve in the
campaign's time model or in the role the plan gives it.
"""

from __future__ import annotations

from arms._backend import Backend, LiveClassifier, LiveContext, LiveModel, VirtualContext
from arms._embedding import EMBEDDING
from arms._keyword import KEYWORD
from arms._openai_backend import OPENAI
from arms._python import PYTHON
from arms._simulated_backend import SIMULATED
from arms._simulated_endpoint import Endpoint
from arms._tfidf import TFIDF
from prereg.errors import ArmError
from prereg.schema import ModelSpec, RouterArmSpec

__all__ = ["BACKENDS", "live_classifier", "live_model", "virtual_classifier", "virtual_model"]

BACKENDS: dict[str, Backend] = {
    "embedding": EMBEDDING,
    "keyword": KEYWORD,
    "openai": OPENAI,
    "python": PYTHON,
    "simulated": SIMULATED,
    "tfidf": TFIDF,
}


def _serving(role: str, campaign: str) -> str:
    kinds = sorted(k for k, b in BACKENDS.items() if getattr(b, role) is not None)
    return f"expected {' or '.join(repr(k) for k in kinds)} in a {campaign} campaign"


def _refuse(where: str, role: str, campaign: str, kind: str) -> ArmError:
    return ArmError(f"{where}.kind: {_serving(role, campaign)}, found {kind!r}")


def virtual_classifier(ctx: VirtualContext, index: int, arm: RouterArmSpec) -> Endpoint[str]:
    """The classifier endpoint of ``plan.arms[index]`` in virtual time."""
    kind = arm.classifier.backend.kind
    build = BACKENDS[kind].virtual_classifier
    if build is None:
        raise _refuse(f"arms[{index}].classifier.backend", "virtual_classifier", "simulated", kind)
    return build(ctx, index, arm)


def virtual_model(ctx: VirtualContext, key: str, spec: ModelSpec) -> Endpoint[bool]:
    """The endpoint of downstream model ``plan.models[key]`` in virtual time."""
    kind = spec.backend.kind
    build = BACKENDS[kind].virtual_model
    if build is None:
        raise _refuse(f"models.{key}.backend", "virtual_model", "simulated", kind)
    return build(ctx, key, spec)


def live_classifier(ctx: LiveContext, index: int, arm: RouterArmSpec) -> LiveClassifier:
    """The classifier of ``plan.arms[index]`` on the wall clock."""
    kind = arm.classifier.backend.kind
    build = BACKENDS[kind].live_classifier
    if build is None:
        raise _refuse(f"arms[{index}].classifier.backend", "live_classifier", "live", kind)
    return build(ctx, index, arm)


def live_model(ctx: LiveContext, key: str, spec: ModelSpec) -> LiveModel:
    """Downstream model ``plan.models[key]`` on the wall clock."""
    kind = spec.backend.kind
    build = BACKENDS[kind].live_model
    if build is None:
        raise _refuse(f"models.{key}.backend", "live_model", "live", kind)
    return build(ctx, key, spec)
