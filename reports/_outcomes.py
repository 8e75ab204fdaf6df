"""The Outcomes section: per-arm estimate rows and the charts, from the results alone.

Each chart gets the handful of numbers it draws: estimates and intervals, a latency quantile curve
(already at most a few hundred points in the results), counts of a confusion matrix. So the page
has the same size for 300 trials as for a million.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis import (
    DECIDING_KINDS,
    ArmResult,
    DifferenceResult,
    Interval,
    ProportionResult,
    QuantileResult,
    Results,
)
from prereg.schema import Plan
from reports._charts import (
    CdfSeries,
    FamilyRow,
    IntervalPoint,
    ParetoPoint,
    confusion_chart,
    family_chart,
    forest_chart,
    latency_cdf_chart,
    pareto_chart,
)
from reports._format import (
    Shown,
    clustering_text,
    fmt_cost,
    fmt_ms,
    fmt_pct,
    fmt_signed,
    fmt_usd,
    gate_bounds_text,
    show,
)

__all__ = [
    "ChartSet",
    "OutcomeRow",
    "build_charts",
    "comparison_rows",
    "latency_curve",
    "outcome_rows",
]


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One arm's row of the outcomes table."""

    arm: str
    kind: str
    n: str
    accuracy: Shown | None
    robust: Shown | None
    clustering: str
    median: Shown | None
    p95: Shown | None
    p95_bootstrap: str
    accuracy_gate: str
    p95_gate: str
    cost: Shown
    e2e_median: Shown
    e2e_p95: Shown
    downstream: Shown
    #: Expected misrouting cost per 1,000 requests (None: the arm has none) and its gate's bounds.
    misrouting: Shown | None = None
    misrouting_gate: str = ""


@dataclass(frozen=True, slots=True)
class ChartSet:
    """The outcome charts as inline SVG (``latency_cdf`` is empty when the results carry no curve)."""

    forest: str
    latency_cdf: str
    pareto: str
    families: str
    confusion: tuple[tuple[str, str], ...]


def _prop(p: ProportionResult | None) -> Shown | None:
    return None if p is None else show(p.estimate, p.interval, fmt_pct)


def _quant(q: QuantileResult | None) -> Shown | None:
    return None if q is None else show(q.estimate, q.interval, fmt_ms)


def _n_text(arm: ArmResult) -> str:
    acc = arm.accuracy
    if acc is not None:
        unit = "cases" if acc.unit == "case" else "requests"
        return f"{acc.n:,.0f} {unit} ({acc.n_requests:,} requests)"
    return f"{arm.e2e_latency_mean.n_cases:,} cases ({arm.e2e_latency_mean.n:,} requests)"


def outcome_rows(results: Results) -> tuple[OutcomeRow, ...]:
    """One row per arm in plan order."""
    rows = []
    for arm in results.arms:
        c = arm.clustering
        robust = None if c is None else show(c.robust_estimate, c.robust_interval, fmt_pct)
        clustering = "" if c is None else clustering_text(c)
        boot = arm.routing_latency_bootstrap_p95
        p95 = arm.routing_latency_p95
        # the one-sided bounds the gates decided by, beside the two-sided intervals
        gates = {g.metric: g for g in results.gates if g.arm == arm.arm}
        acc_gate, p95_gate = gates.get("routing_accuracy"), gates.get("routing_latency_p95_ms")
        mis, mis_gate = arm.misrouting_cost_per_1k, gates.get("misrouting_cost_per_1k")
        acc = arm.accuracy
        eff = (
            ""
            if acc is None or acc.effective_n is None
            else (f"effective n {acc.effective_n:,.0f} of {acc.n_requests:,} requests; ")
        )
        rows.append(
            OutcomeRow(
                arm=arm.arm,
                kind=arm.kind,
                n=_n_text(arm),
                accuracy=_prop(arm.accuracy),
                robust=robust,
                clustering=clustering,
                median=_quant(arm.routing_latency_median),
                p95=_quant(p95),
                p95_bootstrap=""
                if boot is None or p95 is None
                else show(p95.estimate, boot, fmt_ms).interval,
                accuracy_gate=eff
                + ("" if acc_gate is None else f"gate {acc_gate.gate}: {gate_bounds_text(acc_gate)}"),
                p95_gate="" if p95_gate is None else f"gate {p95_gate.gate}: {gate_bounds_text(p95_gate)}",
                cost=show(arm.cost_per_1k.estimate, arm.cost_per_1k.interval, fmt_usd),
                e2e_median=show(arm.e2e_latency_median.estimate, arm.e2e_latency_median.interval, fmt_ms),
                e2e_p95=show(arm.e2e_latency_p95.estimate, arm.e2e_latency_p95.interval, fmt_ms),
                downstream=show(arm.downstream_quality.estimate, arm.downstream_quality.interval, fmt_pct),
                misrouting=None if mis is None else show(mis.estimate, mis.interval, fmt_cost),
                misrouting_gate=""
                if mis_gate is None
                else f"gate {mis_gate.gate}: {gate_bounds_text(mis_gate)}",
            )
        )
    return tuple(rows)


def _point(label: str, colour: str, estimate: float | None, iv: Interval | None) -> IntervalPoint | None:
    if estimate is None or iv is None:
        return None
    return IntervalPoint(label, colour, estimate, iv.lower, iv.upper)


def latency_curve(arm: ArmResult) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The arm's routing-latency quantile curve (probabilities, milliseconds), None when it has none."""
    curve = arm.routing_latency_curve
    if curve is None or not curve.probabilities or len(curve.probabilities) != len(curve.values_ms):
        return None
    return curve.probabilities, curve.values_ms


def _gate(plan: Plan, metric_prefix: str, default: float) -> float:
    return next((g.threshold for g in plan.gates if g.metric.startswith(metric_prefix)), default)


def build_charts(results: Results, plan: Plan, colours: Mapping[str, str]) -> ChartSet:
    """Every outcome chart of the page."""
    level = 1.0 - results.plan.alpha
    acc_gate = _gate(plan, "routing_accuracy", 0.85)
    p95_gate = _gate(plan, "routing_latency_p95", 2000.0)
    routers = [a for a in results.arms if a.kind in DECIDING_KINDS]
    forest_pts = [
        p
        for a in routers
        if a.accuracy is not None
        for p in [_point(a.arm, colours[a.arm], a.accuracy.estimate, a.accuracy.interval)]
        if p
    ]
    series: list[CdfSeries] = []
    for a in routers:
        curve = latency_curve(a)
        if curve is not None:
            q = a.routing_latency_p95
            mark = None if q is None else _point("P95", colours[a.arm], q.estimate, q.interval)
            series.append(CdfSeries(a.arm, colours[a.arm], curve[0], curve[1], mark))
    pareto: list[ParetoPoint] = []
    for pp in results.pareto:
        arm = next(a for a in results.arms if a.arm == pp.arm)
        acc = arm.accuracy
        q = arm.routing_latency_p95
        acc_pt = None if acc is None else _point(pp.arm, colours[pp.arm], acc.estimate, acc.interval)
        p95_pt = None if q is None else _point(pp.arm, colours[pp.arm], q.estimate, q.interval)
        if acc_pt is not None and p95_pt is not None:
            pareto.append(
                ParetoPoint(
                    pp.arm, colours[pp.arm], acc_pt, p95_pt, pp.cost_per_1k_usd or 0.0, pp.on_frontier
                )
            )
    families = tuple(plan.taxonomy.labels)
    fam_rows = [
        FamilyRow(a.arm, colours[a.arm], tuple(_family_point(a, f, colours[a.arm]) for f in families))
        for a in routers
    ]
    fam_rows = [row for row in fam_rows if any(pt is not None for pt in row.points)]
    confusion = tuple(
        (
            a.arm,
            confusion_chart(
                a.confusion.rows, a.confusion.columns, a.confusion.counts, title=a.arm, name=f"confusion-{i}"
            ),
        )
        for i, a in enumerate(routers)
        if a.confusion is not None and any(any(row) for row in a.confusion.counts)
    )
    return ChartSet(
        forest=forest_chart(forest_pts, threshold=acc_gate, level=level) if forest_pts else "",
        latency_cdf=latency_cdf_chart(series, gate_ms=p95_gate, level=level) if series else "",
        pareto=pareto_chart(pareto, accuracy_gate=acc_gate, p95_gate_ms=p95_gate) if pareto else "",
        families=family_chart(families, fam_rows, threshold=acc_gate) if fam_rows else "",
        confusion=confusion,
    )


def _family_point(arm: ArmResult, family: str, colour: str) -> IntervalPoint | None:
    fa = next((f for f in arm.per_family if f.family == family), None)
    if fa is None:
        return None
    return _point(family, colour, fa.accuracy.estimate, fa.accuracy.interval)


def fmt_p(x: float | None) -> str:
    """A p-value as printed: four decimals, ``< 0.0001`` below that, or why there is none."""
    return "not computable" if x is None else ("< 0.0001" if x < 1e-4 else f"{x:.4f}")


def adjusted_p(d: DifferenceResult) -> str:
    """The adjusted p-value with its correction, or ``exploratory`` for a comparison outside the family."""
    if not d.in_family:
        return "exploratory (not in the planned family)"
    return f"{fmt_p(d.p_adjusted)} ({d.correction}, {d.family_size} comparisons)"


def comparison_rows(results: Results) -> tuple[tuple[str, Shown, str, str], ...]:
    """Paired router comparisons: (a vs b, difference with interval, p, adjusted p); the test and
    the interval are of the same estimand (difference of mean per-case accuracy)."""
    return tuple(
        (
            f"{c.a} − {c.b}",
            show(c.difference.estimate, c.difference.interval, fmt_signed(fmt_pct)),
            fmt_p(c.difference.p_value),
            adjusted_p(c.difference),
        )
        for c in results.accuracy_comparisons
    )
