"""Pre-registered abort rules at run time: an arm stopped for its failure rate, a live run stopped
for invalid dispatch (``analysis.abort``, :class:`prereg.schema.AbortSpec`).

Both runners count each finished trial here in the order trials finish. A simulated run replays
its whole virtual night on resume, so it starts from no aborted arm and reaches the same abort at
the same trial; a live run cannot replay, so it starts from the arms the store records as aborted.
An aborted arm's later requests are never sent: the runner stores each as ``not_sent`` with the
error ``aborted: <reason>``, so the flow accounts for every allocated request.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Mapping

import numpy as np

from prereg.schema import AbortSpec, Plan

__all__ = ["ABORTED_ARMS_KEY", "RUN_ABORT_KEY", "ArmAborts", "DispatchWatch", "aborted_arms"]

#: Store meta keys: the aborted arms (JSON object arm -> reason) and a run's abort reason.
ABORTED_ARMS_KEY = "aborted_arms"
RUN_ABORT_KEY = "run_abort_reason"
#: The window over which the dispatch lateness p99 is judged against the plan's bound.
WINDOW_S = 10.0


def aborted_arms(meta: Mapping[str, str]) -> dict[str, str]:
    """The arms a store records as aborted, with their reasons."""
    raw = meta.get(ABORTED_ARMS_KEY)
    return dict(json.loads(raw)) if raw else {}


class ArmAborts:
    """Each arm's finished and failed trials, and the arms the failure-rate rule has stopped."""

    def __init__(self, spec: AbortSpec | None, aborted: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.aborted: dict[str, str] = dict(aborted or {})

    @classmethod
    def of(cls, plan: Plan, aborted: Mapping[str, str] | None = None) -> ArmAborts | None:
        """The rule of ``plan`` (None when it sets no failure rate)."""
        spec = plan.analysis.abort
        if spec is None or spec.max_failure_rate is None:
            return None
        return cls(spec, aborted)

    def count(self, arm: str, status: str) -> str | None:
        """Count a finished trial; the reason when it makes the arm's failure rate cross the bound."""
        if arm in self.aborted or self.spec is None or self.spec.max_failure_rate is None:
            return None
        self.done[arm] += 1
        self.failed[arm] += status != "ok"
        n, k = self.done[arm], self.failed[arm]
        bound = self.spec.max_failure_rate
        if n >= self.spec.min_trials and k / n > bound:
            reason = f"failure rate {k / n:.3f} ({k} of {n} trials) above analysis.abort.max_failure_rate {bound:g}"
            self.aborted[arm] = reason
            return reason
        return None


class DispatchWatch:
    """How long a live run's dispatch has been invalid: the p99 lateness of the trials sent in the
    last :data:`WINDOW_S` seconds above the plan's bound, continuously."""

    def __init__(self, plan: Plan) -> None:
        spec = plan.analysis.abort
        self.limit_s = None if spec is None else spec.max_invalid_dispatch_s
        self.bound_ms = plan.traffic.max_lateness_p99_ms
        self.recent: deque[tuple[float, float]] = deque()
        self.invalid_since: float | None = None

    def add(self, now_s: float, lateness_ms: float | None) -> str | None:
        """Count a stored trial's lateness at ``now_s``; the reason when the run must stop."""
        if self.limit_s is None or lateness_ms is None:
            return None
        self.recent.append((now_s, lateness_ms))
        while self.recent and self.recent[0][0] < now_s - WINDOW_S:
            self.recent.popleft()
        p99 = float(np.percentile([x for _, x in self.recent], 99.0))
        if p99 <= self.bound_ms:
            self.invalid_since = None
            return None
        if self.invalid_since is None:
            self.invalid_since = now_s
        if now_s - self.invalid_since >= self.limit_s:
            return (
                f"dispatch lateness p99 above traffic.max_lateness_p99_ms ({self.bound_ms:g} ms) for "
                f"{now_s - self.invalid_since:.0f} s (analysis.abort.max_invalid_dispatch_s {self.limit_s:g})"
            )
        return None
