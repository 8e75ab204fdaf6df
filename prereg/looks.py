"""Where a campaign's interim looks fall: the cases and the requests of each look, from the plan.

A group-sequential plan serves the corpus's cases in blocks, one block per look: look ``j`` adds
``round(t_j * cases) - round(t_{j-1} * cases)`` cases, each with all its replays on every arm. So
the information at a look (for a case-level analysis, the number of cases) is the pre-registered
fraction up to rounding, and the requests of the first ``j`` looks are the first
``look_ends(...)[j-1]`` entries of the schedule. A plan with looks (``group_sequential`` or ``confidence_sequence``) is cut this way; a
fixed-horizon plan has one look, the whole
schedule. :mod:`traffic` orders the schedule this way and :mod:`analysis` cuts the trials by it.
"""

from __future__ import annotations

from prereg._schema_analysis import ConfidenceSequenceStopping, GroupSequentialStopping
from prereg.schema import Plan

__all__ = ["look_cases", "look_ends"]


def look_cases(plan: Plan, n_cases: int) -> tuple[int, ...]:
    """The cumulative number of cases at each look (one look, ``n_cases``, for a fixed horizon).

    Rounding can make two looks equal on a small corpus; ``routetrial check`` refuses such a plan
    (it names the looks), so callers may assume the counts strictly increase.
    """
    stopping = plan.analysis.stopping
    if not isinstance(stopping, GroupSequentialStopping | ConfidenceSequenceStopping):
        return (n_cases,)
    return tuple(round(t * n_cases) for t in stopping.looks)


def look_ends(plan: Plan, n_cases: int) -> tuple[int, ...]:
    """The cumulative number of scheduled requests at the end of each look."""
    per_case = plan.traffic.replays_per_case * sum(plan.ratio_of(a) for a in plan.arm_ids)
    return tuple(c * per_case for c in look_cases(plan, n_cases))
