"""Limits on what several of a plan's numbers make together.

Each field's own range lives in :mod:`prereg.schema`; a few products of fields must be bounded
too, because ``run`` or ``analyze`` would otherwise hang or run out of memory on a plan that
``check`` passed: the case bootstrap's weight matrix (resamples x cases) and the campaign's length
(requests over the arrival rate). The limits are generous for a real study and far below what
breaks this machine.
"""

from __future__ import annotations

from prereg.schema import DiurnalArrival, Plan, TraceArrival

__all__ = ["MAX_BOOTSTRAP_CELLS", "MAX_CAMPAIGN_S", "size_problems"]

#: Most cells of the case bootstrap's ``resamples x cases`` weight matrix (16 bytes a cell while
#: it is built: ~320 MB).
MAX_BOOTSTRAP_CELLS = 20_000_000
#: Longest campaign, simulated or live, at the plan's mean arrival rate (366 days).
MAX_CAMPAIGN_S = 366 * 86_400.0


def size_problems(plan: Plan, n_cases: int) -> list[tuple[tuple[str | int, ...], str]]:
    """``(field path, message)`` for each product of the plan's numbers above its limit."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    resamples = plan.analysis.bootstrap.resamples
    if resamples * n_cases > MAX_BOOTSTRAP_CELLS:
        found.append(
            (
                ("analysis", "bootstrap", "resamples"),
                f"expected resamples x cases <= {MAX_BOOTSTRAP_CELLS:,} (the case bootstrap's weight "
                f"matrix), found {resamples:,} x {n_cases:,} = {resamples * n_cases:,}",
            )
        )
    arrival = plan.traffic.arrival
    if not isinstance(arrival, TraceArrival):
        diurnal = isinstance(arrival, DiurnalArrival)
        rate = arrival.mean_rate_per_s if isinstance(arrival, DiurnalArrival) else arrival.rate_per_s
        seconds = plan.sample_size.requests_total / rate
        if seconds > MAX_CAMPAIGN_S:
            found.append(
                (
                    ("traffic", "arrival", "mean_rate_per_s" if diurnal else "rate_per_s"),
                    f"expected a campaign of at most {MAX_CAMPAIGN_S / 86_400:.0f} days "
                    f"(sample_size.requests_total / rate), found {plan.sample_size.requests_total:,} "
                    f"requests at {rate:g}/s = {seconds / 86_400:,.0f} days",
                )
            )
    return found
