"""Meaning checks of the plan's arms, split from :mod:`prereg.check` (which calls :func:`check_arms`).

Every arm id is unique; a control's or fixed arm's ``model``, a random arm's ``probabilities``
keys and a router service's ``served_models`` values are keys of ``models``; a random arm's
probabilities sum to 1; and at least one arm makes a routing decision the gates judge (a router
or a router service).
"""

from __future__ import annotations

import math

from prereg._check_backends import Problems
from prereg.schema import ControlArmSpec, FixedArmSpec, Plan, RandomArmSpec, ServiceArmSpec

__all__ = ["PROBABILITY_SUM_TOLERANCE", "check_arms"]


def check_arms(plan: Plan, problems: Problems) -> None:
    """Unique ids; models, probabilities and served models that the plan defines; a gated arm."""
    defined = ", ".join(plan.models)
    seen: dict[str, int] = {}
    for i, arm in enumerate(plan.arms):
        if arm.id in seen:
            problems.plan(
                ("arms", i, "id"),
                f"expected a unique arm id, found {arm.id!r} again (first at arms[{seen[arm.id]}])",
            )
        seen.setdefault(arm.id, i)
        if isinstance(arm, ControlArmSpec | FixedArmSpec) and arm.model not in plan.models:
            problems.plan(
                ("arms", i, "model"),
                f"expected a model defined in models ({defined}), found {arm.model!r}",
            )
        if isinstance(arm, RandomArmSpec):
            _check_probabilities(plan, i, arm, problems)
        if isinstance(arm, ServiceArmSpec):
            for name, key in arm.served_models.items():
                if key not in plan.models:
                    problems.plan(
                        ("arms", i, "served_models", name),
                        f"expected a model defined in models ({defined}), found {key!r}",
                    )
    if not plan.decision_arms:
        kinds = ", ".join(sorted({a.kind for a in plan.arms}))
        problems.plan(
            ("arms",), f"expected at least one arm of kind 'router' or 'service', found only {kinds}"
        )


#: How far a random arm's probabilities may sum from 1 (decimal fractions such as 0.1 are inexact).
PROBABILITY_SUM_TOLERANCE = 1e-9


def _check_probabilities(plan: Plan, i: int, arm: RandomArmSpec, problems: Problems) -> None:
    """A random arm's probabilities: keys of ``models`` (ranges are the schema's) summing to 1."""
    defined = ", ".join(plan.models)
    for key in arm.probabilities:
        if key not in plan.models:
            problems.plan(
                ("arms", i, "probabilities", key),
                f"expected a model defined in models ({defined}), found {key!r}",
            )
    total = math.fsum(arm.probabilities.values())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        problems.plan(
            ("arms", i, "probabilities"),
            f"expected probabilities summing to 1 (within {PROBABILITY_SUM_TOLERANCE:g}), found {total:.12g}",
        )
