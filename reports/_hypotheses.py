"""The hypotheses table of the Verdict section: each pre-registered hypothesis with its verdict per arm.

Verdicts come from :attr:`analysis.Results.hypotheses` (the plan's linked gates, decided per arm by
the intersection-union test); nothing is decided here. A plan whose hypotheses name no gate has no
table: its statements are listed under Registration, as they always were.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis import Results
from prereg.schema import Plan

__all__ = ["HypothesesView", "HypothesisCell", "HypothesisRow", "build_hypotheses"]


@dataclass(frozen=True, slots=True)
class HypothesisCell:
    """A hypothesis's verdict for one arm and the gates that decided it."""

    verdict: str
    reason: str


@dataclass(frozen=True, slots=True)
class HypothesisRow:
    """One hypothesis: its id (``-`` for a bare statement), statement, gates, a cell per arm column
    (None: not judged for that arm; none at all without gates) and the summary line (or why there
    is no verdict)."""

    id: str
    statement: str
    gates: tuple[str, ...]
    cells: tuple[HypothesisCell | None, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class HypothesesView:
    """The table: the arm columns (deciding arms in plan order) and a row per hypothesis."""

    arms: tuple[str, ...]
    rows: tuple[HypothesisRow, ...]


def build_hypotheses(results: Results, plan: Plan) -> HypothesesView | None:
    """The hypotheses table, or None when no hypothesis of the results links a gate."""
    if results.hypotheses is None:
        return None
    judged = {v.arm for h in results.hypotheses for v in h.verdicts}
    arms = tuple(a for a in plan.decision_arms if a in judged)
    rows = []
    for h in results.hypotheses:
        by_arm = {v.arm: HypothesisCell(v.verdict, v.reason) for v in h.verdicts}
        cells = tuple(by_arm.get(a) for a in arms) if h.gates else ()
        rows.append(HypothesisRow(h.id or "-", h.statement, h.gates, cells, h.summary))
    return HypothesesView(arms, tuple(rows))
