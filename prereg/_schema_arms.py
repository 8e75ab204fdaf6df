"""The arms that make no classifier call: the control and the reference arms beside the routers.

``fixed`` (always one model), ``random`` (a pre-registered mix of models) and ``oracle`` (routed by
the gold label) bracket what a router achieves: re-exported by :mod:`prereg.schema`, where the
``kind`` union :data:`~prereg.schema.ArmSpec` includes them. Cross-field meaning (keys of
``models``, probabilities summing to 1) is checked in :mod:`prereg.check`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from prereg._schema_numbers import Finite, Identifier, Spec

__all__ = ["ControlArmSpec", "FixedArmSpec", "OracleArmSpec", "RandomArmSpec", "ReferenceArmSpec"]


class ControlArmSpec(Spec):
    """The no-routing control: every request goes to ``model`` (a key of ``models``)."""

    id: Identifier
    kind: Literal["control"]
    model: str
    description: str = ""


class FixedArmSpec(Spec):
    """A reference arm that sends every request to ``model`` (a key of ``models``).

    It runs like the control (no routing decision, no classifier call) but is a reference, not
    the baseline the routers are compared against: "always the small model" beside the control's
    "always the large one", for example.
    """

    id: Identifier
    kind: Literal["fixed"]
    model: str
    description: str = ""


class RandomArmSpec(Spec):
    """A reference arm that routes each request at random: ``model`` with ``probabilities[model]``.

    The draws come from the plan's seeded stream ``route:<id>`` (:mod:`prereg.seeding`), one per
    (case, replay), so one seed gives the same routes in virtual and in live time. ``check``
    requires keys of ``models`` and probabilities that sum to 1. Typically matched to a router's
    cost: a router that a random mix at the same cost does not lose to has learned nothing.
    """

    id: Identifier
    kind: Literal["random"]
    # an empty mapping sums to 0, which `check` refuses in its own words
    probabilities: dict[str, Annotated[Finite, Field(ge=0.0, le=1.0)]]
    description: str = ""


class OracleArmSpec(Spec):
    """A reference arm routed by the gold label: the ceiling of any router with this routing table.

    Each request goes to ``routing.routes[<its case's first gold label>]`` (the ``fallback`` when
    the table has no route for it); its routing accuracy is 1 by construction and no classifier is
    called.
    """

    id: Identifier
    kind: Literal["oracle"]
    description: str = ""


#: The arms that make no classifier call: references beside the routers.
ReferenceArmSpec = FixedArmSpec | RandomArmSpec | OracleArmSpec
