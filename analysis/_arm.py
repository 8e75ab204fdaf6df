"""One arm's trials under the plan's failure rules, and everything estimated from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis._case_bootstrap import CaseResampler
from analysis._clustered import estimate_accuracy, summarize_clustering
from analysis._comparisons import estimate_clustered_mean, percentile_interval
from analysis._plan_quantile import plan_quantile
from analysis._quantiles import bootstrap_quantile, empirical_curve
from analysis._results import (
    ArmKind,
    ArmResult,
    ClusteringResult,
    ConfusionMatrix,
    FamilyAccuracy,
    FlowCounts,
    Interval,
    LatencyCurve,
    ProportionResult,
    QuantileResult,
    Unit,
    WarmupCounts,
)
from prereg.schema import AnalysisSpec

__all__ = ["ArmData", "Codes", "analyze_arm", "present_cases", "routing_p95_bootstrap", "select_arm"]

FAILED_COLUMN = "(failed)"


@dataclass(frozen=True)
class Codes:
    """The table's string columns as integer codes (built once, shared by every arm)."""

    k_cases: int
    case: NDArray[np.intp]
    families: tuple[str, ...]
    family: NDArray[np.intp]
    statuses: tuple[str, ...]
    status: NDArray[np.intp]
    routing_statuses: tuple[str, ...]
    routing_status: NDArray[np.intp]
    labels: tuple[str, ...]
    predicted: NDArray[np.intp]
    excluded_case: NDArray[np.bool_]
    #: Per table row: inside the plan's warm-up (None when the plan declares none).
    warmup: NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class ArmData:
    """Request-level arrays of one arm after the failure rules (for estimates and comparisons)."""

    arm: str
    router: bool
    y: NDArray[np.float64]
    y_cases: NDArray[np.intp]
    y_family: NDArray[np.intp]
    routing_latency: NDArray[np.float64]
    routing_latency_cases: NDArray[np.intp]
    e2e: NDArray[np.float64]
    cases: NDArray[np.intp]
    cost: NDArray[np.float64]
    routing_cost: NDArray[np.float64]
    downstream: NDArray[np.float64]
    correct_raw: NDArray[np.float64]
    routing_ok: NDArray[np.bool_]
    excluded: dict[str, int]
    #: The table rows of ``y`` (its requests' gold labels and predictions live there).
    y_rows: NDArray[np.intp] | None = None
    #: Misrouting cost of each request of ``y`` (:mod:`analysis._misrouting`; None: the plan has none).
    misrouting: NDArray[np.float64] | None = None


def _code(names: tuple[str, ...], name: str) -> int:
    return names.index(name) if name in names else -2


def select_arm(
    arm: str,
    router: bool,
    rows: NDArray[np.intp],
    spec: AnalysisSpec,
    codes: Codes,
    correct: NDArray[np.float64],
    routing_latency: NDArray[np.float64],
    e2e: NDArray[np.float64],
    cost: NDArray[np.float64],
    downstream: NDArray[np.float64],
    routing_cost: NDArray[np.float64],
) -> ArmData:
    """Apply the plan's failure and exclusion rules to one arm's rows.

    Warm-up trials (``traffic.warmup``, by schedule) never count, whatever their status, and are
    noted as ``warmup`` before any other reason; not-sent trials never count; plan exclusions (case
    ids) are dropped; interrupted trials are dropped or counted wrong as ``failures.interrupted``
    says; failed routing decisions are counted wrong or dropped as ``failures.routing`` says;
    latency of failures is kept (their elapsed time) or dropped as ``failures.latency`` says.
    """
    st = codes.status[rows]
    warm = np.zeros(rows.size, dtype=bool) if codes.warmup is None else codes.warmup[rows]
    sent = st != _code(codes.statuses, "not_sent")
    interrupted = st == _code(codes.statuses, "interrupted")
    plan_excl = codes.excluded_case[codes.case[rows]] & ~warm
    base = sent & ~plan_excl & ~warm
    base_int = base & ~interrupted if spec.failures.interrupted == "exclude" else base
    excluded: dict[str, int] = {}

    def note(reason: str, mask: NDArray[np.bool_]) -> None:
        if int(mask.sum()):
            excluded[reason] = excluded.get(reason, 0) + int(mask.sum())

    c = correct[rows]
    rs = codes.routing_status[rows]
    routing_ok = rs == _code(codes.routing_statuses, "ok")
    y = np.where(np.isnan(c), 0.0, c)
    keep = base_int.copy()
    if router:
        note("warmup", warm)
        note("not_sent", ~sent & ~warm)
        note("plan_exclusion", sent & plan_excl)
        if spec.failures.interrupted == "exclude":
            note("interrupted", base & interrupted)
        failed = np.isnan(c) & ~routing_ok & keep & ~interrupted
        if spec.failures.routing == "exclude":
            for i, name in enumerate(codes.routing_statuses):
                note(f"routing_{name}", failed & (rs == i))
            note("routing_unknown", failed & (rs == -1))
            keep &= ~failed
        missing = np.isnan(c) & routing_ok & keep
        note("correct_missing", missing)
        keep &= ~missing
    else:
        keep[:] = False
    lat_keep = base_int.copy()
    if spec.failures.latency == "exclude":
        lat_keep &= st == _code(codes.statuses, "ok")
    rl = routing_latency[rows]
    rl_keep = lat_keep & ~np.isnan(rl) & router
    e = e2e[rows]
    e_keep = lat_keep & ~np.isnan(e)
    return ArmData(
        arm=arm,
        router=router,
        y=y[keep],
        y_cases=codes.case[rows][keep],
        y_family=codes.family[rows][keep],
        routing_latency=rl[rl_keep],
        routing_latency_cases=codes.case[rows][rl_keep],
        e2e=np.where(e_keep, e, np.nan),
        cases=codes.case[rows],
        cost=np.where(base, cost[rows], np.nan),
        routing_cost=np.where(base, routing_cost[rows], np.nan),
        downstream=np.where(base_int, downstream[rows], np.nan),
        correct_raw=np.where(base_int, c, np.nan),
        routing_ok=routing_ok & base_int,
        excluded=excluded,
        y_rows=rows[keep],
    )


def _by_status(st: NDArray[np.intp], codes: Codes) -> dict[str, int]:
    counts = np.bincount(st, minlength=len(codes.statuses))
    return {name: int(counts[i]) for i, name in enumerate(codes.statuses) if counts[i]}


def _flow(
    rows: NDArray[np.intp],
    codes: Codes,
    scheduled: int,
    allocated: int | None,
    excluded: dict[str, int],
    analysed: int,
) -> FlowCounts:
    st = codes.status[rows]
    by = _by_status(st, codes)
    warmup = None
    if codes.warmup is not None:
        warm = codes.warmup[rows]
        warmup = WarmupCounts(int(warm.sum()), _by_status(st[warm], codes))
    not_sent = by.get("not_sent", 0)
    completed = by.get("ok", 0)
    failed = {k: v for k, v in by.items() if k not in ("ok", "not_sent")}
    n = int(rows.size)
    return FlowCounts(
        scheduled,
        allocated,
        n,
        max(scheduled - n, 0),
        n - not_sent,
        not_sent,
        completed,
        failed,
        dict(sorted(excluded.items())),
        analysed,
        warmup,
    )


def _confusion(
    data: ArmData, rows: NDArray[np.intp], codes: Codes, base: NDArray[np.bool_]
) -> ConfusionMatrix:
    fam = codes.family[rows][base]
    pred = codes.predicted[rows][base]
    ncol = len(codes.labels) + 1
    col = np.where(pred < 0, ncol - 1, pred)
    m = np.bincount(fam * ncol + col, minlength=len(codes.families) * ncol).reshape(len(codes.families), ncol)
    return ConfusionMatrix(
        "request", codes.families, (*codes.labels, FAILED_COLUMN), tuple(tuple(int(v) for v in r) for r in m)
    )


def analyze_arm(
    data: ArmData,
    rows: NDArray[np.intp],
    kind: ArmKind,
    spec: AnalysisSpec,
    codes: Codes,
    scheduled: int,
    allocated: int | None,
    rng_for: Callable[[str], np.random.Generator],
) -> ArmResult:
    """All per-arm estimates: flow, accuracy with clustering, per-family, confusion, latency,
    cost per 1,000 requests and downstream quality, each with its interval and unit."""
    level = 1.0 - spec.alpha
    unit: Unit = spec.unit
    mc = spec.min_cases
    b = spec.bootstrap.resamples

    def quantile(values: NDArray[np.float64], cases: NDArray[np.intp], q: float) -> QuantileResult:
        return plan_quantile(spec, values, cases, q)

    k_total = codes.k_cases
    # A router's analysed node is its routing-accuracy analysis; the control makes no routing
    # decision, so its analysed trials are the downstream answers in its end-to-end analysis
    # (counting routing decisions alone gave the control 0 while the report showed its trials).
    # Reference arms count the same way: the oracle's decision is the gold label, not a measurement.
    analysed = int(data.y.size) if data.router else int(np.count_nonzero(~np.isnan(data.e2e)))
    flow = _flow(rows, codes, scheduled, allocated, data.excluded, analysed)
    unique_cases = int(np.count_nonzero(np.bincount(codes.case[rows], minlength=k_total)))
    resampler = CaseResampler(rng_for("bootstrap"), b)
    routing = (
        _routing_estimates(data, rows, spec, codes, resampler, rng_for, quantile) if data.router else None
    )
    e2e_ok = ~np.isnan(data.e2e)
    e2e_vals, e2e_cases = data.e2e[e2e_ok], data.cases[e2e_ok]
    return ArmResult(
        arm=data.arm,
        kind=kind,
        flow=flow,
        unique_cases=unique_cases,
        accuracy=None if routing is None else routing.accuracy,
        clustering=None if routing is None else routing.clustering,
        per_family=() if routing is None else routing.per_family,
        # A router service names a model, not a label: a label confusion matrix would be all blank.
        confusion=None if routing is None or kind == "service" else routing.confusion,
        routing_latency_median=None if routing is None else routing.median,
        routing_latency_p95=None if routing is None else routing.p95,
        routing_latency_bootstrap_p95=None if routing is None else routing.bootstrap_p95,
        routing_latency_curve=None if routing is None else routing.curve,
        e2e_latency_median=quantile(e2e_vals, e2e_cases, 0.5),
        e2e_latency_p95=quantile(e2e_vals, e2e_cases, 0.95),
        e2e_latency_mean=estimate_clustered_mean(data.e2e, data.cases, k_total, level, resampler),
        cost_per_1k=estimate_clustered_mean(data.cost, data.cases, k_total, level, resampler, 1000.0),
        routing_cost_per_1k=estimate_clustered_mean(
            data.routing_cost, data.cases, k_total, level, resampler, 1000.0
        )
        if data.router
        else None,
        downstream_quality=estimate_accuracy(
            data.downstream[~np.isnan(data.downstream)],
            data.cases[~np.isnan(data.downstream)],
            unit,
            level,
            spec.ci_method,
            min_cases=mc,
        ),
    )


@dataclass(frozen=True)
class _RoutingEstimates:
    """A router arm's routing figures (accuracy and its clustering, per family, confusion, latency)."""

    accuracy: ProportionResult
    clustering: ClusteringResult
    per_family: tuple[FamilyAccuracy, ...]
    confusion: ConfusionMatrix
    median: QuantileResult
    p95: QuantileResult
    bootstrap_p95: Interval | None
    curve: LatencyCurve | None


def _routing_estimates(
    data: ArmData,
    rows: NDArray[np.intp],
    spec: AnalysisSpec,
    codes: Codes,
    resampler: CaseResampler,
    rng_for: Callable[[str], np.random.Generator],
    quantile: Callable[[NDArray[np.float64], NDArray[np.intp], float], QuantileResult],
) -> _RoutingEstimates:
    """The routing figures of :func:`analyze_arm`, drawing from ``resampler`` in the same order."""
    level, unit, mc, k_total = 1.0 - spec.alpha, spec.unit, spec.min_cases, codes.k_cases
    accuracy = estimate_accuracy(data.y, data.y_cases, unit, level, spec.ci_method, min_cases=mc)
    remap, n_present = present_cases(data, k_total)
    weights = None
    if n_present:
        # the ICC intervals share the accuracy bootstrap's case resamples; under GEE they get
        # their own stream, so the other bootstraps draw exactly what they drew before
        icc_resampler = (
            resampler
            if spec.cluster_robust == "bootstrap"
            else CaseResampler(rng_for("icc_bootstrap"), spec.bootstrap.resamples)
        )
        weights = icc_resampler(n_present)
    clustering = summarize_clustering(data.y, remap, unit, level, spec.cluster_robust, weights)
    per_family = tuple(
        FamilyAccuracy(
            codes.families[f],
            estimate_accuracy(
                data.y[data.y_family == f],
                data.y_cases[data.y_family == f],
                unit,
                level,
                spec.ci_method,
                min_cases=mc,
            ),
        )
        for f in np.flatnonzero(np.bincount(data.y_family, minlength=len(codes.families)))
    )
    base = codes.status[rows] != _code(codes.statuses, "not_sent")
    if codes.warmup is not None:
        base &= ~codes.warmup[rows]
    boot_p95: Interval | None = None
    if spec.latency_interval == "bootstrap" and data.routing_latency.size:
        boot_p95 = percentile_interval(
            routing_p95_bootstrap(data, resampler), level, "case_bootstrap_percentile"
        )
    return _RoutingEstimates(
        accuracy=accuracy,
        clustering=clustering,
        per_family=per_family,
        confusion=_confusion(data, rows, codes, base),
        median=quantile(data.routing_latency, data.routing_latency_cases, 0.5),
        p95=quantile(data.routing_latency, data.routing_latency_cases, 0.95),
        bootstrap_p95=boot_p95,
        curve=empirical_curve(data.routing_latency),
    )


def present_cases(data: ArmData, k_total: int) -> tuple[NDArray[np.intp], int]:
    """The accuracy requests' case codes renumbered ``0..k-1`` over the cases they cover, and ``k``."""
    present = np.flatnonzero(np.bincount(data.y_cases, minlength=k_total))
    return np.searchsorted(present, data.y_cases), int(present.size)


def routing_p95_bootstrap(data: ArmData, resampler: CaseResampler) -> NDArray[np.float64]:
    """Case-bootstrap replicates of the routing-latency P95 of one arm."""
    counts = np.bincount(data.routing_latency_cases)
    present = np.flatnonzero(counts)
    remap = (np.cumsum(counts > 0) - 1)[data.routing_latency_cases]
    w = resampler(int(present.size))
    return bootstrap_quantile(data.routing_latency, remap, 0.95, w)
