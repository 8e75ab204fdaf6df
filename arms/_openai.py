"""One chat-completions call to an OpenAI-compatible endpoint, with faults as data.

This module is the only place in ``arms`` that speaks HTTP. :class:`OpenAIChat` sends one chat
request to one model (vLLM, SGLang, Ollama, llama.cpp's server, DeepSeek...) and returns a
:class:`ChatResult` whatever happens: aiohttp exceptions are translated once, here, into a trial
status and never escape. The mapping::

    timeout (per attempt, the plan's timeout_ms)                   -> timeout
    connection refused, reset or closed mid-response               -> connection_error
    a reply that is not HTTP/1.1                                   -> connection_error
    HTTP 429                                                       -> rate_limited (Retry-After kept)
    any other non-2xx status                                       -> http_error
    a body or SSE event that is not the expected JSON               -> unparseable
    a well-formed reply whose content is empty or blank            -> empty

Retries follow the plan's :class:`~prereg.schema.RetrySpec`: only statuses named in ``retry_on``
are retried, up to ``max_attempts`` attempts in all; the wait before attempt ``k+1`` is the
server's ``Retry-After`` for a 429 that sends one, else ``backoff_ms * 2**(k-1)``. Waiting and
failed attempts count in the latency, which the caller measures from the scheduled send time.

The API key is read from the environment variable the plan *names* (``api_key_env``); it goes
into the ``Authorization`` header and nowhere else, and any error text is scrubbed of it.

Structured output (``backend.structured``) applies to classifier calls, which pass ``labels``:

- ``choice``: vLLM structured outputs, ``{"structured_outputs": {"choice": labels}}`` in the body;
- ``json_schema``: ``response_format`` with a JSON schema ``{"label": enum of labels}``
  (vLLM, SGLang, llama.cpp, OpenAI);
- ``none``: a plain prompt, parsed by the plan's rule.

``backend.extra_body`` is merged into the body last (e.g. DeepSeek's
``{"response_format": {"type": "json_object"}}``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from prereg.errors import ArmError
from prereg.records import Status
from prereg.schema import DecodingSpec, OpenAIBackendSpec, RetrySpec

__all__ = [
    "TRIAL_HEADER",
    "ChatResult",
    "ClientPool",
    "OpenAIChat",
    "chat_url",
    "parse_retry_after",
]

#: Request header carrying the trial id, so a test server (``routetrial serve``) can match its
#: record of service time to the client's measurement. Real servers ignore it.
TRIAL_HEADER = "x-routetrial-trial"

_MAX_ERROR_CHARS = 200
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: How long an idle kept-alive connection is kept (s). Below uvicorn's 5 s (vLLM, SGLang and
#: ``routetrial serve`` run on it): a POST sent on a connection the server is closing at that
#: moment fails, and that failure would be the harness's, not the server's.
KEEPALIVE_S = 4.0


class _Unparseable(Exception):
    """A reply that is not the JSON / SSE a chat-completions server sends."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """What one chat call (all its attempts) produced; times are on the caller's clock (s)."""

    status: Status
    text: str | None
    attempts: int
    tokens_in: int
    tokens_out: int
    started_s: float
    first_byte_s: float | None
    first_token_s: float | None
    end_s: float
    error: str | None = None
    http_status: int | None = None


@dataclass(slots=True)
class _Attempt:
    status: Status
    text: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    first_byte_s: float | None = None
    first_token_s: float | None = None
    error: str | None = None
    http_status: int | None = None
    retry_after_s: float | None = None


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


def chat_url(base_url: str) -> str:
    """The chat-completions URL under an OpenAI-style base URL (``.../v1``)."""
    return base_url.rstrip("/") + "/chat/completions"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Unparseable(f"expected a JSON object for {what}, found {type(value).__name__}")
    return value


def _usage(obj: dict[str, Any]) -> tuple[int, int] | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    pin, pout = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return (pin if isinstance(pin, int) else 0, pout if isinstance(pout, int) else 0)


def _content(choice: dict[str, Any], key: str) -> str:
    part = choice.get(key)
    if part is None:
        return ""
    content = _dict(part, key).get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise _Unparseable(f"expected a string {key}.content, found {type(content).__name__}")
    return content


def _choices(obj: dict[str, Any]) -> list[dict[str, Any]]:
    choices = obj.get("choices", [])
    if not isinstance(choices, list):
        raise _Unparseable("expected a list of choices")
    return [_dict(c, "choice") for c in choices]


def _loads(data: str | bytes, what: str) -> dict[str, Any]:
    try:
        return _dict(json.loads(data), what)
    except ValueError as exc:
        raise _Unparseable(f"{what} is not JSON: {exc}") from exc


class OpenAIChat:
    """Chat calls to one model behind one OpenAI-compatible endpoint.

    ``labels`` marks a classifier: structured output, when the backend asks for it, constrains
    the reply to these labels. Raises :class:`~prereg.errors.ArmError` at construction when the
    API key's environment variable is named but not set (the message names the variable only).
    """

    def __init__(
        self,
        pool: ClientPool,
        backend: OpenAIBackendSpec,
        model: str,
        decoding: DecodingSpec,
        timeout_ms: float,
        retry: RetrySpec,
        *,
        labels: Sequence[str] | None = None,
    ) -> None:
        self._pool = pool
        self.backend = backend
        self.model = model
        self.decoding = decoding
        self.timeout_s = timeout_ms / 1000.0
        self.retry = retry
        self.labels = tuple(labels) if labels is not None else None
        self.url = chat_url(backend.base_url)
        pool.register(backend.base_url)
        self._key: str | None = None
        if backend.api_key_env is not None:
            if not _ENV_NAME.fullmatch(backend.api_key_env):
                # Never echo the value: a key pasted where its variable's name belongs would leak.
                raise ArmError(
                    "backend.api_key_env: expected the NAME of an environment variable (letters, "
                    "digits and _, not starting with a digit), found a value that is not one "
                    "(not shown: it may be the key itself)"
                )
            key = os.environ.get(backend.api_key_env)
            if not key:
                raise ArmError(
                    f"backend.api_key_env: expected environment variable {backend.api_key_env} "
                    "to hold the API key, found it unset or empty"
                )
            if any(not (" " < ch <= "~") for ch in key):
                # An HTTP header cannot carry it (a trailing CR/LF from `echo` or a file, a space,
                # a non-ASCII character); the value itself is never shown.
                raise ArmError(
                    f"backend.api_key_env: expected environment variable {backend.api_key_env} to "
                    "hold an API key of printable ASCII without spaces, found a line break, space "
                    "or other character that cannot go in an HTTP header (value not shown)"
                )
            self._key = key

    def __repr__(self) -> str:
        return f"OpenAIChat(model={self.model!r}, url={self.url!r})"

    def request_body(self, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
        """The JSON body of one request: model, messages, decoding, streaming and structure."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.decoding.temperature,
            "top_p": self.decoding.top_p,
            "max_tokens": self.decoding.max_tokens,
            "stream": self.backend.stream,
        }
        if self.backend.stream:
            body["stream_options"] = {"include_usage": True}
        if self.labels is not None:
            if self.backend.structured == "choice":
                body["structured_outputs"] = {"choice": list(self.labels)}
            elif self.backend.structured == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "route",
                        "strict": True,
                        "schema": {
                            "type": "object",
                            "properties": {"label": {"type": "string", "enum": list(self.labels)}},
                            "required": ["label"],
                            "additionalProperties": False,
                        },
                    },
                }
        body.update(self.backend.extra_body)
        return body

    def _headers(self, tag: str | None) -> dict[str, str]:
        headers = {
            "accept": "text/event-stream" if self.backend.stream else "application/json",
            "content-type": "application/json",
        }
        if self._key is not None:
            headers["authorization"] = f"Bearer {self._key}"
        if tag is not None:
            headers[TRIAL_HEADER] = tag
        return headers

    def _scrub(self, text: str) -> str:
        # Scrub before cutting: a key cut in two by the length limit would leak its first part.
        if self._key:
            text = text.replace(self._key, "[redacted]")
        return text.replace("\n", " ")[:_MAX_ERROR_CHARS]

    async def complete(
        self,
        messages: Sequence[dict[str, str]],
        clock: Callable[[], float],
        *,
        tag: str | None = None,
    ) -> ChatResult:
        """Send the request, retrying as the plan says; never raises for a failed call."""
        body = json.dumps(self.request_body(messages)).encode()
        headers = self._headers(tag)
        started = clock()
        attempt = _Attempt(status="not_sent")
        n = 0
        for n in range(1, self.retry.max_attempts + 1):
            attempt = await self._attempt(body, headers, clock)
            if attempt.status == "ok" or attempt.status not in self.retry.retry_on:
                break
            if n == self.retry.max_attempts:
                break
            wait = attempt.retry_after_s
            if wait is None or attempt.status != "rate_limited":
                wait = self.retry.backoff_ms * 2 ** (n - 1) / 1000.0
            await asyncio.sleep(wait)
        error = None if attempt.error is None else self._scrub(attempt.error)
        return ChatResult(
            status=attempt.status,
            text=attempt.text,
            attempts=n,
            tokens_in=attempt.tokens_in,
            tokens_out=attempt.tokens_out,
            started_s=started,
            first_byte_s=attempt.first_byte_s,
            first_token_s=attempt.first_token_s,
            end_s=clock(),
            error=error,
            http_status=attempt.http_status,
        )

    async def _attempt(self, body: bytes, headers: dict[str, str], clock: Callable[[], float]) -> _Attempt:
        out = _Attempt(status="ok")
        session = self._pool.client(self.backend.base_url)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with session.post(self.url, data=body, headers=headers) as response:
                    out.first_byte_s = clock()
                    out.http_status = response.status
                    if response.status >= 300:
                        raw = await response.read()
                        out.status = "rate_limited" if response.status == 429 else "http_error"
                        out.retry_after_s = parse_retry_after(response.headers.get("retry-after"))
                        detail = raw.decode("utf-8", "replace").strip()
                        out.error = f"HTTP {response.status}: {detail}"
                        return out
                    ctype = response.headers.get("content-type", "")
                    if ctype.startswith("text/event-stream"):
                        await self._read_stream(response, out, clock)
                    else:
                        await self._read_json(response, out, clock)
        except _Unparseable as exc:
            out.status, out.error = "unparseable", str(exc)
            return out
        except (TimeoutError, aiohttp.ClientError) as exc:
            out.status, out.error = _translate(exc, self.timeout_s)
            return out
        if out.status == "ok" and not (out.text or "").strip():
            out.status, out.error = "empty", "the reply's content is empty"
        return out

    @staticmethod
    async def _read_json(response: aiohttp.ClientResponse, out: _Attempt, clock: Callable[[], float]) -> None:
        obj = _loads(await response.read(), "response body")
        out.first_token_s = clock()
        if "error" in obj:
            out.status, out.error = "http_error", f"error object in body: {obj['error']}"
            return
        choices = _choices(obj)
        out.text = _content(choices[0], "message") if choices else ""
        usage = _usage(obj)
        if usage is not None:
            out.tokens_in, out.tokens_out = usage

    @staticmethod
    async def _read_stream(
        response: aiohttp.ClientResponse, out: _Attempt, clock: Callable[[], float]
    ) -> None:
        # Whatever arrived is split into lines here: one await per network read instead of one
        # per SSE line (a reply that arrives in one piece is parsed without yielding).
        state = _Stream()
        tail = b""
        async for data in response.content.iter_any():
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            # Read to the end even after [DONE]: leaving a body unread makes aiohttp close the
            # connection, and a new connection per request costs milliseconds.
            if not state.finished and not state.feed(lines, out, clock):
                return
        if tail and not state.finished and not state.feed([tail], out, clock):
            return
        out.text = "".join(state.parts)


class _Stream:
    """The SSE lines of one streamed reply, folded into an :class:`_Attempt` as they arrive."""

    __slots__ = ("finished", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finished = False

    def feed(self, lines: list[bytes], out: _Attempt, clock: Callable[[], float]) -> bool:
        """Take complete lines; False once the stream carried an error event (stop reading)."""
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line or line.startswith(":"):
                continue
            if not line.startswith("data:"):
                if line.startswith(("event:", "id:", "retry:")):
                    continue
                raise _Unparseable(f"malformed SSE line: {line[:60]!r}")
            data = line[5:].strip()
            if data == "[DONE]":
                self.finished = True
                return True
            chunk = _loads(data, "SSE event")
            if "error" in chunk:
                out.status, out.error = "http_error", f"error event in stream: {chunk['error']}"
                return False
            for choice in _choices(chunk):
                piece = _content(choice, "delta")
                if piece:
                    if out.first_token_s is None:
                        out.first_token_s = clock()
                    self.parts.append(piece)
            usage = _usage(chunk)
            if usage is not None:
                out.tokens_in, out.tokens_out = usage
        return True


def _translate(exc: BaseException, timeout_s: float) -> tuple[Status, str]:
    """The trial status and error text of an exception raised by aiohttp or asyncio.timeout."""
    if isinstance(exc, TimeoutError):
        return "timeout", f"no complete reply within {timeout_s * 1000:.0f} ms"
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(exc.__cause__, ContentEncodingError):
        return "unparseable", f"{type(exc).__name__}: {exc}"
    # Refused, reset, closed mid-reply, a body shorter than its length, or a reply that is not
    # HTTP at all: the server did not deliver a response. aiohttp's own texts for the last two
    # mislead (a repr of the half-read response; a "400" the server never sent), hence ours.
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection_error", (
            "ServerDisconnectedError: the server closed the connection before its reply was complete"
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return "connection_error", f"the reply is not valid HTTP: {exc.message}"
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return "connection_error", f"{type(exc).__name__}: {exc}"
    return "http_error", f"{type(exc).__name__}: {exc}"
