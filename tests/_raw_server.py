"""A raw HTTP/1.1 server on 127.0.0.1 for tests that need a server misbehaving in one exact way.

It answers every request with the bytes a test's ``reply`` function returns (so a stream can be
cut, an SSE event split over lines, a reply held past a timeout) and keeps each request's headers
and body.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RawServer"]


class RawServer:
    """A one-thread HTTP/1.1 server: ``reply(body_json) -> bytes`` written back, then closed."""

    def __init__(self, reply: Callable[[dict[str, Any]], bytes]) -> None:
        self.reply = reply
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                body += conn.recv(65536)
            parsed = json.loads(body) if body else {}
            self.requests.append((headers, parsed))
            conn.sendall(self.reply(parsed))

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self._sock.close()
