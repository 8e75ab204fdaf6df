"""The plan's traffic, randomization and declared size: how requests arrive and are allocated.

:mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from prereg._schema_numbers import (
    MAX_CASES,
    MAX_DURATION_MS,
    MAX_PERIOD_S,
    MAX_RATE_PER_S,
    MAX_RATIO,
    MAX_REPLAYS,
    MAX_REQUESTS,
    MAX_SEED,
    MIN_RATE_PER_S,
    Finite,
    Sha256,
    Spec,
    Whole,
)

__all__ = [
    "ArrivalSpec",
    "ConstantArrival",
    "DiurnalArrival",
    "GammaArrival",
    "PoissonArrival",
    "RandomizationSpec",
    "SampleSizeSpec",
    "TraceArrival",
    "TrafficSpec",
]


class PoissonArrival(Spec):
    """Exponential inter-arrival times at ``rate_per_s``."""

    kind: Literal["poisson"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)


class ConstantArrival(Spec):
    """Evenly spaced arrivals at ``rate_per_s``."""

    kind: Literal["constant"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)


class GammaArrival(Spec):
    """Gamma inter-arrival times; ``burstiness`` is their coefficient of variation (1 = Poisson)."""

    kind: Literal["gamma"]
    rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)
    burstiness: Finite = Field(gt=0.0, le=100.0)


class DiurnalArrival(Spec):
    """A non-homogeneous Poisson process whose rate follows a sinusoid over ``period_s``."""

    kind: Literal["diurnal"]
    mean_rate_per_s: Finite = Field(ge=MIN_RATE_PER_S, le=MAX_RATE_PER_S)
    peak_to_trough: Finite = Field(default=3.0, ge=1.0, le=1_000.0)
    peak_at_s: Finite = Field(default=14 * 3600.0, ge=0.0, le=MAX_PERIOD_S)
    period_s: Finite = Field(default=86_400.0, ge=1.0, le=MAX_PERIOD_S)


class TraceArrival(Spec):
    """Replay of a file of arrival timestamps (seconds, one per line, sorted); ``path`` is
    relative to the plan file."""

    kind: Literal["trace"]
    path: str = Field(min_length=1)
    sha256: Sha256 | None = None


ArrivalSpec = Annotated[
    PoissonArrival | ConstantArrival | GammaArrival | DiurnalArrival | TraceArrival,
    Field(discriminator="kind"),
]


class TrafficSpec(Spec):
    """The synthetic request stream."""

    arrival: ArrivalSpec
    replays_per_case: Whole = Field(default=5, ge=1, le=MAX_REPLAYS)
    max_lateness_p99_ms: Finite = Field(
        default=10.0,
        gt=0.0,
        le=MAX_DURATION_MS,
        description="Live runs are marked invalid above this dispatch lateness",
    )


class RandomizationSpec(Spec):
    """Requests are the unit of randomization, blocked by case; one seed derives everything."""

    unit: Literal["request"] = "request"
    block: Literal["case"] = "case"
    ratio: dict[str, Annotated[Whole, Field(le=MAX_RATIO)]] | None = Field(
        default=None, description="arm id -> weight; equal if absent"
    )
    seed: Whole = Field(ge=0, le=MAX_SEED)


class SampleSizeSpec(Spec):
    """The declared size, checked against the corpus, the replays and the allocation ratio."""

    unique_cases: Whole = Field(ge=1, le=MAX_CASES)
    requests_total: Whole = Field(ge=1, le=MAX_REQUESTS)
