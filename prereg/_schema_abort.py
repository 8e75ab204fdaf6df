"""Pre-registered abort rules: when operational failure stops an arm or the whole run.

:mod:`prereg._schema_analysis` holds it as ``analysis.abort``; :mod:`prereg.schema` re-exports it.
"""

from __future__ import annotations

from pydantic import Field

from prereg._schema_numbers import Finite, Probability, Spec, Whole

__all__ = ["AbortSpec"]


class AbortSpec(Spec):
    """What stops an arm or the run before its schedule ends, stated before the data exist.

    ``max_failure_rate``: an arm whose share of failed trials (any status but ``ok``) exceeds it,
    once it has at least ``min_trials`` stored trials, is stopped: its remaining requests are
    stored unsent (status ``not_sent``, error ``aborted: ...``) and the other arms go on.
    ``max_invalid_dispatch_s`` (live runs): when the dispatch lateness p99 of the sends in the
    last 10 s has stayed above ``traffic.max_lateness_p99_ms`` for this long, the whole run is
    stopped the same way (its latencies would measure the harness). Both are recorded in the
    store, the flow and the report.
    """

    max_failure_rate: Probability | None = Field(
        default=None, description="Failed-trial share that stops an arm"
    )
    min_trials: Whole = Field(
        default=30, ge=1, description="Stored trials of an arm before its failure rate counts"
    )
    max_invalid_dispatch_s: Finite | None = Field(
        default=None, gt=0.0, description="Seconds of invalid dispatch that stop a live run"
    )
