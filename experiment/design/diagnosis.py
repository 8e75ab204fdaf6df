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

The figures are an :class:`analysis.DiagnosisResult`, written beside the plan
(``<stem>.design.json``, :mod:`experiment.design.results_file`) and read back as the same object;
they depend only on the plan, its corpus, the seed and the simulation counts, never on the engine
or the number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analysis import (
    DiagnosedGate,
    DiagnosedPlan,
    DiagnosisResult,
    MonteCarloInterval,
    gate_requirement,
)
from experiment.design.batches import Progress, SimulationBatches
from experiment.design.engine import EngineSettings
from experiment.design.figures import (
    MC_LEVEL,
    MC_METHOD,
    assumed_figures,
    boundary_figures,
    curve_figures,
    mean_control_estimates,
    no_boundary_figures,
    nominal_alpha,
    pooled_quantiles,
)
from experiment.design.icc_grid import IccWorld, icc_grid_figures, icc_world
from experiment.design.min_cases import min_cases_figures
from experiment.design.scenarios import (
    ACCURACY_METRIC,
    LATENCY_METRICS,
    QUALITY_METRIC,
    Scenario,
    accuracy_scenario,
    assumed_scenario,
    latency_boundary_scenario,
    quality_boundary_scenario,
)
from experiment.design.sequential import sequential_figures
from experiment.design.settings import DesignSettings
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
)

__all__ = ["diagnose", "power_warnings"]

# ``MAX_SIMS`` (and ``DesignSettings``) are still imported from here by tests/test_prereg_ranges.py,
# a file of another change; they belong to the face, experiment.design.

_DEFAULT_SETTINGS = DesignSettings()


def _gate_info(gate: GateSpec) -> DiagnosedGate:
    rule = gate.rule
    return DiagnosedGate(
        id=gate.id,
        metric=gate.metric,
        op=gate.op,
        threshold=gate.threshold,
        rule=rule.kind,
        level=rule.level if isinstance(rule, ConfidenceBoundRule) else None,
        nominal_alpha=nominal_alpha(gate),
    )


def _boundary_scenario(plan: Plan, cases: Sequence[Case], gate: GateSpec) -> Scenario | None:
    """A gate's boundary world; None for cost and end-to-end latency against the control."""
    if gate.metric == ACCURACY_METRIC:
        return accuracy_scenario(plan, cases, gate.threshold, key=f"boundary:{gate.id}")
    if gate.metric == QUALITY_METRIC:
        return quality_boundary_scenario(plan, cases, gate)
    if gate.metric in LATENCY_METRICS:
        return latency_boundary_scenario(plan, cases, gate)
    return None


class _Worlds:
    """The worlds a diagnosis simulates at the plan's size: the assumed truths, each gate's
    boundary, the grid of true accuracies and the ICC grid's boundary worlds."""

    def __init__(self, plan: Plan, cases: tuple[Case, ...], settings: DesignSettings) -> None:
        self.gates = list(plan.gates)
        self.assumed = assumed_scenario(plan, cases)
        built = {g.id: _boundary_scenario(plan, cases, g) for g in self.gates}
        self.boundaries = {k: w for k, w in built.items() if w is not None}
        self.has_accuracy_gate = any(g.metric == ACCURACY_METRIC for g in self.gates)
        self.grid = {v: accuracy_scenario(plan, cases, v, key=f"grid:{v:.3f}") for v in settings.grid}
        # the ICC grid is of the routing gates (the gates against the control skip it)
        self.icc: dict[str, list[IccWorld]] = {
            g.id: [icc_world(plan, cases, g, v) for v in settings.icc_values]
            for g in self.gates
            if g.metric == ACCURACY_METRIC or g.metric in LATENCY_METRICS
        }

    def simulate(self, sims: SimulationBatches, settings: DesignSettings) -> None:
        """Run every simulation the figures need, in two phases (the progress bars' names)."""
        has_latency_gate = any(g.metric in LATENCY_METRICS for g in self.gates)
        wants = [(self.assumed, settings.sims, has_latency_gate)]
        wants += [(s, settings.sims, False) for s in self.boundaries.values()]
        if self.has_accuracy_gate:
            wants += [(s, settings.curve_sims, False) for s in self.grid.values()]
        sims.ensure("scenarios", wants)
        if settings.icc_values:
            count = settings.icc_sim_count
            icc_wants = [
                (w, count, False) for points in self.icc.values() for _, w, _ in points if w is not None
            ]
            sims.ensure("ICC grid", icc_wants)


def diagnose(
    plan: Plan,
    cases: Sequence[Case],
    *,
    base_dir: Path,
    plan_hash: str | None = None,
    settings: DesignSettings = _DEFAULT_SETTINGS,
    engine: EngineSettings | None = None,
    progress: Progress | None = None,
    plan_file: str | None = None,
) -> DiagnosisResult:
    """Simulate the design of ``plan`` on ``cases`` and return the design figures.

    ``plan_hash`` is the plan's canonical SHA-256 (computed when omitted); it names the random
    streams of every simulation, as in a real campaign. ``base_dir`` resolves a trace file.
    """
    require_simulated(plan)
    plan_hash = plan_hash or canonical_hash(plan)
    cases = tuple(cases)
    sims = SimulationBatches(
        plan.randomization.seed, plan_hash, base_dir, engine or EngineSettings(), progress
    )
    routers = [a.id for a in plan.router_arms]
    worlds = _Worlds(plan, cases, settings)
    worlds.simulate(sims, settings)
    gates = worlds.gates
    icc_values = settings.icc_values
    assumed_out = sims.outcomes(worlds.assumed, settings.sims)
    reference = pooled_quantiles(assumed_out, gates, routers)
    reference.update(mean_control_estimates(assumed_out, gates, routers))
    assumed = assumed_figures(worlds.assumed, assumed_out, gates, routers, reference)
    boundary = {
        g.id: boundary_figures(
            worlds.boundaries[g.id], sims.outcomes(worlds.boundaries[g.id], settings.sims), g, gpos, routers
        )
        if g.id in worlds.boundaries
        else no_boundary_figures(g, routers)
        for gpos, g in enumerate(gates)
    }
    curve = (
        curve_figures(
            {v: sims.outcomes(w, settings.curve_sims) for v, w in worlds.grid.items()}, gates, routers
        )
        if settings.grid and worlds.has_accuracy_gate
        else None
    )
    icc_grid = (
        icc_grid_figures(worlds.icc, sims, settings.icc_sim_count, gates, routers, icc_values)
        if icc_values and worlds.icc
        else None
    )
    worlds_out = {"assumed": assumed_out}
    worlds_out.update(
        {
            f"boundary:{g.id}": sims.outcomes(worlds.boundaries[g.id], settings.sims)
            for g in gates
            if g.id in worlds.boundaries
        }
    )
    if settings.grid and worlds.has_accuracy_gate:
        worlds_out.update({w.key: sims.outcomes(w, settings.curve_sims) for w in worlds.grid.values()})
    requests = plan.traffic.replays_per_case * len(cases) * sum(plan.ratio_of(a) for a in plan.arm_ids)
    return DiagnosisResult(
        sequential=sequential_figures(plan, worlds_out, requests, routers),
        plan=DiagnosedPlan(file=plan_file, title=plan.study.title, canonical_sha256=plan_hash),
        analysis_code_sha256=analysis_code_hash(),
        seed=plan.randomization.seed,
        sims=settings.sims,
        curve_sims=settings.curve_sims,
        icc_sims=settings.icc_sim_count if icc_values else None,
        mc_interval=MonteCarloInterval(method=MC_METHOD, level=MC_LEVEL),
        target_power=settings.target_power,
        unique_cases=len(cases),
        arms=tuple(routers),
        gates=tuple(_gate_info(g) for g in gates),
        # what each gate needs at this size: the answer check and the results document give
        requirements={
            g.id: gate_requirement(g, plan.analysis, len(cases), plan.traffic.replays_per_case) for g in gates
        },
        assumed=assumed,
        boundary=boundary,
        curve=curve,
        icc_grid=icc_grid,
        min_cases=min_cases_figures(plan, cases, sims, settings, gates, routers, assumed)
        if settings.min_cases
        else None,
    )


def require_simulated(plan: Plan) -> None:
    """Refuse, before any simulation, a plan whose arms cannot be simulated, or with a gate the
    diagnosis does not simulate (the misrouting cost)."""
    for i, gate in enumerate(plan.gates):
        if gate.metric == "misrouting_cost_per_1k":
            raise InputError(
                "expected a gate the design diagnosis simulates (routing_accuracy, a routing "
                f"latency or a gate against the control), found {gate.metric!r}",
                field=f"gates[{i}].metric",
            )
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


def power_warnings(results: DiagnosisResult) -> list[str]:
    """One line per router arm and gate whose simulated power is below the target.

    For ``routetrial check``: ``results`` is what :func:`load_design_results` returns. A gate
    whose truth sits on its threshold has no power to report and gives no line.
    """
    target = results.target_power
    lines = []
    for arm, figures in results.assumed.items():
        for gate_id, g in figures.gates.items():
            if g.power is None or g.power >= target:
                continue
            interval = f" [{g.power_ci[0]:.2f}, {g.power_ci[1]:.2f}]" if g.power_ci is not None else ""
            lines.append(
                f"design: {arm} {gate_id}: power {g.power:.2f}{interval} < {target:.2f} at "
                f"{results.unique_cases} unique cases (P(PASS) {g.p_pass or 0.0:.2f}, P(FAIL) "
                f"{g.p_fail or 0.0:.2f}, P(INCONCLUSIVE) {g.p_inconclusive or 0.0:.2f}; "
                f"{results.sims} simulations)"
            )
    return lines
