"""Reading one chat-completions reply (a JSON body or an SSE stream) into an attempt's record.

The parsing half of :mod:`arms._openai`: what a reply says (text, tokens, first-token time) and
how an aiohttp or timeout exception translates into a trial status. A reply that is not the JSON /
SSE a chat-completions server sends raises :class:`Unparseable`, which the client turns into the
status ``unparseable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from prereg.records import Status

__all__ = ["Attempt", "Unparseable", "read_json", "read_stream", "translate"]


class Unparseable(Exception):
    """A reply that is not the JSON / SSE a chat-completions server sends."""


@dataclass(slots=True)
class Attempt:
    status: Status
    text: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    first_byte_s: float | None = None
    first_token_s: float | None = None
    # The last token of any kind (content or reasoning) and the number of chunks that carried one:
    # the stream's inter-token latency is (last - first) / (tokens out - 1).
    last_token_s: float | None = None
    token_chunks: int = 0
    error: str | None = None
    http_status: int | None = None
    retry_after_s: float | None = None
    # The model that answered, as the reply names it: the body's ``model`` field, or the response
    # header a router service names its pick in (OpenAIChat's ``served_model_header``).
    served_model: str | None = None


def _model_field(obj: dict[str, Any]) -> str | None:
    model = obj.get("model")
    return model if isinstance(model, str) and model else None


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unparseable(f"expected a JSON object for {what}, found {type(value).__name__}")
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
        raise Unparseable(f"expected a string {key}.content, found {type(content).__name__}")
    return content


def _choices(obj: dict[str, Any]) -> list[dict[str, Any]]:
    choices = obj.get("choices", [])
    if not isinstance(choices, list):
        raise Unparseable("expected a list of choices")
    return [_dict(c, "choice") for c in choices]


def _loads(data: str | bytes, what: str) -> dict[str, Any]:
    try:
        return _dict(json.loads(data), what)
    except ValueError as exc:
        raise Unparseable(f"{what} is not JSON: {exc}") from exc


async def read_json(response: aiohttp.ClientResponse, out: Attempt, clock: Callable[[], float]) -> None:
    obj = _loads(await response.read(), "response body")
    out.first_token_s = clock()
    if "error" in obj:
        out.status, out.error = "http_error", f"error object in body: {obj['error']}"
        return
    choices = _choices(obj)
    out.text = _content(choices[0], "message") if choices else ""
    if out.served_model is None:
        out.served_model = _model_field(obj)
    usage = _usage(obj)
    if usage is not None:
        out.tokens_in, out.tokens_out = usage


async def read_stream(response: aiohttp.ClientResponse, out: Attempt, clock: Callable[[], float]) -> None:
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
    # An event not closed by a blank line at the end of the body is taken as it is (some servers
    # omit the last blank line); the spec would drop it, and the check below still applies.
    if not state.finished and not state.feed([tail, b""], out, clock):
        return
    if not (state.finished or state.finish_reason):
        # A body cut off (close-delimited or chunked) says neither: half an answer is no answer.
        out.status = "connection_error"
        out.error = "stream ended early: no finish_reason and no [DONE] before the body ended"
        return
    out.text = "".join(state.parts)


class _Stream:
    """The SSE lines of one streamed reply, folded into an :class:`Attempt` as they arrive.

    Per the SSE spec an event is its ``data:`` lines up to a blank line, joined with "\n";
    comments (``:``) and the ``event:``, ``id:`` and ``retry:`` fields are ignored.
    """

    __slots__ = ("data", "finish_reason", "finished", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.data: list[str] = []
        self.finished = False
        self.finish_reason = False

    def feed(self, lines: list[bytes], out: Attempt, clock: Callable[[], float]) -> bool:
        """Take complete lines; False once the stream carried an error event (stop reading)."""
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:
                if self.data and not self._event("\n".join(self.data), out, clock):
                    return False
                self.data.clear()
                if self.finished:
                    return True
                continue
            if line.startswith(":"):
                continue
            if not line.startswith("data:"):
                if line.startswith(("event:", "id:", "retry:")):
                    continue
                raise Unparseable(f"malformed SSE line: {line[:60]!r}")
            value = line[5:]
            self.data.append(value[1:] if value.startswith(" ") else value)
        return True

    def _event(self, data: str, out: Attempt, clock: Callable[[], float]) -> bool:
        if data.strip() == "[DONE]":
            self.finished = True
            return True
        chunk = _loads(data, "SSE event")
        if "error" in chunk:
            out.status, out.error = "http_error", f"error event in stream: {chunk['error']}"
            return False
        if out.served_model is None:
            out.served_model = _model_field(chunk)
        for choice in _choices(chunk):
            if choice.get("finish_reason"):
                self.finish_reason = True
            piece = _content(choice, "delta")
            # A token of any kind: a reasoning model's thinking is generated output too.
            if piece or _reasoning(choice):
                now = clock()
                if out.first_token_s is None:
                    out.first_token_s = now
                out.last_token_s = now
                out.token_chunks += 1
            if piece:
                self.parts.append(piece)
        usage = _usage(chunk)
        if usage is not None:
            out.tokens_in, out.tokens_out = usage
        return True


def _reasoning(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return False
    value = delta.get("reasoning_content") or delta.get("reasoning")
    return isinstance(value, str) and bool(value)


def translate(exc: BaseException, timeout_s: float) -> tuple[Status, str]:
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
    if isinstance(exc, aiohttp.ClientPayloadError):
        # A body shorter than its Content-Length or a chunked stream cut mid-chunk: aiohttp's
        # text ("400, message=...") quotes a status the server never sent, so only the cause
        # class is kept.
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return "connection_error", (
            f"connection_error: the response body ended early ({type(cause).__name__})"
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return "connection_error", f"the reply is not valid HTTP: {exc.message}"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connection_error", f"{type(exc).__name__}: {exc}"
    return "http_error", f"{type(exc).__name__}: {exc}"
