"""The comparison records of the results document: paired differences with the test that is
dual to their interval, and the planned family they were adjusted in (re-exported by
:mod:`analysis._results`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analysis._interval import Interval, ProportionResult, Unit

__all__ = [
    "AccuracyComparison",
    "ControlComparison",
    "DifferenceResult",
    "DownstreamGroup",
    "DownstreamResult",
]


@dataclass(frozen=True)
class DifferenceResult:
    """A difference ``a - b`` paired by case, with a test and an interval of the same estimand.

    ``p_value`` is the test's two-sided p-value, dual to ``interval``'s method (the smallest
    alpha at which that method's ``1 - alpha`` interval excludes 0); ``p_adjusted`` after
    ``correction`` over the plan's family; ``interval.level`` is the level actually used (the
    Bonferroni level ``1 - alpha / family_size`` for members under ``holm`` or ``bonferroni``).
    ``in_family``: a member of ``analysis.family`` (False: exploratory, unadjusted);
    ``family_size``: m, the members with at least ``analysis.min_cases`` cases (the same number on
    every comparison of one analysis; 0 from a bare estimator call); ``adjustment``: the
    correction in words. A test that does not exist (too few cases, no variation) is None with the
    reason in ``interval.note``.
    """

    unit: Unit
    n_cases: int
    estimate: float | None
    interval: Interval
    p_value: float | None = None
    p_adjusted: float | None = None
    in_family: bool = False
    family_size: int = 0
    correction: Literal["holm", "bonferroni", "none"] = "none"
    adjustment: str = "unadjusted"


@dataclass(frozen=True)
class AccuracyComparison:
    """Router ``a`` against router ``b`` on routing accuracy, paired by case.

    ``difference`` carries the test and the interval of one estimand, the difference of the arms'
    accuracies on the plan's unit over the cases both observed (MOVER interval, p-value by its
    inversion), adjusted with the rest of the plan's family.
    """

    a: str
    b: str
    difference: DifferenceResult


@dataclass(frozen=True)
class ControlComparison:
    """Router arm against the control on a secondary outcome (``arm - control``), paired by case.

    Means (``e2e_latency_mean_ms``, ``cost_per_1k_usd``): the mean over cases of the per-case
    differences of means (paired t); ``e2e_latency_median_ms``: the difference of request-level
    medians (paired case bootstrap); ``downstream_quality``: the difference of proportions (MOVER).
    """

    arm: str
    control: str
    outcome: Literal["e2e_latency_mean_ms", "e2e_latency_median_ms", "cost_per_1k_usd", "downstream_quality"]
    difference: DifferenceResult


@dataclass(frozen=True)
class DownstreamGroup:
    """Downstream answer quality of one group of requests and its difference to the control.

    ``versus_control``: the group's quality minus the control's over the cases both have (MOVER);
    for ``all`` it is the ``downstream_quality`` control comparison itself; None for the control.
    """

    group: Literal["correctly_routed", "misrouted", "routing_failed", "all", "control"]
    quality: ProportionResult
    versus_control: DifferenceResult | None


@dataclass(frozen=True)
class DownstreamResult:
    """Downstream quality of a router arm's correctly routed, misrouted and failed requests.

    Only ``all`` vs the control is a randomized comparison; the routed groups are selected by the
    router's own success (hard cases are misrouted more often), which ``caveat`` states.
    """

    arm: str
    groups: tuple[DownstreamGroup, ...]
    caveat: str
