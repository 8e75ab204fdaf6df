"""Meaning checks of a group-sequential plan's looks, split from :mod:`prereg.check` (which calls
:func:`check_stopping` once the corpus's size is known).

Each look must add cases (on a small corpus two fractions can round to the same count) and the
first must hold at least ``analysis.min_cases`` cases: below it no interval exists, so the look
could decide nothing and would only spend its share of alpha for nothing.
"""

from __future__ import annotations

from prereg._check_backends import Problems
from prereg.looks import look_cases
from prereg.schema import (
    CONFIDENCE_SEQUENCE_METRICS,
    ConfidenceBoundRule,
    ConfidenceSequenceStopping,
    GroupSequentialStopping,
    Plan,
)

__all__ = ["check_stopping"]


def check_stopping(plan: Plan, n_cases: int, problems: Problems) -> None:
    """The looks of a plan with looks fall on distinct case counts, the first big enough; a
    confidence sequence's gates are means over cases with a confidence bound."""
    stopping = plan.analysis.stopping
    if not isinstance(stopping, GroupSequentialStopping | ConfidenceSequenceStopping):
        return
    if isinstance(stopping, ConfidenceSequenceStopping):
        _check_sequence_gates(plan, problems)
    cases = look_cases(plan, n_cases)
    at = ("analysis", "stopping", "looks")
    for j in range(1, len(cases)):
        if cases[j] <= cases[j - 1]:
            problems.plan(
                (*at, j),
                f"expected a look that adds cases, found {cases[j]} cases at {stopping.looks[j]:g} as at "
                f"{stopping.looks[j - 1]:g} ({n_cases} cases in the corpus)",
            )
            return
    least = plan.analysis.min_cases
    if cases[0] < least:
        problems.plan(
            (*at, 0),
            f"expected at least analysis.min_cases ({least}) cases at the first look, found {cases[0]} "
            f"({stopping.looks[0]:g} of {n_cases})",
        )


def _check_sequence_gates(plan: Plan, problems: Problems) -> None:
    """A confidence sequence bounds a mean over i.i.d. cases: accuracy or quality against the
    control, at the case as the unit, under a confidence-bound rule."""
    supported = ", ".join(sorted(CONFIDENCE_SEQUENCE_METRICS))
    if plan.analysis.unit != "case":
        problems.plan(
            ("analysis", "unit"),
            f"expected 'case' with a confidence sequence (its unit is the case), found {plan.analysis.unit!r}",
        )
    for i, gate in enumerate(plan.gates):
        if gate.metric not in CONFIDENCE_SEQUENCE_METRICS:
            problems.plan(
                ("gates", i, "metric"),
                f"expected a mean over cases a confidence sequence bounds ({supported}), found {gate.metric!r}"
                " (use kind: group_sequential for it)",
            )
        elif not isinstance(gate.rule, ConfidenceBoundRule):
            problems.plan(
                ("gates", i, "rule", "kind"), "expected 'confidence_bound' with a confidence sequence"
            )
