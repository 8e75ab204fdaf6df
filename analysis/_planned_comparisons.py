"""The planned comparisons: router against router on accuracy, each router against the control on
the secondary outcomes, and the downstream groups, each paired by case."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from analysis._arm import ArmData
from analysis._clustered import CaseResampler, estimate_accuracy
from analysis._comparisons import (
    adjust_pvalues,
    case_aggregate,
    mcnemar_exact,
    paired_difference,
    paired_quantile_difference,
)
from analysis._results import AccuracyComparison, ControlComparison, DownstreamGroup, DownstreamResult
from prereg.schema import Plan

__all__ = ["CAVEAT", "RngFor", "accuracy_comparisons", "control_comparisons"]

RngFor = Callable[[str], np.random.Generator]
CAVEAT = ("correctly routed and misrouted requests are not randomized groups: a router misroutes "
          "harder cases more often, so their difference is descriptive; only 'all' vs the control "
          "is a randomized comparison")


def accuracy_comparisons(routers: list[str], data: dict[str, ArmData], plan: Plan, k: int,
                          rng_for: Callable[[str], RngFor]) -> list[AccuracyComparison]:
    spec = plan.analysis
    level = 1.0 - spec.alpha
    raw = []
    for a, b in itertools.combinations(routers, 2):
        agg_a = case_aggregate(data[a].y, data[a].y_cases, k)
        agg_b = case_aggregate(data[b].y, data[b].y_cases, k)
        diff = paired_difference(agg_a, agg_b, "case", level,
                                 CaseResampler(rng_for(f"{a}-vs-{b}")("accuracy_diff"), spec.bootstrap.resamples))
        common = (agg_a[1] > 0) & (agg_b[1] > 0)
        maj_a = agg_a[0][common] / agg_a[1][common] > 0.5
        maj_b = agg_b[0][common] / agg_b[1][common] > 0.5
        n_ab, n_ba = int((maj_a & ~maj_b).sum()), int((~maj_a & maj_b).sum())
        p = mcnemar_exact(n_ab, n_ba) if common.any() else None
        raw.append((a, b, diff, n_ab, n_ba, p))
    defined = [r[5] for r in raw if r[5] is not None]
    adjusted = iter(adjust_pvalues(defined, spec.multiplicity))
    return [AccuracyComparison(a, b, diff, n_ab, n_ba, p, None if p is None else next(adjusted), spec.multiplicity)
            for a, b, diff, n_ab, n_ba, p in raw]


def control_comparisons(routers: list[str], control: str, data: dict[str, ArmData], plan: Plan, k: int,
                         rng_for: Callable[[str], RngFor]) -> tuple[list[ControlComparison], list[DownstreamResult]]:
    spec = plan.analysis
    level, b, unit = 1.0 - spec.alpha, spec.bootstrap.resamples, spec.unit
    c = data[control]
    ctrl_q = case_aggregate(c.downstream, c.cases, k)
    out: list[ControlComparison] = []
    down: list[DownstreamResult] = []
    for a in routers:
        d = data[a]
        resampler = CaseResampler(rng_for(f"{a}-vs-{control}")("bootstrap"), b)
        out.append(ControlComparison(a, control, "e2e_latency_mean_ms", paired_difference(
            case_aggregate(d.e2e, d.cases, k), case_aggregate(c.e2e, c.cases, k), "request", level,
            resampler)))
        out.append(ControlComparison(a, control, "e2e_latency_median_ms", paired_quantile_difference(
            d.e2e, d.cases, c.e2e, c.cases, 0.5, k, level, resampler)))
        out.append(ControlComparison(a, control, "cost_per_1k_usd", paired_difference(
            case_aggregate(d.cost, d.cases, k), case_aggregate(c.cost, c.cases, k), "request", level,
            resampler, 1000.0)))
        out.append(ControlComparison(a, control, "downstream_quality", paired_difference(
            case_aggregate(d.downstream, d.cases, k), ctrl_q, unit, level, resampler)))
        groups = []
        masks = {"correctly_routed": d.correct_raw == 1.0, "misrouted": d.correct_raw == 0.0,
                 "routing_failed": np.isnan(d.correct_raw) & ~d.routing_ok & ~np.isnan(d.downstream),
                 "all": np.ones(d.cases.size, dtype=bool)}
        for name, mask in masks.items():
            vals = np.where(mask, d.downstream, np.nan)
            ok = ~np.isnan(vals)
            quality = estimate_accuracy(vals[ok], d.cases[ok], unit, level, spec.ci_method)
            versus = paired_difference(case_aggregate(vals, d.cases, k), ctrl_q, unit, level,
                                       resampler)
            groups.append(DownstreamGroup(name, quality, versus))  # type: ignore[arg-type]
        ok = ~np.isnan(c.downstream)
        groups.append(DownstreamGroup("control", estimate_accuracy(
            c.downstream[ok], c.cases[ok], unit, level, spec.ci_method), None))
        down.append(DownstreamResult(a, tuple(groups), CAVEAT))
    return out, down
