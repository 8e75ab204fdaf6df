"""What a design can show before any data exist: for every gate and decision rule, the fewest
correct answers that pass an accuracy gate, and whether a latency gate can be decided at all.

:func:`gate_requirement` is the one answer to "what does this gate need at this n": ``check``, the
results document, the report and design diagnosis all ask it.
"""

from __future__ import annotations

import math

import numpy as np

from analysis._effective_n import effective_n_bounds
from analysis._proportions import CI_METHODS, proportion_bounds
from analysis._results import GateRequirement, Unit
from prereg.errors import InputError
from prereg.schema import AnalysisSpec, GateSpec

__all__ = [
    "fewest_correct_to_pass",
    "gate_requirement",
    "min_cases_for_quantile_bound",
    "min_n_for_quantile_upper_bound",
]

_QUANTILE = {"routing_latency_p95_ms": 0.95, "routing_latency_median_ms": 0.5}


def fewest_correct_to_pass(n: int, threshold: float, level: float, method: str = "wilson") -> int | None:
    """The fewest correct answers out of ``n`` whose one-sided lower bound clears ``threshold``.

    Parameters
    ----------
    n : int
        Number of independent units (unique cases by default), at least 1.
    threshold : float
        The gate, e.g. 0.85 for ``accuracy >= 0.85``.
    level : float
        One-sided confidence level of the lower bound, e.g. 0.95.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Interval method of the plan.

    Returns
    -------
    int or None
        The smallest ``x`` in ``0..n`` with ``lower(x, n) >= threshold``; None when even ``x = n``
        does not pass (the design cannot pass the gate at this ``n``).

    Notes
    -----
    The one-sided lower bound at level :math:`L` is the lower end of the two-sided interval at
    level :math:`2L-1`; it increases with ``x``, so the first passing ``x`` is the answer.
    At ``n = 60``, 0.85 and a one-sided 95% Wilson bound this is 56 (56/60 gives 0.8595).

    References
    ----------
    .. [1] Wilson, E. B. (1927). doi:10.1080/01621459.1927.10502953
    .. [2] Brown, L. D., Cai, T. T., DasGupta, A. (2001). doi:10.1214/ss/1009213286

    Examples
    --------
    >>> fewest_correct_to_pass(60, 0.85, 0.95)
    56
    """
    if n < 1:
        raise InputError(f"expected at least 1 unit, found {n}", field="n")
    if method not in CI_METHODS:
        raise InputError(
            f"expected an interval method in {list(CI_METHODS)}, found {method!r}", field="method"
        )
    xs = np.arange(n + 1, dtype=np.float64)
    lower, _ = proportion_bounds(xs, float(n), level, method, side="lower")
    passing = np.flatnonzero(lower >= threshold)
    return int(passing[0]) if passing.size else None


def min_n_for_quantile_upper_bound(q: float, level: float) -> int:
    """The smallest sample size at which a distribution-free upper bound for the q-quantile exists.

    Parameters
    ----------
    q : float
        Quantile in (0, 1), e.g. 0.95 for P95 (unit of analysis: the request, one latency each).
    level : float
        One-sided confidence level in (0, 1), e.g. 0.95.

    Returns
    -------
    int
        Smallest ``n`` with :math:`1 - q^n \\ge` ``level`` (59 for q = level = 0.95).

    Notes
    -----
    The largest order statistic :math:`X_{(n)}` exceeds the q-quantile with probability
    :math:`1 - q^n` for any continuous distribution; no order statistic does better, so below this
    ``n`` no finite distribution-free upper bound exists at ``level``.

    References
    ----------
    .. [1] Hahn, G. J., Meeker, W. Q. (1991). Statistical Intervals: A Guide for Practitioners.
       Wiley, section 5.3. doi:10.1002/9780470316771

    Examples
    --------
    >>> min_n_for_quantile_upper_bound(0.95, 0.95)
    59
    """
    if not 0.0 < q < 1.0:
        raise InputError(f"expected a quantile in (0, 1), found {q}", field="q")
    if not 0.0 < level < 1.0:
        raise InputError(f"expected a confidence level in (0, 1), found {level}", field="level")
    n = max(1, math.ceil(math.log1p(-level) / math.log(q)))
    # Guard the float ceiling against rounding on either side.
    while n > 1 and 1.0 - q ** (n - 1) >= level:
        n -= 1
    while 1.0 - q**n < level:
        n += 1
    return n


def _clustered_lower(x: np.ndarray, k: int, n_requests: int, level: float, method: str) -> np.ndarray:
    """Lower bounds of the clustered proportion when ``x`` of ``k`` cases are right on every replay
    and the others wrong on every replay (per-case proportions all 0 or 1: the largest design effect)."""
    p = np.asarray(x, dtype=np.float64) / k
    pq = p * (1.0 - p)
    return effective_n_bounds(p, pq, pq * (1.0 - 3.0 * pq), k, n_requests, level, method, "lower").lower


def min_cases_for_quantile_bound(
    q: float, level: float, method: str = "wilson", limit: int = 1_000_000
) -> int | None:
    """The fewest cases at which a clustered one-sided upper bound for the q-quantile can exist.

    Parameters
    ----------
    q : float
        Quantile in (0, 1), e.g. 0.95.
    level : float
        One-sided confidence level, e.g. 0.95.
    method : {"wilson", "clopper_pearson", "jeffreys", "agresti_coull"}
        Binomial interval on the effective n.
    limit : int
        Largest number of cases searched.

    Returns
    -------
    int or None
        Smallest ``k`` (unit of analysis: the unique case) with a lower bound of at least ``q`` for
        the share of latencies at most the
        largest one when that share is 1 (every request of every case below it), whatever the
        replays; None above ``limit``.

    Notes
    -----
    The bound must hold when every replay of a case has the same latency, so the share's effective
    n is ``k - 1`` (:func:`analysis._effective_n.effective_n_bounds`); the upper bound of the
    quantile is the largest latency at best. For a one-sided 95% Wilson bound of a P95 this is 53
    cases, against 59 independent requests for the order-statistic bound
    (:func:`min_n_for_quantile_upper_bound`).

    References
    ----------
    .. [1] Korn, E. L., Graubard, B. I. (1998). Survey Methodology 24(2), 193-201.
    .. [2] Kish, L. (1965). Survey Sampling. Wiley. (design effect)

    Examples
    --------
    >>> min_cases_for_quantile_bound(0.95, 0.95)
    53
    """
    lo, hi = 2, 2
    while _clustered_lower(np.array([hi]), hi, hi, level, method)[0] < q:
        if hi >= limit:
            return None
        lo, hi = hi, min(2 * hi, limit)
    while lo < hi:  # the bound at a full share grows with k
        mid = (lo + hi) // 2
        if _clustered_lower(np.array([mid]), mid, mid, level, method)[0] >= q:
            hi = mid
        else:
            lo = mid + 1
    return hi


def gate_requirement(gate: GateSpec, analysis: AnalysisSpec, n_cases: int, replays: int) -> GateRequirement:
    """What ``gate`` needs to be decided by ``n_cases`` unique cases of ``replays`` requests each.

    Parameters
    ----------
    gate : GateSpec
        The gate and its decision rule.
    analysis : AnalysisSpec
        The plan's analysis (unit, interval method, latency interval, minimum cases).
    n_cases : int
        Unique cases per arm (the design's size, or those analysed).
    replays : int
        Requests per case per arm.

    Returns
    -------
    GateRequirement

    Notes
    -----
    Accuracy, confidence-bound rule: unit ``case`` by :func:`_clustered_lower` (every replay of a
    case agreeing), unit ``request`` by :func:`fewest_correct_to_pass` on ``n_cases * replays``.
    Point-estimate rule: the fewest ``x`` with ``x / n >= threshold``; decidable at any n, but no
    error rate is controlled, and below ``analysis.min_cases`` the requirement says so. Latency
    quantile gates: :func:`min_cases_for_quantile_bound` under ``latency_interval: clustered``,
    :func:`min_n_for_quantile_upper_bound` requests under ``order_statistic`` (exact only for
    independent latencies), none under ``bootstrap``. Gates against the control (downstream
    quality and relative cost on unit ``case``, end-to-end latency quantiles on unit ``request``):
    only ``analysis.min_cases`` common cases, as a paired case bootstrap has no closed form.

    References
    ----------
    .. [1] Korn, E. L., Graubard, B. I. (1998). Survey Methodology 24(2), 193-201.
    .. [2] Hahn, G. J., Meeker, W. Q. (1991). Statistical Intervals. Wiley. doi:10.1002/9780470316771
    """
    point = gate.rule.kind == "point_estimate"
    level = 1.0 - analysis.alpha if gate.rule.kind == "point_estimate" else gate.rule.level
    rule = "point_estimate" if point else f"confidence_bound@{level:g}"
    if gate.metric == "routing_accuracy":
        return _accuracy_requirement(gate, analysis, n_cases, replays, rule, level)
    if gate.metric.endswith("_vs_control"):
        return _control_requirement(gate, analysis, n_cases, replays, rule)
    if gate.metric == "misrouting_cost_per_1k":
        return _misrouting_requirement(gate, analysis, n_cases, replays, rule)
    return _latency_requirement(gate, analysis, n_cases, replays, rule, level)


#: What a PASS of each gate against the control needs (the bound that decides it and where).
_CONTROL_NEEDS = {
    "downstream_quality_vs_control": "lower bound of the paired case-bootstrap difference at or above",
    "cost_vs_control": "upper bound of the paired case-bootstrap relative cost at or below",
    "e2e_latency_p95_vs_control": "upper bound of the paired case-bootstrap P95 difference at or below",
    "e2e_latency_median_vs_control": "upper bound of the paired case-bootstrap median difference at or below",
}


def _control_requirement(
    gate: GateSpec, analysis: AnalysisSpec, n_cases: int, replays: int, rule: str
) -> GateRequirement:
    """:func:`gate_requirement` of a gate against the control."""
    # a paired case bootstrap has no closed-form smallest n: only the interval's minimum is known
    few = n_cases < analysis.min_cases
    needs = (
        f"needs at least {analysis.min_cases} cases in both the router and the control arm "
        "(analysis.min_cases)"
        if few
        else f"PASS needs the one-sided {_CONTROL_NEEDS[gate.metric]} {gate.threshold:g}"
    )
    latency = "latency" in gate.metric
    unit: Unit = "request" if latency else "case"
    n = n_cases * replays if latency else n_cases
    return GateRequirement(gate.id, gate.metric, rule, unit, n, not few, None, analysis.min_cases, needs)


def _misrouting_requirement(
    gate: GateSpec, analysis: AnalysisSpec, n_cases: int, replays: int, rule: str
) -> GateRequirement:
    """:func:`gate_requirement` of a misrouting-cost gate: ``analysis.min_cases`` cases for a bound
    (a case bootstrap has no closed-form smallest n), then an upper bound at or below the threshold."""
    few = n_cases < analysis.min_cases
    needs = (
        f"needs at least {analysis.min_cases} cases (analysis.min_cases)"
        if few
        else "PASS needs the one-sided upper bound of the case-bootstrap misrouting cost per 1,000 "
        f"requests at or below {gate.threshold:g}"
    )
    n = n_cases if analysis.unit == "case" else n_cases * replays
    return GateRequirement(
        gate.id, gate.metric, rule, analysis.unit, n, not few, None, analysis.min_cases, needs
    )


def _accuracy_requirement(
    gate: GateSpec, analysis: AnalysisSpec, n_cases: int, replays: int, rule: str, level: float
) -> GateRequirement:
    """:func:`gate_requirement` of an accuracy gate."""
    n_requests = n_cases * replays
    few = n_cases < analysis.min_cases
    fewest: int | None = None
    min_cases: int | None = analysis.min_cases
    unit = analysis.unit
    n = n_cases if unit == "case" else n_requests
    if gate.rule.kind == "point_estimate":
        fewest = _point_fewest(n, gate.threshold) if gate.op == ">=" else None
        needs = (
            f"decided by the point estimate alone: {fewest} of {n} {unit}s pass; no error rate is controlled"
            if fewest is not None
            else "decided by the point estimate alone; no error rate is controlled"
        )
        if few:
            needs += f"; fewer than {analysis.min_cases} cases (analysis.min_cases)"
        return GateRequirement(gate.id, gate.metric, rule, unit, n, True, fewest, min_cases, needs)
    if gate.op == ">=" and n_cases >= 2:
        xs = np.arange(n + 1, dtype=np.float64)
        if unit == "case":
            lower = _clustered_lower(xs, n_cases, n_requests, level, analysis.ci_method)
        else:
            lower, _ = proportion_bounds(xs, float(n), level, analysis.ci_method, side="lower")
        passing = np.flatnonzero(lower >= gate.threshold)
        fewest = int(passing[0]) if passing.size else None
    decidable = not few and (gate.op == "<=" or fewest is not None)
    if few:
        needs = f"needs at least {analysis.min_cases} cases for an interval (analysis.min_cases)"
    elif fewest is None and gate.op == ">=":
        needs = (
            f"PASS is impossible: even {n} of {n} {unit}s correct cannot show accuracy >= {gate.threshold:g}"
        )
    elif unit == "case" and gate.op == ">=":
        needs = (
            f"PASS needs at least {fewest} of {n} cases correct when every replay agrees (fewer when replays "
            f"disagree: the effective n grows towards the {n_requests} requests)"
        )
    else:
        needs = (
            f"PASS needs at least {fewest} of {n} requests correct" if fewest is not None else "an interval"
        )
    return GateRequirement(gate.id, gate.metric, rule, unit, n, decidable, fewest, min_cases, needs)


def _latency_requirement(
    gate: GateSpec, analysis: AnalysisSpec, n_cases: int, replays: int, rule: str, level: float
) -> GateRequirement:
    """:func:`gate_requirement` of a latency quantile gate."""
    n_requests = n_cases * replays
    q = _QUANTILE[gate.metric]
    if gate.rule.kind == "point_estimate":
        return GateRequirement(
            gate.id,
            gate.metric,
            rule,
            "request",
            n_requests,
            True,
            None,
            None,
            "decided by the point estimate alone; no error rate is controlled",
        )
    kind = analysis.latency_interval
    if kind == "clustered":
        need = min_cases_for_quantile_bound(q, level, analysis.ci_method)
        need = None if need is None else max(need, analysis.min_cases)
        ok = need is not None and n_cases >= need
        text = (
            f"PASS needs at least {need} cases for a one-sided {level:g} upper bound of the {q:g} quantile "
            f"(this design has {n_cases})"
            if need is not None
            else "PASS needs more cases than can be run"
        )
        return GateRequirement(gate.id, gate.metric, rule, "case", n_cases, ok, None, need, text)
    if kind == "order_statistic":
        need_n = min_n_for_quantile_upper_bound(q, level)
        return GateRequirement(
            gate.id,
            gate.metric,
            rule,
            "request",
            n_requests,
            n_requests >= need_n,
            None,
            None,
            f"PASS needs at least {need_n} independent requests (order statistics; exact only when "
            "replays of a case do not share latency)",
        )
    return GateRequirement(
        gate.id,
        gate.metric,
        rule,
        "case",
        n_cases,
        n_cases >= analysis.min_cases,
        None,
        analysis.min_cases,
        "decided by a case bootstrap (not calibrated: liberal at this n)",
    )


def _point_fewest(n: int, threshold: float) -> int | None:
    """The fewest ``x`` in ``0..n`` with ``x / n >= threshold`` (exact in integers where it can be)."""
    x = max(0, math.ceil(threshold * n - 1e-9))
    while x > 0 and (x - 1) / n >= threshold:
        x -= 1
    while x <= n and x / n < threshold:
        x += 1
    return x if x <= n else None
