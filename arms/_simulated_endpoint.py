"""One simulated backend as a client sees it: queue, service, round trip, timeout, retries, cost.

An :class:`Endpoint` joins a behaviour (what the backend answers and how long a slot is busy) to
the :class:`~arms._server.FifoServer` that serves it and to the client settings of the plan
(timeout, retry policy, prices). Everything a request needs is a plain float, tuple or bound method
here, precomputed from the plan, so no pydantic object is touched per request.

One attempt takes ``wait + service + network_rtt`` (the queue wait at the server, the service time,
the round trip). When that exceeds the timeout the client gives up at exactly ``timeout_ms``
(status ``timeout``) while the server still serves the request (see :mod:`arms._server`). A failed
attempt whose status the retry policy names is retried, up to ``max_attempts`` attempts in all,
the wait before attempt ``k+1`` being ``backoff_ms * 2**(k-1)`` (as the live client waits when no
``Retry-After`` applies); the waits and every attempt count in the latency.

Tokens and cost: an attempt that got an answer, or that timed out (the server generated it all the
same, and hosted APIs bill a completed generation), costs the spec's mean input and output tokens
at the plan's prices per 1,000 tokens; an ``http_error`` attempt costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, Generic, TypeVar

import simpy

from arms._server import FifoServer
from prereg.records import Case, Status
from prereg.schema import PriceSpec, RetrySpec, TokenSpec

__all__ = ["CallResult", "Endpoint"]

T = TypeVar("T")

#: ``(value, status, latency_ms, attempts, tokens_in, tokens_out, cost_usd, error)`` of one call.
CallResult = tuple[T | None, Status, float, int, int, int, float, str | None]


class Endpoint(Generic[T]):
    """A backend behind a server, called with the plan's timeout and retry policy."""

    __slots__ = (
        "_backoff_ms",
        "_behave",
        "_cost",
        "_errors",
        "_max_attempts",
        "_retry_on",
        "_rtt_ms",
        "_timeout_ms",
        "_tokens_in",
        "_tokens_out",
        "name",
        "server",
    )

    def __init__(
        self,
        name: str,
        behave: Callable[[Case, int], tuple[T | None, Status, float]],
        server: FifoServer,
        *,
        timeout_ms: float,
        network_rtt_ms: float,
        retry: RetrySpec,
        tokens: TokenSpec,
        price: PriceSpec,
        errors: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.server = server
        self._behave = behave
        self._timeout_ms = float(timeout_ms)
        self._rtt_ms = float(network_rtt_ms)
        self._max_attempts = retry.max_attempts
        self._backoff_ms = float(retry.backoff_ms)
        self._retry_on = frozenset(retry.retry_on)
        self._tokens_in = tokens.input
        self._tokens_out = tokens.output
        self._cost = (tokens.input * price.input_per_1k + tokens.output * price.output_per_1k) / 1000.0
        # What a failure's error text says, per status, for a backend that is not a simulated
        # server (``keyword``); the default texts are the simulated server's.
        self._errors = dict(errors or {})

    def attempt(self, case: Case, replay: int, now: float) -> tuple[T | None, Status, float]:
        """Book one attempt sent at ``now``: ``(value, status, elapsed_ms)`` as the client sees it.

        The caller waits ``elapsed_ms`` (in SimPy: ``yield env.timeout(elapsed_ms / 1000)``).
        """
        value, status, service_ms = self._behave(case, replay)
        start = self.server.book(now, service_ms / 1000.0)
        elapsed_ms = (start - now) * 1000.0 + service_ms + self._rtt_ms
        if elapsed_ms > self._timeout_ms:
            return None, "timeout", self._timeout_ms
        return value, status, elapsed_ms

    def ok(self, value: T | None, elapsed_ms: float) -> CallResult[T]:
        """The call result of a first attempt that succeeded."""
        return value, "ok", elapsed_ms, 1, self._tokens_in, self._tokens_out, self._cost, None

    def retry(
        self, env: simpy.Environment, case: Case, replay: int, status: Status, elapsed_ms: float
    ) -> Generator[Any, Any, CallResult[T]]:
        """Continue a call whose first attempt failed with ``status`` after ``elapsed_ms``.

        An arm calls :meth:`attempt` and :meth:`ok` inline for the first attempt and comes here
        (``yield from``) only on a failure: a sub-generator per call would cost more than the
        rest of the arm's bookkeeping.
        """
        latency_ms = elapsed_ms
        attempts = 1
        billed = 0 if status == "http_error" else 1
        value: T | None = None
        while status != "ok":
            if attempts >= self._max_attempts or status not in self._retry_on:
                return (
                    None,
                    status,
                    latency_ms,
                    attempts,
                    billed * self._tokens_in,
                    billed * self._tokens_out,
                    billed * self._cost,
                    self._error(status, attempts),
                )
            backoff_ms = self._backoff_ms * 2 ** (attempts - 1)
            if backoff_ms > 0.0:
                yield env.timeout(backoff_ms / 1000.0)
                latency_ms += backoff_ms
            attempts += 1
            value, status, elapsed_ms = self.attempt(case, replay, env.now)
            if status != "http_error":
                billed += 1
            yield env.timeout(elapsed_ms / 1000.0)
            latency_ms += elapsed_ms
        return (
            value,
            status,
            latency_ms,
            attempts,
            billed * self._tokens_in,
            billed * self._tokens_out,
            billed * self._cost,
            None,
        )

    def _error(self, status: Status, attempts: int) -> str:
        if status in self._errors:
            return f"{self._errors[status]} (attempt {attempts})"
        what = {
            "timeout": f"no answer within {self._timeout_ms:g} ms",
            "http_error": "HTTP 500 from the server",
            "unparseable": "the answer could not be parsed",
        }.get(status, status)
        return f"simulated {self.name}: {what} (attempt {attempts})"
