"""The plan's traffic, randomization and declared size: how requests arrive and are allocated.

:mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

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
    "WarmupSpec",
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


class WarmupSpec(Spec):
    """The campaign's first stretch, sent and stored as usual but left out of the analysis.

    Exactly one of ``seconds`` (trials scheduled before that many seconds) or ``requests`` (the
    first that many trials of the schedule, by ``seq``). Both go by the schedule, never by when a
    trial completed: a slow answer does not move a trial into or out of the warm-up.
    """

    seconds: Finite | None = Field(default=None, gt=0.0, le=MAX_PERIOD_S)
    requests: Whole | None = Field(default=None, ge=1, le=MAX_REQUESTS)

    @model_validator(mode="after")
    def _exactly_one(self) -> WarmupSpec:
        if (self.seconds is None) == (self.requests is None):
            found = "both" if self.seconds is not None else "neither"
            raise ValueError(f"expected exactly one of seconds or requests, found {found}")
        return self


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
    warmup: WarmupSpec | None = Field(default=None, description="Trials left out of the analysis")

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        # No warm-up is dumped as no key, as before the field existed: a plan without one keeps
        # its canonical hash (and so its random streams and its frozen lock).
        data = handler(self)
        if isinstance(data, dict) and data.get("warmup", 0) is None:
            del data["warmup"]
        return data


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
