"""The design figures of a group-sequential plan: the sequential design beside the fixed horizon.

Every simulated night of a group-sequential plan is analysed twice on the same trials
(:func:`experiment.design.sim.simulate`): look by look as the campaign would, stopping at the first
look that decides every gate, and once at the fixed horizon. So each world's P(PASS) and P(FAIL)
under both designs rest on common random numbers (their difference is the cost of looking, not
Monte Carlo noise), and the requests a sequential campaign runs are counted per night: their mean
(with its Monte Carlo standard error), 90th percentile and share of the fixed horizon.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from analysis import SequentialDesignFigures, SequentialGateShares, SequentialWorld
from experiment.design.figures import share_ci
from experiment.design.sim import SimOutcome
from prereg.schema import FixedHorizonStopping, GroupSequentialStopping, Plan

__all__ = ["sequential_figures"]


def _share(k: int, n: int) -> tuple[float, tuple[float, float]]:
    ci = share_ci(k, n)
    assert ci is not None  # a world has simulations
    return round(k / n, 6), ci


def _world(
    outcomes: Sequence[SimOutcome], fixed: int, gates: Sequence[str], routers: Sequence[str]
) -> SequentialWorld:
    n = len(outcomes)
    used = np.asarray([o.requests for o in outcomes], dtype=np.float64)
    figures: dict[str, dict[str, SequentialGateShares]] = {}
    for a, arm in enumerate(routers):
        figures[arm] = {}
        for g, gate in enumerate(gates):
            seq = Counter(o.arms[a].verdicts[g] for o in outcomes)
            fix = Counter(o.arms[a].fixed_verdicts[g] for o in outcomes)
            figures[arm][gate] = SequentialGateShares(
                *_share(seq["PASS"], n),
                *_share(seq["FAIL"], n),
                *_share(fix["PASS"], n),
                *_share(fix["FAIL"], n),
            )
    looks = Counter(str(o.stop_look) for o in outcomes)
    return SequentialWorld(
        sims=n,
        expected_requests=round(float(used.mean()), 3),
        expected_requests_mc_se=round(float(used.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0, 3),
        expected_share=round(float(used.mean()) / fixed, 6),
        p90_requests=round(float(np.quantile(used, 0.9)), 3),
        stopped_at=dict(sorted(looks.items())),
        gates=figures,
    )


def sequential_figures(
    plan: Plan, worlds: Mapping[str, Sequence[SimOutcome]], fixed_requests: int, routers: Sequence[str]
) -> SequentialDesignFigures | None:
    """The sequential figures of every simulated world (None for a fixed-horizon plan)."""
    stopping = plan.analysis.stopping
    if isinstance(stopping, FixedHorizonStopping):
        return None
    gates = [g.id for g in plan.gates]
    return SequentialDesignFigures(
        spending=stopping.spending
        if isinstance(stopping, GroupSequentialStopping)
        else "confidence_sequence",
        looks=tuple(stopping.looks),
        futility=stopping.futility,
        fixed_requests=fixed_requests,
        worlds={key: _world(out, fixed_requests, gates, routers) for key, out in worlds.items() if out},
    )
