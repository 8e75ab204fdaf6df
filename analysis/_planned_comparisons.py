"""The planned comparisons: router against router on accuracy, each router against the control on
the secondary outcomes, and the downstream groups, each paired by case, adjusted as one family.

Every comparison whose kind is in the plan's ``analysis.family`` is a member of the family; ``m``
counts the members with at least ``analysis.min_cases`` common cases (the others have neither a
test nor an interval, and spend no alpha). ``multiplicity: bonferroni`` gives ``min(1, m p)`` and
intervals at ``1 - alpha / m``, dual to each other; ``holm`` gives Holm's p-values beside the same
Bonferroni-level intervals, which are simultaneous over the family (one that excludes 0 is a Holm
rejection; Holm may reject more); ``none`` leaves both at ``1 - alpha``. Comparisons outside the
family are exploratory: unadjusted p and interval at ``1 - alpha``.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis._arm import ArmData
from analysis._case_bootstrap import CaseResampler
from analysis._clustered import estimate_accuracy
from analysis._comparisons import adjust_pvalues, case_aggregate, paired_quantile_prepared
from analysis._paired import Paired, paired_mean_prepared, paired_proportion_prepared
from analysis._results import (
    AccuracyComparison,
    ControlComparison,
    DifferenceResult,
    DownstreamGroup,
    DownstreamResult,
)
from prereg.schema import AnalysisSpec, Plan

__all__ = ["CAVEAT", "RngFor", "accuracy_comparisons", "control_comparisons", "planned_comparisons"]

RngFor = Callable[[str], np.random.Generator]
CAVEAT = (
    "correctly routed and misrouted requests are not randomized groups: a router misroutes "
    "harder cases more often, so their difference is descriptive; only 'all' vs the control "
    "is a randomized comparison"
)

_OUTCOMES = ("e2e_latency_mean_ms", "e2e_latency_median_ms", "cost_per_1k_usd", "downstream_quality")
_GROUPS = ("correctly_routed", "misrouted", "routing_failed")


@dataclass(frozen=True)
class PlannedComparisons:
    """The results of every planned comparison, adjusted together."""

    accuracy: tuple[AccuracyComparison, ...]
    control: tuple[ControlComparison, ...]
    downstream: tuple[DownstreamResult, ...]


@dataclass(frozen=True)
class _Entry:
    kinds: frozenset[str]
    paired: Paired


def _entries(
    routers: list[str],
    control: str | None,
    data: dict[str, ArmData],
    spec: AnalysisSpec,
    k: int,
    rng_for: Callable[[str], RngFor],
) -> dict[tuple[str, ...], _Entry]:
    """Every comparison of the analysis, keyed ``("accuracy", a, b)``, ``("control", arm, outcome)``
    and ``("group", arm, group)``, in the order of the results document."""
    out: dict[tuple[str, ...], _Entry] = {}
    unit, method, least = spec.unit, spec.ci_method, spec.min_cases
    for a, b in itertools.combinations(routers, 2):
        agg_a = case_aggregate(data[a].y, data[a].y_cases, k)
        agg_b = case_aggregate(data[b].y, data[b].y_cases, k)
        out[("accuracy", a, b)] = _Entry(
            frozenset({"router_vs_router"}), paired_proportion_prepared(agg_a, agg_b, unit, method, least)
        )
    if control is None:
        return out
    c = data[control]
    ctrl_q = case_aggregate(c.downstream, c.cases, k)
    versus = frozenset({"router_vs_control"})
    for a in routers:
        d = data[a]
        resampler = CaseResampler(rng_for(f"{a}-vs-{control}")("bootstrap"), spec.bootstrap.resamples)
        out[("control", a, "e2e_latency_mean_ms")] = _Entry(
            versus,
            paired_mean_prepared(case_aggregate(d.e2e, d.cases, k), case_aggregate(c.e2e, c.cases, k), least),
        )
        out[("control", a, "e2e_latency_median_ms")] = _Entry(
            versus, paired_quantile_prepared(d.e2e, d.cases, c.e2e, c.cases, 0.5, k, resampler, least)
        )
        out[("control", a, "cost_per_1k_usd")] = _Entry(
            versus,
            paired_mean_prepared(
                case_aggregate(d.cost, d.cases, k), case_aggregate(c.cost, c.cases, k), least, 1000.0
            ),
        )
        # 'all' vs the control is this comparison too: a member under either kind, counted once
        out[("control", a, "downstream_quality")] = _Entry(
            versus | {"downstream_groups"},
            paired_proportion_prepared(case_aggregate(d.downstream, d.cases, k), ctrl_q, unit, method, least),
        )
        for name, mask in _group_masks(d).items():
            vals = np.where(mask, d.downstream, np.nan)
            out[("group", a, name)] = _Entry(
                frozenset({"downstream_groups"}),
                paired_proportion_prepared(case_aggregate(vals, d.cases, k), ctrl_q, unit, method, least),
            )
    return out


def _group_masks(d: ArmData) -> dict[str, NDArray[np.bool_]]:
    return {
        "correctly_routed": d.correct_raw == 1.0,
        "misrouted": d.correct_raw == 0.0,
        "routing_failed": np.isnan(d.correct_raw) & ~d.routing_ok & ~np.isnan(d.downstream),
    }


def _adjusted(
    entries: dict[tuple[str, ...], _Entry], spec: AnalysisSpec
) -> dict[tuple[str, ...], DifferenceResult]:
    """Each comparison's result at its level, with its raw and adjusted p-value."""
    family, alpha, how = set(spec.family), spec.alpha, spec.multiplicity
    member = {key: bool(e.kinds & family) for key, e in entries.items()}
    tested = [key for key, e in entries.items() if member[key] and e.paired.n_cases >= spec.min_cases]
    m = len(tested)
    # a tested member without a p-value (no variation) counts in m and never rejects
    adjusted = dict(
        zip(tested, adjust_pvalues([_p_or_one(entries[key].paired) for key in tested], how), strict=True)
    )
    level_family = 1.0 - alpha / m if m and how != "none" else 1.0 - alpha
    out: dict[tuple[str, ...], DifferenceResult] = {}
    for key, e in entries.items():
        paired = e.paired
        if key in adjusted:
            level = level_family
            p_adj = adjusted[key] if paired.p_value is not None else None
            text = _text(how, alpha, m, level)
            correction = how
        else:
            level, p_adj, correction = 1.0 - alpha, paired.p_value, "none"
            text = (
                f"planned (analysis.family) but too few cases to test: not counted in m = {m}"
                if member[key]
                else f"exploratory: {' / '.join(sorted(e.kinds))} not in analysis.family; "
                f"unadjusted p and interval at {level:g}"
            )
        out[key] = DifferenceResult(
            paired.unit,
            paired.n_cases,
            paired.estimate,
            paired.interval(level),
            paired.p_value,
            p_adj,
            member[key],
            m,
            correction,
            text,
        )
    return out


def _p_or_one(paired: Paired) -> float:
    return 1.0 if paired.p_value is None else paired.p_value


def _text(how: str, alpha: float, m: int, level: float) -> str:
    if how == "holm":
        return (
            f"holm over the m = {m} planned comparisons (analysis.family); interval at the "
            f"Bonferroni level 1 - {alpha:g}/{m} = {level:.6g}, simultaneous over the family: "
            "an interval that excludes 0 implies that Holm rejects (Holm may reject more)"
        )
    if how == "bonferroni":
        return (
            f"bonferroni over the m = {m} planned comparisons (analysis.family): "
            f"p_adjusted = min(1, {m} p), dual to the interval at 1 - {alpha:g}/{m} = {level:.6g}"
        )
    return (
        f"none (analysis.multiplicity): one of m = {m} planned comparisons, p and interval at "
        f"{level:g} unadjusted"
    )


def planned_comparisons(
    routers: list[str],
    control: str | None,
    data: dict[str, ArmData],
    plan: Plan,
    k: int,
    rng_for: Callable[[str], RngFor],
) -> PlannedComparisons:
    """Every planned comparison of the analysis, adjusted together as the plan's family.

    Parameters
    ----------
    routers : list of str
        Router arm ids in plan order.
    control : str or None
        The control arm compared against (the plan's first), or None without one.
    data : dict
        Each arm's data under the plan's failure rules.
    plan : Plan
        The frozen plan: ``analysis.family``, ``multiplicity``, ``alpha``, ``min_cases``, ``unit``.
    k : int
        Number of cases in the trial table.
    rng_for : callable
        The analysis' named random streams (the medians' case bootstrap draws from
        ``analysis:bootstrap:<arm>-vs-<control>``).

    Returns
    -------
    PlannedComparisons
    """
    spec = plan.analysis
    results = _adjusted(_entries(routers, control, data, spec, k, rng_for), spec)
    accuracy = tuple(
        AccuracyComparison(a, b, results[("accuracy", a, b)]) for a, b in itertools.combinations(routers, 2)
    )
    if control is None:
        return PlannedComparisons(accuracy, (), ())
    out: list[ControlComparison] = []
    down: list[DownstreamResult] = []
    c = data[control]
    level = 1.0 - spec.alpha
    for a in routers:
        d = data[a]
        out.extend(
            ControlComparison(a, control, outcome, results[("control", a, outcome)])  # type: ignore[arg-type]
            for outcome in _OUTCOMES
        )
        groups = []
        masks = {**_group_masks(d), "all": np.ones(d.cases.size, dtype=bool)}
        for name, mask in masks.items():
            ok = mask & ~np.isnan(d.downstream)
            quality = estimate_accuracy(
                d.downstream[ok], d.cases[ok], spec.unit, level, spec.ci_method, min_cases=spec.min_cases
            )
            versus = results[("control", a, "downstream_quality") if name == "all" else ("group", a, name)]
            groups.append(DownstreamGroup(name, quality, versus))  # type: ignore[arg-type]
        ok = ~np.isnan(c.downstream)
        groups.append(
            DownstreamGroup(
                "control",
                estimate_accuracy(
                    c.downstream[ok], c.cases[ok], spec.unit, level, spec.ci_method, min_cases=spec.min_cases
                ),
                None,
            )
        )
        down.append(DownstreamResult(a, tuple(groups), CAVEAT))
    return PlannedComparisons(accuracy, tuple(out), tuple(down))


def _control(plan: Plan) -> str | None:
    return next((a.id for a in plan.arms if a.kind == "control"), None)


#: The last family computed per analysis. :func:`analysis.analyze` asks for the accuracy and the
#: control comparisons in two calls, and each needs the whole family (Holm's p-values depend on
#: every member), so the second call reuses the first's: keyed weakly on the analysis' stream
#: factory, an entry lives exactly as long as the analysis that made it.
_FAMILIES: weakref.WeakKeyDictionary[
    Callable[[str], RngFor], tuple[tuple[object, ...], PlannedComparisons]
] = weakref.WeakKeyDictionary()


def _family(
    routers: list[str],
    control: str | None,
    data: dict[str, ArmData],
    plan: Plan,
    k: int,
    rng_for: Callable[[str], RngFor],
) -> PlannedComparisons:
    key = (id(plan), id(data), tuple(routers), control, k)
    hit = _FAMILIES.get(rng_for)
    if hit is not None and hit[0] == key:
        return hit[1]
    planned = planned_comparisons(routers, control, data, plan, k, rng_for)
    _FAMILIES[rng_for] = (key, planned)
    return planned


def accuracy_comparisons(
    routers: list[str], data: dict[str, ArmData], plan: Plan, k: int, rng_for: Callable[[str], RngFor]
) -> list[AccuracyComparison]:
    """Router against router on accuracy, adjusted with the rest of the family
    (:func:`planned_comparisons`, against the plan's first control arm)."""
    return list(_family(routers, _control(plan), data, plan, k, rng_for).accuracy)


def control_comparisons(
    routers: list[str],
    control: str,
    data: dict[str, ArmData],
    plan: Plan,
    k: int,
    rng_for: Callable[[str], RngFor],
) -> tuple[list[ControlComparison], list[DownstreamResult]]:
    """Each router against ``control`` on the secondary outcomes, and the downstream groups,
    adjusted with the rest of the family (:func:`planned_comparisons`)."""
    planned = _family(routers, control, data, plan, k, rng_for)
    return list(planned.control), list(planned.downstream)
