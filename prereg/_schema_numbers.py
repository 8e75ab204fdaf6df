"""The plan schema's building blocks: the strict number types, their limits and the base model.

Every number of a plan is strict (no "5" or true where a number belongs; an integer is a number, a
float is not an integer) and finite (no .inf, no NaN), and has an upper limit that this machine can
run: a limit the schema states, so `check` refuses what `run` would crash or hang on.
:mod:`prereg.schema` re-exports the public names.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_CASES",
    "MAX_CONCURRENCY",
    "MAX_DURATION_MS",
    "MAX_PERIOD_S",
    "MAX_PRICE_PER_1K",
    "MAX_RATE_PER_S",
    "MAX_RATIO",
    "MAX_REPLAYS",
    "MAX_REQUESTS",
    "MAX_RESAMPLES",
    "MAX_SEED",
    "MAX_TIMEOUT_MS",
    "MAX_TOKENS",
    "MIN_RATE_PER_S",
    "Finite",
    "Identifier",
    "Probability",
    "Sha256",
    "Spec",
    "Whole",
]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

#: A real number written as a number: finite, never a string or a boolean.
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: A whole number written as one: never a string, a boolean or a float.
Whole = Annotated[int, Field(strict=True)]
Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1.0)]

#: Longest latency, RTT, backoff or lateness a plan may state (one hour).
MAX_DURATION_MS = 3_600_000.0
#: Longest request timeout (the design diagnosis uses 10^12 ms as "never times out").
MAX_TIMEOUT_MS = 1e12
#: Fastest and slowest arrival rates (requests per second).
MAX_RATE_PER_S = 1_000_000.0
MIN_RATE_PER_S = 1e-6
#: Most requests in one campaign (every trial is a row of the store).
MAX_REQUESTS = 10_000_000
#: Most unique cases in a corpus and replays of one case.
MAX_CASES = 1_000_000
MAX_REPLAYS = 100_000
#: Most bootstrap resamples (each one resamples every case).
MAX_RESAMPLES = 100_000
#: Seeds are 63-bit (NumPy seeds and the store's BIGINT).
MAX_SEED = 2**63 - 1
#: Most requests served at once by a simulated backend.
MAX_CONCURRENCY = 10_000
#: Most tokens: a request's max_tokens and a mean token count.
MAX_TOKENS = 1_000_000
#: Highest price in US dollars per 1,000 tokens.
MAX_PRICE_PER_1K = 1_000.0
#: Longest period or peak time of a diurnal arrival process (about 31.7 years).
MAX_PERIOD_S = 1e9
#: Largest allocation weight of one arm.
MAX_RATIO = 1_000


class Spec(BaseModel):
    """The base of every plan model: unknown keys refused, instances frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
