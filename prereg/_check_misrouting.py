"""Meaning checks of the misrouting cost and its gate, split from :mod:`prereg.check` (which calls
:func:`check_misrouting`).

Every pair of ``analysis.misrouting_cost.pairs`` names two taxonomy labels, and two different ones
(a correct decision always costs 0); no pair is listed twice; a ``misrouting_cost_per_1k`` gate is
``<=`` (a cost ceiling) with a threshold of at least 0.
"""

from __future__ import annotations

from prereg._check_backends import Problems
from prereg.schema import Plan

__all__ = ["MISROUTING_METRIC", "check_misrouting"]

#: The gate metric on the expected misrouting cost per 1,000 requests.
MISROUTING_METRIC = "misrouting_cost_per_1k"


def check_misrouting(plan: Plan, problems: Problems) -> None:
    """Pairs of distinct taxonomy labels, each listed once; a misrouting gate ``<=`` a threshold >= 0."""
    labels = list(plan.taxonomy.labels)
    costs = plan.analysis.misrouting_cost
    seen: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(costs.pairs if costs is not None else ()):
        path = ("analysis", "misrouting_cost", "pairs", i)
        for side in ("gold", "predicted"):
            label = getattr(pair, side)
            if label not in labels:
                problems.plan(
                    (*path, side), f"expected a taxonomy label ({', '.join(labels)}), found {label!r}"
                )
        if pair.gold == pair.predicted:
            problems.plan(
                (*path, "predicted"),
                f"expected a label other than gold (a correct decision costs 0), found {pair.predicted!r}",
            )
        key = (pair.gold, pair.predicted)
        if key in seen:
            problems.plan(
                path,
                f"expected each gold -> predicted pair once, found {pair.gold} -> {pair.predicted} again "
                f"(first at pairs[{seen[key]}])",
            )
        seen.setdefault(key, i)
    for i, gate in enumerate(plan.gates):
        if gate.metric != MISROUTING_METRIC:
            continue
        if gate.op != "<=":
            problems.plan(
                ("gates", i, "op"),
                f"expected '<=' for {MISROUTING_METRIC} (a cost ceiling), found {gate.op!r}",
            )
        if gate.threshold < 0.0:
            problems.plan(
                ("gates", i, "threshold"),
                f"expected a cost per 1,000 requests of at least 0, found {gate.threshold}",
            )
