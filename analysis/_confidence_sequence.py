"""Always-valid bounds for a mean over cases: the confidence sequence of a plan's
``kind: confidence_sequence`` looks.

The unit is the case: the schedule serves the cases in a random order, a block per look, each case
with all its replays, so the per-case values (its accuracy over its replays, in [0, 1]; or its
quality difference from the control, in [-1, 1], mapped to [0, 1]) are i.i.d. in the order the
cases are first served, whatever the correlation of a case's replays. For their mean the bounds
are the predictable plug-in empirical-Bernstein confidence sequence of Waudby-Smith and Ramdas
(2024), valid in finite samples for bounded values and at every number of cases at once, so
looking after each block spends nothing: each one-sided bound errs with probability at most
``alpha`` over all looks together.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from analysis._arm import ArmData
from analysis._comparisons import case_aggregate
from analysis._gates import decide_gate
from analysis._results import GateVerdict, Interval
from prereg.schema import CONFIDENCE_SEQUENCE_METRICS, ConfidenceBoundRule, GateSpec, Plan

__all__ = ["CS_METRICS", "METHOD", "cs_gate_verdict", "mean_confidence_sequence", "served_order"]

#: The gate metrics whose estimand is a mean over cases, which the sequence bounds.
CS_METRICS = CONFIDENCE_SEQUENCE_METRICS
METHOD = "empirical_bernstein_confidence_sequence"
#: The largest bet (Waudby-Smith & Ramdas suggest 1/2 or 3/4; 3/4 narrows the bounds when the
#: case values vary little, as a router's accuracies near 1 do).
_CAP = 0.75


def mean_confidence_sequence(
    values: NDArray[np.float64], alpha: float, min_cases: int
) -> tuple[float | None, Interval, Interval]:
    """The mean of i.i.d. case values in [0, 1] and its always-valid one-sided bounds.

    Parameters
    ----------
    values : ndarray of float64
        One value in [0, 1] per case, in the order the cases were first served (the unit of
        analysis is the case).
    alpha : float
        Error probability of each one-sided bound over every look.
    min_cases : int
        Fewest cases for a bound (the plan's ``analysis.min_cases``).

    Returns
    -------
    tuple
        The sample mean (None without values) and the one-sided lower and upper bounds (no ends,
        with a note, below ``min_cases`` cases), clipped to [0, 1].

    Notes
    -----
    With :math:`\\hat\\mu_i = (1/2 + \\sum_{j\\le i} x_j)/(i+1)`, :math:`\\hat\\sigma^2_i = (1/4 +
    \\sum_{j\\le i}(x_j - \\hat\\mu_j)^2)/(i+1)`, the predictable
    :math:`\\lambda_i = \\min(\\sqrt{2\\log(1/\\alpha) / (\\hat\\sigma^2_{i-1}\\, i \\log(1+i))}, 3/4)`
    and :math:`\\psi_E(\\lambda) = (-\\log(1-\\lambda) - \\lambda)/4`, the bounds after :math:`t`
    cases are

    .. math:: \frac{\\sum \\lambda_i x_i}{\\sum \\lambda_i} \\mp
              \frac{\\log(1/\\alpha) + \\sum 4 (x_i - \\hat\\mu_{i-1})^2 \\psi_E(\\lambda_i)}{\\sum \\lambda_i}

    (Waudby-Smith & Ramdas 2024, Theorem 2, one-sided). Unlike a plug-in normal sequence it needs
    no large sample: at 15 cases of correlated replays it keeps its level (checked by simulation in
    ``tests/test_analysis_sequential_calibration.py``), at the price of width.

    References
    ----------
    .. [1] Waudby-Smith, I. & Ramdas, A. (2024). Estimating means of bounded random variables by
       betting. JRSS B 86(1), 1-27. doi:10.1093/jrsssb/qkad009
    .. [2] Howard, S. R., Ramdas, A., McAuliffe, J. & Sekhon, J. (2021). Time-uniform, nonparametric,
       nonasymptotic confidence sequences. Annals of Statistics 49(2), 1055-1080.
       doi:10.1214/20-AOS1991
    """
    level = 1.0 - alpha
    t = int(values.size)
    if t == 0 or t < min_cases:
        note = "no cases" if t == 0 else f"too few cases for a bound ({t} < analysis.min_cases {min_cases})"
        mean = float(values.mean()) if t else None
        return (
            mean,
            Interval(None, None, level, METHOD, "lower", note),
            Interval(None, None, level, METHOD, "upper", note),
        )
    x = np.clip(values, 0.0, 1.0)
    i = np.arange(1, t + 1, dtype=np.float64)
    mu = (0.5 + np.cumsum(x)) / (i + 1.0)  # mu_i after case i
    sigma2 = (0.25 + np.cumsum((x - mu) ** 2)) / (i + 1.0)
    mu_prev = np.concatenate(([0.5], mu[:-1]))
    sigma2_prev = np.concatenate(([0.25], sigma2[:-1]))
    log_a = math.log(1.0 / alpha)
    lam = np.minimum(np.sqrt(2.0 * log_a / (sigma2_prev * i * np.log1p(i))), _CAP)
    psi = (-np.log1p(-lam) - lam) / 4.0
    centre = float(np.sum(lam * x) / np.sum(lam))
    half = float((log_a + np.sum(4.0 * (x - mu_prev) ** 2 * psi)) / np.sum(lam))
    lower, upper = max(centre - half, 0.0), min(centre + half, 1.0)
    mean = float(x.mean())
    return mean, Interval(lower, None, level, METHOD, "lower"), Interval(None, upper, level, METHOD, "upper")


def _case_means(
    values: NDArray[np.float64], cases: NDArray[np.intp], k: int, order: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per-case means of the non-NaN ``values`` in the order ``order`` of case codes, and which
    cases have any."""
    total, count = case_aggregate(values, cases, k)
    seen = count[order] > 0
    return np.asarray(total[order][seen] / count[order][seen], dtype=np.float64), seen


def cs_gate_verdict(
    gate: GateSpec, a: str, data: Mapping[str, ArmData], plan: Plan, k: int, order: NDArray[np.intp]
) -> GateVerdict:
    """The verdict of ``gate`` for arm ``a`` from the confidence sequence of its case values
    (``order``: the case codes in the order the schedule first served them)."""
    assert isinstance(gate.rule, ConfidenceBoundRule) and gate.metric in CS_METRICS
    alpha, d, min_cases = 1.0 - gate.rule.level, data[a], plan.analysis.min_cases
    if gate.metric == "routing_accuracy":
        values, _ = _case_means(d.y, d.y_cases, k, order)
        est, lower, upper = mean_confidence_sequence(values, alpha, min_cases)
        return decide_gate(a, gate, "case", est, lower, upper)
    control = next((x.id for x in plan.arms if x.kind == "control"), None)
    c = data.get(control) if control is not None else None
    r_sum, r_n = case_aggregate(d.downstream, d.cases, k)
    c_sum, c_n = case_aggregate(c.downstream, c.cases, k) if c is not None else (r_sum * 0.0, r_n * 0.0)
    both = (r_n[order] > 0) & (c_n[order] > 0)
    o = order[both]
    diff = r_sum[o] / r_n[o] - c_sum[o] / c_n[o]  # in [-1, 1]: bounded on [0, 1] as (d + 1) / 2
    est, lower, upper = mean_confidence_sequence((diff + 1.0) / 2.0, alpha, min_cases)

    def back(bound: Interval) -> Interval:
        return dataclasses.replace(
            bound,
            lower=None if bound.lower is None else 2.0 * bound.lower - 1.0,
            upper=None if bound.upper is None else 2.0 * bound.upper - 1.0,
        )

    return decide_gate(a, gate, "case", None if est is None else 2.0 * est - 1.0, back(lower), back(upper))


def served_order(case: NDArray[np.intp], seq: NDArray[np.int64], k: int) -> NDArray[np.intp]:
    """The case codes ``0..k-1`` in the order of their first request in the schedule."""
    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, case, seq)
    return np.asarray(np.argsort(first, kind="stable"), dtype=np.intp)
