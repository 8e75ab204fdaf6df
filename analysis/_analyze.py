"""The locked analysis: a frozen plan's trials in, the results document out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from typing import Literal, overload

import numpy as np
from numpy.typing import NDArray

from analysis._aborted import with_aborted
from analysis._arm import ArmData, Codes, analyze_arm, present_cases, routing_p95_bootstrap, select_arm
from analysis._case_bootstrap import CaseResampler, too_few_resamples
from analysis._clustered import estimate_accuracy, robust_accuracy
from analysis._clustered_quantile import estimate_clustered_quantile
from analysis._confidence_sequence import cs_gate_verdict, served_order
from analysis._control_gate import CONTROL_METRICS, LATENCY_VS_CONTROL, control_gate_verdict
from analysis._gate_results import ArmGateResult, GateResults
from analysis._gates import decide_gate, decide_viability
from analysis._hypotheses import decide_hypotheses
from analysis._meta import RunMeta
from analysis._misrouting import METRIC, attach_misrouting, misrouting_gate_verdict, misrouting_result
from analysis._mix import Mix, mix_gate_verdict, mix_section, target_mix
from analysis._planned_comparisons import RngFor, accuracy_comparisons, control_comparisons
from analysis._quantiles import estimate_quantile
from analysis._reference import reference_comparisons
from analysis._results import (
    DECIDING_KINDS,
    SCHEMA_VERSION,
    ArmResult,
    ArmVerdict,
    ControlComparison,
    DownstreamResult,
    GateVerdict,
    Interval,
    Results,
    Unit,
)
from analysis._run_sections import design_section, family_balance, pareto, plan_info, srm_checks
from analysis._run_validity import SERVICE_LATENCY, invalid_run, look_validity
from analysis._sequential import SequentialGates, sequential_gates
from analysis._streaming import streaming_timings
from analysis._table import TrialTable, factorize
from prereg.errors import AnalysisError
from prereg.schema import GateSpec, Plan
from prereg.seeding import derive_rng

__all__ = ["analyze"]

_QUANTILE = {"routing_latency_p95_ms": 0.95, "routing_latency_median_ms": 0.5}


def _codes(plan: Plan, table: TrialTable) -> Codes:
    cases, case_codes = factorize(table.case_id)
    families, family_codes = factorize(table.family)
    statuses, status_codes = factorize(table.status)
    rstat, rstat_codes = factorize(table.routing_status)
    predicted, pred_codes = factorize(table.predicted_label)
    labels = tuple(sorted(set(plan.taxonomy.labels) | set(predicted)))
    pred_remap = np.array([labels.index(p) for p in predicted] + [-1], dtype=np.intp)
    excluded = np.array([c in set(plan.analysis.exclusions) for c in cases], dtype=bool)
    return Codes(
        len(cases),
        case_codes,
        families,
        family_codes,
        statuses,
        status_codes,
        rstat,
        rstat_codes,
        labels,
        pred_remap[pred_codes],
        excluded,
        warmup_rows(plan, table),
    )


def warmup_rows(plan: Plan, table: TrialTable) -> NDArray[np.bool_] | None:
    """Which rows fall in the plan's warm-up, by schedule: ``scheduled_s`` below ``seconds``, or
    ``seq`` below ``requests``; never by completion time. None when the plan declares none."""
    warmup = plan.traffic.warmup
    if warmup is None:
        return None
    if warmup.seconds is not None:
        return np.asarray(table.scheduled_s < warmup.seconds, dtype=np.bool_)
    return np.asarray(table.seq < (warmup.requests or 0), dtype=np.bool_)


def _check(
    plan: Plan, table: TrialTable, meta: RunMeta, codes: Codes
) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    bad = np.flatnonzero(table.plan_hash != meta.plan_canonical_sha256)
    if bad.size:
        other = table.plan_hash[bad[0]]
        raise AnalysisError(f"trial table: plan_hash: expected {meta.plan_canonical_sha256}, found {other}")
    arms, arm_codes = factorize(table.arm)
    unknown = sorted(set(arms) - set(plan.arm_ids))
    if unknown:
        raise AnalysisError(f"trial table: arm: expected one of {list(plan.arm_ids)}, found {unknown[0]!r}")
    if len(table):
        key = (arm_codes.astype(np.int64) * codes.k_cases + codes.case) * (
            int(table.replay.max()) + 1
        ) + table.replay
        if int(np.bincount(key).max()) > 1:
            raise AnalysisError(
                "trial table: trial_id: expected one row per (arm, case, replay), found duplicates"
            )
    return arms, arm_codes


def _gate_bounds(
    gate: GateSpec, data: ArmData, plan: Plan, rng_for_arm: RngFor
) -> tuple[float | None, Interval | None, Interval | None, Unit]:
    """The estimate and the one-sided lower and upper bounds that decide ``gate``, and their unit."""
    spec = plan.analysis
    level = gate.rule.level if gate.rule.kind == "confidence_bound" else 1.0 - spec.alpha
    if gate.metric == "routing_accuracy":
        lo = estimate_accuracy(
            data.y, data.y_cases, spec.unit, level, spec.ci_method, "lower", spec.min_cases
        )
        hi = estimate_accuracy(
            data.y, data.y_cases, spec.unit, level, spec.ci_method, "upper", spec.min_cases
        )
        return lo.estimate, lo.interval, hi.interval, spec.unit
    q = _QUANTILE[gate.metric]
    if spec.latency_interval == "clustered":
        res = estimate_clustered_quantile(
            data.routing_latency, data.routing_latency_cases, q, level, spec.ci_method, spec.min_cases
        )
        return res.estimate, res.lower_bound, res.upper_bound, "case"
    res = estimate_quantile(data.routing_latency, q, level)
    if spec.latency_interval == "bootstrap" and q == 0.95 and data.routing_latency.size:
        boot = routing_p95_bootstrap(data, CaseResampler(rng_for_arm("gate_p95"), spec.bootstrap.resamples))
        m = "case_bootstrap_percentile"
        short = too_few_resamples(level, boot.size)
        if short is not None:
            absent = Interval(None, None, level, m, "lower", short)
            return res.estimate, absent, dataclasses.replace(absent, side="upper"), "request"
        lo_b, hi_b = np.quantile(boot, [1.0 - level, level])
        return (
            res.estimate,
            Interval(float(lo_b), None, level, m, "lower"),
            Interval(None, float(hi_b), level, m, "upper"),
            "request",
        )
    return res.estimate, res.lower_bound, res.upper_bound, "request"


def _analysis_inputs(
    plan: Plan, table: TrialTable, meta: RunMeta
) -> tuple[Codes, tuple[str, ...], NDArray[np.intp], Callable[[str], RngFor]]:
    """The checked table's codes, its arms and arm codes, and the analysis' named random streams."""
    codes = _codes(plan, table)
    arms, arm_codes = _check(plan, table, meta, codes)
    seed, phash = plan.randomization.seed, meta.plan_canonical_sha256

    def rng_for(scope: str) -> RngFor:
        return lambda what: derive_rng(seed, phash, f"analysis:{what}:{scope}")

    return codes, arms, arm_codes, rng_for


def _arm_data(
    plan: Plan, table: TrialTable, codes: Codes, arms: tuple[str, ...], arm_codes: NDArray[np.intp], a: str
) -> tuple[NDArray[np.intp], ArmData]:
    """Arm ``a``'s rows of the table and its data under the plan's failure rules."""
    rows = np.flatnonzero(arm_codes == arms.index(a)) if a in arms else np.zeros(0, dtype=np.intp)
    router = plan.arm(a).kind in DECIDING_KINDS
    d = select_arm(
        a,
        router,
        rows,
        plan.analysis,
        codes,
        table.correct,
        table.routing_latency_ms,
        table.e2e_latency_ms,
        table.cost_usd,
        table.downstream_correct,
        table.routing_cost_usd,
    )
    return rows, attach_misrouting(plan, table, codes, d)


def _decide_gates(
    plan: Plan,
    data: Mapping[str, ArmData],
    rng_for: Callable[[str], RngFor],
    invalid: str | None,
    k: int,
    mix: Mix | None = None,
) -> tuple[list[GateVerdict], list[ArmVerdict]]:
    """Every router arm's gate verdicts (plan order of arms, then gates) and its viability; latency
    gates of an invalid live run are INCONCLUSIVE whatever their bounds say; gates with ``mix:
    target`` are judged under the target ``mix``."""
    gates: list[GateVerdict] = []
    viability = []
    for a in plan.decision_arms:
        mine = []
        for g in plan.gates:
            if g.mix == "target":
                verdict = mix_gate_verdict(g, a, data, plan, mix, rng_for(a))
            elif g.metric in CONTROL_METRICS:
                verdict = control_gate_verdict(g, a, data, plan, k, rng_for(a))
            elif g.metric == METRIC:
                verdict = misrouting_gate_verdict(g, a, data[a], plan, k, rng_for(a))
            else:
                est, lo, hi, unit = _gate_bounds(g, data[a], plan, rng_for(a))
                verdict = decide_gate(a, g, unit, est, lo, hi)
            if invalid is not None and (g.metric in _QUANTILE or g.metric in LATENCY_VS_CONTROL):
                verdict = dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=invalid)
            elif verdict.verdict == "FAIL" and g.metric in _QUANTILE and plan.arm(a).kind == "service":
                verdict = dataclasses.replace(verdict, verdict="INCONCLUSIVE", reason=SERVICE_LATENCY)
            mine.append(verdict)
        gates.extend(mine)
        viability.append(decide_viability(a, mine))
    return gates, viability


@overload
def analyze(plan: Plan, table: TrialTable, meta: RunMeta) -> Results: ...


@overload
def analyze(plan: Plan, table: TrialTable, meta: RunMeta, *, scope: Literal["all"]) -> Results: ...


@overload
def analyze(plan: Plan, table: TrialTable, meta: RunMeta, *, scope: Literal["gates"]) -> GateResults: ...


def analyze(
    plan: Plan, table: TrialTable, meta: RunMeta, *, scope: Literal["all", "gates"] = "all"
) -> Results | GateResults:
    """Run the plan's locked analysis on a campaign's trials.

    Parameters
    ----------
    plan : Plan
        The frozen plan (its analysis section decides methods, unit, failure handling, gates).
    table : TrialTable
        Every trial row of the campaign.
    meta : RunMeta
        Hashes, source and planned/allocated counts.
    scope : {"all", "gates"}
        ``all``: the whole results document. ``gates``: only what decides the gates, for a
        design diagnosis that reruns the analysis many times: the gate verdicts, viability and
        each router arm's accuracy with its cluster-robust interval (no comparisons, downstream
        groups, Pareto front, SRM or balance checks, per-family figures, ICC, latency curves).

    Returns
    -------
    Results or GateResults
        Deterministic for the same plan, trials and meta: every bootstrap draws from a stream
        derived from the plan's seed, its canonical hash and the stream's name. A
        :class:`GateResults` holds the same values as the matching fields of the full
        :class:`Results` (the same functions compute them from the same streams).

    Raises
    ------
    AnalysisError
        Trials from another plan, an arm the plan does not define, or duplicate trials.
    """
    sequential = None
    if plan.analysis.stopping.kind != "fixed_horizon":
        sequential = sequential_gates(plan, table, meta, partial(_look_gates, meta=meta))
        table, meta = sequential.table, _through_last_look(plan, meta, sequential)
    if scope == "gates":
        return _analyze_gates(plan, table, meta, sequential)
    spec = plan.analysis
    codes, arms, arm_codes, rng_for = _analysis_inputs(plan, table, meta)

    results: list[ArmResult] = []
    data: dict[str, ArmData] = {}
    for arm_spec in plan.arms:
        a = arm_spec.id
        rows, d = _arm_data(plan, table, codes, arms, arm_codes, a)
        alloc = (
            None
            if meta.allocated_per_arm_case is None
            else sum(meta.allocated_per_arm_case.get(a, {}).values())
        )
        data[a] = d
        result = analyze_arm(
            d, rows, arm_spec.kind, spec, codes, meta.planned_per_arm.get(a, 0), alloc, rng_for(a)
        )
        cost = misrouting_result(d, codes.k_cases, spec, rng_for(a))
        result = with_aborted(result, rows, table)
        results.append(result if cost is None else dataclasses.replace(result, misrouting_cost_per_1k=cost))

    routers = list(plan.decision_arms)
    if sequential is None:
        gates, viability = _decide_gates(
            plan, data, rng_for, invalid_run(plan, meta), codes.k_cases, target_mix(plan, codes)
        )
    else:
        gates, viability = sequential.gates, sequential.viability

    comparisons = accuracy_comparisons(routers, data, plan, codes.k_cases, rng_for)
    controls = [a.id for a in plan.arms if a.kind == "control"]
    control_cmp: list[ControlComparison] = []
    downstream: list[DownstreamResult] = []
    if controls:
        control_cmp, downstream = control_comparisons(
            routers, controls[0], data, plan, codes.k_cases, rng_for
        )

    return Results(
        schema_version=SCHEMA_VERSION,
        plan=plan_info(plan, meta),
        design=design_section(plan, results),
        arms=tuple(results),
        gates=tuple(gates),
        viability=tuple(viability),
        accuracy_comparisons=tuple(comparisons),
        control_comparisons=tuple(control_cmp),
        downstream=tuple(downstream),
        pareto=pareto(results),
        srm=srm_checks(plan, meta, results),
        balance=family_balance(plan, table, codes, arms, arm_codes),
        streaming=streaming_timings(plan, table, codes, arms, arm_codes),
        reference=reference_comparisons(plan, data, {r.arm: r for r in results}, codes.k_cases, rng_for),
        hypotheses=decide_hypotheses(plan, gates),
        sequential=None if sequential is None else sequential.result,
        mix=mix_section(plan, data, target_mix(plan, codes), rng_for),
    )


def _look_gates(plan: Plan, table: TrialTable, meta: RunMeta) -> tuple[list[GateVerdict], list[ArmVerdict]]:
    """The gate verdicts and viability of one look's trials (the fixed-horizon gates of
    :func:`_decide_gates`, on the deciding arms and the control)."""
    meta = look_validity(table, meta)
    codes, arms, arm_codes, rng_for = _analysis_inputs(plan, table, meta)
    needed = [a.id for a in plan.arms if a.kind in DECIDING_KINDS or a.kind == "control"]
    data = {a: _arm_data(plan, table, codes, arms, arm_codes, a)[1] for a in needed}
    if plan.analysis.stopping.kind == "confidence_sequence":
        order = served_order(codes.case, table.seq, codes.k_cases)
        gates = [
            cs_gate_verdict(g, a, data, plan, codes.k_cases, order)
            for a in plan.decision_arms
            for g in plan.gates
        ]
        return gates, [decide_viability(a, [v for v in gates if v.arm == a]) for a in plan.decision_arms]
    return _decide_gates(plan, data, rng_for, invalid_run(plan, meta), codes.k_cases, target_mix(plan, codes))


def _through_last_look(plan: Plan, meta: RunMeta, sequential: SequentialGates) -> RunMeta:
    """The run's planned and allocated counts cut to the analysed looks: the requests after them
    were never scheduled to be analysed (the flow counts them under the stop, not as missing)."""
    last = sequential.result.last_look
    if sequential.result.stopped_at is None or not last:
        return meta
    cases = sequential.result.looks[last - 1].cases
    per_arm = {a: cases * plan.traffic.replays_per_case * plan.ratio_of(a) for a in meta.planned_per_arm}
    kept = set(sequential.table.case_id.tolist())
    allocated = (
        None
        if meta.allocated_per_arm_case is None
        else {a: {c: n for c, n in by.items() if c in kept} for a, by in meta.allocated_per_arm_case.items()}
    )
    return dataclasses.replace(meta, planned_per_arm=per_arm, allocated_per_arm_case=allocated)


def _analyze_gates(
    plan: Plan, table: TrialTable, meta: RunMeta, sequential: SequentialGates | None = None
) -> GateResults:
    """The gate verdicts, viability and router accuracies of :func:`analyze`, nothing else.

    Each figure comes from the call that computes it in the full analysis: the accuracy from
    :func:`estimate_accuracy`, the robust interval from :func:`robust_accuracy` (which
    :func:`summarize_clustering` calls) on the first case resamples of the arm's ``bootstrap``
    stream (the ones the full analysis draws first), the verdicts from :func:`_decide_gates`.
    """
    spec = plan.analysis
    level = 1.0 - spec.alpha
    codes, arms, arm_codes, rng_for = _analysis_inputs(plan, table, meta)
    data: dict[str, ArmData] = {}
    accuracy: list[ArmGateResult] = []
    for a in plan.decision_arms:
        _, d = _arm_data(plan, table, codes, arms, arm_codes, a)
        data[a] = d
        acc = estimate_accuracy(d.y, d.y_cases, spec.unit, level, spec.ci_method, min_cases=spec.min_cases)
        remap, n_present = present_cases(d, codes.k_cases)
        weights = None
        if n_present and spec.cluster_robust == "bootstrap":
            weights = CaseResampler(rng_for(a)("bootstrap"), spec.bootstrap.resamples)(n_present)
        method, est, interval = robust_accuracy(d.y, remap, spec.unit, level, spec.cluster_robust, weights)
        accuracy.append(ArmGateResult(a, acc, method, est, interval))
    if any(g.metric in CONTROL_METRICS for g in plan.gates):
        for arm_spec in plan.arms:
            if arm_spec.kind == "control":
                data[arm_spec.id] = _arm_data(plan, table, codes, arms, arm_codes, arm_spec.id)[1]
    if sequential is not None:
        return GateResults(
            tuple(accuracy), tuple(sequential.gates), tuple(sequential.viability), sequential.result
        )
    gates, viability = _decide_gates(
        plan, data, rng_for, invalid_run(plan, meta), codes.k_cases, target_mix(plan, codes)
    )
    return GateResults(tuple(accuracy), tuple(gates), tuple(viability))
