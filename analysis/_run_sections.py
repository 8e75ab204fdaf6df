"""The run-level sections of the results document, beside the per-arm estimates and the gates.

What :func:`analysis.analyze` reports of the plan and the run (:func:`plan_info`), the design's
requirements (:func:`design_section`), the routers' Pareto front (:func:`pareto`), the
sample-ratio checks (:func:`srm_checks`) and the balance of task families (:func:`family_balance`).
Warm-up trials (``traffic.warmup``) are left out of the checks of what was sent, as they are of
every estimate; the check of the allocation covers the whole schedule.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis._arm import Codes
from analysis._balance import SRM_THRESHOLD, check_balance, check_srm
from analysis._design_limits import gate_requirement
from analysis._meta import RunMeta
from analysis._pareto import pareto_frontier
from analysis._plan_warnings import plan_warnings
from analysis._results import (
    DECIDING_KINDS,
    ArmResult,
    BalanceResult,
    DesignResult,
    ParetoPoint,
    PlanInfo,
    SrmResult,
)
from analysis._table import TrialTable
from prereg.schema import Plan

__all__ = ["design_section", "family_balance", "pareto", "plan_info", "srm_checks"]


def plan_info(plan: Plan, meta: RunMeta) -> PlanInfo:
    """What the results say of the plan and the run: hashes, source and the analysis settings."""
    spec = plan.analysis
    return PlanInfo(
        title=plan.study.title,
        canonical_sha256=meta.plan_canonical_sha256,
        bytes_sha256=meta.plan_bytes_sha256,
        analysis_code_matches=meta.analysis_code_matches,
        deviations=tuple(meta.deviations),
        source=meta.source,
        ci_method=spec.ci_method,
        alpha=spec.alpha,
        unit=spec.unit,
        multiplicity=spec.multiplicity,
        cluster_robust=spec.cluster_robust,
        latency_interval=spec.latency_interval,
        bootstrap_resamples=spec.bootstrap.resamples,
        failures_routing=spec.failures.routing,
        failures_latency=spec.failures.latency,
        failures_interrupted=spec.failures.interrupted,
        exclusions=tuple(spec.exclusions),
        live=None if meta.live is None else dict(meta.live),
    )


def pareto(results: list[ArmResult]) -> tuple[ParetoPoint, ...]:
    """The routers' accuracy / routing P95 / routing cost frontier."""
    points = []
    for r in results:
        if r.kind in DECIDING_KINDS:
            acc = None if r.accuracy is None else r.accuracy.estimate
            p95 = None if r.routing_latency_p95 is None else r.routing_latency_p95.estimate
            # the pre-registered axes only: the router's own cost, not the downstream answer's
            # (which depends on where it routed and flips the frontier from seed to seed)
            cost = None if r.routing_cost_per_1k is None else r.routing_cost_per_1k.estimate
            points.append((r.arm, acc, p95, cost))
    return pareto_frontier(points)


def srm_checks(plan: Plan, meta: RunMeta, results: list[ArmResult]) -> tuple[SrmResult, ...]:
    """Sample-ratio checks of the allocation (when the source has it) and of what was sent."""
    ratio = {a: plan.ratio_of(a) for a in plan.arm_ids}
    srm: list[SrmResult] = []
    if meta.allocated_per_arm_case is not None:
        srm.append(
            check_srm(
                "allocated",
                {a: sum(meta.allocated_per_arm_case.get(a, {}).values()) for a in plan.arm_ids},
                ratio,
            )
        )
    else:
        srm.append(
            SrmResult(
                "allocated",
                {},
                {},
                None,
                0,
                None,
                SRM_THRESHOLD,
                False,
                "not checkable: the allocation written before the first request is not "
                f"in a {meta.source} trial file; only what was sent is checked",
            )
        )
    # What was sent after the warm-up: the population the estimates describe. The allocation
    # check above covers the whole schedule, warm-up included: it checks the randomizer, which
    # allocated every scheduled request the same way.
    srm.append(check_srm("sent", {r.arm: r.flow.sent - _warmup_sent(r) for r in results}, ratio))
    return tuple(srm)


def _warmup_sent(r: ArmResult) -> int:
    return 0 if r.flow.warmup is None else r.flow.warmup.sent


def family_balance(
    plan: Plan, table: TrialTable, codes: Codes, arms: tuple[str, ...], arm_codes: NDArray[np.intp]
) -> BalanceResult:
    """Whether the task families of the sent requests after the warm-up are balanced across arms."""
    sent = codes.status != (codes.statuses.index("not_sent") if "not_sent" in codes.statuses else -2)
    if codes.warmup is not None:
        sent &= ~codes.warmup
    arm_pos = (
        np.array([plan.arm_ids.index(a) for a in arms] + [0], dtype=np.intp)[arm_codes]
        if len(table)
        else arm_codes
    )
    nf, na = len(codes.families), len(plan.arm_ids)
    counts = np.bincount(codes.family[sent] * na + arm_pos[sent], minlength=nf * na).reshape(nf, na)
    return check_balance(codes.families, plan.arm_ids, counts)


def design_section(plan: Plan, results: list[ArmResult]) -> DesignResult:
    """Every gate's requirement at the planned size, and the smallest arm actually analysed."""
    units = plan.sample_size.unique_cases
    if plan.analysis.unit == "request":
        units *= plan.traffic.replays_per_case
    reqs = tuple(
        gate_requirement(g, plan.analysis, plan.sample_size.unique_cases, plan.traffic.replays_per_case)
        for g in plan.gates
    )
    routers = [r for r in results if r.kind in DECIDING_KINDS]
    lat = [r.routing_latency_p95.n for r in routers if r.routing_latency_p95 is not None]
    cases = [r.unique_cases for r in routers]
    smallest = min(cases) if cases else 0
    return DesignResult(
        units,
        reqs,
        smallest,
        min(lat) if lat else 0,
        plan_warnings(
            plan, min(smallest, plan.sample_size.unique_cases) if cases else plan.sample_size.unique_cases
        ),
    )
