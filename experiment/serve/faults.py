"""Fault injection for the test server: what can go wrong with a request, and how often.

Drawn per request, before any work: HTTP 500, HTTP 429 with ``Retry-After``, a garbage body (not
JSON / not SSE) and empty content are exclusive (one uniform draw picks at most one); a slow
response (``slow_ms`` added to the service time) is drawn independently. The draws come from one
generator seeded by :attr:`FaultSpec.seed`, so a server started twice injects the same faults into
the same sequence of requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from prereg.errors import InputError

__all__ = ["Fault", "FaultSpec", "draw_fault"]

Fault = Literal["http_500", "http_429", "garbage", "empty"]


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Injected faults: per-request probabilities (the first four are exclusive) and their settings."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    garbage_rate: float = 0.0
    empty_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    retry_after_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.rate_limit_rate, self.garbage_rate, self.empty_rate, self.slow_rate)
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates[:4]) > 1.0:
            raise InputError(
                f"fault rates: expected each in [0, 1] and error+rate-limit+garbage+empty <= 1, found {rates}"
            )
        if self.slow_ms < 0.0 or self.retry_after_s < 0.0:
            raise InputError(
                f"slow_ms / retry_after_s: expected >= 0, found {self.slow_ms}, {self.retry_after_s}"
            )


def draw_fault(faults: FaultSpec, rng: np.random.Generator) -> tuple[Fault | None, bool]:
    """The fault of one request (None: none) and whether it is slowed; two uniforms from ``rng``."""
    u, v = rng.random(2).tolist()
    fault: Fault | None = None
    for name, rate in (
        ("http_500", faults.error_rate),
        ("http_429", faults.rate_limit_rate),
        ("garbage", faults.garbage_rate),
        ("empty", faults.empty_rate),
    ):
        if u < rate:
            fault = name  # type: ignore[assignment]
            break
        u -= rate
    return fault, v < faults.slow_rate
