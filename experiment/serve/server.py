"""``routetrial serve``: an OpenAI-compatible chat-completions server backed by simulated models.

It lets a user without a GPU try live mode, and lets the tests run the live path for real over
127.0.0.1. Endpoints: ``POST /v1/chat/completions`` (streamed and not), ``GET /v1/models``, and
``GET /_log`` (this server's own record of the last requests, newest last; ``DELETE /_log`` clears
it). With an API key every route, ``/_log`` included, answers 401 to a request without it.

What a request gets:

- The *case* is found by its text: a downstream request's user message is a case's text; a
  classifier prompt contains one (the longest contained case text wins); a judge prompt starts
  with :data:`arms._grading.JUDGE_PROMPT`'s first line.
- The *model* is found by name among the plan's simulated backends: a router arm's classifier
  model (classifier requests) or a ``models`` entry, by key or by ``model`` name (downstream
  and judge requests).
- Classifier requests: label, status and service time from :class:`arms.ClassifierBehaviour`;
  the reply is ``{"label": ...}`` when the request asks for JSON (``response_format``, or
  ``"label"`` in the prompt), else the bare label. Downstream requests: correctness and service
  time from :class:`arms.ModelBehaviour`; the answer is one the case's grader accepts exactly when
  the behaviour says correct. A simulated ``http_error`` is an HTTP 500, ``unparseable`` a reply
  that names no label.
- The replay index comes from the ``x-routetrial-trial`` header (``arm:case:replay``) when sent.
- Each model serves ``latency.concurrency`` requests at once (an asyncio semaphore); the rest
  queue, so latency grows under load as a real server's does. Service time is an asyncio sleep.

Fault injection (:class:`FaultSpec`), drawn per request before any work: HTTP 500, HTTP 429 with
``Retry-After``, a garbage body (not JSON / not SSE), empty content, and, independently, a slow
response (``slow_ms`` added to the service time).

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

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from arms import ClassifierBehaviour, ModelBehaviour
from experiment.serve.replies import (
    GARBAGE_BODY,
    GARBAGE_STREAM,
    JUDGE_MARK,
    answer_text,
    classifier_text,
    completion_body,
    judge_verdict,
    stream_events,
)
from prereg.errors import InputError
from prereg.records import Case, Status
from prereg.schema import Plan, RouterArmSpec, SimulatedClassifierSpec, SimulatedModelSpec
from prereg.seeding import derive_rng

__all__ = [
    "LOG_BODY_BYTES",
    "LOG_SIZE",
    "MAX_BODY_BYTES",
    "FaultSpec",
    "ServedRequest",
    "ServerThread",
    "SimulatedServer",
    "bind_socket",
    "build_app",
    "uvicorn_config",
]

RequestKind = Literal["classifier", "downstream", "judge", "unknown"]
Fault = Literal["http_500", "http_429", "garbage", "empty"]
#: Requests the log keeps by default (a ring buffer: the oldest is dropped first).
LOG_SIZE = 2_000
#: Largest request body (bytes of JSON) the log keeps; a larger one is kept as its size only.
LOG_BODY_BYTES = 16 * 1024
#: Largest request body the server reads; a larger one is answered 413.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Injected faults: per-request probabilities (the first four are exclusive) and their settings."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    garbage_rate: float = 0.0
    empty_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 0.0
    retry_after_s: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.rate_limit_rate, self.garbage_rate, self.empty_rate, self.slow_rate)
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates[:4]) > 1.0:
            raise InputError(
                f"fault rates: expected each in [0, 1] and error+rate-limit+garbage+empty <= 1, found {rates}"
            )
        if self.slow_ms < 0.0 or self.retry_after_s < 0.0:
            raise InputError(
                f"slow_ms / retry_after_s: expected >= 0, found {self.slow_ms}, {self.retry_after_s}"
            )


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
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Reply:
    code: int
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    service_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class _Model:
    """One simulated model name: its behaviour and its concurrency slots."""

    def __init__(
        self,
        behaviour: ClassifierBehaviour | ModelBehaviour,
        concurrency: int,
        tokens: tuple[int, int],
        key: str,
    ) -> None:
        self.behaviour = behaviour
        self.slots = asyncio.Semaphore(concurrency)
        self.tokens = tokens
        self.key = key


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
        self._cases = tuple(cases)
        self._by_text = {c.text: c for c in cases}
        self._by_prompt: dict[str, Case | None] = {}
        self._fault_rng = np.random.default_rng(faults.seed)
        self._replays: dict[tuple[str, str], int] = {}
        seed = plan.randomization.seed
        self.classifiers: dict[str, _Model] = {}
        for arm in plan.arms:
            if isinstance(arm, RouterArmSpec) and isinstance(arm.classifier.backend, SimulatedClassifierSpec):
                spec = arm.classifier.backend
                rng = derive_rng(seed, plan_hash, f"serve:arm:{arm.id}")
                behaviour = ClassifierBehaviour(spec, plan.taxonomy.labels, cases, rng)
                self.classifiers.setdefault(
                    arm.classifier.model,
                    _Model(
                        behaviour, spec.latency.concurrency, (spec.tokens.input, spec.tokens.output), arm.id
                    ),
                )
        self.models: dict[str, _Model] = {}
        for key, model in plan.models.items():
            if isinstance(model.backend, SimulatedModelSpec):
                mspec = model.backend
                m = _Model(
                    ModelBehaviour(mspec, cases, derive_rng(seed, plan_hash, f"serve:model:{key}")),
                    mspec.latency.concurrency,
                    (mspec.tokens.input, mspec.tokens.output),
                    key,
                )
                self.models.setdefault(model.model, m)
                self.models.setdefault(key, m)

    # --- lookups ------------------------------------------------------------------------------

    def _case_in(self, prompt: str) -> Case | None:
        if prompt not in self._by_prompt:
            found = [c for c in self._cases if c.text in prompt]
            self._by_prompt[prompt] = max(found, key=lambda c: len(c.text)) if found else None
        return self._by_prompt[prompt]

    def _replay(self, trial: str | None, model: str, case: Case) -> int:
        if trial is not None:
            tail = trial.rsplit(":", 1)[-1]
            if tail.isdigit():
                return int(tail)
        key = (model, case.id)
        n = self._replays.get(key, 0)
        self._replays[key] = n + 1
        return n

    def _draw_fault(self) -> tuple[Fault | None, bool]:
        f = self.faults
        u, v = self._fault_rng.random(2).tolist()
        fault: Fault | None = None
        for name, rate in (
            ("http_500", f.error_rate),
            ("http_429", f.rate_limit_rate),
            ("garbage", f.garbage_rate),
            ("empty", f.empty_rate),
        ):
            if u < rate:
                fault = name  # type: ignore[assignment]
                break
            u -= rate
        return fault, v < f.slow_rate

    # --- the chat endpoint ----------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        t0 = time.perf_counter()
        self._n += 1
        n = self._n
        trial = request.headers.get("x-routetrial-trial")
        authorized = self._authorized(request)
        raw = await self._read_body(request) if authorized else b""
        if raw is None:
            return self._error(
                self._entry(n, trial, "", "unknown", None, False, None, False, True, 0),
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
        kind, case = self._classify(model, prompt)
        fault, slow = self._draw_fault()
        entry = self._entry(
            n, trial, model, kind, case.id if case else None, stream, fault, slow, authorized, len(raw), body
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
        reply = self._reply(kind, model, prompt, case, trial, body)
        if slow:
            reply.service_ms += self.faults.slow_ms
        entry.service_ms = reply.service_ms
        target = self.classifiers.get(model) if kind == "classifier" else self.models.get(model)
        usage = bool((body.get("stream_options") or {}).get("include_usage", False))
        await self._serve(target, reply.service_ms)
        if stream and reply.code == 200:
            return self._done(
                entry, t0, Response(self._events(entry, reply, fault, usage), media_type="text/event-stream")
            )
        if reply.code != 200:
            return self._error(entry, t0, reply.code, reply.text)
        if fault == "garbage":
            return self._done(entry, t0, Response(GARBAGE_BODY, media_type="application/json"))
        text = "" if fault == "empty" else reply.text
        out = completion_body(model, text, reply.tokens_in, reply.tokens_out, n)
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
    ) -> ServedRequest:
        """Log a request (the body only when authorized and at most :data:`LOG_BODY_BYTES`)."""
        kept: dict[str, Any] = {}
        if body and authorized:
            kept = body if size <= LOG_BODY_BYTES else {"omitted_bytes": size}
        entry = ServedRequest(
            n, time.time(), trial, model, kind, case_id, stream, fault, slow, 200, 0.0, None, authorized, kept
        )
        self.log.append(entry)
        return entry

    async def _serve(self, target: _Model | None, service_ms: float) -> None:
        if target is None:
            await asyncio.sleep(service_ms / 1000.0)
            return
        async with target.slots:
            await asyncio.sleep(service_ms / 1000.0)

    @staticmethod
    def _events(entry: ServedRequest, reply: _Reply, fault: Fault | None, usage: bool) -> bytes:
        # A simulated reply is complete once its service time is over, so its SSE events go out
        # in one write: one event per write cost the server a system call and an ASGI message
        # each, enough to saturate it at a few hundred requests/s (bench/bench_live.py).
        if fault == "garbage":
            return GARBAGE_STREAM
        text = "" if fault == "empty" else reply.text
        return b"".join(
            stream_events(entry.model, text, reply.tokens_in, reply.tokens_out, entry.n, usage=usage)
        )

    def _done(self, entry: ServedRequest, t0: float, response: Response) -> Response:
        entry.status_code = response.status_code
        entry.handler_ms = (time.perf_counter() - t0) * 1000.0
        response.headers["x-service-ms"] = f"{entry.handler_ms:.3f}"
        return response

    def _error(
        self, entry: ServedRequest, t0: float, code: int, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        body = {
            "error": {
                "message": message,
                "type": "server_error" if code >= 500 else "invalid_request_error",
                "code": code,
            }
        }
        return self._done(entry, t0, JSONResponse(body, status_code=code, headers=headers))

    def _classify(self, model: str, prompt: str) -> tuple[RequestKind, Case | None]:
        if prompt.startswith(JUDGE_MARK):
            return "judge", self._case_in(prompt.split("Reference answer:", 1)[0])
        exact = self._by_text.get(prompt)
        if exact is not None and model in self.models:
            return "downstream", exact
        case = self._case_in(prompt)
        if case is not None and model in self.classifiers:
            return "classifier", case
        if case is not None and model in self.models:
            return "downstream", case
        return "unknown", case

    def _reply(
        self,
        kind: RequestKind,
        model: str,
        prompt: str,
        case: Case | None,
        trial: str | None,
        body: dict[str, Any],
    ) -> _Reply:
        if kind == "unknown" or case is None:
            known = model in self.classifiers or model in self.models
            what = "no corpus case in the request" if known else f"model {model!r} not served here"
            return _Reply(400 if known else 404, what)
        if kind == "judge":
            m = self.models[model]
            return _Reply(200, judge_verdict(prompt), m.tokens[0], 1, 0.0)
        if kind == "classifier":
            c = self.classifiers[model]
            assert isinstance(c.behaviour, ClassifierBehaviour)
            label, status, service = c.behaviour.decide(case, self._replay(trial, model, case))
            wants_json = "response_format" in body or '"label"' in prompt
            return self._outcome(status, classifier_text(label, wants_json), c.tokens, service)
        m = self.models[model]
        assert isinstance(m.behaviour, ModelBehaviour)
        correct, status, service = m.behaviour.answer(case, self._replay(trial, model, case))
        grader = self.plan.graders.get(case.grader) if case.grader else None
        text = answer_text(case, correct, grader, model)
        return self._outcome(status, text, m.tokens, service)

    @staticmethod
    def _outcome(status: Status, text: str, tokens: tuple[int, int], service: float) -> _Reply:
        if status == "http_error":
            return _Reply(500, "simulated server error", service_ms=service)
        if status == "unparseable":
            text = classifier_text(None, False)
        return _Reply(200, text, tokens[0], tokens[1], service)

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
