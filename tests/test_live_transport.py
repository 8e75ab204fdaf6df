"""The live arms' HTTP transport (arms/_transport.py) against real HTTP servers on 127.0.0.1.

No mocks: a small uvicorn/starlette app in a thread, and an instrumented HTTP/1.1 server on
asyncio streams (in the test's own event loop) where a test needs to count connections, hold a
request open or misbehave at the socket level. Assertions are on counts and ordering; the few
sleeps only set up state (let a waiter try, let a keep-alive expire), and every wait for the
server to reach a state is bounded so that a broken pool fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from functools import cache
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from arms._transport import LeanConnectionPool, LeanTransport
from experiment.serve import ServerThread

GUARD_S = 5.0  # upper bound on any wait for a state; never reached when the pool is correct


@cache
def _ssl() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def lean_client(base_url: str, *, max_connections: int = 8, max_keepalive: int | None = None,
                keepalive_expiry: float | None = 30.0,
                timeout: httpx.Timeout | None = None) -> tuple[httpx.AsyncClient, LeanConnectionPool]:
    """An httpx client over :class:`LeanTransport`, as arms/_openai.py builds it, and its pool."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive,
                          keepalive_expiry=keepalive_expiry)
    transport = LeanTransport(ssl_context=_ssl(), limits=limits,
                              socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    pool = transport._pool
    assert isinstance(pool, LeanConnectionPool)
    client = httpx.AsyncClient(transport=transport, base_url=base_url,
                               timeout=timeout or httpx.Timeout(None))
    return client, pool


def idle_count(pool: LeanConnectionPool) -> int:
    return sum(len(stack) for stack in pool._idle.values())


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30.0))


async def until(cond: Callable[[], bool], what: str) -> None:
    """Wait (bounded by GUARD_S) until ``cond()`` holds."""
    try:
        async with asyncio.timeout(GUARD_S):
            while not cond():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"never reached: {what}") from None


async def guarded(aw: Awaitable[httpx.Response], what: str) -> httpx.Response:
    """Await a request that must complete (a leaked slot would make it wait forever)."""
    try:
        async with asyncio.timeout(GUARD_S):
            return await aw
    except TimeoutError:
        raise AssertionError(f"request never completed: {what}") from None


class RawServer:
    """An instrumented HTTP/1.1 server on asyncio streams (GET only, keep-alive by default).

    Paths: ``/ok``; ``/hold/NAME`` (recorded in :attr:`arrivals`, answered once :meth:`release`
    is called for NAME, or dropped if the client hangs up first); ``/close-after`` (answered with keep-alive headers, then the server
    closes the connection); ``/stream`` (chunked: one chunk, then nothing more until the client
    goes away); ``/stream-full`` (a complete chunked body of three chunks); ``/conn-close``
    (answered with ``Connection: close``); ``/drop`` (closed without an answer);
    ``/truncated`` (closed after 3 of the 10 bytes its Content-Length announces).
    """

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.peers: list[int] = []        # client port per accepted connection
        self.arrivals: list[str] = []     # NAME per /hold/NAME request, in arrival order
        self.in_flight = 0
        self.max_in_flight = 0
        self._gates: dict[str, asyncio.Event] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def release(self, name: str) -> None:
        self._gate(name).set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # the client (closed first) leaves no connection open behind it
            await until(lambda: self.closed == self.opened, "every connection closed")
        for gate in self._gates.values():
            gate.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.peers.append(writer.get_extra_info("peername")[1])
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                path = head.split(b" ", 2)[1].decode()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    keep = await self._respond(path, reader, writer)
                finally:
                    self.in_flight -= 1
                if not keep:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self.closed += 1

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, body: bytes) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async def _respond(self, path: str, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        if path.startswith("/hold/"):
            name = path.removeprefix("/hold/")
            self.arrivals.append(name)
            gate = asyncio.create_task(self._gate(name).wait())
            gone = asyncio.create_task(reader.read(1))  # b"" if the client hangs up first
            await asyncio.wait([gate, gone], return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                gate.cancel()
                return False
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone  # the reader is free again before the next readuntil
            await self._send(writer, name.encode())
            return True
        if path == "/conn-close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            return False
        if path == "/drop":
            return False
        if path == "/truncated":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
            return False
        if path == "/close-after":
            await self._send(writer, b"bye")
            return False
        if path in ("/stream", "/stream-full"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            if path == "/stream":
                await reader.read(1)  # b"" once the client closes the connection
                return False
            writer.write(b"6\r\nsecond\r\n5\r\nthird\r\n0\r\n\r\n")
            await writer.drain()
            return True
        await self._send(writer, b"ok")
        return True


def test_sequential_requests_reuse_one_idle_connection() -> None:
    """Sequential requests to a uvicorn server all travel over one kept-alive connection."""
    async def port(request: Request) -> PlainTextResponse:
        assert request.client is not None
        return PlainTextResponse(str(request.client.port))

    server = ServerThread(Starlette(routes=[Route("/port", port)])).start()
    try:
        async def go() -> None:
            client, pool = lean_client(f"http://127.0.0.1:{server.port}")
            async with client:
                ports = [(await client.get("/port")).text for _ in range(6)]
                assert len(set(ports)) == 1, ports
                assert idle_count(pool) == 1
                assert len(pool._open) == 1
        run(go)
    finally:
        server.stop()


def test_sequential_requests_open_one_server_side_connection() -> None:
    """Server-side, sequential requests are served on a single accepted connection."""
    async def go() -> None:
        async with RawServer() as srv:
            client, _ = lean_client(srv.base_url)
            async with client:
                for _ in range(5):
                    assert (await client.get("/ok")).text == "ok"
            assert srv.opened == 1

    run(go)


def test_max_connections_bounds_requests_in_flight() -> None:
    """With max_connections=2 a third request waits until one finishes, then reuses its connection."""
    async def go() -> None:
        async with RawServer() as srv:
            client, _ = lean_client(srv.base_url, max_connections=2)
            async with client:
                tasks = {name: asyncio.create_task(client.get(f"/hold/{name}")) for name in "abc"}
                await until(lambda: len(srv.arrivals) == 2, "two requests at the server")
                await asyncio.sleep(0.05)  # give the third request every chance to get through
                assert sorted(srv.arrivals) == ["a", "b"]
                assert not tasks["c"].done()
                srv.release("a")
                assert (await guarded(tasks["a"], "a")).text == "a"
                await until(lambda: len(srv.arrivals) == 3, "the third request at the server")
                assert srv.arrivals[2] == "c"
                srv.release("b")
                srv.release("c")
                assert (await guarded(tasks["c"], "c")).text == "c"
                await guarded(tasks["b"], "b")
            assert srv.max_in_flight == 2
            assert srv.opened == 2  # the slot a freed came with a's idle connection

    run(go)


def test_max_keepalive_connections_caps_idle_connections() -> None:
    """After three concurrent requests with max_keepalive_connections=1 only one connection is kept."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=3, max_keepalive=1)
            async with client:
                tasks = [asyncio.create_task(client.get(f"/hold/{n}")) for n in "abc"]
                await until(lambda: len(srv.arrivals) == 3, "three requests at the server")
                for name in "abc":
                    srv.release(name)
                await guarded(asyncio.gather(*tasks), "the three requests")  # type: ignore[arg-type]
                assert srv.opened == 3
                assert idle_count(pool) == 1
                assert len(pool._open) == 1
                await until(lambda: srv.closed == 2, "the two surplus connections closed")
                for _ in range(3):
                    await client.get("/ok")
                assert srv.opened == 3  # the kept connection served them

    run(go)


def test_idle_connection_closed_by_server_is_not_reused() -> None:
    """An idle connection the server has closed is dropped and the next request succeeds on a new one."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                assert (await client.get("/close-after")).text == "bye"
                (stale,) = [c for stack in pool._idle.values() for c in stack]
                await until(lambda: srv.closed == 1, "the server closed its side")
                await until(stale.has_expired, "the client socket saw the server's FIN")
                assert (await guarded(client.get("/ok"), "after the close")).text == "ok"
                assert srv.opened == 2
                assert stale not in pool._open
                assert (await client.get("/ok")).text == "ok"
                assert srv.opened == 2

    run(go)


def test_keepalive_expiry_retires_old_idle_connections() -> None:
    """An idle connection older than keepalive_expiry is closed and replaced by a new one."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, keepalive_expiry=0.05)
            async with client:
                await client.get("/ok")
                (old,) = [c for stack in pool._idle.values() for c in stack]
                await asyncio.sleep(0.1)  # past the expiry
                await client.get("/ok")
                assert srv.opened == 2
                assert old not in pool._open
                await until(lambda: srv.closed == 1, "the expired connection closed")
                assert srv.peers[0] != srv.peers[1]

    run(go)


def test_request_cancelled_waiting_for_headers_releases_its_slot() -> None:
    """A request cancelled while awaiting its response frees its slot and closes its connection."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await client.get("/hold/never")
                assert (await guarded(client.get("/ok"), "after the cancel")).text == "ok"
                assert (await guarded(client.get("/ok"), "again")).text == "ok"
                await until(lambda: srv.closed == 1, "the cancelled request's connection closed")
                assert srv.opened == 2
                assert len(pool._open) == 1

    run(go)


def test_request_cancelled_waiting_for_a_slot_releases_nothing_it_did_not_hold() -> None:
    """A request cancelled while queued for a slot leaves the pool's capacity intact."""
    async def go() -> None:
        async with RawServer() as srv:
            client, _ = lean_client(srv.base_url, max_connections=1)
            async with client:
                first = asyncio.create_task(client.get("/hold/first"))
                await until(lambda: srv.arrivals == ["first"], "the first request at the server")
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await client.get("/hold/queued")
                assert srv.arrivals == ["first"]
                srv.release("first")
                assert (await guarded(first, "first")).text == "first"
                assert (await guarded(client.get("/ok"), "after the cancel")).text == "ok"
                # Still one slot, not two: a second holder waits behind a first.
                a = asyncio.create_task(client.get("/hold/a"))
                b = asyncio.create_task(client.get("/hold/b"))
                await until(lambda: len(srv.arrivals) == 2, "one of a, b at the server")
                await asyncio.sleep(0.05)
                assert len(srv.arrivals) == 2
                srv.release("a")
                srv.release("b")
                await guarded(asyncio.gather(a, b), "a and b")  # type: ignore[arg-type]
                assert srv.max_in_flight == 1
            assert srv.opened == 1

    run(go)


def test_request_cancelled_mid_body_releases_its_slot() -> None:
    """A request cancelled while reading its body frees its slot and its half-read connection closes."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await client.get("/stream")
                assert (await guarded(client.get("/ok"), "after the cancel")).text == "ok"
                await until(lambda: srv.closed == 1, "the half-read connection closed")
                assert srv.opened == 2
                assert len(pool._open) == 1

    run(go)


def test_pool_timeout_surfaces_as_httpx_pool_timeout() -> None:
    """Waiting longer than the pool timeout for a slot raises httpx.PoolTimeout."""
    async def go() -> None:
        async with RawServer() as srv:
            client, _ = lean_client(srv.base_url, max_connections=1,
                                    timeout=httpx.Timeout(None, pool=0.05))
            async with client:
                first = asyncio.create_task(client.get("/hold/first"))
                await until(lambda: srv.arrivals == ["first"], "the first request at the server")
                with pytest.raises(httpx.PoolTimeout):
                    await client.get("/ok")
                srv.release("first")
                await guarded(first, "first")
                assert (await guarded(client.get("/ok"), "after the timeout")).text == "ok"

    run(go)


def test_connection_refused_raises_httpx_connect_error() -> None:
    """A refused connection raises httpx.ConnectError and gives its slot back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nothing listens here once the socket is closed

    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                for _ in range(3):
                    with pytest.raises(httpx.ConnectError):
                        await guarded(client.get(f"http://127.0.0.1:{dead_port}/ok"), "refused")
                assert (await guarded(client.get("/ok"), "after the refusals")).text == "ok"
                assert len(pool._open) == 1

    run(go)


def test_stream_closed_early_releases_the_connection() -> None:
    """A streamed response closed before its end frees the slot; its connection is closed, not reused."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                async with client.stream("GET", "/stream") as response:
                    async for chunk in response.aiter_raw():
                        assert chunk == b"first"
                        break
                assert (await guarded(client.get("/ok"), "after the early close")).text == "ok"
                await until(lambda: srv.closed == 1, "the abandoned stream's connection closed")
                assert srv.opened == 2
                assert len(pool._open) == 1

    run(go)


def test_stream_read_to_the_end_returns_the_connection_for_reuse() -> None:
    """A streamed response read to its end puts its connection back in the pool for the next request."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                async with client.stream("GET", "/stream-full") as response:
                    assert await response.aread() == b"firstsecondthird"
                assert idle_count(pool) == 1
                assert (await guarded(client.get("/ok"), "after the stream")).text == "ok"
            assert srv.opened == 1

    run(go)


def test_connection_close_reply_is_not_kept() -> None:
    """A reply with Connection: close leaves no idle connection and the next request opens a new one."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                assert (await client.get("/conn-close")).text == "ok"
                assert idle_count(pool) == 0
                assert (await guarded(client.get("/ok"), "after the close")).text == "ok"
            assert srv.opened == 2

    run(go)


@pytest.mark.parametrize("path", ["/drop", "/truncated"])
def test_server_hanging_up_mid_request_raises_httpx_error_and_frees_the_slot(path: str) -> None:
    """A server closing before its reply is complete raises httpx.RemoteProtocolError; the slot is freed."""
    async def go() -> None:
        async with RawServer() as srv:
            client, pool = lean_client(srv.base_url, max_connections=1)
            async with client:
                with pytest.raises(httpx.RemoteProtocolError):
                    await guarded(client.get(path), path)
                assert (await guarded(client.get("/ok"), "after the hang-up")).text == "ok"
                assert len(pool._open) == 1
            assert srv.opened == 2

    run(go)
