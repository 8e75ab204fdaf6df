"""Hypothesis verdicts: each pre-registered hypothesis decided, per arm, by the gates it links to.

A hypothesis names gates of the plan (``study.hypotheses[i].gates``) and the arms it speaks of;
for each arm it holds when every one of its gates passes, as an arm is viable when all of the
plan's gates do: the same intersection-union test (:func:`analysis._gates.decide_viability`) over
a subset of the gates, so no new error rate arises and nothing is estimated here.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis._gates import decide_viability
from analysis._hypothesis_results import HypothesisResult, HypothesisVerdict
from analysis._results import GateVerdict
from prereg.errors import AnalysisError
from prereg.schema import HypothesisSpec, Plan

__all__ = ["UNLINKED", "decide_hypotheses"]

#: The summary of a hypothesis that names no gate (a bare statement of the plan).
UNLINKED = "not linked to a gate"

_ORDER = ("PASS", "FAIL", "INCONCLUSIVE")


def decide_hypotheses(plan: Plan, gates: Sequence[GateVerdict]) -> tuple[HypothesisResult, ...] | None:
    """Every hypothesis of the plan with its verdict for each of its arms.

    Parameters
    ----------
    plan : Plan
        The frozen plan; ``study.hypotheses`` name their gates and arms (checked by ``check``).
    gates : sequence of GateVerdict
        The gate verdicts of the analysis, one per deciding arm and gate (``Results.gates``), each
        on its own unit of analysis (see :func:`analysis.decide_gate`).

    Returns
    -------
    tuple of HypothesisResult or None
        One per hypothesis in plan order (those linked to no gate say so in their summary); None
        when no hypothesis links a gate, so a plan of bare statements writes the results it wrote
        before hypotheses could name gates.

    Raises
    ------
    AnalysisError
        A hypothesis names a gate or arm without a verdict (a plan that did not pass ``check``).

    Notes
    -----
    For arm ``a`` and linked gates ``G``: PASS when every gate of ``G`` passes for ``a``, FAIL
    when any fails, INCONCLUSIVE otherwise. Each gate is tested at its full level; the
    intersection-union test keeps the error rate of a PASS at most that level without splitting
    alpha, for any subset of the gates. Arms default to every deciding arm (routers and router
    services, :attr:`prereg.schema.Plan.decision_arms`).

    References
    ----------
    .. [1] Berger, R. L. (1982). Multiparameter hypothesis testing and acceptance sampling.
       Technometrics 24(4), 295-300. doi:10.1080/00401706.1982.10487790
    """
    if not plan.study.linked_hypotheses:
        return None
    by_key = {(v.arm, v.gate): v for v in gates}
    return tuple(_decide(i, h, plan, by_key) for i, h in enumerate(plan.study.hypotheses))


def _decide(
    i: int, h: HypothesisSpec, plan: Plan, by_key: dict[tuple[str, str], GateVerdict]
) -> HypothesisResult:
    """One hypothesis: its verdict per arm (the viability rule over its gates) and the summary."""
    if not h.linked:
        return HypothesisResult(h.id, h.statement, (), (), (), UNLINKED)
    arms = plan.decision_arms if h.arms is None else h.arms
    verdicts = []
    for arm in arms:
        mine = []
        for gate in h.gates:
            verdict = by_key.get((arm, gate))
            if verdict is None:
                raise AnalysisError(
                    f"study.hypotheses[{i}]: expected a verdict of gate {gate!r} for arm {arm!r}, found none"
                )
            mine.append(verdict)
        decided = decide_viability(arm, mine)
        verdicts.append(HypothesisVerdict(arm, decided.verdict, decided.reason))
    return HypothesisResult(h.id, h.statement, h.gates, tuple(arms), tuple(verdicts), _summary(verdicts))


def _summary(verdicts: Sequence[HypothesisVerdict]) -> str:
    """``PASS for qwen; INCONCLUSIVE for phi, deepseek``: the arms grouped by verdict."""
    parts = []
    for kind in _ORDER:
        arms = [v.arm for v in verdicts if v.verdict == kind]
        if arms:
            parts.append(f"{kind} for {', '.join(arms)}")
    return "; ".join(parts)
