"""Design diagnosis: what a plan can and cannot show, learned by simulating it many times.

Before a night of GPU time is spent, ``routetrial design PLAN`` runs the plan's whole design ``N``
times in memory (the same traffic, simulated arms and locked analysis as a real campaign, with no
store) in several worlds (:mod:`experiment.design.scenarios`):

- the plan's assumed truths: power, i.e. the probability of the verdict a perfect experiment
  would reach, and the share of PASS / FAIL / INCONCLUSIVE per arm and gate; coverage of the
  accuracy interval; bias of the accuracy and latency estimates;
- each gate's boundary (true accuracy exactly at the threshold, true routing P95 exactly at the
  threshold): the type I error, P(PASS) where PASS is not deserved;
- a grid of true accuracies: the P(PASS) curve of each accuracy gate;
- each gate's boundary again over a grid of intra-case correlations of the replays (correctness
  ICC for accuracy gates, log-latency ICC for latency gates): type I error, P(FAIL) and coverage
  where replays of a case are not independent (:mod:`experiment.design.icc`);
- resized corpora: the fewest unique cases that give the target power (default 80%).

Every share comes with its 95% Wilson interval over the simulations (``<share>_ci``).

Results are written beside the plan (``<stem>.design.json``) and read back as a plain dict by
:func:`load_design_results`; they depend only on the plan, its corpus, the seed and the simulation
counts, never on the engine or the number of workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis import gate_requirement
from experiment.design.batches import Progress, SimulationBatches
from experiment.design.engine import ENGINES, Engine, EngineSettings, default_workers
from experiment.design.figures import (
    MC_LEVEL,
    MC_METHOD,
    assumed_figures,
    boundary_figures,
    curve_figures,
    nominal_alpha,
    pooled_quantiles,
    share_ci,
    verdict_counts,
)
from experiment.design.icc import DEFAULT_ICC_GRID, MAX_ICC
from experiment.design.icc_grid import icc_grid_figures, icc_world
from experiment.design.results_file import (
    DESIGN_KIND,
    DESIGN_SCHEMA_VERSION,
    design_json,
    design_results_path,
    load_design_results,
    write_design_results,
)
from experiment.design.scenarios import (
    ACCURACY_METRIC,
    LATENCY_METRICS,
    Scenario,
    accuracy_scenario,
    assumed_scenario,
    grid_values,
    latency_boundary_scenario,
    sample_size_scenario,
)
from experiment.design.search import Pair, search_min_cases
from prereg.canonical import analysis_code_hash, canonical_hash
from prereg.errors import InputError
from prereg.records import Case
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
    "DEFAULT_ICC_GRID",
    "DEFAULT_ICC_SIMS",
    "ENGINES",
    "MAX_SIMS",
    "DesignSettings",
    "Engine",
    "EngineSettings",
    "Progress",
    "default_workers",
    "design_json",
    "design_results_path",
    "diagnose",
    "load_design_results",
    "power_warnings",
    "write_design_results",
]

#: True accuracies of the P(PASS) curve: 0.70, 0.725, ..., 0.95.
DEFAULT_GRID: tuple[float, ...] = grid_values(0.70, 0.95, 0.025)
#: Most simulations per world of the ICC grid when ``icc_sims`` is not given (never above ``sims``).
DEFAULT_ICC_SIMS = 200
#: Most simulations per world: at ~100 simulations a second per core, 100,000 already take hours.
MAX_SIMS = 100_000


@dataclass(frozen=True)
class DesignSettings:
    """How much to simulate.

    ``sims`` simulations under the assumed truths and at each boundary; ``curve_sims`` at each
    grid point and each corpus size of the sample-size search (cheaper figures, larger Monte Carlo
    error, reported); ``grid`` the true accuracies of the curve (empty: no curve);
    ``icc_grid`` the ICCs at which each gate's boundary is simulated again (empty: none), with
    ``icc_sims`` simulations per gate and ICC (default ``min(sims, DEFAULT_ICC_SIMS)``);
    ``min_cases``: search the fewest unique cases reaching ``target_power``, up to ``max_cases``
    (default 4 times the corpus), to within ``rel_tol`` of the answer.
    """

    sims: int = 500
    curve_sims: int = 100
    grid: tuple[float, ...] = DEFAULT_GRID
    min_cases: bool = True
    target_power: float = 0.8
    max_cases: int | None = None
    rel_tol: float = 0.05
    icc_grid: tuple[float, ...] = DEFAULT_ICC_GRID
    icc_sims: int | None = None

    def __post_init__(self) -> None:
        counts = (("--sims", self.sims), ("--curve-sims", self.curve_sims), ("--icc-sims", self.icc_sims))
        for option, count in counts:
            if count is not None and not 1 <= count <= MAX_SIMS:
                raise InputError(f"expected 1 to {MAX_SIMS:,} simulations, found {count:,}", field=option)
        bad = [v for v in self.icc_grid if not 0.0 <= v <= MAX_ICC]
        if bad:
            raise InputError(f"expected ICCs in [0, {MAX_ICC}], found {bad[0]:g}", field="--icc-grid")
        if self.icc_sims is not None and self.icc_sims < 1:
            raise InputError(f"expected at least 1, found {self.icc_sims}", field="--icc-sims")

    @property
    def icc_sim_count(self) -> int:
        """Simulations per world of the ICC grid."""
        return self.icc_sims if self.icc_sims is not None else min(self.sims, DEFAULT_ICC_SIMS)

    @property
    def icc_values(self) -> tuple[float, ...]:
        """The ICC grid sorted, without repeats (6 decimals)."""
        return tuple(sorted({round(float(v), 6) for v in self.icc_grid}))


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
    sims = SimulationBatches(plan.randomization.seed, plan_hash, base_dir, engine, progress)
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
    icc_values = settings.icc_values
    icc_sims = settings.icc_sim_count
    icc_worlds = {g.id: [icc_world(plan, cases, g, v) for v in icc_values] for g in gates}
    if icc_values:
        sims.ensure(
            "ICC grid",
            [(w, icc_sims, False) for points in icc_worlds.values() for _, w, _ in points if w is not None],
        )

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
        "icc_sims": icc_sims if icc_values else None,
        "mc_interval": {"method": MC_METHOD, "level": MC_LEVEL},
        "target_power": settings.target_power,
        "unique_cases": len(cases),
        "arms": routers,
        "gates": [_gate_info(g) for g in gates],
        # what each gate needs at this size: the answer check and the results document give
        "requirements": {
            g.id: dataclasses.asdict(
                gate_requirement(g, plan.analysis, len(cases), plan.traffic.replays_per_case)
            )
            for g in gates
        },
        "assumed": assumed_figures(assumed, assumed_out, gates, routers, reference),
        "boundary": {
            g.id: boundary_figures(
                boundaries[g.id], sims.outcomes(boundaries[g.id], settings.sims), g, gpos, routers
            )
            for gpos, g in enumerate(gates)
        },
        "curve": curve_figures(
            {v: sims.outcomes(w, settings.curve_sims) for v, w in grid.items()}, gates, routers
        )
        if settings.grid and has_accuracy_gate
        else None,
        "icc_grid": icc_grid_figures(icc_worlds, sims, icc_sims, gates, routers, icc_values)
        if icc_values and gates
        else None,
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


def _min_cases(
    plan: Plan,
    cases: tuple[Case, ...],
    sims: SimulationBatches,
    settings: DesignSettings,
    gates: list[GateSpec],
    routers: list[str],
    result: dict[str, Any],
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
    n_max = settings.max_cases or 4 * n0
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

    def ci(power: float) -> list[float] | None:
        return share_ci(round(power * settings.curve_sims), settings.curve_sims)

    found = search_min_cases(
        evaluate,
        list(targets),
        n0,
        target=settings.target_power,
        n_min=min(families, n0),
        n_max=n_max,
        rel_tol=settings.rel_tol,
    )
    out: dict[str, Any] = {
        "n_max": n_max,
        "rel_tol": settings.rel_tol,
        "sims": settings.curve_sims,
        "arms": {},
    }
    for arm in routers:
        per_gate: dict[str, Any] = {}
        for gate in gates:
            pair = (arm, gate.id)
            if pair not in found:
                per_gate[gate.id] = {
                    "n": None,
                    "target": None,
                    "power": None,
                    "power_ci": None,
                    "note": "truth on the threshold or unknown",
                }
                continue
            r = found[pair]
            per_gate[gate.id] = {
                "n": r.n,
                "target": targets[pair],
                "power": None if r.power is None else round(r.power, 6),
                "power_ci": None if r.power is None else ci(r.power),
                "bracket": [r.lo, r.hi],
                "evaluated": {str(n): round(p, 6) for n, p in sorted(r.evaluated.items())},
                "evaluated_ci": {str(n): ci(p) for n, p in sorted(r.evaluated.items())},
                "note": None
                if r.n is not None
                else f"power stays below {settings.target_power:g} up to {n_max} cases",
            }
        out["arms"][arm] = per_gate
    return out


def power_warnings(results: dict[str, Any]) -> list[str]:
    """One line per router arm and gate whose simulated power is below the target.

    For ``routetrial check``: ``results`` is what :func:`load_design_results` returns. A gate
    whose truth sits on its threshold has no power to report and gives no line.
    """
    target = float(results.get("target_power", 0.8))
    lines = []
    for arm, figures in results.get("assumed", {}).items():
        for gate_id, g in figures.get("gates", {}).items():
            power = g.get("power")
            if power is None or power >= target:
                continue
            n = results.get("unique_cases")
            ci = g.get("power_ci")
            interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if isinstance(ci, list) and len(ci) == 2 else ""
            lines.append(
                f"design: {arm} {gate_id}: power {power:.2f}{interval} < {target:.2f} at {n} unique cases "
                f"(P(PASS) {g.get('p_pass', 0.0):.2f}, P(FAIL) {g.get('p_fail', 0.0):.2f}, "
                f"P(INCONCLUSIVE) {g.get('p_inconclusive', 0.0):.2f}; {results.get('sims')} simulations)"
            )
    return lines
