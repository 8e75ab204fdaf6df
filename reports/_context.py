"""The pure context builder: results, plan and registration in, what the template prints out.

Everything a reader sees is decided here, in plain data the template only lays out: verdict rows,
the checked CONSORT flow, the registration facts, baseline and outcome tables with every estimate
paired with its interval, the charts as SVG text, the design limits, the checklist and the
limitations. Nothing here estimates anything: numbers come from :class:`analysis.Results` (and
the design limits from :mod:`analysis`), the builder only selects, formats and checks them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis import DECIDING_KINDS, ArmResult, DiagnosisResult, Results
from prereg.errors import AnalysisError
from prereg.records import Case
from prereg.schema import (
    ControlArmSpec,
    FixedArmSpec,
    OracleArmSpec,
    Plan,
    RandomArmSpec,
    RouterArmSpec,
    ServiceArmSpec,
)
from reports._checklist import CHECKLIST, ChecklistItem
from reports._flow import NEVER_RUN, WARMUP, ArmFlow, Flow, breakdown, check_flow
from reports._flow_svg import flow_svg
from reports._format import OPS, Shown, gate_bounds_text, metric_formatter
from reports._hypotheses import HypothesesView, build_hypotheses
from reports._limitations import limitations
from reports._mix import MixView, build_mix, gate_mix_label
from reports._outcomes import ChartSet, OutcomeRow, build_charts, comparison_rows, outcome_rows
from reports._registration import Registration
from reports._sections import (
    BaselineView,
    DesignView,
    EndToEndView,
    build_baseline,
    build_design,
    build_end_to_end,
)
from reports._sequential import SequentialView, build_sequential, stopping_sentence
from reports._svg import arm_colour

__all__ = ["SECTIONS", "GateCell", "ReportContext", "VerdictRow", "build_context", "flow_from_results"]

#: Section anchors and headings, in page order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "Verdict"),
    ("flow", "CONSORT flow"),
    ("registration", "Registration"),
    ("baseline", "Baseline"),
    ("outcomes", "Outcomes"),
    ("end-to-end", "End to end"),
    ("design", "Design"),
    ("checklist", "CONSORT checklist"),
    ("limitations", "Limitations"),
)


@dataclass(frozen=True, slots=True)
class GateCell:
    """One gate's decision for one arm, with the numbers that decided it."""

    gate: str
    verdict: str
    estimate: Shown
    threshold: str
    reason: str


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """A router arm's overall verdict and its gates in plan order."""

    arm: str
    colour: str
    verdict: str
    reason: str
    gates: tuple[GateCell, ...]


@dataclass(frozen=True, slots=True)
class ReportContext:
    """Everything the page template renders."""

    title: str
    plan: Plan
    sections: tuple[tuple[str, str], ...]
    gate_headers: tuple[tuple[str, str], ...]
    verdicts: tuple[VerdictRow, ...]
    headline: str
    flow: Flow
    flow_svg: str
    registration: Registration
    deviations: tuple[str, ...]
    arms_table: tuple[tuple[str, str, str, str], ...]
    baseline: BaselineView
    outcomes: tuple[OutcomeRow, ...]
    charts: ChartSet
    comparisons: tuple[tuple[str, Shown, str, str], ...]
    results: Results
    end_to_end: EndToEndView
    design: DesignView
    checklist: tuple[tuple[ChecklistItem, str], ...]
    limitations: tuple[str, ...]
    colours: Mapping[str, str]
    #: The hypotheses with their verdicts per arm; None (no hypothesis links a gate) hides the table.
    hypotheses: HypothesesView | None = None
    #: The figures under the plan's target mix; None (no analysis.target_mix) hides the table.
    mix: MixView | None = None
    #: A group-sequential plan's looks and stop; None (a fixed horizon) hides them.
    sequential: SequentialView | None = None
    #: The pre-registered stopping rule in words (Registration's design line).
    stopping: str = ""


def arm_colours(plan: Plan) -> dict[str, str]:
    """Each arm's chart colour: the control grey, routers and then reference arms in palette order."""
    coloured = list(plan.decision_arms) + [
        a.id for a in plan.arms if isinstance(a, FixedArmSpec | RandomArmSpec | OracleArmSpec)
    ]
    return {
        a.id: arm_colour(coloured.index(a.id)) if a.id in coloured else arm_colour(0, control=True)
        for a in plan.arms
    }


def flow_from_results(results: Results, plan: Plan) -> Flow:
    """The CONSORT flow of the results, checked node to node (AnalysisError names arm and node).

    Enrolled counts come from the plan (its declared requests and unique cases); each arm's column
    from that arm's :class:`analysis.FlowCounts`. A router's analysed node is the routing-accuracy
    analysis; the control's, which makes no routing decision, is the end-to-end latency analysis.
    """
    arms = []
    for arm in results.arms:
        f = arm.flow
        allocated = f.allocated if f.allocated is not None else f.scheduled
        # Both kinds read the analysis' own count (the results JSON and the page agree).
        analysed = f.analysed
        if arm.kind in DECIDING_KINDS:
            # The analysis counts exclusions among trial rows; scheduled requests without a row
            # are the remaining way out of the analysed node.
            excluded = {**f.excluded, NEVER_RUN: f.missing}
        else:
            # The control has no routing decision: its analysed node is the end-to-end analysis.
            # Warm-up trials leave as warm-up whatever their status, so not-sent and failed ones
            # are counted there, not twice.
            warm_rows = 0 if f.warmup is None else f.warmup.requests
            warm_sent = 0 if f.warmup is None else f.warmup.sent
            excluded = {
                NEVER_RUN: f.missing,
                "not sent": f.not_sent - (warm_rows - warm_sent),
                WARMUP: warm_rows,
                "no end-to-end outcome (failed or excluded by the plan)": f.sent - warm_sent - analysed,
            }
        arms.append(
            ArmFlow(
                arm=arm.arm,
                kind=arm.kind,
                allocated=allocated,
                allocated_cases=arm.unique_cases,
                sent=f.sent,
                not_sent=breakdown(
                    {
                        NEVER_RUN: f.missing,
                        "not sent": f.not_sent - (f.aborted or 0),
                        "aborted (abort rule)": f.aborted or 0,
                    }
                ),
                completed=f.completed,
                failed=breakdown(f.failed_by_status),
                analysed=analysed,
                analysed_cases=_analysed_cases(arm),
                excluded=breakdown(excluded),
                warmup=None if f.warmup is None else breakdown(f.warmup.by_status),
            )
        )
    scheduled, cases = plan.sample_size.requests_total, plan.sample_size.unique_cases
    seq = results.sequential
    if seq is not None and seq.stopped_at is not None:
        # Stopped early: the enrolment ends at the stop's look (the report says what was not run).
        scheduled, cases = seq.looks[seq.last_look - 1].requests, seq.looks[seq.last_look - 1].cases
    return check_flow(
        Flow(
            scheduled=scheduled,
            unique_cases=cases,
            arms=tuple(arms),
            warmup_rule=_warmup_rule(plan),
        )
    )


def _warmup_rule(plan: Plan) -> str | None:
    w = plan.traffic.warmup
    if w is None:
        return None
    if w.seconds is not None:
        return f"scheduled before {w.seconds:g} s"
    return f"first {w.requests:,} requests of the schedule"


def _analysed_cases(arm: ArmResult) -> int:
    if arm.accuracy is not None and arm.accuracy.unit == "case":
        return int(arm.accuracy.n)
    if arm.clustering is not None:
        return arm.clustering.n_cases
    return arm.e2e_latency_mean.n_cases


def _verdicts(results: Results, plan: Plan, colours: Mapping[str, str]) -> tuple[VerdictRow, ...]:
    rows = []
    for v in results.viability:
        cells = []
        for gate in plan.gates:
            g = next((x for x in results.gates if x.arm == v.arm and x.gate == gate.id), None)
            if g is None:
                continue
            f = metric_formatter(g.metric)
            value = "no estimate" if g.estimate is None else f(g.estimate)
            cells.append(
                GateCell(
                    gate=g.gate,
                    verdict=g.verdict,
                    estimate=Shown(value, gate_bounds_text(g), g.rule),
                    threshold=f"gate {OPS[g.op]} {f(g.threshold)}",
                    reason=g.reason,
                )
            )
        rows.append(VerdictRow(v.arm, colours.get(v.arm, "#444"), v.verdict, v.reason, tuple(cells)))
    return tuple(rows)


def _headline(verdicts: Sequence[VerdictRow]) -> str:
    passing = [v.arm for v in verdicts if v.verdict == "PASS"]
    if passing:
        return f"Viable under the pre-registered gates: {', '.join(passing)}."
    if any(v.verdict == "INCONCLUSIVE" for v in verdicts):
        return "No router arm passes every gate; some decisions are inconclusive at this sample size."
    return "No router arm passes every pre-registered gate."


def _arms_table(plan: Plan) -> tuple[tuple[str, str, str, str], ...]:
    rows = []
    for a in plan.arms:
        if isinstance(a, RouterArmSpec):
            c = a.classifier
            rows.append((a.id, "router", f"{c.model} ({c.backend.kind})", a.description))
        elif isinstance(a, ControlArmSpec | FixedArmSpec):
            rows.append((a.id, a.kind, f"all requests to {a.model}", a.description))
        elif isinstance(a, RandomArmSpec):
            mix = ", ".join(f"{key} {p:.4g}" for key, p in sorted(a.probabilities.items()))
            rows.append((a.id, "random", f"each request at random: {mix}", a.description))
        elif isinstance(a, OracleArmSpec):
            rows.append((a.id, "oracle", "by the gold label, through the routing table", a.description))
        elif isinstance(a, ServiceArmSpec):
            where = a.selected_model_header or "the reply's model field"
            what = f"router service {a.model} at {a.backend.base_url}; its pick read from {where}, judged route-level"
            rows.append((a.id, "service", what, a.description))
    return tuple(rows)


def _stopping_item(item: ChecklistItem, plan: Plan) -> ChecklistItem:
    """CONSORT item 7b (interim analyses and stopping) answered by the plan's own rule."""
    if item.item != "7b":
        return item
    return dataclasses.replace(item, note=stopping_sentence(plan))


def build_context(
    results: Results,
    plan: Plan,
    registration: Registration,
    design: DiagnosisResult | None = None,
    corpus: Sequence[Case] = (),
) -> ReportContext:
    """Build the report's context; raises AnalysisError when results and plan disagree.

    The results must cover exactly the plan's arms (the page shows every arm of the plan), and the
    CONSORT flow must add up (:func:`reports.check_flow`).
    """
    found = tuple(a.arm for a in results.arms)
    if found != plan.arm_ids:
        raise AnalysisError(
            f"results: arms: expected the plan's arms {list(plan.arm_ids)}, found {list(found)}"
        )
    colours = arm_colours(plan)
    flow = flow_from_results(results, plan)
    verdicts = _verdicts(results, plan, colours)
    return ReportContext(
        title=plan.study.title,
        plan=plan,
        sections=SECTIONS,
        gate_headers=tuple(
            (
                g.id,
                f"{g.metric.replace('_', ' ')} {OPS[g.op]} {metric_formatter(g.metric)(g.threshold)}"
                + gate_mix_label(g),
            )
            for g in plan.gates
        ),
        verdicts=verdicts,
        headline=_headline(verdicts),
        flow=flow,
        flow_svg=flow_svg(flow, colours),
        registration=registration,
        deviations=results.plan.deviations,
        arms_table=_arms_table(plan),
        baseline=build_baseline(results, plan, corpus),
        outcomes=outcome_rows(results),
        charts=build_charts(results, plan, colours),
        comparisons=comparison_rows(results),
        results=results,
        end_to_end=build_end_to_end(results),
        design=build_design(results, plan, design, colours),
        checklist=tuple(
            (_stopping_item(item, plan), dict(SECTIONS).get(item.section or "", "")) for item in CHECKLIST
        ),
        stopping=stopping_sentence(plan),
        limitations=limitations(results, plan, registration),
        colours=colours,
        hypotheses=build_hypotheses(results, plan),
        mix=build_mix(results),
        sequential=build_sequential(results, plan),
    )
