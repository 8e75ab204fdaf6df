"""The managed servers of a live run: started before the clock, checked ready, stopped at the end.

:class:`ManagedServers` is a context manager around a live run segment (see
:mod:`prereg.servers` for what a plan writes). Entering starts each server of ``plan.servers``
in plan order: the port must be free on 127.0.0.1 (else a server already listening there would
pass for ours), the version command runs first, then the command is started with
:class:`subprocess.Popen` in the plan file's folder, in a process group of its own, its output
appended to ``<store>.server-<id>.log``; readiness is polled over real HTTP until a 2xx or the
timeout. A server that exits, is not ready in time or cannot say its version is a one-line
:class:`~prereg.errors.ServerError` raised before the store is opened (so nothing stored
changes), after every server started so far has been stopped. A stop signal during start-up
ends the wait: the run then stores nothing new and says it was interrupted.

Leaving stops every started server, whether the run finished, failed or was stopped by a
signal: SIGTERM to its process group, SIGKILL after ``stop_grace_s``, then SIGKILL to whatever
is left of the group (children of a wrapper). The group is its own so that the terminal's Ctrl-C
reaches routetrial alone and the server is stopped in order, after the last trial is stored; a
``kill -9`` of routetrial leaves it running (nothing of ours runs then).

What a server was is recorded in the store meta ``live_servers`` (JSON, by server id): the
command as run (secrets of the plan's ``api_key_env`` variables redacted), the version, the
model file's path and SHA-256, the start-up seconds (start to ready) and the log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from arms import Redactor, plan_secrets
from experiment.stop_signals import StopSignals, signal_name
from experiment.store import store_path
from prereg.errors import ServerError
from prereg.schema import Plan
from prereg.servers import (
    LOCAL_HOST,
    HttpVersionSpec,
    ServerSpec,
    expand,
    model_file_path,
    placeholder_values,
)
from prereg.study_files import server_log_file

__all__ = ["META_KEY", "ManagedServers", "ServerRecord", "server_log_path"]

#: The store meta key holding what each managed server was.
META_KEY = "live_servers"
#: How often readiness is asked (s), and the longest one ask may take.
_POLL_S, _ASK_S = 0.05, 2.0
#: A version or a log line quoted in a message is cut to this many characters.
_MAX_TEXT = 200
# Proxies from the environment (http_proxy) must not see requests to 127.0.0.1.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def server_log_path(url: str, plan_hash: str, server_id: str) -> Path:
    """``<store>.server-<id>.log`` beside a DuckDB store; in the working directory for others."""
    path = store_path(url)
    if path is None:
        return Path.cwd() / f"routetrial-{plan_hash[:12]}.server-{server_id}.log"
    return server_log_file(path, server_id)


@dataclass(frozen=True)
class ServerRecord:
    """What one managed server was in this run segment (stored in the meta, shown in the report)."""

    id: str
    command: tuple[str, ...]
    version: str | None
    model_file: str | None
    model_sha256: str | None
    startup_s: float
    log: str

    def as_json(self) -> dict[str, Any]:
        """The record as the store meta keeps it."""
        return {
            "command": list(self.command),
            "version": self.version,
            "model_file": self.model_file,
            "model_sha256": self.model_sha256,
            "startup_s": round(self.startup_s, 3),
            "log": self.log,
        }


@dataclass
class _Running:
    id: str
    spec: ServerSpec
    proc: subprocess.Popen[bytes]
    log: Path
    log_start: int


@dataclass
class ManagedServers:
    """Start ``plan.servers`` on entering, stop them on leaving (see the module docstring)."""

    plan: Plan
    base_dir: Path
    url: str
    plan_hash: str
    stops: StopSignals
    records: list[ServerRecord] = field(default_factory=list)
    _running: list[_Running] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._redactor = Redactor(plan_secrets(self.plan))

    @property
    def started(self) -> tuple[ServerRecord, ...]:
        """What each server started so far was, in plan order."""
        return tuple(self.records)

    def __enter__(self) -> Self:
        try:
            for server_id, spec in self.plan.servers.items():
                if self.stops.signum is not None or not self._start(server_id, spec):
                    # A stop signal during start-up: the run sends nothing, so nothing waits
                    # for the servers; they stop now rather than after the store is closed.
                    self.stop()
                    break
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def meta(self, previous: Mapping[str, str]) -> dict[str, str]:
        """The store meta of the servers started; an earlier segment's other versions are kept."""
        if not self.plan.servers:
            return {}
        try:
            before: dict[str, Any] = json.loads(previous.get(META_KEY) or "{}")
        except ValueError:
            before = {}
        out: dict[str, Any] = {}
        for record in self.records:
            now = record.as_json()
            old = before.get(record.id) if isinstance(before.get(record.id), dict) else None
            earlier = list(old.get("earlier", [])) if old else []
            if old and (old.get("version"), old.get("model_sha256")) != (now["version"], now["model_sha256"]):
                earlier.append({"version": old.get("version"), "model_sha256": old.get("model_sha256")})
            if earlier:
                now["earlier"] = earlier
            out[record.id] = now
        return {META_KEY: json.dumps(out, sort_keys=True)}

    # --- starting -------------------------------------------------------------------------------

    def _start(self, server_id: str, spec: ServerSpec) -> bool:
        """Start one server and wait until it is ready; False when a stop signal came first."""
        where = f"servers.{server_id}"
        model = model_file_path(spec.model_file, self.base_dir) if spec.model_file is not None else None
        values = placeholder_values(spec.port, model)
        argv = [expand(a, values) for a in spec.command]
        _refuse_busy_port(where, spec.port)
        version = None
        if spec.version is not None and spec.version.kind == "command":
            version = self._version_of_command(where, [expand(a, values) for a in spec.version.command], spec)
        log = server_log_path(self.url, self.plan_hash, server_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            start = out.tell()
            out.write(f"--- routetrial: starting {self._redactor.text(json.dumps(argv))}\n".encode())
            out.flush()
            began = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    argv, cwd=self.base_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    process_group=0,
                )  # fmt: skip
            except OSError as exc:
                raise ServerError(
                    f"{where}.command: expected a program to run, found {argv[0]!r} ({exc.strerror})"
                ) from None
        running = _Running(server_id, spec, proc, log, start)
        self._running.append(running)
        if not self._wait_ready(where, running):
            return False
        startup_s = time.perf_counter() - began
        if isinstance(spec.version, HttpVersionSpec):
            version = self._version_of_http(where, spec.port, spec.version)
        self.records.append(
            ServerRecord(
                id=server_id,
                command=tuple(self._redactor.text(a) for a in argv),
                version=version,
                model_file=None if model is None else str(model),
                model_sha256=None if spec.model_file is None else spec.model_file.sha256,
                startup_s=startup_s,
                log=str(log),
            )
        )
        return True

    def _wait_ready(self, where: str, server: _Running) -> bool:
        """Poll the readiness URL until a 2xx; raise when the server exits or the time is up."""
        ready = server.spec.ready
        url = f"http://{LOCAL_HOST}:{server.spec.port}{ready.path}"
        deadline = time.monotonic() + ready.timeout_s
        last = "no answer"
        while True:
            code = server.proc.poll()
            if code is not None:
                ended = f"was killed by {signal_name(-code)}" if code < 0 else f"exited with code {code}"
                raise ServerError(
                    f"{where}: the server {ended} before it was ready: {self._last_line(server)} "
                    f"(log: {server.log})"
                )
            if self.stops.signum is not None:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop_one(server)
                raise ServerError(
                    f"{where}: not ready within {ready.timeout_s:g} s (GET {url}: {last}); "
                    f"the server was stopped (log: {server.log})"
                )
            try:
                with _DIRECT.open(url, timeout=min(_ASK_S, remaining)) as reply:
                    if 200 <= reply.status < 300:
                        return True
                    last = f"HTTP {reply.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = _reason(exc)
            time.sleep(_POLL_S)

    def _version_of_command(self, where: str, argv: list[str], spec: ServerSpec) -> str:
        assert spec.version is not None and spec.version.kind == "command"
        try:
            done = subprocess.run(
                argv, cwd=self.base_dir, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=spec.version.timeout_s, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = (
                f"no answer within {spec.version.timeout_s:g} s"
                if isinstance(exc, subprocess.TimeoutExpired)
                else str(exc)
            )
            raise ServerError(f"{where}.version.command: expected a version, found {why}") from None
        lines = [ln.strip() for ln in done.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
        if done.returncode != 0 or not lines:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            tail = self._cut(err[-1]) if err else "nothing on stderr"
            raise ServerError(
                f"{where}.version.command: expected a version on stdout and exit code 0, "
                f"found exit code {done.returncode} and {'no output' if not lines else 'output'} ({tail})"
            )
        return self._cut(lines[0])

    def _version_of_http(self, where: str, port: int, spec: HttpVersionSpec) -> str:
        url = f"http://{LOCAL_HOST}:{port}{spec.path}"
        try:
            with _DIRECT.open(url, timeout=10.0) as reply:
                body = reply.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(
                f"{where}.version: expected a version from GET {url}, found {_reason(exc)}"
            ) from None
        try:
            value = _json_field(json.loads(body), spec.json_field) if spec.json_field else body
        except (ValueError, KeyError, IndexError, TypeError):
            raise ServerError(
                f"{where}.version.json_field: expected {spec.json_field!r} in the JSON of GET {url}, found none"
            ) from None
        lines = [ln.strip() for ln in str(value).splitlines() if ln.strip()]
        if not lines:
            raise ServerError(f"{where}.version: expected a version from GET {url}, found an empty answer")
        return self._cut(lines[0])

    def _last_line(self, server: _Running) -> str:
        try:
            with server.log.open("rb") as fh:
                fh.seek(server.log_start)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return "its log cannot be read"
        lines = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]  # [0]: our own header
        return self._cut(lines[-1]) if lines else "it printed nothing"

    def _cut(self, text: str) -> str:
        text = self._redactor.text(text)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."

    # --- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every started server, the last started first."""
        while self._running:
            self._stop_one(self._running.pop())

    def _stop_one(self, server: _Running) -> None:
        proc, group = server.proc, server.proc.pid  # process_group=0: the group is the server's pid
        if proc.poll() is None:
            _signal_group(group, signal.SIGTERM)
            try:
                proc.wait(timeout=server.spec.stop_grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(group, signal.SIGKILL)
                proc.wait()
        # Whatever the server left of its group (a wrapper's children) goes too.
        _signal_group(group, signal.SIGKILL)
        if server in self._running:
            self._running.remove(server)


def _refuse_busy_port(where: str, port: int) -> None:
    """A server already listening on the port would answer our readiness check in its place."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As servers bind: a port held only by connections in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError:
            raise ServerError(
                f"{where}.port: expected port {port} free on {LOCAL_HOST}, found it already in use"
            ) from None


def _signal_group(group: int, sig: signal.Signals) -> None:
    # ProcessLookupError: the group is gone; PermissionError: macOS says so for a group of zombies.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).strip() or type(exc).__name__


def _json_field(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value
