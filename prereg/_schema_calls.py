"""What every call to a model is sent with: sampling settings and the retry rule.

Shared by a downstream model, a router arm's classifier and a router service arm; re-exported by
:mod:`prereg.schema`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prereg._schema_numbers import MAX_DURATION_MS, MAX_TOKENS, Finite, Spec, Whole

__all__ = ["DecodingSpec", "RetrySpec"]


class DecodingSpec(Spec):
    """Sampling settings sent with each request."""

    temperature: Finite = Field(default=0.0, ge=0.0, le=2.0)
    top_p: Finite = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: Whole = Field(default=16, ge=1, le=MAX_TOKENS)


class RetrySpec(Spec):
    """Which failures are retried and how; retry time counts in the latency."""

    max_attempts: Whole = Field(default=1, ge=1, le=10)
    backoff_ms: Finite = Field(default=250.0, ge=0.0, le=MAX_DURATION_MS)
    retry_on: tuple[Literal["timeout", "http_error", "rate_limited", "connection_error"], ...] = (
        "rate_limited",
        "connection_error",
    )
