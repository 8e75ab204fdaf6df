"""The ICC grid of a design diagnosis: each gate's boundary world at each replay ICC of the grid,
and the figures of every router arm there (docs/design.md)."""

from __future__ import annotations

from collections.abc import Sequence

from analysis import IccGateFigures, IccGridFigures, IccPoint
from experiment.design.batches import SimulationBatches
from experiment.design.figures import icc_point_figures, nominal_alpha
from experiment.design.icc import difficulty_for_icc
from experiment.design.scenarios import (
    ACCURACY_METRIC,
    Scenario,
    accuracy_icc_scenario,
    icc_key,
    latency_boundary_scenario,
)
from prereg.records import Case
from prereg.schema import GateSpec, Plan

__all__ = ["IccWorld", "icc_grid_figures", "icc_world"]


#: One world of the ICC grid: the ICC, the scenario (None when it cannot be built) and why not.
IccWorld = tuple[float, Scenario | None, str | None]


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
