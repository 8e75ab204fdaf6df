"""The live arms' HTTP client (``ClientPool`` + ``OpenAIChat``, on aiohttp) against real servers.

No mocks: an instrumented HTTP/1.1 server on asyncio streams, in the test's own event loop, that
answers chat completions, counts the connections it accepts and the requests it holds at once,
and misbehaves at the socket level on request. What a request gets is chosen by its trial tag
(``x-request-id``, less a retry's ``#n``), so every call goes through the public path, ``OpenAIChat.complete``.
Assertions are on counts, statuses and ordering; the few sleeps only set up state (let a waiter
try, let the client see a FIN), and every wait is bounded so that a leaked slot fails a test
instead of hanging it. Refused ports, bodies cut short and HTTP fault statuses are covered by
tests/test_live_openai.py and tests/test_live_properties.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from _live_plans import live_plan

from arms._openai import REQUEST_ID_HEADER, ChatResult, ClientPool, OpenAIChat
from prereg.schema import OpenAIBackendSpec

GUARD_S = 5.0  # upper bound on any wait for a state; never reached when the client is correct
MESSAGES = [{"role": "user", "content": "def f(): pass"}]
REPLY = json.dumps(
    {"choices": [{"message": {"content": "code"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
).encode()
SSE = (
    b'data: {"choices": [{"delta": {"content": "co"}}]}\n\n'
    b'data: {"choices": [{"delta": {"content": "de"}}]}\n\n'
    b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}\n\n'
    b"data: [DONE]\n\n"
)


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


async def guarded(aw: Coroutine[Any, Any, ChatResult] | asyncio.Task[ChatResult], what: str) -> ChatResult:
    """Await a call that must complete (a leaked slot would make it wait forever)."""
    try:
        async with asyncio.timeout(GUARD_S):
            return await aw
    except TimeoutError:
        raise AssertionError(f"call never completed: {what}") from None


@contextlib.asynccontextmanager
async def pooled(max_connections: int = 256) -> AsyncIterator[ClientPool]:
    """A ClientPool that is closed however the test ends (closing it closes its connections)."""
    pool = ClientPool(max_connections)
    try:
        yield pool
    finally:
        await pool.aclose()


def chat(pool: ClientPool, base_url: str, *, stream: bool = False, timeout_ms: float = 5_000.0) -> OpenAIChat:
    """An OpenAIChat for the plan's small model, as the live arms build it, pointed at ``base_url``."""
    spec = live_plan(base_url, stream=stream, timeout_ms=timeout_ms).models["small"]
    assert isinstance(spec.backend, OpenAIBackendSpec)
    return OpenAIChat(pool, spec.backend, spec.model, spec.decoding, spec.timeout_ms, spec.retry)


async def call(client: OpenAIChat, tag: str = "ok") -> ChatResult:
    return await client.complete(MESSAGES, asyncio.get_running_loop().time, tag=tag)


class RawServer:
    """An instrumented HTTP/1.1 server on asyncio streams (keep-alive by default).

    A GET gets an empty JSON object. A POST (the request body is read in full first) gets what
    its trial tag names: ``ok`` a chat completion (SSE when the body asks for a stream);
    ``hold:NAME`` the same once :meth:`release` is called for NAME (recorded in
    :attr:`arrivals`; dropped if the client hangs up first, so an unreleased NAME holds until
    then); ``close-after`` a completion with keep-alive headers, then the server closes;
    ``conn-close`` a completion with ``Connection: close``; ``drop`` a close without an answer;
    ``mid-headers`` half a status line and header, then a close; ``garbage`` bytes that are not
    HTTP, then a close.
    """

    def __init__(self, sock: socket.socket | None = None) -> None:
        self._sock = sock  # a socket bound before the loop starts, else one is bound on entry
        self.opened = 0
        self.closed = 0
        self.arrivals: list[str] = []  # NAME per hold:NAME request, in arrival order
        self.in_flight = 0
        self.max_in_flight = 0
        self._gates: dict[str, asyncio.Event] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def release(self, name: str) -> None:
        self._gate(name).set()

    async def __aenter__(self) -> RawServer:
        if self._sock is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        else:
            self._server = await asyncio.start_server(self._handle, sock=self._sock)
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
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    if method == "GET":
                        await self._send(writer, b"{}")
                        keep = True
                    else:
                        keep = await self._respond(
                            headers.get(REQUEST_ID_HEADER, "ok").split("#")[0],
                            json.loads(body).get("stream", False),
                            reader,
                            writer,
                        )
                finally:
                    self.in_flight -= 1
                if not keep:
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self.closed += 1

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, body: bytes, *, stream: bool = False, connection: bytes = b"keep-alive"
    ) -> None:
        if stream:  # chunked, one chunk per SSE event, as vLLM sends it
            events = [event + b"\n\n" for event in SSE.split(b"\n\n") if event]
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: %s\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%s" % (connection, chunks)
            )
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: %s\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (connection, len(body), body)
            )
        await writer.drain()

    async def _respond(
        self, tag: str, stream: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if tag.startswith("hold:"):
            name = tag.removeprefix("hold:")
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
        elif tag == "conn-close":
            await self._send(writer, REPLY, stream=stream, connection=b"close")
            return False
        elif tag == "drop":
            return False
        elif tag == "mid-headers":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: appl")
            await writer.drain()
            return False
        elif tag == "garbage":
            writer.write(b"\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n")
            await writer.drain()
            return False
        await self._send(writer, REPLY, stream=stream)
        return tag != "close-after"


@pytest.mark.parametrize("stream", [False, True])
def test_sequential_calls_reuse_one_kept_alive_connection(stream: bool) -> None:
    """Sequential calls, streamed or not, all travel over one connection the server accepted once."""

    async def go() -> None:
        async with RawServer() as srv, pooled() as pool:
            client = chat(pool, srv.base_url, stream=stream)
            for _ in range(5):
                result = await guarded(call(client), "sequential")
                assert (result.status, result.text, result.tokens_in, result.tokens_out) == (
                    "ok",
                    "code",
                    1,
                    1,
                )
            assert srv.opened == 1

    run(go)


def test_warm_up_connection_is_reused_by_the_first_call() -> None:
    """The connection warm_up opens with GET /models is the one the first chat call uses."""

    async def go() -> None:
        async with RawServer() as srv, pooled() as pool:
            client = chat(pool, srv.base_url)
            await pool.warm_up()
            assert srv.opened == 1
            assert (await guarded(call(client), "after warm-up")).status == "ok"
            assert srv.opened == 1

    run(go)


def test_max_connections_bounds_requests_in_flight() -> None:
    """With ClientPool(2) a third concurrent call waits until one finishes, then reuses its connection."""

    async def go() -> None:
        async with RawServer() as srv, pooled(2) as pool:
            client = chat(pool, srv.base_url)
            tasks = {name: asyncio.create_task(call(client, f"hold:{name}")) for name in "abc"}
            await until(lambda: len(srv.arrivals) == 2, "two calls at the server")
            await asyncio.sleep(0.05)  # give the third call every chance to get through
            assert len(srv.arrivals) == 2
            (first, second), (third,) = srv.arrivals, set("abc") - set(srv.arrivals)
            assert not tasks[third].done()
            srv.release(first)
            assert (await guarded(tasks[first], first)).status == "ok"
            await until(lambda: len(srv.arrivals) == 3, "the third call at the server")
            assert srv.arrivals[2] == third
            srv.release(second)
            srv.release(third)
            results = [await guarded(tasks[name], name) for name in "abc"]
            assert [r.status for r in results] == ["ok", "ok", "ok"]
            assert srv.max_in_flight == 2
            assert srv.opened == 2  # the slot the first call freed came with its idle connection

    run(go)


def test_idle_connection_closed_by_server_is_not_reused() -> None:
    """After the server closes an idle kept-alive connection, the next call succeeds on a new one."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url)
            assert (await guarded(call(client, "close-after"), "close-after")).status == "ok"
            await until(lambda: srv.closed == 1, "the server closed its side")
            await asyncio.sleep(0.05)  # let the client's event loop read the FIN
            assert (await guarded(call(client), "after the close")).status == "ok"
            assert (await guarded(call(client), "again")).status == "ok"
            assert srv.opened == 2

    run(go)


@pytest.mark.parametrize("stream", [False, True])
def test_connection_close_reply_is_not_kept(stream: bool) -> None:
    """A reply with Connection: close is read in full and the next call opens a new connection."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url, stream=stream)
            first = await guarded(call(client, "conn-close"), "conn-close")
            assert (first.status, first.text) == ("ok", "code")
            assert (await guarded(call(client), "after the close")).status == "ok"
            assert srv.opened == 2

    run(go)


def test_call_cancelled_awaiting_its_response_frees_its_slot() -> None:
    """A call cancelled while its request is at the server frees its slot; its connection is closed."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url)
            task = asyncio.create_task(call(client, "hold:never"))
            await until(lambda: srv.arrivals == ["never"], "the call at the server")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await guarded(call(client), "after the cancel")).status == "ok"
            assert (await guarded(call(client), "again")).status == "ok"
            await until(lambda: srv.closed == 1, "the cancelled call's connection closed")
            assert srv.opened == 2

    run(go)


def test_call_cancelled_waiting_for_a_slot_frees_nothing_it_did_not_hold() -> None:
    """A call cancelled while queued for the only slot leaves the pool at exactly one slot."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url)
            first = asyncio.create_task(call(client, "hold:first"))
            await until(lambda: srv.arrivals == ["first"], "the first call at the server")
            queued = asyncio.create_task(call(client, "hold:queued"))
            await asyncio.sleep(0.05)  # let the queued call start waiting for the slot
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            srv.release("first")
            assert (await guarded(first, "first")).status == "ok"
            assert (await guarded(call(client), "after the cancel")).status == "ok"
            # Still one slot, not two: a second holder waits behind a first.
            a = asyncio.create_task(call(client, "hold:a"))
            b = asyncio.create_task(call(client, "hold:b"))
            await until(lambda: len(srv.arrivals) == 2, "one of a, b at the server")
            await asyncio.sleep(0.05)
            assert len(srv.arrivals) == 2
            srv.release("a")
            srv.release("b")
            assert [(await guarded(t, "a or b")).status for t in (a, b)] == ["ok", "ok"]
            assert "queued" not in srv.arrivals
            assert srv.max_in_flight == 1
            assert srv.opened == 1

    run(go)


def test_attempt_timeout_is_a_status_and_frees_the_slot() -> None:
    """A server holding the request past timeout_ms gives "timeout", and the next call gets the slot."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            hasty = chat(pool, srv.base_url, timeout_ms=100.0)
            result = await guarded(call(hasty, "hold:never"), "held")
            assert (result.status, result.text, result.attempts) == ("timeout", None, 1)
            assert result.error
            patient = chat(pool, srv.base_url)  # same pool; a loaded machine must not time it out
            assert (await guarded(call(patient), "after the timeout")).status == "ok"
            await until(lambda: srv.closed == 1, "the timed-out call's connection closed")
            assert srv.opened == 2

    run(go)


@pytest.mark.parametrize("tag", ["drop", "mid-headers", "garbage"])
def test_server_that_does_not_deliver_a_reply_gives_connection_error(tag: str) -> None:
    """A close before the reply, a close mid-headers or a reply that is not HTTP: connection_error."""

    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url)
            result = await guarded(call(client, tag), tag)
            assert (result.status, result.text, result.http_status) == ("connection_error", None, None)
            assert result.error
            # The text says what happened, not aiohttp's repr of a half-read response or a
            # status code the server never sent.
            if tag == "mid-headers":
                assert "closed the connection before its reply was complete" in result.error
            if tag == "garbage":
                assert result.error.startswith("the reply is not valid HTTP") and "400" not in result.error
            assert (await guarded(call(client), "after the hang-up")).status == "ok"
            assert srv.opened == 2

    run(go)


def test_reused_connection_dropped_by_the_server_is_a_connection_error_not_retried() -> None:
    """A kept-alive connection the server drops on the next request gives connection_error in one attempt."""

    # The plan's RetrySpec is the only retry: aiohttp retries a dropped reused connection for
    # idempotent methods only, never a POST, so attempts stay what the plan allows.
    async def go() -> None:
        async with RawServer() as srv, pooled(1) as pool:
            client = chat(pool, srv.base_url)
            assert (await guarded(call(client), "first")).status == "ok"
            result = await guarded(call(client, "drop"), "dropped on reuse")
            assert (result.status, result.attempts) == ("connection_error", 1)
            assert srv.opened == 1  # no hidden second attempt on a new connection
            assert (await guarded(call(client), "after the drop")).status == "ok"

    run(go)


def test_pool_and_chat_are_built_without_a_loop_and_aclose_closes_sessions() -> None:
    """ClientPool and OpenAIChat need no running loop; aclose closes the session and its connections."""
    sock = socket.create_server(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    pool = ClientPool(4)  # as the live runner builds its arms: before its loop starts
    client = chat(pool, base_url)

    async def go() -> None:
        async with RawServer(sock) as srv:
            try:
                assert (await guarded(call(client), "one call")).status == "ok"
                session = pool.client(base_url)
                assert not session.closed
                await pool.aclose()
                assert session.closed
                await until(lambda: srv.closed == 1, "the pooled connection closed")
                fresh = pool.client(base_url)  # a closed pool makes a new session on next use
                assert fresh is not session and not fresh.closed
            finally:
                await pool.aclose()
            assert fresh.closed

    run(go)
