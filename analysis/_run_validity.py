"""Why a run's latencies cannot decide a gate: a live run whose dispatch broke the open loop, and
a router service, whose measured routing latency only bounds its decision from above."""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis._meta import RunMeta
from analysis._table import TrialTable
from prereg.schema import Plan

__all__ = ["SERVICE_LATENCY", "invalid_run", "look_validity"]


def look_validity(table: TrialTable, meta: RunMeta) -> RunMeta:
    """A live run's meta with its dispatch figures taken from ``table`` alone: an interim look is
    judged valid or not on its own trials' lateness (to the wire) and unsent requests, the same
    whether the runner decides it mid-run or ``analyze`` replays it afterwards."""
    if meta.live is None:
        return meta
    late = table.lateness_ms[~np.isnan(table.lateness_ms)]
    unsent = int(np.count_nonzero(table.status == "not_sent_in_time"))
    live = {
        "p99_ms": float(np.percentile(late, 99.0)) if late.size else 0.0,
        "not_sent_in_time": float(unsent),
    }
    return dataclasses.replace(meta, live=live)


def invalid_run(plan: Plan, meta: RunMeta) -> str | None:
    """Why a live run's latencies cannot decide a gate (dispatch lateness over the plan's bound)."""
    if meta.live is None or "p99_ms" not in meta.live:
        return None
    unsent = int(meta.live.get("not_sent_in_time", 0))
    if unsent:
        return (
            f"invalid run: {unsent} requests timed out before they were written to the wire (no "
            "connection free), so the open loop broke and the latencies measure the harness's queue"
        )
    p99, bound = meta.live["p99_ms"], plan.traffic.max_lateness_p99_ms
    if p99 <= bound:
        return None
    return (
        f"invalid run: dispatch lateness p99 {p99:.3g} ms is above the plan's bound of {bound:g} ms "
        "(traffic.max_lateness_p99_ms), so the latencies measure the harness as well as the router"
    )


#: Why a router service's latency gate cannot FAIL: what it measures bounds the decision from above.
SERVICE_LATENCY = (
    "a router service's routing latency is the time to its response headers (the decision plus the "
    "chosen model's start), an upper bound of the decision time: it can show a PASS, not a FAIL"
)
