"""Running an ASGI app with uvicorn: its settings, a socket listening at once, a background thread.

``routetrial serve`` runs :func:`uvicorn_config` on :func:`bind_socket` in the foreground; tests
and benchmarks use :class:`ServerThread`, which serves on 127.0.0.1 in a daemon thread.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette

__all__ = ["ServerThread", "bind_socket", "uvicorn_config"]

#: Connections the kernel queues before uvicorn accepts them (an open-loop burst must not be refused).
_BACKLOG = 4096


def uvicorn_config(app: Starlette, **settings: Any) -> uvicorn.Config:
    """uvicorn's settings for serving ``app``: quiet, no lifespan, the httptools parser.

    httptools (C) instead of h11: the server's own time per request outside its handler drops
    from 0.57 to 0.38-0.52 ms (docs/live.md, Performance), time every latency measured against
    this server would otherwise include.
    """
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="httptools",
        backlog=_BACKLOG,
        **settings,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free one), ready for uvicorn."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it Nagle + delayed ACK add ~40 ms to every keep-alive reply.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening at once means a client that connects after the "serving" line (or right after
    # ServerThread.start) waits in the kernel backlog instead of being refused while uvicorn
    # is still importing and building its server.
    sock.listen(_BACKLOG)
    return sock


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a background thread (tests, benchmarks).

    The socket is bound before the thread starts, so :attr:`port` is known at once (``port=0``
    picks a free one) and requests made right after :meth:`start` returns are served.
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind_socket(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(app, timeout_keep_alive=30))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="routetrial-serve"
        )

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``http://host:port/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ServerThread:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
