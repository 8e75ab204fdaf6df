"""Meaning checks of the plan's hypotheses, split from :mod:`prereg.check` (which calls :func:`check_study`).

A hypothesis that names gates has an id, unique among the hypotheses; every gate it names is a gate
of the plan and every arm it names is an arm the gates judge (a router or a router service); one
that names arms names gates too (there is nothing else to judge the arms by), and none names a
gate or arm twice.
"""

from __future__ import annotations

from prereg._check_backends import Problems
from prereg.schema import Plan

__all__ = ["check_study"]


def check_study(plan: Plan, problems: Problems) -> None:
    """Hypothesis ids unique; the gates and arms each hypothesis names defined and judged."""
    gate_ids = [g.id for g in plan.gates]
    deciding = plan.decision_arms
    seen: dict[str, int] = {}
    for i, h in enumerate(plan.study.hypotheses):
        at = ("study", "hypotheses", i)
        if h.id is not None:
            if h.id in seen:
                problems.plan(
                    (*at, "id"),
                    f"expected a unique hypothesis id, found {h.id!r} again (first at study.hypotheses[{seen[h.id]}])",
                )
            seen.setdefault(h.id, i)
        elif h.gates:
            problems.plan((*at, "id"), "expected an id for a hypothesis that names gates, found none")
        if h.arms is not None and not h.gates:
            problems.plan(
                (*at, "arms"), "expected the gates that decide the hypothesis for these arms, found no gates"
            )
        for name, ids in (("gates", h.gates), ("arms", h.arms or ())):
            for j, x in enumerate(ids):
                if x in ids[:j]:
                    problems.plan((*at, name, j), f"expected distinct {name}, found {x!r} twice")
        for j, gate in enumerate(h.gates):
            if gate not in gate_ids:
                problems.plan(
                    (*at, "gates", j),
                    f"expected a gate id of the plan ({', '.join(gate_ids)}), found {gate!r}",
                )
        for j, arm in enumerate(h.arms or ()):
            if arm not in deciding:
                problems.plan(
                    (*at, "arms", j),
                    f"expected an arm the gates judge (kind router or service: {', '.join(deciding)}), found {arm!r}",
                )
