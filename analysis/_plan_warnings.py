"""Analysis choices a plan may make that its error rates will not survive: said before the
campaign runs (``routetrial check``) and again in the results and the report."""

from __future__ import annotations

from prereg.schema import Plan

__all__ = ["plan_warnings"]


def plan_warnings(plan: Plan, n_cases: int) -> tuple[str, ...]:
    """One line per analysis choice whose verdicts are not calibrated for replays of a case.

    Parameters
    ----------
    plan : Plan
        The plan (its ``analysis`` section and gates).
    n_cases : int
        Unique cases per arm.

    Returns
    -------
    tuple of str
        Empty when the plan keeps the calibrated defaults.

    Notes
    -----
    The figures quoted are the simulated error rates at 60 cases x 5 replays from the calibration
    audit (issue 11) and docs/design.md: a request unit treats replays that agree as independent
    evidence; order statistics treat latencies that share a prompt as independent.

    References
    ----------
    .. [1] Kish, L. (1965). Survey Sampling. Wiley. (design effect)
    """
    spec = plan.analysis
    out: list[str] = []
    if spec.unit == "request":
        out.append(
            "analysis.unit: request counts every replay as an independent observation; replays "
            "of a case agree, so the accuracy gate passes too often (type I error about 0.10 "
            "instead of 0.05 at a replay ICC of 0.25): use unit: case"
        )
    if spec.latency_interval == "order_statistic" and plan.traffic.replays_per_case > 1:
        out.append(
            "analysis.latency_interval: order_statistic is exact only for independent "
            "latencies; replays of a case share their prompt, and P(PASS) at a P95 gate's "
            "boundary is 0.07-0.18 at a log-latency ICC of 0.3-0.9: use clustered"
        )
    if spec.latency_interval == "bootstrap":
        out.append(
            "analysis.latency_interval: bootstrap (case bootstrap percentile) is liberal at "
            "this size: P(PASS) at a P95 gate's boundary is about 0.10 even for independent "
            "latencies: use clustered"
        )
    for gate in plan.gates:
        if gate.rule.kind == "point_estimate" and n_cases < spec.min_cases:
            out.append(
                f"gates.{gate.id}: a point-estimate verdict from {n_cases} cases (fewer than "
                f"analysis.min_cases = {spec.min_cases}) controls no error rate"
            )
    return tuple(out)
