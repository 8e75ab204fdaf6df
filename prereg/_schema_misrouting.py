"""The plan's misrouting cost: what each wrong routing decision costs, named before the data exist.

:mod:`prereg.schema` re-exports the public names; :mod:`prereg._check_misrouting` checks the labels
against the taxonomy; :mod:`analysis._misrouting` estimates the expected cost per 1,000 requests.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from prereg._schema_numbers import Finite, Spec

__all__ = ["MAX_MISROUTING_COST", "MisroutingCostSpec", "MisroutingPairSpec"]

#: Highest cost of one misrouted request (in the plan's own unit, e.g. US dollars or minutes).
MAX_MISROUTING_COST = 1e9

Cost = Annotated[Finite, Field(ge=0.0, le=MAX_MISROUTING_COST)]


class MisroutingPairSpec(Spec):
    """The cost of sending a request whose gold label is ``gold`` to ``predicted`` (``gold`` !=
    ``predicted``: a correct decision always costs 0)."""

    gold: str
    predicted: str
    cost: Cost


class MisroutingCostSpec(Spec):
    """A pre-registered cost for each gold -> predicted pair; the defaults give plain error counts.

    A correct decision (the predicted label is one of the case's gold labels) costs 0. A wrong one
    costs its pair's ``cost`` when ``pairs`` lists it and ``default`` otherwise; for a case with
    several gold labels, the least of its gold labels' costs for that prediction (see
    :func:`analysis.misrouting_costs`). A failed decision (no predicted label) counted wrong under
    ``failures.routing: count_as_wrong`` costs ``failed`` (None: the ``default``). With every
    cost 1 the expected cost per 1,000 requests is ``1000 * (1 - routing accuracy)``.
    """

    default: Cost = 1.0
    failed: Cost | None = None
    pairs: tuple[MisroutingPairSpec, ...] = Field(default=(), max_length=10_000)
