"""One chat-completions call to an OpenAI-compatible endpoint, with faults as data.

This module and its two halves, :mod:`arms._client_pool` (the shared sessions) and
:mod:`arms._openai_reply` (reading a reply, translating exceptions), are the only places in
``arms`` that speak HTTP. :class:`OpenAIChat` sends one chat request to one model (vLLM,
SGLang, Ollama, llama.cpp's server, DeepSeek...) and returns a :class:`ChatResult` whatever
happens: aiohttp exceptions are translated once, here, into a trial status and never escape. The mapping::

    timeout (per attempt, the plan's timeout_ms)                   -> timeout
    timeout before the request was written (no connection free)    -> not_sent_in_time
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
- ``guided_choice``: vLLM before v0.12, ``{"guided_choice": labels}``;
- ``json_schema``: OpenAI's ``response_format`` ``{"type": "json_schema", "json_schema": {...}}``
  with a schema ``{"label": enum of labels}`` (OpenAI, vLLM, SGLang);
- ``json_object_schema``: llama.cpp's ``response_format`` ``{"type": "json_object", "schema":
  {...}}`` (llama-cpp-python's server rejects OpenAI's form with HTTP 500);
- ``none``: a plain prompt, parsed by the plan's rule.

Every attempt carries ``x-request-id``, derived from the trial id: the id itself
(:func:`request_id`), or with ``backend.request_id: uuid`` a UUID made from it (:func:`request_uuid`).

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
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from arms._backend import ChatResult
from arms._client_pool import ClientPool, WireMark
from arms._openai_reply import Attempt, Unparseable, read_json, read_stream, translate
from prereg.errors import ArmError
from prereg.schema import DecodingSpec, OpenAIBackendSpec, RetrySpec

__all__ = [
    "REQUEST_ID_HEADER",
    "ChatResult",
    "ClientPool",
    "OpenAIChat",
    "chat_url",
    "parse_retry_after",
    "request_id",
    "request_uuid",
    "structured_fields",
]

#: Request id header of every attempt (:func:`request_id`), for joining a trial to server logs.
REQUEST_ID_HEADER = "x-request-id"

_MAX_ERROR_CHARS = 200
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def chat_url(base_url: str) -> str:
    """The chat-completions URL under an OpenAI-style base URL (``.../v1``)."""
    return base_url.rstrip("/") + "/chat/completions"


def request_id(tag: str, attempt: int) -> str:
    """``x-request-id`` of one attempt: the tag (the trial id, ``judge:<id>`` for a judge call),
    with ``#<n>`` from the second attempt on, so every attempt has its own id that joins to the
    trial table's ``trial_id``."""
    return tag if attempt == 1 else f"{tag}#{attempt}"


#: The namespace of :func:`request_uuid` (uuid5 over ``"routetrial:" + request id``).
REQUEST_UUID_NAMESPACE = uuid.NAMESPACE_URL


def request_uuid(tag: str, attempt: int) -> str:
    """``x-request-id`` of one attempt under ``request_id: uuid``: a UUID derived from
    :func:`request_id`, the same for the same trial and attempt, so a server's log still joins to
    the trial table (compute it from ``trial_id``)."""
    return str(uuid.uuid5(REQUEST_UUID_NAMESPACE, "routetrial:" + request_id(tag, attempt)))


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


def _label_schema(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }


def structured_fields(dialect: str, labels: Sequence[str]) -> dict[str, Any]:
    """The body fields constraining a classifier's reply to ``labels`` in one server's dialect."""
    if dialect == "choice":
        return {"structured_outputs": {"choice": list(labels)}}
    if dialect == "guided_choice":
        return {"guided_choice": list(labels)}
    if dialect == "json_schema":
        schema = {"name": "route", "strict": True, "schema": _label_schema(labels)}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    if dialect == "json_object_schema":
        return {"response_format": {"type": "json_object", "schema": _label_schema(labels)}}
    return {}


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
        served_model_header: str | None = None,
    ) -> None:
        self._pool = pool
        # A router service names the model it picked in this response header (read before the
        # body's ``model`` field, which such services may fill with the name they were sent).
        self._served_header = served_model_header
        self.backend = backend
        self.model = model
        self.decoding = decoding
        self.timeout_s = timeout_ms / 1000.0
        self.retry = retry
        self.labels = tuple(labels) if labels is not None else None
        self.url = chat_url(backend.base_url)
        self._request_id = request_uuid if backend.request_id == "uuid" else request_id
        pool.register(backend.base_url, backend.max_in_flight)
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
            body.update(structured_fields(self.backend.structured, self.labels))
        body.update(self.backend.extra_body)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {
            "accept": "text/event-stream" if self.backend.stream else "application/json",
            "content-type": "application/json",
        }
        if self._key is not None:
            headers["authorization"] = f"Bearer {self._key}"
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
        headers = self._headers()
        started = clock()
        attempt = Attempt(status="not_sent")
        wire_s: float | None = None
        n = 0
        for n in range(1, self.retry.max_attempts + 1):
            if tag is not None:
                headers[REQUEST_ID_HEADER] = self._request_id(tag, n)
            mark = WireMark(clock)
            attempt = await self._attempt(body, headers, mark)
            if n == 1:
                wire_s = mark.wire_s
            if attempt.status == "ok" or attempt.status not in self.retry.retry_on:
                break
            if n == self.retry.max_attempts:
                break
            wait = attempt.retry_after_s
            if wait is not None and attempt.status == "rate_limited":
                # A server that asks for more than an attempt's timeout would hold the trial past
                # its budget (86400 would hold the campaign a day): stop, the status says why.
                if wait > self.timeout_s:
                    attempt.error = f"{attempt.error} (Retry-After {wait:.0f} s exceeds the timeout)"
                    break
            else:
                wait = min(self.retry.backoff_ms * 2 ** (n - 1) / 1000.0, self.timeout_s)
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
            wire_s=wire_s,
            last_token_s=attempt.last_token_s,
            token_chunks=attempt.token_chunks,
            served_model=attempt.served_model,
        )

    async def _attempt(self, body: bytes, headers: dict[str, str], mark: WireMark) -> Attempt:
        clock = mark.clock
        out = Attempt(status="ok")
        session = self._pool.client(self.backend.base_url)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with session.post(
                    self.url, data=body, headers=headers, trace_request_ctx=mark
                ) as response:
                    out.first_byte_s = clock()
                    out.http_status = response.status
                    if self._served_header is not None:
                        out.served_model = response.headers.get(self._served_header) or None
                    if response.status >= 300:
                        raw = await response.read()
                        out.status = "rate_limited" if response.status == 429 else "http_error"
                        out.retry_after_s = parse_retry_after(response.headers.get("retry-after"))
                        detail = raw.decode("utf-8", "replace").strip()
                        out.error = f"HTTP {response.status}: {detail}"
                        return out
                    ctype = response.headers.get("content-type", "")
                    if ctype.startswith("text/event-stream"):
                        await read_stream(response, out, clock)
                    else:
                        await read_json(response, out, clock)
        except Unparseable as exc:
            out.status, out.error = "unparseable", str(exc)
            return out
        except TimeoutError as exc:
            if mark.wire_s is None:
                # The deadline passed while the request waited for a connection (the server's
                # max_in_flight were all busy) or was connecting: the server never saw it, and
                # calling that a server timeout would blame the server for the harness's queue.
                out.status = "not_sent_in_time"
                out.error = (
                    f"not sent within the timeout ({self.timeout_s:g} s): no connection to "
                    f"{self.backend.base_url} was free (max_in_flight {self._pool.limit(self.backend.base_url)})"
                    " or connecting took that long"
                )
            else:
                out.status, out.error = translate(exc, self.timeout_s)
            return out
        except aiohttp.ClientError as exc:
            out.status, out.error = translate(exc, self.timeout_s)
            return out
        if out.status == "ok" and not (out.text or "").strip():
            out.status, out.error = "empty", "the reply's content is empty"
        return out
