"""``routetrial serve``: an OpenAI-compatible chat-completions server backed by simulated models.

It lets a user without a GPU try live mode, and lets the tests run the live path for real over
127.0.0.1. Endpoints: ``POST /v1/chat/completions`` (streamed and not), ``GET /v1/models``, and
``GET /_log`` (this server's own record of the last requests, newest last; ``DELETE /_log`` clears
it). With an API key every route, ``/_log`` included, answers 401 to a request without it.

This module is the HTTP side: what a request gets is decided by
:class:`~experiment.serve.simulation.Simulation`, which faults it suffers by
:func:`~experiment.serve.faults.draw_fault`; :mod:`experiment.serve.running` runs the app.

A request's ``n`` (1 to :data:`~experiment.serve.constraints.MAX_N`, else a 400) asks for that many
choices, each its own simulated draw under the request's constraint: indices 0..n-1 in the JSON
body, interleaved by ``index`` in a stream, each with its own ``finish_reason``; ``usage`` counts
the completion tokens of all of them.

The trial a request belongs to (its ``trial`` in the log, the replay index of the simulation) is
its ``x-request-id`` (``<trial_id>``, ``<trial_id>#<n>`` for retry n, ``judge:<trial_id>``) less
any ``#<n>``; without one, the older ``x-routetrial-trial``. ``x-request-id`` is echoed back on
every chat reply, errors included, as vLLM echoes it.

The server's record of a request (:class:`ServedRequest`) holds ``handler_ms``: from the moment
the handler saw the request to the moment the last byte of the reply was handed to the HTTP layer
(queueing and service included). Replies also carry it as ``x-service-ms``.

What the server keeps is bounded: the log is a ring buffer of the last :data:`LOG_SIZE` requests
(2,000 unless ``log_size`` says otherwise; the oldest is dropped first), a request body is kept
only when it is a JSON object of at most :data:`LOG_BODY_BYTES` (16 KiB; otherwise the entry holds
``{"omitted_bytes": n}``), the body of an unauthorized request is never kept, and a request body
over :data:`MAX_BODY_BYTES` (1 MiB) is refused with HTTP 413 without being read further. Worst
case, the log holds about ``LOG_SIZE * 16 KiB`` (32 MiB).
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from experiment.serve.constraints import ConstraintError, read_constraint, read_n
from experiment.serve.faults import Fault, FaultSpec, draw_fault
from experiment.serve.replies import GARBAGE_BODY, GARBAGE_STREAM, completion_body, stream_events
from experiment.serve.simulation import Reply, RequestKind, Simulation, occupy
from prereg.errors import InputError
from prereg.records import Case
from prereg.schema import Plan

__all__ = ["LOG_BODY_BYTES", "LOG_SIZE", "MAX_BODY_BYTES", "ServedRequest", "SimulatedServer", "build_app"]

#: Requests the log keeps by default (a ring buffer: the oldest is dropped first).
LOG_SIZE = 2_000
#: Largest request body (bytes of JSON) the log keeps; a larger one is kept as its size only.
LOG_BODY_BYTES = 16 * 1024
#: Largest request body the server reads; a larger one is answered 413.
MAX_BODY_BYTES = 1024 * 1024
#: The client's id of one attempt: ``<trial_id>``, ``<trial_id>#<n>`` for retry n, ``judge:<id>``.
REQUEST_ID_HEADER = "x-request-id"
#: The older header carrying the trial id alone, read only when ``x-request-id`` is absent.
TRIAL_HEADER = "x-routetrial-trial"
_RETRY_SUFFIX = re.compile(r"#\d+\Z")


def trial_of(request_id: str) -> str:
    """The trial id (``judge:<id>`` for a judge call) of a request id: any ``#<n>`` retry suffix dropped."""
    return _RETRY_SUFFIX.sub("", request_id)


@dataclass(slots=True)
class ServedRequest:
    """The server's own record of one request."""

    n: int
    received_s: float
    trial: str | None
    model: str
    kind: RequestKind
    case_id: str | None
    stream: bool
    fault: Fault | None
    slow: bool
    status_code: int
    service_ms: float
    handler_ms: float | None
    authorized: bool
    #: The request's ``x-request-id`` as sent (None: none sent), ``#<n>`` of a retry included.
    request_id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


class SimulatedServer:
    """The server's state: simulated models, cases, fault draws and the request log."""

    def __init__(
        self,
        plan: Plan,
        cases: Sequence[Case],
        plan_hash: str,
        faults: FaultSpec,
        *,
        api_key: str | None = None,
        log_size: int = LOG_SIZE,
    ) -> None:
        if log_size < 0:
            raise InputError(f"expected a log size >= 0, found {log_size}", field="--log-size")
        self.plan = plan
        self.faults = faults
        self.log: deque[ServedRequest] = deque(maxlen=log_size)
        self._api_key = api_key
        self._n = 0
        self._fault_rng = np.random.default_rng(faults.seed)
        self._simulation = Simulation(plan, cases, plan_hash)
        # The simulation's own dicts, not copies: what is served is looked up in one place.
        self.classifiers = self._simulation.classifiers
        self.models = self._simulation.models

    # --- the chat endpoint ----------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        t0 = time.perf_counter()
        self._n += 1
        n = self._n
        rid = request.headers.get(REQUEST_ID_HEADER) or None
        trial = trial_of(rid) if rid else request.headers.get(TRIAL_HEADER)
        authorized = self._authorized(request)
        raw = await self._read_body(request) if authorized else b""
        if raw is None:
            return self._error(
                self._entry(n, trial, "", "unknown", None, False, None, False, True, 0, request_id=rid),
                t0,
                413,
                f"request body over {MAX_BODY_BYTES} bytes",
            )
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            body = {}
        model = str(body.get("model", ""))
        stream = bool(body.get("stream", False))
        messages = body.get("messages") or []
        prompt = ""
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            prompt = str(messages[-1].get("content", ""))
        kind, case = self._simulation.classify(model, prompt)
        fault, slow = draw_fault(self.faults, self._fault_rng)
        case_id = case.id if case else None
        entry = self._entry(
            n, trial, model, kind, case_id, stream, fault, slow, authorized, len(raw), body, request_id=rid
        )
        if not authorized:
            return self._error(entry, t0, 401, "invalid API key")
        if not body:
            return self._error(entry, t0, 400, "request body is not a JSON object")
        if fault == "http_500":
            return self._error(entry, t0, 500, "injected server error")
        if fault == "http_429":
            return self._error(
                entry, t0, 429, "injected rate limit", {"retry-after": f"{self.faults.retry_after_s:g}"}
            )
        try:
            constraint, choices = read_constraint(body), read_n(body)
        except ConstraintError as exc:
            return self._error(entry, t0, 400, str(exc), param=exc.param)
        reply = self._simulation.reply(kind, model, prompt, case, trial, constraint, choices)
        if slow:
            reply.service_ms += self.faults.slow_ms
        entry.service_ms = reply.service_ms
        target = self._simulation.target(kind, model)
        usage = bool((body.get("stream_options") or {}).get("include_usage", False))
        await occupy(target, reply.service_ms)
        if stream and reply.code == 200:
            return self._done(
                entry, t0, Response(self._events(entry, reply, fault, usage), media_type="text/event-stream")
            )
        if reply.code != 200:
            return self._error(entry, t0, reply.code, reply.text)
        if fault == "garbage":
            return self._done(entry, t0, Response(GARBAGE_BODY, media_type="application/json"))
        texts = [""] * len(reply.texts) if fault == "empty" else reply.texts
        out = completion_body(model, texts, reply.tokens_in, reply.tokens_out, n)
        return self._done(entry, t0, JSONResponse(out))

    def _authorized(self, request: Request) -> bool:
        return self._api_key is None or request.headers.get("authorization", "") == f"Bearer {self._api_key}"

    @staticmethod
    async def _read_body(request: Request) -> bytes | None:
        """The request body, or None when it is over :data:`MAX_BODY_BYTES` (not read further)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _entry(
        self,
        n: int,
        trial: str | None,
        model: str,
        kind: RequestKind,
        case_id: str | None,
        stream: bool,
        fault: Fault | None,
        slow: bool,
        authorized: bool,
        size: int,
        body: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> ServedRequest:
        """Log a request (the body only when authorized and at most :data:`LOG_BODY_BYTES`)."""
        kept: dict[str, Any] = {}
        if body and authorized:
            kept = body if size <= LOG_BODY_BYTES else {"omitted_bytes": size}
        entry = ServedRequest(
            n, time.time(), trial, model, kind, case_id, stream, fault, slow, 200, 0.0, None, authorized
        )
        entry.request_id, entry.body = request_id, kept
        self.log.append(entry)
        return entry

    @staticmethod
    def _events(entry: ServedRequest, reply: Reply, fault: Fault | None, usage: bool) -> bytes:
        # A simulated reply is complete once its service time is over, so its SSE events go out
        # in one write: one event per write cost the server a system call and an ASGI message
        # each, enough to saturate it at a few hundred requests/s (bench/bench_live.py).
        if fault == "garbage":
            return GARBAGE_STREAM
        texts = [""] * len(reply.texts) if fault == "empty" else reply.texts
        return b"".join(
            stream_events(entry.model, texts, reply.tokens_in, reply.tokens_out, entry.n, usage=usage)
        )

    def _done(self, entry: ServedRequest, t0: float, response: Response) -> Response:
        entry.status_code = response.status_code
        entry.handler_ms = (time.perf_counter() - t0) * 1000.0
        response.headers["x-service-ms"] = f"{entry.handler_ms:.3f}"
        if entry.request_id is not None:
            # Echoed as vLLM and OpenAI's own servers do, so a client can join its attempt to
            # the reply (and to this server's log) without trusting its own bookkeeping.
            response.headers[REQUEST_ID_HEADER] = entry.request_id
        return response

    def _error(
        self,
        entry: ServedRequest,
        t0: float,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
    ) -> Response:
        error: dict[str, Any] = {
            "message": message,
            "type": "server_error" if code >= 500 else "invalid_request_error",
        }
        if param is not None:  # OpenAI's name for the field at fault; the other errors stay as they were
            error["param"] = param
        body = {"error": {**error, "code": code}}
        return self._done(entry, t0, JSONResponse(body, status_code=code, headers=headers))

    # --- the other endpoints ------------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        """401 for a request without the key (when the server has one), else None."""
        if self._authorized(request):
            return None
        body = {"error": {"message": "invalid API key", "type": "invalid_request_error", "code": 401}}
        return JSONResponse(body, status_code=401)

    async def models_list(self, request: Request) -> Response:
        """``GET /v1/models``."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        names = sorted(set(self.classifiers) | set(self.models))
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "owned_by": "routetrial-simulated"} for name in names
                ],
            }
        )

    async def log_view(self, request: Request) -> Response:
        """``GET /_log`` (the server's record) and ``DELETE /_log`` (clear it); guarded by the key."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method == "DELETE":
            self.log.clear()
            return JSONResponse({"cleared": True})
        raw_since = request.query_params.get("since", "0")
        if not raw_since.isdigit():
            return JSONResponse(
                {
                    "error": {
                        "message": f"since: expected an integer >= 0, found {raw_since!r}",
                        "type": "invalid_request_error",
                        "code": 400,
                    }
                },
                status_code=400,
            )
        since = int(raw_since)
        return JSONResponse([asdict(e) for e in self.log if e.n > since])


def build_app(server: SimulatedServer) -> Starlette:
    """The Starlette application serving ``server``."""
    return Starlette(
        routes=[
            Route("/v1/chat/completions", server.chat, methods=["POST"]),
            Route("/v1/models", server.models_list, methods=["GET"]),
            Route("/_log", server.log_view, methods=["GET", "DELETE"]),
        ]
    )
