"""The HTTP connection pool of a live campaign: one shared aiohttp session per base URL.

Each base URL (a server) has its own limit of requests in flight, the plan's
``backend.max_in_flight`` (default :data:`~prereg.backends.DEFAULT_MAX_IN_FLIGHT`): it is the
aiohttp connector's limit, so a request beyond it waits inside aiohttp for a connection. That wait
must not hide: every request carries a :class:`WireMark`, and aiohttp's ``on_request_headers_sent``
trace signal stamps it when the request is actually written to the socket. The campaign stores
that time (``wire_s``) and measures lateness from it, so a full pool shows as lateness and
``connect_wait_ms``, never as an on-time send followed by a slow server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp

from prereg.backends import DEFAULT_MAX_IN_FLIGHT

__all__ = ["KEEPALIVE_S", "ClientPool", "WireMark"]

#: How long an idle kept-alive connection is kept (s). Below uvicorn's 5 s (vLLM, SGLang and
#: ``routetrial serve`` run on it): a POST sent on a connection the server is closing at that
#: moment fails, and that failure would be the harness's, not the server's.
KEEPALIVE_S = 4.0


class WireMark:
    """Stamped with ``clock()`` when aiohttp has written the request's headers to the socket."""

    __slots__ = ("clock", "wire_s")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.wire_s: float | None = None


async def _on_headers_sent(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: object) -> None:
    mark = ctx.trace_request_ctx
    if isinstance(mark, WireMark) and mark.wire_s is None:
        mark.wire_s = mark.clock()


def _wire_trace() -> aiohttp.TraceConfig:
    # One receiver only: aiohttp skips its other trace signals' work when they have none.
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    return trace


class ClientPool:
    """One shared ``aiohttp.ClientSession`` per base URL, each with its own limit in flight.

    Why aiohttp: the harness's own time per call is part of every latency it reports, and with
    its C HTTP parser and O(1) connection reuse that time is about half of httpx + httpcore +
    h11's (1.2 against 2.4-2.7 ms for sequential calls; docs/live.md, Performance).

    ``max_in_flight`` is the limit of a base URL whose backends state none. Sessions are made
    inside the event loop that uses them (:meth:`warm_up`, or the first request); constructing
    the pool and the chats that use it needs no loop, so a plan's arms can be checked before a
    run starts.
    """

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.max_in_flight = max_in_flight
        self._limits: dict[str, int] = {}
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def register(self, base_url: str, max_in_flight: int | None = None) -> str:
        """Note ``base_url`` and the limit its backend states (its session is made in the loop)."""
        key = base_url.rstrip("/")
        if max_in_flight is not None:
            self._limits[key] = max_in_flight
        else:
            self._limits.setdefault(key, self.max_in_flight)
        return key

    def limit(self, base_url: str) -> int:
        """Requests in flight allowed to ``base_url`` at once."""
        return self._limits.get(base_url.rstrip("/"), self.max_in_flight)

    def client(self, base_url: str) -> aiohttp.ClientSession:
        """The shared session for ``base_url``, made on first use (in the running loop)."""
        key = base_url.rstrip("/")
        found = self._sessions.get(key)
        if found is None or found.closed:
            self.register(key)
            # Timeouts are enforced per attempt with asyncio.timeout, so one deadline covers
            # connect, pool wait, headers and the whole stream. aiohttp sets TCP_NODELAY on
            # every connection: small requests must not wait for Nagle's algorithm.
            connector = aiohttp.TCPConnector(
                limit=self._limits[key], limit_per_host=0, keepalive_timeout=KEEPALIVE_S
            )
            found = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                trace_configs=[_wire_trace()],
            )
            self._sessions[key] = found
        return found

    async def warm_up(self, timeout_s: float = 2.0, connections: int = 1) -> dict[str, str]:
        """``connections`` concurrent ``GET {base_url}/models`` per base URL; returns the failures.

        Run before the campaign's clock starts. The first request through a new session pays
        one-off costs (lazy imports in the HTTP stack, the TCP / TLS handshake) that would
        otherwise land on the first scheduled requests and delay the dispatcher; concurrent
        requests leave that many connections open and kept alive, so the first burst of the
        schedule does not pay a handshake per request either. Every OpenAI-compatible server
        answers ``/models``. The result maps each base URL none of whose requests succeeded to
        the first failure's text: a server that is down or answers errors before the run starts
        is reported (the run still starts: its trials will record the failures as data).
        """
        failed: dict[str, list[str]] = {}

        async def one(base: str) -> None:
            try:
                async with asyncio.timeout(timeout_s):
                    async with self.client(base).get(f"{base}/models") as response:
                        await response.read()
                        if response.status >= 300:
                            failed.setdefault(base, []).append(f"HTTP {response.status}")
                            return
            except TimeoutError:
                failed.setdefault(base, []).append(f"no answer within {timeout_s:g} s")
                return
            except aiohttp.ClientError as exc:
                failed.setdefault(base, []).append(type(exc).__name__)
                return
            failed.setdefault(base, []).append("")

        bases = list(self._limits)
        await asyncio.gather(
            *(one(base) for base in bases for _ in range(max(1, min(connections, self.limit(base)))))
        )
        out: dict[str, str] = {}
        for base, results in failed.items():
            if "" not in results:
                out[base] = f"GET {base}/models failed {len(results)} of {len(results)} times ({results[0]})"
        return out

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
