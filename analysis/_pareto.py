"""The Pareto frontier of router arms over accuracy (higher), routing P95 latency and the router's
own cost (lower): the pre-registered axes of a routing decision."""

from __future__ import annotations

from analysis._results import ParetoPoint

__all__ = ["pareto_frontier"]


def pareto_frontier(
    points: list[tuple[str, float | None, float | None, float | None]],
) -> tuple[ParetoPoint, ...]:
    """Mark each arm ``(arm, accuracy, p95_ms, cost_per_1k)`` on or off the frontier.

    Parameters
    ----------
    points : list of tuple
        ``(arm, accuracy, p95_ms, cost_per_1k)`` point estimates per router arm (None: no estimate);
        accuracy on the plan's unit of analysis, routing latency and the classifier's own cost per
        1,000 requests (unit: the request).

    Returns
    -------
    tuple of ParetoPoint
        In the input order, each with the arms that dominate it.

    Notes
    -----
    An arm is dominated when another arm is at least as good on all three (higher accuracy, lower
    P95 and cost) and strictly better on one. An arm with a missing estimate is neither on the
    frontier nor dominating anything. The frontier is of point estimates; the report draws each with
    its intervals, and it decides no gate.

    References
    ----------
    .. [1] Deb, K. (2001). Multi-Objective Optimization Using Evolutionary Algorithms. Wiley.
    """

    def complete(p: tuple[str, float | None, float | None, float | None]) -> bool:
        return None not in p[1:]

    out = []
    for arm, acc, p95, cost in points:
        dominated_by: list[str] = []
        if complete((arm, acc, p95, cost)):
            assert acc is not None and p95 is not None and cost is not None
            for other, oa, op, oc in points:
                if other == arm or not complete((other, oa, op, oc)):
                    continue
                assert oa is not None and op is not None and oc is not None
                if oa >= acc and op <= p95 and oc <= cost and (oa > acc or op < p95 or oc < cost):
                    dominated_by.append(other)
        on = complete((arm, acc, p95, cost)) and not dominated_by
        out.append(ParetoPoint(arm, acc, p95, cost, on, tuple(dominated_by)))
    return tuple(out)
