"""Design diagnosis: what a plan can and cannot show, learned by simulating it many times.

Before a night of GPU time is spent, ``routetrial design PLAN`` runs the plan's whole design ``N``
times in memory (the same traffic, simulated arms and locked analysis as a real campaign, with no
store) in several worlds (:mod:`experiment._design_scenarios`):

- the plan's assumed truths: power, i.e. the probability of the verdict a perfect experiment
  would reach, and the share of PASS / FAIL / INCONCLUSIVE per arm and gate; coverage of the
  accuracy interval; bias of the accuracy and latency estimates;
- each gate's boundary (true accuracy exactly at the threshold, true routing P95 exactly at the
  threshold): the type I error, P(PASS) where PASS is not deserved;
- a grid of true accuracies: the P(PASS) curve of each accuracy gate;
- resized corpora: the fewest unique cases that give the target power (default 80%).

Results are written beside the plan (``<stem>.design.json``) and read back as a plain dict by
:func:`load_design_results`; they depend only on the plan, its corpus, the seed and the simulation
counts, never on the engine or the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiment._design_engine import (
    ENGINES,
    Engine,
    EngineSettings,
    chunk_bounds,
    default_workers,
    run_tasks,
)
from experiment._design_figures import (
    accuracy_interval_figures,
    failure_figures,
    gate_figures,
    gate_truth,
    nominal_alpha,
    pooled_quantiles,
    verdict_shares,
    viability_figures,
)
from experiment._design_scenarios import (
    ACCURACY_METRIC,
    LATENCY_METRICS,
    Scenario,
    accuracy_scenario,
    assumed_scenario,
    grid_values,
    latency_boundary_scenario,
    sample_size_scenario,
)
from experiment._design_search import Pair, search_min_cases
from experiment._design_sim import ChunkTask, SimOutcome, simulate_chunk
from experiment._design_store import (
    DESIGN_KIND,
    DESIGN_SCHEMA_VERSION,
    design_json,
    design_results_path,
    load_design_results,
    write_design_results,
)
from prereg.canonical import analysis_code_hash, canonical_hash
from prereg.records import Case
from prereg.errors import InputError
from prereg.schema import (
    ConfidenceBoundRule,
    GateSpec,
    Plan,
    RouterArmSpec,
    SimulatedClassifierSpec,
    SimulatedModelSpec,
    TraceArrival,
)
from traffic import read_trace

__all__ = [
    "DEFAULT_GRID",
    "ENGINES",
    "DesignSettings",
    "Engine",
    "EngineSettings",
    "Progress",
    "default_workers",
    "design_json",
    "design_results_path",
    "diagnose",
    "load_design_results",
    "write_design_results",
]

#: True accuracies of the P(PASS) curve: 0.70, 0.725, ..., 0.95.
DEFAULT_GRID: tuple[float, ...] = grid_values(0.70, 0.95, 0.025)

#: Called with a phase name, simulations finished and simulations in the phase.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DesignSettings:
    """How much to simulate.

    ``sims`` simulations under the assumed truths and at each boundary; ``curve_sims`` at each
    grid point and each corpus size of the sample-size search (cheaper figures, larger Monte Carlo
    error, reported); ``grid`` the true accuracies of the curve (empty: no curve);
    ``min_cases``: search the fewest unique cases reaching ``target_power``, up to ``max_cases``
    (default 8 times the corpus), to within ``rel_tol`` of the answer.
    """

    sims: int = 1000
    curve_sims: int = 200
    grid: tuple[float, ...] = DEFAULT_GRID
    min_cases: bool = True
    target_power: float = 0.8
    max_cases: int | None = None
    rel_tol: float = 0.05


class _Simulations:
    """Simulations run so far, per world (scenario identity), extended on demand in batches."""

    def __init__(
        self, base_seed: int, plan_hash: str, base_dir: Path, engine: EngineSettings,
        progress: Progress | None,
    ) -> None:
        self._base_seed = base_seed
        self._plan_hash = plan_hash
        self.base_dir = base_dir
        self._engine = engine
        self._progress = progress
        self._done: dict[str, list[SimOutcome]] = {}

    def ensure(self, phase: str, wants: Sequence[tuple[Scenario, int, bool]]) -> None:
        """Run whatever is missing so each scenario has at least its count of simulations."""
        tasks: list[ChunkTask] = []
        planned: dict[str, int] = {}
        for scenario, count, keep in wants:
            have = max(len(self._done.get(scenario.identity, [])), planned.get(scenario.identity, 0))
            if count <= have:
                continue
            planned[scenario.identity] = count
            for start, stop in chunk_bounds(count - have, self._engine.workers):
                tasks.append(ChunkTask(scenario, self._base_seed, self._plan_hash, self.base_dir,
                                       have + start, have + stop, keep))
        total = sum(t.stop - t.start for t in tasks)
        progress = self._progress

        def report(done_tasks: int, all_tasks: int) -> None:
            # Chunks finish out of order; the bar shows simulations in proportion to chunks.
            if progress is not None:
                progress(phase, total * done_tasks // all_tasks, total)

        chunks = run_tasks(simulate_chunk, tasks, self._engine, report if progress else None)
        for task, outcomes in zip(tasks, chunks):
            self._done.setdefault(task.scenario.identity, []).extend(outcomes)

    def outcomes(self, scenario: Scenario, count: int) -> list[SimOutcome]:
        """The first ``count`` simulations of a scenario (in index order)."""
        done = self._done[scenario.identity]
        assert [o.index for o in done[:count]] == list(range(min(count, len(done))))
        return done[:count]


def _gate_info(gate: GateSpec) -> dict[str, Any]:
    rule = gate.rule
    return {
        "id": gate.id,
        "metric": gate.metric,
        "op": gate.op,
        "threshold": gate.threshold,
        "rule": rule.kind,
        "level": rule.level if isinstance(rule, ConfidenceBoundRule) else None,
        "nominal_alpha": nominal_alpha(gate),
    }


def _boundary_scenario(plan: Plan, cases: Sequence[Case], gate: GateSpec) -> Scenario:
    if gate.metric == ACCURACY_METRIC:
        return accuracy_scenario(plan, cases, gate.threshold, key=f"boundary:{gate.id}")
    return latency_boundary_scenario(plan, cases, gate)


def diagnose(
    plan: Plan,
    cases: Sequence[Case],
    *,
    base_dir: Path,
    plan_hash: str | None = None,
    settings: DesignSettings = DesignSettings(),
    engine: EngineSettings | None = None,
    progress: Progress | None = None,
    plan_file: str | None = None,
) -> dict[str, Any]:
    """Simulate the design of ``plan`` on ``cases`` and return the design figures (a plain dict).

    ``plan_hash`` is the plan's canonical SHA-256 (computed when omitted); it names the random
    streams of every simulation, as in a real campaign. ``base_dir`` resolves a trace file.
    """
    _require_simulated(plan)
    plan_hash = plan_hash or canonical_hash(plan)
    engine = engine or EngineSettings()
    cases = tuple(cases)
    sims = _Simulations(plan.randomization.seed, plan_hash, base_dir, engine, progress)
    routers = [a.id for a in plan.router_arms]
    gates = list(plan.gates)
    has_latency_gate = any(g.metric in LATENCY_METRICS for g in gates)

    assumed = assumed_scenario(plan, cases)
    boundaries = {g.id: _boundary_scenario(plan, cases, g) for g in gates}
    grid = {v: accuracy_scenario(plan, cases, v, key=f"grid:{v:.3f}") for v in settings.grid}
    has_accuracy_gate = any(g.metric == ACCURACY_METRIC for g in gates)
    wants = [(assumed, settings.sims, has_latency_gate)]
    wants += [(s, settings.sims, False) for s in boundaries.values()]
    if has_accuracy_gate:
        wants += [(s, settings.curve_sims, False) for s in grid.values()]
    sims.ensure("scenarios", wants)

    assumed_out = sims.outcomes(assumed, settings.sims)
    reference = pooled_quantiles(assumed_out, gates, routers)
    result: dict[str, Any] = {
        "kind": DESIGN_KIND,
        "schema_version": DESIGN_SCHEMA_VERSION,
        "plan": {"file": plan_file, "title": plan.study.title, "canonical_sha256": plan_hash},
        "analysis_code_sha256": analysis_code_hash(),
        "seed": plan.randomization.seed,
        "sims": settings.sims,
        "curve_sims": settings.curve_sims,
        "target_power": settings.target_power,
        "unique_cases": len(cases),
        "arms": routers,
        "gates": [_gate_info(g) for g in gates],
        "assumed": _assumed_figures(assumed, assumed_out, gates, routers, reference),
        "boundary": {
            g.id: _boundary_figures(boundaries[g.id], sims.outcomes(boundaries[g.id], settings.sims),
                                    g, gpos, routers)
            for gpos, g in enumerate(gates)
        },
        "curve": _curve_figures(grid, sims, settings.curve_sims, gates, routers)
        if settings.grid and has_accuracy_gate else None,
        "min_cases": None,
    }
    if settings.min_cases:
        result["min_cases"] = _min_cases(plan, cases, sims, settings, gates, routers, result)
    return result


def _require_simulated(plan: Plan) -> None:
    """Refuse, before any simulation, a plan whose arms cannot be simulated."""
    for i, arm in enumerate(plan.arms):
        if isinstance(arm, RouterArmSpec) and not isinstance(arm.classifier.backend, SimulatedClassifierSpec):
            raise InputError(
                "expected 'simulated' (a design is simulated from the plan's assumed truths), "
                f"found {arm.classifier.backend.kind!r}",
                field=f"arms[{i}].classifier.backend.kind",
            )
    for key, model in plan.models.items():
        if not isinstance(model.backend, SimulatedModelSpec):
            raise InputError(
                "expected 'simulated' (a design is simulated from the plan's assumed truths), "
                f"found {model.backend.kind!r}",
                field=f"models.{key}.backend.kind",
            )


def _assumed_figures(
    scenario: Scenario, outcomes: list[SimOutcome], gates: list[GateSpec], routers: list[str],
    reference: dict[tuple[str, str], float],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pos, arm in enumerate(routers):
        failures = failure_figures(outcomes, pos)
        timeouts = sum(o.arms[pos].timeouts for o in outcomes)
        gate_out = {}
        for gpos, gate in enumerate(gates):
            figures = gate_figures(outcomes, pos, gpos, gate, gate_truth(scenario, arm, gate, reference))
            figures["truth_source"] = (
                "calibration" if gate.metric == ACCURACY_METRIC else "pooled simulations"
            )
            gate_out[gate.id] = figures
        truth = scenario.true_accuracy[arm]
        out[arm] = {
            "true_accuracy": round(truth, 6),
            "true_accuracy_exact": scenario.accuracy_exact or timeouts == 0,
            "reference_latency_ms": {
                g.id: round(reference[(arm, g.metric)], 3)
                for g in gates if (arm, g.metric) in reference
            },
            "gates": gate_out,
            "viability": viability_figures(outcomes, pos),
            "accuracy_interval": accuracy_interval_figures(outcomes, pos, truth),
            **failures,
        }
    return out


def _boundary_figures(
    scenario: Scenario, outcomes: list[SimOutcome], gate: GateSpec, gpos: int, routers: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pos, arm in enumerate(routers):
        truth = gate_truth(scenario, arm, gate, {})
        figures = gate_figures(outcomes, pos, gpos, gate, truth)
        entry: dict[str, Any] = {
            "truth": figures["truth"],
            "type_i_error": figures["p_pass"],
            "type_i_error_mc_se": figures["mc_se_pass"],
            "nominal_alpha": nominal_alpha(gate),
            "p_fail": figures["p_fail"],
            "p_inconclusive": figures["p_inconclusive"],
            "mean_estimate": figures["mean_estimate"],
            "bias": figures["bias"],
            "bias_mc_se": figures["bias_mc_se"],
        }
        if gate.metric == ACCURACY_METRIC:
            entry["accuracy_interval"] = accuracy_interval_figures(
                outcomes, pos, scenario.true_accuracy[arm]
            )
        out[arm] = entry
    return out


def _curve_figures(
    grid: Mapping[float, Scenario], sims: _Simulations, count: int, gates: list[GateSpec],
    routers: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    values = sorted(grid)
    for gpos, gate in enumerate(gates):
        if gate.metric != ACCURACY_METRIC:
            continue
        per_arm: dict[str, dict[str, list[float]]] = {}
        for pos, arm in enumerate(routers):
            rows: dict[str, list[float]] = {"p_pass": [], "p_fail": [], "p_inconclusive": []}
            for v in values:
                shares = verdict_shares(
                    [o.arms[pos].verdicts[gpos] for o in sims.outcomes(grid[v], count)]
                )
                rows["p_pass"].append(round(shares["PASS"], 6))
                rows["p_fail"].append(round(shares["FAIL"], 6))
                rows["p_inconclusive"].append(round(shares["INCONCLUSIVE"], 6))
            per_arm[arm] = rows
        out[gate.id] = {"true_accuracy": values, "arms": per_arm}
    return out


def _min_cases(
    plan: Plan, cases: tuple[Case, ...], sims: _Simulations, settings: DesignSettings,
    gates: list[GateSpec], routers: list[str], result: dict[str, Any],
) -> dict[str, Any]:
    targets: dict[Pair, str] = {}
    for arm in routers:
        for gate in gates:
            target = result["assumed"][arm]["gates"][gate.id]["target"]
            if target is not None:
                targets[(arm, gate.id)] = target
    gate_pos = {g.id: i for i, g in enumerate(gates)}
    arm_pos = {a: i for i, a in enumerate(routers)}
    n0 = len(cases)
    n_max = settings.max_cases or 8 * n0
    arrival = plan.traffic.arrival
    if isinstance(arrival, TraceArrival):
        # A trace has a fixed number of timestamps: no corpus may need more requests than that.
        per_case = plan.traffic.replays_per_case * sum(plan.ratio_of(a) for a in plan.arm_ids)
        n_max = min(n_max, max(n0, read_trace(arrival, sims.base_dir).size // per_case))
    families = len({c.family for c in cases})

    def scenario_for(n: int) -> Scenario:
        return assumed_scenario(plan, cases) if n == n0 else sample_size_scenario(plan, cases, n)

    def evaluate(sizes: list[int]) -> dict[int, dict[Pair, float]]:
        worlds = {n: scenario_for(n) for n in sizes}
        sims.ensure(f"sample size {', '.join(str(n) for n in sizes)}",
                    [(w, settings.curve_sims, False) for w in worlds.values()])
        powers: dict[int, dict[Pair, float]] = {}
        for n, world in worlds.items():
            outcomes = sims.outcomes(world, settings.curve_sims)
            powers[n] = {
                pair: verdict_shares(
                    [o.arms[arm_pos[pair[0]]].verdicts[gate_pos[pair[1]]] for o in outcomes]
                )[target]
                for pair, target in targets.items()
            }
        return powers

    found = search_min_cases(
        evaluate, list(targets), n0, target=settings.target_power,
        n_min=min(families, n0), n_max=n_max, rel_tol=settings.rel_tol,
    )
    out: dict[str, Any] = {"n_max": n_max, "rel_tol": settings.rel_tol, "arms": {}}
    for arm in routers:
        per_gate: dict[str, Any] = {}
        for gate in gates:
            pair = (arm, gate.id)
            if pair not in found:
                per_gate[gate.id] = {"n": None, "target": None, "power": None,
                                     "note": "truth on the threshold or unknown"}
                continue
            r = found[pair]
            per_gate[gate.id] = {
                "n": r.n,
                "target": targets[pair],
                "power": None if r.power is None else round(r.power, 6),
                "bracket": [r.lo, r.hi],
                "evaluated": {str(n): round(p, 6) for n, p in sorted(r.evaluated.items())},
                "note": None if r.n is not None else f"power stays below {settings.target_power:g} "
                f"up to {n_max} cases",
            }
        out["arms"][arm] = per_gate
    return out
