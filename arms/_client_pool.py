"""The HTTP connection pool of a live campaign: one shared aiohttp session per base URL."""

from __future__ import annotations

import asyncio

import aiohttp

__all__ = ["KEEPALIVE_S", "ClientPool"]

#: How long an idle kept-alive connection is kept (s). Below uvicorn's 5 s (vLLM, SGLang and
#: ``routetrial serve`` run on it): a POST sent on a connection the server is closing at that
#: moment fails, and that failure would be the harness's, not the server's.
KEEPALIVE_S = 4.0


class ClientPool:
    """One shared ``aiohttp.ClientSession`` per base URL, its connection pool sized for the load.

    Why aiohttp: the harness's own time per call is part of every latency it reports, and with
    its C HTTP parser and O(1) connection reuse that time is about half of httpx + httpcore +
    h11's (1.2 against 2.4-2.7 ms for sequential calls; docs/live.md, Performance).

    ``max_connections`` should cover the expected number of requests in flight (arrival rate x
    the longest timeout); beyond it requests wait for a connection, and since latency is measured
    from the scheduled send time that wait is counted, not hidden. Sessions are made inside the
    event loop that uses them (:meth:`warm_up`, or the first request); constructing the pool and
    the chats that use it needs no loop, so a plan's arms can be checked before a run starts.
    """

    def __init__(self, max_connections: int = 256) -> None:
        self.max_connections = max_connections
        self._bases: list[str] = []
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def register(self, base_url: str) -> str:
        """Note ``base_url`` (its session is made in the loop); returns its key."""
        key = base_url.rstrip("/")
        if key not in self._bases:
            self._bases.append(key)
        return key

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
                limit=self.max_connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_S
            )
            found = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None), raise_for_status=False
            )
            self._sessions[key] = found
        return found

    async def warm_up(self, timeout_s: float = 2.0, connections: int = 1) -> None:
        """``connections`` concurrent ``GET {base_url}/models`` per base URL, errors ignored.

        Run before the campaign's clock starts. The first request through a new session pays
        one-off costs (lazy imports in the HTTP stack, the TCP / TLS handshake) that would
        otherwise land on the first scheduled requests and delay the dispatcher; concurrent
        requests leave that many connections open and kept alive, so the first burst of the
        schedule does not pay a handshake per request either. Every OpenAI-compatible server
        answers ``/models``.
        """

        async def one(base: str) -> None:
            try:
                async with asyncio.timeout(timeout_s):
                    async with self.client(base).get(f"{base}/models") as response:
                        await response.read()
            except (TimeoutError, aiohttp.ClientError):
                pass

        n = max(1, min(connections, self.max_connections))
        await asyncio.gather(*(one(base) for base in self._bases for _ in range(n)))

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
