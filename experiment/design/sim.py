"""One simulation of a design: a whole campaign in memory, analysed by the locked analysis.

It is the campaign path with the store taken out: :func:`traffic.build_schedule` and
:func:`traffic.request_stream` in a :class:`simpy.Environment`, the plan's simulated arms
(:func:`arms.build_simulated_arms`), every result flattened by :func:`arms.to_trial_record`, then
:func:`analysis.analyze` on a :class:`analysis.TrialTable`. Only the verdicts and the few numbers
the design figures need leave the worker.

Simulation ``i`` runs the scenario's plan with ``randomization.seed`` replaced by a seed derived
from the original plan's seed, its canonical hash and ``"design:<i>"``; the random streams keep
the original plan's hash as their name. So simulation ``i`` is the same wherever and in whichever
order it runs, and every scenario sees the same allocations and arrivals for the same ``i``
(common random numbers: a P(PASS) curve over a grid is smooth rather than jagged).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from arms import ArmOutcome, ArmRequest, build_simulated_arms, to_trial_record
from experiment.campaign import ArmAborts, ScheduleRequests, aborted_row, drive, planned_per_arm
from experiment.design.scenarios import Scenario
from prereg.records import TrialRecord
from prereg.schema import FixedHorizonStopping, Plan
from prereg.seeding import derive_seed_sequence
from traffic import Schedule, build_schedule

if TYPE_CHECKING:
    from analysis import GateResults

__all__ = [
    "ArmSim",
    "ChunkTask",
    "SimOutcome",
    "run_campaign",
    "sim_seed",
    "simulate",
    "simulate_chunk",
]


@dataclass(frozen=True, slots=True)
class ArmSim:
    """What one simulation concluded for one router arm.

    ``verdicts`` and ``estimates`` follow the plan's gates in order (NaN: no estimate);
    ``accuracy_*`` is the arm's accuracy estimate and two-sided interval at ``accuracy_level``
    (NaN when an end does not exist), ``robust_*`` the cluster-robust (case bootstrap or GEE)
    estimate and interval the analysis reports beside it; ``failed``/``timeouts`` count routing failures.
    ``correct_icc`` and ``latency_icc`` are the one-way ANOVA intra-case correlations of the
    correctness and of the log routing latency over the arm's decisions that ended ``ok`` (NaN
    where undefined): what the ICC grid's worlds realised.
    """

    verdicts: tuple[str, ...]
    estimates: tuple[float, ...]
    viability: str
    accuracy: float
    accuracy_lower: float
    accuracy_upper: float
    accuracy_level: float
    robust_accuracy: float
    robust_lower: float
    robust_upper: float
    failed: int
    timeouts: int
    correct_icc: float = math.nan
    latency_icc: float = math.nan
    #: A group-sequential plan only: the same trials analysed once at the fixed horizon (the
    #: design's comparison, on common random numbers); empty otherwise.
    fixed_verdicts: tuple[str, ...] = ()
    fixed_viability: str = ""


@dataclass(frozen=True, slots=True)
class SimOutcome:
    """One simulation: per router arm (plan order) its :class:`ArmSim`, and optionally the
    routing latencies the analysis used (for a pooled reference quantile). ``requests`` is what
    the campaign ran: the whole schedule, or for a group-sequential plan the requests through the
    look it stopped at (``stop_look``; 0 at a fixed horizon)."""

    index: int
    arms: tuple[ArmSim, ...]
    latencies: tuple[np.ndarray, ...] | None
    requests: int = 0
    stop_look: int = 0


@dataclass(frozen=True)
class ChunkTask:
    """Simulations ``start..stop-1`` of a scenario; picklable, the unit of work of every engine."""

    scenario: Scenario
    base_seed: int
    plan_hash: str
    base_dir: Path
    start: int
    stop: int
    keep_latencies: bool


def sim_seed(base_seed: int, plan_hash: str, index: int) -> int:
    """The seed of simulation ``index``: derived from the plan's seed and hash, 63 bits."""
    state = derive_seed_sequence(base_seed, plan_hash, f"design:{index}").generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def run_campaign(
    plan: Plan, scenario: Scenario, plan_hash: str, base_dir: Path
) -> tuple[Schedule, list[TrialRecord]]:
    """The schedule and every trial of one campaign of ``plan`` on the scenario's corpus.

    The same steps as :func:`experiment.campaign.simulated.simulate_campaign` (the same driver,
    :func:`experiment.campaign.driver.drive`) without the store: trials are kept in memory, in
    seq order.
    """
    cases = scenario.cases
    schedule = build_schedule(plan, [c.id for c in cases], plan_hash, base_dir)
    env = simpy.Environment()
    arms = build_simulated_arms(plan, cases, plan_hash, env, plan_dir=base_dir)
    records: list[TrialRecord | None] = [None] * len(schedule)
    aborts = ArmAborts.of(plan)
    routers = frozenset(plan.decision_arms)

    def finish(request: ArmRequest, outcome: ArmOutcome) -> None:
        record = records[request.seq] = to_trial_record(plan_hash, request, outcome)
        if aborts is not None:
            aborts.count(request.arm, record.status)

    def unsent(request: ArmRequest) -> None:
        assert aborts is not None
        records[request.seq] = aborted_row(
            plan_hash, request, aborts.aborted[request.arm], router=request.arm in routers
        )

    stopped = None if aborts is None else (lambda request: request.arm in aborts.aborted)
    drive(env, ScheduleRequests(schedule, cases), arms, finish, None, stopped, unsent)
    return schedule, [r for r in records if r is not None]


def simulate(task: ChunkTask, index: int) -> SimOutcome:
    """Simulation ``index`` of the task's scenario: campaign, locked analysis, summary."""
    from analysis import RunMeta, TrialTable, analyze

    scenario = task.scenario
    base = scenario.plan
    plan = base.model_copy(
        update={
            "randomization": base.randomization.model_copy(
                update={"seed": sim_seed(task.base_seed, task.plan_hash, index)}
            )
        }
    )
    schedule, records = run_campaign(plan, scenario, task.plan_hash, task.base_dir)
    allocated = schedule.allocation_counts()
    planned = planned_per_arm(schedule)
    meta = RunMeta(
        plan_canonical_sha256=task.plan_hash,
        plan_bytes_sha256=task.plan_hash,
        analysis_code_matches=True,
        deviations=(),
        source="store",
        planned_per_arm=planned,
        allocated_per_arm_case=allocated,
        live=None,
    )
    table = TrialTable.from_records(records)
    results = analyze(plan, table, meta, scope="gates")
    fixed = None
    requests, stop_look = len(schedule), 0
    if results.sequential is not None:
        # The campaign stops at its look; the whole simulated night serves as the fixed horizon.
        seq = results.sequential
        stop_look = seq.stopped_at or seq.last_look
        requests = seq.looks[stop_look - 1].requests if stop_look else len(schedule)
        horizon = plan.model_copy(
            update={"analysis": plan.analysis.model_copy(update={"stopping": FixedHorizonStopping()})}
        )
        fixed = analyze(horizon, table, meta, scope="gates")
    routers = [a.id for a in plan.router_arms]
    gate_ids = [g.id for g in plan.gates]
    by_gate = {(v.arm, v.gate): v for v in results.gates}
    viability = {v.arm: v.verdict for v in results.viability}
    by_arm = {a.arm: a for a in results.arms}
    failures = Counter((r.arm, r.routing_status) for r in records if r.routing_status not in (None, "ok"))
    iccs = _replay_iccs(records, routers)
    arm_sims = []
    for arm_id in routers:
        verdicts = tuple(by_gate[(arm_id, g)].verdict for g in gate_ids)
        estimates = tuple(_nan(by_gate[(arm_id, g)].estimate) for g in gate_ids)
        accuracy = by_arm[arm_id].accuracy
        robust = by_arm[arm_id]
        failed = sum(n for (arm, status), n in failures.items() if arm == arm_id)
        timeouts = failures.get((arm_id, "timeout"), 0)
        arm_sims.append(
            ArmSim(
                verdicts=verdicts,
                estimates=estimates,
                viability=viability[arm_id],
                accuracy=_nan(accuracy.estimate),
                accuracy_lower=_nan(accuracy.interval.lower),
                accuracy_upper=_nan(accuracy.interval.upper),
                accuracy_level=accuracy.interval.level,
                robust_accuracy=_nan(robust.robust_estimate),
                robust_lower=_nan(robust.robust_interval.lower),
                robust_upper=_nan(robust.robust_interval.upper),
                failed=failed,
                timeouts=timeouts,
                correct_icc=iccs[arm_id][0],
                latency_icc=iccs[arm_id][1],
                **_fixed_figures(fixed, arm_id, gate_ids),
            )
        )
    latencies = _routing_latencies(plan, records, routers) if task.keep_latencies else None
    return SimOutcome(
        index=index, arms=tuple(arm_sims), latencies=latencies, requests=requests, stop_look=stop_look
    )


def _fixed_figures(fixed: GateResults | None, arm: str, gate_ids: list[str]) -> dict[str, Any]:
    """An arm's fixed-horizon verdicts and viability (nothing when the plan is not sequential)."""
    if fixed is None:
        return {}
    by_gate = {(v.arm, v.gate): v.verdict for v in fixed.gates}
    return {
        "fixed_verdicts": tuple(by_gate[(arm, g)] for g in gate_ids),
        "fixed_viability": next(v.verdict for v in fixed.viability if v.arm == arm),
    }


def _replay_iccs(records: list[TrialRecord], routers: list[str]) -> dict[str, tuple[float, float]]:
    """Per router arm, the ANOVA ICC of correctness and of log routing latency (``ok`` decisions)."""
    from analysis import icc_anova

    codes: dict[str, int] = {}
    rows: dict[str, tuple[list[int], list[float], list[float]]] = {a: ([], [], []) for a in routers}
    for r in records:
        row = rows.get(r.arm)
        if row is None or r.routing_status != "ok" or r.routing_latency_ms is None:
            continue
        row[0].append(codes.setdefault(r.case_id, len(codes)))
        row[1].append(1.0 if r.correct else 0.0)
        row[2].append(r.routing_latency_ms)
    out: dict[str, tuple[float, float]] = {}
    for arm, (cases, correct, latency) in rows.items():
        c = np.asarray(cases, dtype=np.intp)
        lat = np.asarray(latency, dtype=np.float64)
        log_lat = np.log(np.maximum(lat, 1e-9))
        out[arm] = (
            _nan(icc_anova(np.asarray(correct, dtype=np.float64), c)) if c.size else math.nan,
            _nan(icc_anova(log_lat, c)) if c.size else math.nan,
        )
    return out


def _routing_latencies(plan: Plan, records: list[TrialRecord], routers: list[str]) -> tuple[np.ndarray, ...]:
    """Per router arm, the routing latencies the analysis reads (failed decisions per the plan)."""
    keep_failed = plan.analysis.failures.latency == "elapsed"
    values: dict[str, list[float]] = {arm: [] for arm in routers}
    for r in records:
        # an oracle arm records its decision (no time) but is no router: not in `values`
        if r.arm in values and r.routing_latency_ms is not None and (keep_failed or r.routing_status == "ok"):
            values[r.arm].append(r.routing_latency_ms)
    return tuple(np.asarray(values[arm], dtype=np.float64) for arm in routers)


def simulate_chunk(task: ChunkTask) -> list[SimOutcome]:
    """Simulations ``task.start .. task.stop - 1``, in index order (the engines' task function)."""
    return [simulate(task, i) for i in range(task.start, task.stop)]
