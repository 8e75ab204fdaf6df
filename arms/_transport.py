"""An httpx transport whose connection pool costs O(1) per request, for open-loop live runs.

Why this exists: httpcore 1.0.9's ``AsyncConnectionPool`` re-examines *every* connection it holds
twice per request (``_assign_requests_to_connections``, on send and on response close), and for
each idle one asks the network stream ``get_extra_info("is_readable")``, which anyio answers by
building its typed-attribute dict (``getpeername`` system calls included) before one ``poll``.
With a pool sized for an open-loop schedule (hundreds of connections) that is about 1 ms of CPU
per call on the event loop that also dispatches the schedule, so lateness and latency grow with
load until the run collapses (a known httpcore problem: encode/httpcore PR #1035, unfixed in
1.0.9). Profiled and measured in ``bench/bench_live.py``; see docs/live.md, Performance.

Two pieces, both still real HTTP/1.1 over real sockets through httpcore's own connection code:

- :class:`LeanConnectionPool` keeps idle connections on a stack per origin (LIFO, so the warm
  ones are reused and the rest age out) and hands each request one of them, or a new connection:
  only the connection taken is checked for expiry. ``max_connections`` bounds the requests in
  flight (beyond it a request waits for a slot, and that wait is counted in the latency by the
  caller), ``max_keepalive_connections`` the idle connections kept, ``keepalive_expiry`` their
  idle lifetime, as in httpcore.
- :class:`_ReadableBackend` is httpcore's anyio backend with streams that keep their raw socket,
  so ``is_readable`` is one ``poll`` on the file descriptor.

httpcore exceptions raised here are translated to httpx ones by :class:`LeanTransport`, which
is httpx's own ``AsyncHTTPTransport`` (and its exception mapping) around this pool.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx
from httpcore._utils import is_socket_readable

__all__ = ["LeanConnectionPool", "LeanTransport"]

_SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _ReadableStream(httpcore.AsyncNetworkStream):
    """An anyio-backed stream that answers ``is_readable`` with one poll on its cached socket."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return is_socket_readable(self._sock)
        if info == "socket":
            return self._sock
        return self._inner.get_extra_info(info)


class _ReadableBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its streams wrapped in :class:`_ReadableStream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.connect_tcp(
            host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _ReadableStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _SocketStream(httpcore.AsyncNetworkStream):
    """A plain TCP socket driven by the running event loop's ``sock_recv`` / ``sock_sendall``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:
                return await self._loop.sock_recv(self._sock, max_bytes)
            async with asyncio.timeout(timeout):
                return await self._loop.sock_recv(self._sock, max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            if timeout is None:
                await self._loop.sock_sendall(self._sock, buffer)
                return
            async with asyncio.timeout(timeout):
                await self._loop.sock_sendall(self._sock, buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._sock.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Never called: the pool gives https origins (and only they need TLS) the anyio backend.
        raise httpcore.ConnectError("TLS is not supported on a plain socket stream")

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return is_socket_readable(self._sock)
        if info == "socket":
            return self._sock
        try:
            if info == "client_addr":
                return self._sock.getsockname()
            if info == "server_addr":
                return self._sock.getpeername()
        except OSError:
            return None
        return None


class _SocketBackend(httpcore.AsyncNetworkBackend):
    """Plain-TCP connections on the running event loop, without anyio's per-call machinery.

    anyio wraps every read and write in a cancel scope and a checkpoint (about a third of the
    client's CPU per request at 200 requests/s, measured with cProfile); an event loop's socket
    methods do the same work directly. Errors are httpcore's, as its backends raise them.
    """

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                sock = await self._connect(host, port, local_address)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            sock.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return _SocketStream(sock)

    @staticmethod
    async def _connect(host: str, port: int, local_address: str | None) -> socket.socket:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        error: OSError | None = None
        for family, kind, proto, _name, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                if local_address is not None:
                    sock.bind((local_address, 0))
                await loop.sock_connect(sock, addr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
            except BaseException:
                sock.close()
                raise
        raise error or OSError(f"no address found for {host!r}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by live arms")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LeanConnectionPool(httpcore.AsyncConnectionPool):
    """An HTTP/1.1 connection pool with O(1) work per request; see the module docstring."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None, max_connections: int,
        max_keepalive_connections: int, keepalive_expiry: float | None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> None:
        super().__init__(ssl_context=ssl_context, max_connections=max_connections,
                         max_keepalive_connections=max_keepalive_connections,
                         keepalive_expiry=keepalive_expiry, network_backend=_ReadableBackend(),
                         socket_options=socket_options)
        # Keyed by (scheme, host, port): httpcore's Origin is not hashable.
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}
        self._open: set[httpcore.AsyncHTTPConnection] = set()
        self._plain = _SocketBackend()
        self._slots = asyncio.Semaphore(max_connections)
        self._keep = max_keepalive_connections

    def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        """The most recently used idle connection to ``origin`` still usable, else a new one."""
        stack = self._idle.get(_key(origin))
        while stack:
            conn = stack.pop()
            if conn.is_idle() and not conn.has_expired():
                return conn
            self._open.discard(conn)
            self._discard(conn)
        conn = httpcore.AsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry,
            network_backend=self._plain if origin.scheme == b"http" else self._network_backend,
            socket_options=self._socket_options)
        self._open.add(conn)
        return conn

    def _discard(self, conn: httpcore.AsyncHTTPConnection) -> None:
        # Closing an idle HTTP/1.1 connection only closes its socket; done off the request's path.
        if not conn.is_closed():
            task = asyncio.get_running_loop().create_task(conn.aclose())
            task.add_done_callback(_ignore_result)

    async def _checkin(self, conn: httpcore.AsyncHTTPConnection, origin: httpcore.Origin) -> None:
        stack = self._idle.setdefault(_key(origin), [])
        if conn.is_idle() and len(stack) < self._keep:
            stack.append(conn)
            return
        self._open.discard(conn)
        if not conn.is_closed():
            await conn.aclose()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        scheme = request.url.scheme
        if scheme == b"":
            raise httpcore.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.")
        if scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme.decode()}://'.")
        timeouts = request.extensions.get("timeout", {})
        pool_timeout = timeouts.get("pool")
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpcore.PoolTimeout("no connection slot free within the pool timeout") from exc
        origin = request.url.origin
        try:
            while True:
                conn = self._checkout(origin)
                try:
                    response = await conn.handle_async_request(request)
                except httpcore.ConnectionNotAvailable:
                    # The idle connection was closed under us: take another (or a new) one.
                    self._open.discard(conn)
                    continue
                except BaseException:
                    self._open.discard(conn)
                    await conn.aclose()
                    raise
                break
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpcore.Response(status=response.status, headers=response.headers,
                                 content=_PoolStream(response.stream, self, conn, origin),
                                 extensions=response.extensions)

    async def _released(self, conn: httpcore.AsyncHTTPConnection, origin: httpcore.Origin) -> None:
        try:
            await self._checkin(conn, origin)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        conns, self._open, self._idle = list(self._open), set(), {}
        for conn in conns:
            await conn.aclose()

    async def __aenter__(self) -> LeanConnectionPool:
        return self


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class _PoolStream:
    """A response body that gives its connection back to the pool when closed."""

    def __init__(self, stream: typing.AsyncIterable[bytes], pool: LeanConnectionPool,
                 conn: httpcore.AsyncHTTPConnection, origin: httpcore.Origin) -> None:
        self._stream, self._pool, self._conn, self._origin = stream, pool, conn, origin
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            closer = getattr(self._stream, "aclose", None)
            if closer is not None:
                await closer()
        finally:
            await self._pool._released(self._conn, self._origin)


class LeanTransport(httpx.AsyncHTTPTransport):
    """httpx's ``AsyncHTTPTransport`` (request conversion, exception mapping) over the lean pool."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits,
                 socket_options: Iterable[_SocketOption] | None = None) -> None:
        super().__init__(verify=ssl_context, limits=limits, socket_options=socket_options)
        self._pool = LeanConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections or 1 << 20,
            max_keepalive_connections=(limits.max_keepalive_connections
                                       if limits.max_keepalive_connections is not None
                                       else limits.max_connections or 1 << 20),
            keepalive_expiry=limits.keepalive_expiry, socket_options=socket_options)
