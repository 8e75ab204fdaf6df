"""Limitations stated from the data: each sentence is triggered by a number in the results.

Generic caveats are not listed: a sentence appears only when this campaign's results make it true
(an interval that contains a gate, a bound that does not exist at this n, a sample-ratio mismatch,
a deviation from the plan, correlated replays, trials that never ran).
"""

from __future__ import annotations

from analysis import GateVerdict, Results
from prereg.schema import Plan, RouterArmSpec
from reports._format import clustering_text, fmt_against, fmt_pct
from reports._registration import Registration

__all__ = ["limitations"]


def limitations(results: Results, plan: Plan, registration: Registration) -> tuple[str, ...]:
    """The limitations of this campaign, most decision-relevant first."""
    gates, said = _gate_limitations(results)
    return (
        *gates,
        *_arm_limitations(results, plan, said),
        *_random_mix_limitations(results),
        *_run_limitations(results, plan, registration),
    )


def _random_mix_limitations(results: Results) -> list[str]:
    """A router that a random arm did as well as: whatever its gates say, it is not shown to route."""
    if results.reference is None:
        return []
    out = []
    for mix in results.reference.random_mixes:
        if not mix.random_did_as_well:
            continue
        lo = mix.interval.lower
        shown = (
            "no interval exists"
            if lo is None or mix.interval.upper is None
            else f"the {mix.interval.level:.0%} interval of the difference in quality is "
            f"[{fmt_pct(lo)}, {fmt_pct(mix.interval.upper)}]"
        )
        out.append(
            f"{mix.arm}: the random arm {mix.random_arm} did as well on downstream quality ({shown}): "
            "this campaign does not show that the router's choices beat a random mix of the same models "
            "(exploratory, unadjusted)."
        )
    return out


def _gate_limitations(results: Results) -> tuple[list[str], set[tuple[str, str]]]:
    """Why each inconclusive gate is inconclusive; and which (arm, metric) pairs that covered."""
    out: list[str] = []
    by_arm = {a.arm: a for a in results.arms}
    said: set[tuple[str, str]] = set()
    invalid = next((g.reason for g in results.gates if g.reason.startswith("invalid run")), None)
    for g in results.gates:
        if g.verdict != "INCONCLUSIVE" or g.reason == invalid:
            continue

        def f(x: float, g: GateVerdict = g) -> str:
            return fmt_against(x, g.threshold, g.metric)

        bounds = [b for b in (g.deciding_bound, g.opposite_bound) if b is not None]
        missing = next((b for b in bounds if b.side == "upper" and b.upper is None), None)
        if missing is not None:
            out.append(
                f"{g.arm}: gate {g.gate} is inconclusive because no upper bound on the "
                f"{g.metric.replace('_', ' ')} exists at this n ({missing.note or 'no bound'})."
            )
        else:
            est = "no estimate" if g.estimate is None else f(g.estimate)
            acc = by_arm[g.arm].accuracy if g.arm in by_arm else None
            n = (
                f" from n = {acc.n:,.0f} {acc.unit}s"
                if acc is not None and g.metric == "routing_accuracy"
                else ""
            )
            out.append(
                f"{g.arm}: gate {g.gate} is inconclusive: the estimate {est}{n} is not separated from "
                f"the threshold {f(g.threshold)} at the pre-registered level ({g.reason})."
            )
        said.add((g.arm, g.metric))
    if invalid is not None:
        out.append(f"Every latency gate is INCONCLUSIVE: {invalid}.")
    return out, said


def _arm_limitations(results: Results, plan: Plan, said: set[tuple[str, str]]) -> list[str]:
    """Per arm: a point-estimate verdict the interval cannot support, correlation, gaps, failures."""
    out: list[str] = []
    # a PASS or FAIL by a confidence bound already says the data separate the estimate from the
    # gate; only a point-estimate verdict can stand beside an interval that contains its threshold
    point_gates = [
        gg for gg in plan.gates if gg.metric == "routing_accuracy" and gg.rule.kind == "point_estimate"
    ]
    for arm in results.arms:
        acc = arm.accuracy
        for acc_gate in point_gates:
            if acc is None or (arm.arm, acc_gate.metric) in said:
                continue
            lo, hi = acc.interval.lower, acc.interval.upper
            if lo is not None and hi is not None and lo <= acc_gate.threshold <= hi:
                out.append(
                    f"{arm.arm}: gate {acc_gate.id} was decided by the point estimate, but the "
                    f"{acc.interval.level:.0%} accuracy interval [{fmt_pct(lo)}, {fmt_pct(hi)}] contains "
                    f"{fmt_pct(acc_gate.threshold)}: the data cannot tell the two apart."
                )
        c = arm.clustering
        if (
            acc is not None
            and acc.effective_n is not None
            and c is not None
            and c.design_effect is not None
            and c.design_effect > 1.5
        ):
            out.append(
                f"{arm.arm}: replays of a case are correlated ({clustering_text(c)}): its "
                f"{acc.n_requests:,} accuracy requests over {acc.n:,.0f} cases count as about "
                f"{acc.effective_n:,.0f} independent observations in the accuracy interval and gate."
            )
        if arm.flow.missing:
            out.append(
                f"{arm.arm}: {arm.flow.missing:,} scheduled requests have no trial row "
                "(the campaign did not finish); estimates cover the requests that ran."
            )
        failed = sum(arm.flow.failed_by_status.values())
        if arm.flow.sent and failed / arm.flow.sent >= 0.05:
            out.append(
                f"{arm.arm}: {failed:,} of {arm.flow.sent:,} sent requests failed "
                f"({failed / arm.flow.sent:.1%}); failures count as the plan says "
                f"({results.plan.failures_routing.replace('_', ' ')})."
            )
    return out


def _run_limitations(results: Results, plan: Plan, registration: Registration) -> list[str]:
    """The whole run: sample ratio, deviations, where the trials came from, simulated routers."""
    out: list[str] = []
    for s in results.srm:
        if s.mismatch:
            out.append(
                f"Sample-ratio mismatch in the {s.what} counts (p = {s.p_value:.2g}): the arms did not "
                "receive requests in the planned ratio; randomization or delivery may be compromised."
            )
    if not registration.analysis_code_matches or not results.plan.analysis_code_matches:
        out.append(
            "The analysis code differs from the code frozen with the plan: these results are a deviation "
            "from the pre-registered analysis."
        )
    for d in results.plan.deviations:
        out.append(f"Deviation recorded for this analysis: {d}")
    if results.plan.source != "store":
        out.append(
            f"Trials were read from a {results.plan.source} file, not the campaign's own store: the "
            "allocation could not be checked against the store."
        )
    if any(isinstance(a, RouterArmSpec) and a.classifier.backend.kind == "simulated" for a in plan.arms):
        out.append(
            "Router arms use simulated backends calibrated to published figures: the numbers describe the "
            "simulation, not a measured deployment."
        )
    caveat = next((r.caveat for r in results.downstream if r.caveat), None)
    if caveat:
        out.append(f"Downstream quality by routing outcome: {caveat}.")
    return out
