"""The smallest pieces of the results document: the unit of analysis, an interval, and a
proportion with its interval (re-exported by :mod:`analysis._results`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Interval", "ProportionResult", "Unit"]

Unit = Literal["case", "request"]


@dataclass(frozen=True)
class Interval:
    """A confidence interval or one-sided bound; a missing end is None with the reason in ``note``."""

    lower: float | None
    upper: float | None
    level: float
    method: str
    side: Literal["two-sided", "lower", "upper"]
    note: str | None = None


@dataclass(frozen=True)
class ProportionResult:
    """A proportion on a unit of analysis: ``successes / n`` with its interval.

    Unit ``case``: ``n`` is the number of cases and ``successes`` the sum of per-case proportions
    (non-integer); the interval is computed on ``effective_n`` observations (between the cases and
    the requests, from the between-case variance) with ``df`` degrees of freedom for the variance.
    Unit ``request``: counts of requests; ``effective_n`` and ``df`` are None.
    """

    unit: Unit
    successes: float
    n: float
    n_requests: int
    estimate: float | None
    interval: Interval
    effective_n: float | None = None
    df: float | None = None


@dataclass(frozen=True)
class MeanResult:
    """A mean (``estimate``) of ``n`` requests over ``n_cases`` cases with its interval (the method
    is recorded in it: a case bootstrap, or a stratified one under the target mix)."""

    unit: Unit
    n: int
    n_cases: int
    estimate: float | None
    interval: Interval
