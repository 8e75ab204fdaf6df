"""The sample-size figures of a design diagnosis: per router arm and gate, the fewest unique cases
that give the target power (:mod:`experiment.design.search`), simulated on resized corpora."""

from __future__ import annotations

from analysis import AssumedArmFigures, MinCasesFigures, MinCasesResult, ShareCi, Verdict
from experiment.design.batches import SimulationBatches
from experiment.design.figures import share_ci, verdict_counts
from experiment.design.scenarios import Scenario, assumed_scenario, sample_size_scenario
from experiment.design.search import Pair, SearchResult, search_min_cases
from experiment.design.settings import DesignSettings
from prereg.records import Case
from prereg.schema import GateSpec, Plan, TraceArrival
from traffic import read_trace

__all__ = ["min_cases_figures"]

#: The note of a pair with no verdict to aim at, hence no search.
NO_TARGET = "truth on the threshold or unknown"


def _largest_size(plan: Plan, n0: int, settings: DesignSettings, sims: SimulationBatches) -> int:
    """The largest corpus the search tries: ``max_cases``, default 4 x the corpus."""
    n_max = settings.max_cases or 4 * n0
    arrival = plan.traffic.arrival
    if isinstance(arrival, TraceArrival):
        # A trace has a fixed number of timestamps: no corpus may need more requests than that.
        per_case = plan.traffic.replays_per_case * sum(plan.ratio_of(a) for a in plan.arm_ids)
        n_max = min(n_max, max(n0, read_trace(arrival, sims.base_dir).size // per_case))
    return n_max


def min_cases_figures(
    plan: Plan,
    cases: tuple[Case, ...],
    sims: SimulationBatches,
    settings: DesignSettings,
    gates: list[GateSpec],
    routers: list[str],
    assumed: dict[str, AssumedArmFigures],
) -> MinCasesResult:
    """Search, per router arm and gate with a verdict to aim at (``assumed``'s ``target``), the
    fewest unique cases whose simulated power reaches ``settings.target_power``."""
    targets: dict[Pair, Verdict] = {}
    for arm in routers:
        for gate in gates:
            target = assumed[arm].gates[gate.id].target
            if target is not None:
                targets[(arm, gate.id)] = target
    gate_pos = {g.id: i for i, g in enumerate(gates)}
    arm_pos = {a: i for i, a in enumerate(routers)}
    n0 = len(cases)
    n_max = _largest_size(plan, n0, settings, sims)

    def scenario_for(n: int) -> Scenario:
        return assumed_scenario(plan, cases) if n == n0 else sample_size_scenario(plan, cases, n)

    def evaluate(sizes: list[int]) -> dict[int, dict[Pair, float]]:
        worlds = {n: scenario_for(n) for n in sizes}
        sims.ensure(
            f"sample size {', '.join(str(n) for n in sizes)}",
            [(w, settings.curve_sims, False) for w in worlds.values()],
        )
        powers: dict[int, dict[Pair, float]] = {}
        for n, world in worlds.items():
            outcomes = sims.outcomes(world, settings.curve_sims)
            powers[n] = {
                pair: verdict_counts(
                    [o.arms[arm_pos[pair[0]]].verdicts[gate_pos[pair[1]]] for o in outcomes]
                )[target]
                / len(outcomes)
                for pair, target in targets.items()
            }
        return powers

    found = search_min_cases(
        evaluate,
        list(targets),
        n0,
        target=settings.target_power,
        n_min=min(len({c.family for c in cases}), n0),
        n_max=n_max,
        rel_tol=settings.rel_tol,
    )
    arms = {
        arm: {
            gate.id: _pair_figures(found.get((arm, gate.id)), targets.get((arm, gate.id)), settings, n_max)
            for gate in gates
        }
        for arm in routers
    }
    return MinCasesResult(n_max=n_max, rel_tol=settings.rel_tol, sims=settings.curve_sims, arms=arms)


def _pair_figures(
    r: SearchResult | None, target: Verdict | None, settings: DesignSettings, n_max: int
) -> MinCasesFigures:
    """What the search found for one pair (no search without a target)."""
    if r is None or target is None:
        return MinCasesFigures(n=None, target=None, power=None, power_ci=None, note=NO_TARGET)

    def ci(power: float) -> ShareCi | None:
        return share_ci(round(power * settings.curve_sims), settings.curve_sims)

    evaluated = sorted(r.evaluated.items())
    return MinCasesFigures(
        n=r.n,
        target=target,
        power=None if r.power is None else round(r.power, 6),
        power_ci=None if r.power is None else ci(r.power),
        note=None if r.n is not None else f"power stays below {settings.target_power:g} up to {n_max} cases",
        bracket=(r.lo, r.hi),
        evaluated={n: round(p, 6) for n, p in evaluated},
        evaluated_ci={n: ci(p) for n, p in evaluated},
    )
