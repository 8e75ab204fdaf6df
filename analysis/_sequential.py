"""The group-sequential analysis: the locked gates at each pre-registered look, with repeated
confidence bounds from Lan-DeMets alpha spending, and where the campaign stops.

At look :math:`j` (information fraction :math:`t_j`, the share of the corpus's cases served so
far) a gate of one-sided level :math:`1-\\alpha` is decided by the same estimator as at a fixed
horizon, with its bounds taken at the level :math:`\\Phi(c_j)`, where :math:`c_j` is the spending
boundary (:func:`analysis._spending.boundaries`) for :math:`\\alpha`. A gate is decided at the
first look at which one of its bounds clears the threshold (PASS) or the opposite bound misses it
(FAIL), and keeps that verdict; each of the two claims is a one-sided test whose probability of
ever being made in error is at most the spent :math:`\\alpha`. Bounds at a look are repeated
confidence bounds (Jennison & Turnbull 1989), so a verdict reached at any look, and the bounds
shown for it, stay valid whenever the campaign stops.

The campaign stops at the first look at which every gate of every deciding arm is decided; with
``futility`` an arm with a FAIL counts as decided (it cannot be viable; stopping for it is
non-binding and adds no false PASS). Looks whose trials are not all stored are not analysed.

References
----------
.. [1] Lan, K. K. G. & DeMets, D. L. (1983). Discrete sequential boundaries for clinical trials.
   Biometrika 70(3), 659-663. doi:10.1093/biomet/70.3.659
.. [2] Jennison, C. & Turnbull, B. W. (1989). Interim analyses: the repeated confidence interval
   approach. JRSS B 51(3), 305-361. doi:10.1111/j.2517-6161.1989.tb01433.x
.. [3] Jennison, C. & Turnbull, B. W. (2000). Group Sequential Methods with Applications to
   Clinical Trials, ch. 7 and 9. Chapman & Hall/CRC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis._gates import decide_viability
from analysis._meta import RunMeta
from analysis._results import ArmVerdict, GateVerdict
from analysis._sequential_results import LookResult, SequentialResult
from analysis._spending import boundaries
from analysis._table import TrialTable
from prereg.looks import look_cases, look_ends
from prereg.schema import (
    ConfidenceBoundRule,
    ConfidenceSequenceStopping,
    GateSpec,
    GroupSequentialStopping,
    Plan,
)

Stopping = GroupSequentialStopping | ConfidenceSequenceStopping

__all__ = ["LookGates", "SequentialGates", "corpus_cases", "sequential_gates"]

#: The locked gates of one look: ``(plan with the look's levels, trials through the look)`` to
#: every deciding arm's gate verdicts and viability (:func:`analysis._analyze._decide_gates`).
LookGates = Callable[[Plan, TrialTable], tuple[list[GateVerdict], list[ArmVerdict]]]

_DECIDED = ("PASS", "FAIL")


@dataclass(frozen=True)
class SequentialGates:
    """The sequential verdicts, the record of the looks, and the trials the rest of the analysis
    reads (those through the last analysed look)."""

    gates: list[GateVerdict]
    viability: list[ArmVerdict]
    result: SequentialResult
    table: TrialTable


def corpus_cases(plan: Plan, table: TrialTable, meta: RunMeta) -> int:
    """The number of cases in the corpus: from the planned requests when the caller knows them,
    else the cases the trials name (a partial export can only be cut by what it holds)."""
    per_case = plan.traffic.replays_per_case * sum(plan.ratio_of(a) for a in plan.arm_ids)
    planned = sum(meta.planned_per_arm.values())
    if planned and per_case:
        return planned // per_case
    return len(set(table.case_id.tolist()))


def _look_levels(plan: Plan, stopping: Stopping, fractions: tuple[float, ...]) -> list[dict[str, float]]:
    """Per look, each confidence-bound gate's level at that look (1.0: the look spends nothing;
    a confidence sequence's level is the gate's own at every look)."""
    out: list[dict[str, float]] = [{} for _ in fractions]
    cache: dict[float, tuple[float, ...]] = {}
    for g in plan.gates:
        if not isinstance(g.rule, ConfidenceBoundRule):
            continue
        if isinstance(stopping, ConfidenceSequenceStopping):
            for levels in out:
                levels[g.id] = g.rule.level
            continue
        alpha = 1.0 - g.rule.level
        if alpha not in cache:
            cache[alpha] = boundaries(fractions, alpha, stopping.spending).nominal
        for j, nominal in enumerate(cache[alpha]):
            out[j][g.id] = 1.0 - nominal
    return out


def _at_levels(plan: Plan, levels: dict[str, float]) -> Plan:
    """The plan with each confidence-bound gate's level replaced by the look's."""

    def gate(g: GateSpec) -> GateSpec:
        if g.id not in levels or not isinstance(g.rule, ConfidenceBoundRule):
            return g
        level = min(levels[g.id], np.nextafter(1.0, 0.0))
        return g.model_copy(update={"rule": g.rule.model_copy(update={"level": level})})

    return plan.model_copy(update={"gates": [gate(g) for g in plan.gates]})


def sequential_gates(plan: Plan, table: TrialTable, meta: RunMeta, decide: LookGates) -> SequentialGates:
    """The gate verdicts of a group-sequential plan, look by look, and where it stops.

    Parameters
    ----------
    plan : Plan
        A frozen plan whose ``analysis.stopping`` is ``group_sequential``.
    table : TrialTable
        Every stored trial (the schedule serves the cases in one block per look, so the trials of
        the first ``j`` looks are those with ``seq`` below the ``j``-th look end).
    meta : RunMeta
        Its planned counts give the corpus's size (:func:`corpus_cases`).
    decide : callable
        The fixed-horizon gate analysis of one look's trials (same estimators, same streams).

    Returns
    -------
    SequentialGates
        Unit: each gate's own (the case for a case-level plan). A gate's verdict is the one of
        the first look that decided it (its ``look`` field), else the last analysed look's
        INCONCLUSIVE; viability is the intersection-union of those verdicts.

    Notes
    -----
    A point-estimate gate is decided at the last look only (it has no error rate to spend). A
    look whose nominal level needs more bootstrap resamples than the plan draws leaves the
    gates that rely on percentiles undecided at that look (:mod:`analysis._case_bootstrap`),
    which spends less than planned and so keeps the error rate below the boundary's.

    References
    ----------
    .. [1] Lan, K. K. G. & DeMets, D. L. (1983). Biometrika 70(3), 659-663. doi:10.1093/biomet/70.3.659
    .. [2] Jennison, C. & Turnbull, B. W. (1989). JRSS B 51(3), 305-361.
       doi:10.1111/j.2517-6161.1989.tb01433.x
    """
    stopping = plan.analysis.stopping
    assert isinstance(stopping, GroupSequentialStopping | ConfidenceSequenceStopping)
    n_cases = corpus_cases(plan, table, meta)
    cases = look_cases(plan, n_cases)
    ends = look_ends(plan, n_cases)
    fractions = tuple(c / n_cases for c in cases) if n_cases else tuple(stopping.looks)
    levels = _look_levels(plan, stopping, fractions)
    seq = np.asarray(table.seq)
    last = len(stopping.looks)
    decided: dict[tuple[str, str], GateVerdict] = {}
    latest: dict[tuple[str, str], GateVerdict] = {}
    analysed: list[bool] = []
    first_at: list[tuple[str, ...]] = []
    stopped_at: int | None = None
    for j, end in enumerate(ends, start=1):
        complete = bool(np.count_nonzero(seq < end) == end) and stopped_at is None
        if complete and analysed and not analysed[-1]:
            complete = False  # looks are analysed in order: a gap ends them
        analysed.append(complete)
        if not complete:
            first_at.append(())
            continue
        at = plan if isinstance(stopping, ConfidenceSequenceStopping) else _at_levels(plan, levels[j - 1])
        gates, _ = decide(at, table.take(seq < end))
        new: list[str] = []
        for v in gates:
            key = (v.arm, v.gate)
            v = dataclasses.replace(v, look=j)
            latest[key] = v
            point = v.rule == "point_estimate"
            if key not in decided and v.verdict in _DECIDED and (not point or j == last):
                decided[key] = v
                new.append(f"{v.arm}/{v.gate}")
        first_at.append(tuple(new))
        if j < last and _all_decided(plan, decided, stopping.futility):
            stopped_at = j
    last_look = max((j for j, a in enumerate(analysed, start=1) if a), default=0)
    gates = [
        decided.get((a, g.id)) or _open(latest.get((a, g.id)), a, g, last_look)
        for a in plan.decision_arms
        for g in plan.gates
    ]
    viability = [decide_viability(a, [v for v in gates if v.arm == a]) for a in plan.decision_arms]
    cut = ends[last_look - 1] if last_look else 0
    looks = tuple(
        LookResult(
            j, fractions[j - 1], cases[j - 1], ends[j - 1], levels[j - 1], analysed[j - 1], first_at[j - 1]
        )
        for j in range(1, last + 1)
    )
    spending = stopping.spending if isinstance(stopping, GroupSequentialStopping) else "none"
    result = SequentialResult(
        method=(
            f"lan_demets_{spending}_repeated_confidence_bounds"
            if isinstance(stopping, GroupSequentialStopping)
            else "empirical_bernstein_confidence_sequence"
        ),
        spending=spending,
        futility=stopping.futility,
        looks=looks,
        last_look=last_look,
        stopped_at=stopped_at,
        reason=_reason(stopped_at, last_look, last, stopping.futility, decided, plan),
        rows_after_stop=int(np.count_nonzero(seq >= cut)) if stopped_at is not None else 0,
    )
    return SequentialGates(
        gates, viability, result, table.take(seq < cut) if last_look else table.take(seq < 0)
    )


def _all_decided(plan: Plan, decided: dict[tuple[str, str], GateVerdict], futility: bool) -> bool:
    for a in plan.decision_arms:
        mine = [decided.get((a, g.id)) for g in plan.gates]
        if all(v is not None for v in mine):
            continue
        if futility and any(v is not None and v.verdict == "FAIL" for v in mine):
            continue
        return False
    return True


def _open(v: GateVerdict | None, arm: str, gate: GateSpec, last_look: int) -> GateVerdict:
    """An undecided gate: INCONCLUSIVE with the last analysed look's numbers."""
    if v is None:
        return GateVerdict(
            arm, gate.id, gate.metric, gate.op, gate.threshold, gate.rule.kind, "case", None, None, None,
            "INCONCLUSIVE", "no look is complete", None,
        )  # fmt: skip
    reason = v.reason if v.verdict == "INCONCLUSIVE" else f"not decided at look {last_look} ({v.reason})"
    return dataclasses.replace(v, verdict="INCONCLUSIVE", reason=reason)


def _reason(
    stopped_at: int | None,
    last_look: int,
    looks: int,
    futility: bool,
    decided: dict[tuple[str, str], GateVerdict],
    plan: Plan,
) -> str:
    if stopped_at is not None:
        every = all((a, g.id) in decided for a in plan.decision_arms for g in plan.gates)
        why = (
            "all gates decided"
            if every or not futility
            else "all gates decided or their arm failed (futility)"
        )
        return f"stopped at look {stopped_at} of {looks}: {why}"
    if last_look == looks:
        return f"ran to look {looks} of {looks} (the last)"
    return f"incomplete: {last_look} of {looks} looks have all their trials"
