"""The Baseline, End-to-end and Design sections as plain rows for the template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import analysis
from analysis import DiagnosisResult, Results
from prereg.records import Case
from prereg.schema import Plan
from reports._charts import pass_curve_chart
from reports._format import Shown, fmt_ms, fmt_pct, fmt_signed, fmt_usd, show
from reports._outcomes import adjusted_p
from reports._power import PowerView, power_view
from reports._reference import ReferenceView, build_reference

__all__ = [
    "BaselineView",
    "DesignView",
    "EndToEndView",
    "StreamingView",
    "build_baseline",
    "build_design",
    "build_end_to_end",
    "build_streaming",
]

_EXCERPT = 240

_GROUPS = {
    "correctly_routed": "correctly routed",
    "misrouted": "misrouted",
    "routing_failed": "routing failed (fallback model)",
    "all": "all requests of the arm",
    "control": "control (no routing)",
}

_OUTCOMES = {
    "e2e_latency_mean_ms": ("end-to-end latency, mean", fmt_ms),
    "e2e_latency_median_ms": ("end-to-end latency, median", fmt_ms),
    "cost_per_1k_usd": ("cost per 1,000 requests", fmt_usd),
    "downstream_quality": ("downstream answer quality", fmt_pct),
}


@dataclass(frozen=True, slots=True)
class BaselineView:
    """Families per arm (balance), the SRM checks and example requests per family."""

    arms: tuple[str, ...]
    balance: tuple[tuple[str, tuple[int, ...], int], ...]
    balance_test: str
    srm: tuple[tuple[str, str, str, str, bool], ...]
    examples: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True, slots=True)
class DownstreamView:
    """One router arm's downstream quality by routing outcome."""

    arm: str
    caveat: str
    groups: tuple[tuple[str, Shown, Shown | None, str], ...]


@dataclass(frozen=True, slots=True)
class EndToEndView:
    """Downstream quality per routing outcome, and each router against the control."""

    downstream: tuple[DownstreamView, ...]
    versus_control: tuple[tuple[str, str, Shown, str], ...]
    #: Streaming timings (live, streamed runs); None hides the subsection.
    streaming: StreamingView | None = None
    #: Routers against the reference arms; None (no reference arm) hides the subsection.
    reference: ReferenceView | None = None


@dataclass(frozen=True, slots=True)
class StreamingView:
    """Per arm: routing TTFT median/P95, downstream TTFT median/P95, median ITL (None: n/a)."""

    note: str
    rows: tuple[tuple[str, Shown | None, Shown | None, Shown | None, Shown | None, Shown | None], ...]


def _q(q: analysis.QuantileResult | None) -> Shown | None:
    return None if q is None else show(q.estimate, q.interval, fmt_ms)


def build_streaming(results: Results) -> StreamingView | None:
    """The streaming timings as rows; None when the results carry none (simulated runs)."""
    s = results.streaming
    if s is None:
        return None
    rows = tuple(
        (
            a.arm,
            _q(a.routing_ttft_median),
            _q(a.routing_ttft_p95),
            _q(a.downstream_ttft_median),
            _q(a.downstream_ttft_p95),
            _q(a.itl_median),
        )
        for a in s.arms
    )
    return StreamingView(s.note, rows)


@dataclass(frozen=True, slots=True)
class DesignView:
    """What the sample size could show, and power figures when a design diagnosis exists."""

    rows: tuple[tuple[str, str], ...]
    power: PowerView | None
    curve_svg: str = ""


def _p(p: float | None) -> str:
    if p is None:
        return "not computable"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def build_baseline(results: Results, plan: Plan, corpus: Sequence[Case]) -> BaselineView:
    """Balance of task families across arms, SRM checks, and one example request per family."""
    b = results.balance
    balance = tuple((fam, tuple(row), sum(row)) for fam, row in zip(b.families, b.counts, strict=True))
    test = (
        f"χ² = {b.chi2:.2f}, df = {b.df}, {_p(b.p_value)} ({b.unit}s)"
        if b.chi2 is not None
        else "χ² test not computable (too few categories or no data)"
    )
    srm = tuple(
        (
            s.what,
            ", ".join(
                f"{arm} {s.observed.get(arm, 0):,} (expected {s.expected.get(arm, 0.0):,.1f})"
                for arm in plan.arm_ids
            ),
            (s.note or "not computable") if s.chi2 is None else f"χ² = {s.chi2:.2f}, df = {s.df}",
            _p(s.p_value) + f" (flagged below {s.threshold:g})",
            s.mismatch,
        )
        for s in results.srm
    )
    seen: set[str] = set()
    examples = []
    for case in sorted(corpus, key=lambda c: (c.family, c.id)):
        if case.family in seen:
            continue
        seen.add(case.family)
        text = case.text if len(case.text) <= _EXCERPT else case.text[: _EXCERPT - 1] + "…"
        examples.append((case.family, case.id, text, " | ".join(case.gold_labels)))
    return BaselineView(b.arms, balance, test, srm, tuple(examples))


def build_end_to_end(results: Results) -> EndToEndView:
    """Downstream quality by routing outcome and the router-vs-control differences."""
    downstream = tuple(
        DownstreamView(
            d.arm,
            d.caveat,
            tuple(
                (
                    _GROUPS.get(g.group, g.group),
                    show(g.quality.estimate, g.quality.interval, fmt_pct),
                    None
                    if g.versus_control is None
                    else show(g.versus_control.estimate, g.versus_control.interval, fmt_signed(fmt_pct)),
                    "" if g.versus_control is None else adjusted_p(g.versus_control),
                )
                for g in d.groups
            ),
        )
        for d in results.downstream
    )
    versus = []
    for c in results.control_comparisons:
        label, f = _OUTCOMES.get(c.outcome, (c.outcome, fmt_pct))
        versus.append(
            (
                c.arm,
                label,
                show(c.difference.estimate, c.difference.interval, fmt_signed(f)),
                adjusted_p(c.difference),
            )
        )
    return EndToEndView(downstream, tuple(versus), build_streaming(results), build_reference(results))


def build_design(
    results: Results,
    plan: Plan,
    power: DiagnosisResult | None,
    colours: Mapping[str, str] | None = None,
) -> DesignView:
    """Design limits as planned and as analysed, and the design diagnosis's figures if given."""
    d = results.design
    unit = "cases" if plan.analysis.unit == "case" else "requests"
    rows: list[tuple[str, str]] = [
        (
            "Units of analysis for accuracy",
            f"{d.accuracy_units:,} {unit} planned per arm; the smallest "
            f"router arm analysed {d.smallest_cases:,} cases and {d.smallest_latency_n:,} latencies",
        )
    ]
    for req in d.requirements:
        # the planned requirement, and whether the smallest analysed arm meets it
        analysed = (
            analysis.gate_requirement(
                plan.gates[[g.id for g in plan.gates].index(req.gate)],
                plan.analysis,
                d.smallest_cases,
                plan.traffic.replays_per_case,
            )
            if req.gate in {g.id for g in plan.gates}
            else req
        )
        status = "decidable" if req.decidable else "cannot pass at the planned size"
        rows.append(
            (
                f"Gate {req.gate} ({req.rule})",
                f"{status}: {req.needs}; as analysed: {'decidable' if analysed.decidable else 'cannot pass'}",
            )
        )
    view = power_view(power) if power is not None else None
    return DesignView(tuple(rows), view, _curve_svg(plan, view, colours or {}))


def _curve_svg(plan: Plan, view: PowerView | None, colours: Mapping[str, str]) -> str:
    """The P(PASS) curve of the (first) accuracy gate, when the design diagnosis simulated one."""
    if view is None or not view.curve:
        return ""
    gate = next((g for g in plan.gates if g.metric == "routing_accuracy"), None)
    if gate is None:
        return ""
    series = [(arm, colours.get(arm, "#444444"), shares) for arm, shares in view.curve]
    return pass_curve_chart(view.curve_x, series, threshold=gate.threshold, sims=view.curve_sims)
