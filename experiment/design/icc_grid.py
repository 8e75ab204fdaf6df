"""The ICC grid of a design diagnosis: each gate's boundary world at each replay ICC of the grid,
and the figures of every router arm there (docs/design.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analysis import IccArmFigures, IccGateFigures, IccGridFigures, IccPoint
from experiment.design.batches import SimulationBatches
from experiment.design.figures import boundary_figures, nominal_alpha, rounded
from experiment.design.icc import difficulty_for_icc
from experiment.design.scenarios import (
    ACCURACY_METRIC,
    Scenario,
    accuracy_icc_scenario,
    icc_key,
    latency_boundary_scenario,
)
from experiment.design.sim import SimOutcome
from prereg.records import Case
from prereg.schema import GateSpec, Plan

__all__ = ["IccWorld", "icc_grid_figures", "icc_world"]


#: One world of the ICC grid: the ICC, the scenario (None when it cannot be built) and why not.
IccWorld = tuple[float, Scenario | None, str | None]


#: A world of the ICC grid whose mean realised ICC is further than this (or than 4 Monte Carlo
#: standard errors, when larger) from the one asked for gets a note: the simulated arms did not
#: produce the correlation the row is labelled with.
ICC_TOLERANCE = 0.1


def icc_world(plan: Plan, cases: Sequence[Case], gate: GateSpec, icc: float) -> IccWorld:
    """A gate's boundary world at one ICC, or the reason there is none."""
    key = icc_key(gate, icc)
    if gate.metric != ACCURACY_METRIC:
        return icc, latency_boundary_scenario(plan, cases, gate, case_icc=icc, key=key), None
    try:
        return icc, accuracy_icc_scenario(plan, cases, gate.threshold, icc, key=key), None
    except ValueError as exc:
        return icc, None, str(exc)


def icc_grid_figures(
    worlds: dict[str, list[IccWorld]],
    sims: SimulationBatches,
    count: int,
    gates: list[GateSpec],
    routers: list[str],
    values: tuple[float, ...],
) -> IccGridFigures:
    """Per gate and ICC of the grid: the boundary figures of every router arm (see docs/design.md)."""
    per_gate: dict[str, IccGateFigures] = {}
    for gpos, gate in enumerate(gates):
        if gate.id not in worlds:  # a gate against the control: not on the grid
            continue
        accuracy = gate.metric == ACCURACY_METRIC
        points = []
        for icc, world, note in worlds[gate.id]:
            sd = difficulty_for_icc(gate.threshold, icc).sd if accuracy and world is not None else None
            points.append(
                IccPoint(
                    icc=icc,
                    case_difficulty_sd=None if sd is None else round(sd, 6),
                    case_icc=None if accuracy else icc,
                    note=note,
                    arms=None
                    if world is None
                    else icc_point_figures(world, sims.outcomes(world, count), gate, gpos, routers, icc),
                )
            )
        per_gate[gate.id] = IccGateFigures(
            metric=gate.metric,
            threshold=gate.threshold,
            nominal_alpha=nominal_alpha(gate),
            icc_of="correctness" if accuracy else "log_latency",
            points=tuple(points),
        )
    return IccGridFigures(sims=count, values=values, gates=per_gate)


def icc_point_figures(
    scenario: Scenario,
    outcomes: Sequence[SimOutcome],
    gate: GateSpec,
    gpos: int,
    routers: list[str],
    icc: float,
) -> dict[str, IccArmFigures]:
    """Per router arm in a gate's boundary world at one ICC of the grid: the boundary figures
    (type I error, P(FAIL), coverage for accuracy, with Wilson intervals) and the ICC the
    simulations realised (mean of the per-simulation ANOVA estimates), with a note when it is
    further than :data:`ICC_TOLERANCE` from ``icc``."""
    figures = boundary_figures(scenario, outcomes, gate, gpos, routers)
    accuracy = gate.metric == ACCURACY_METRIC
    out: dict[str, IccArmFigures] = {}
    for pos, arm in enumerate(routers):
        values = np.array(
            [o.arms[pos].correct_icc if accuracy else o.arms[pos].latency_icc for o in outcomes],
            dtype=np.float64,
        )
        finite = values[np.isfinite(values)]
        realised = float(finite.mean()) if finite.size else math.nan
        se = float(finite.std(ddof=1)) / math.sqrt(finite.size) if finite.size > 1 else math.nan
        tolerance = max(ICC_TOLERANCE, 4.0 * se) if math.isfinite(se) else math.inf
        note = (
            None
            if not math.isfinite(realised) or abs(realised - icc) <= tolerance
            else f"the simulated arms realised an ICC of {realised:.2f}, not {icc:.2f}: "
            "this world lacks the correlation it is labelled with"
        )
        out[arm] = IccArmFigures(
            **vars(figures[arm]), realised_icc=rounded(realised), realised_icc_mc_se=rounded(se), note=note
        )
    return out
