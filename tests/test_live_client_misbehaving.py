"""The live client against servers on 127.0.0.1 that misbehave in one exact way (issue 14).

Each server here is a raw TCP server that answers every chat request with the bytes a test gives
it (so a stream can be cut, an SSE event split over lines, a Retry-After made absurd) and keeps
each request's headers and body. The client under test is the real one (``build_live_arms``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _live_plans import live_plan, starter_cases
from _raw_server import RawServer

from arms import ArmRequest, ClientPool, LiveArmOutcome, build_live_arms
from prereg.schema import Plan

CASES = starter_cases()


def sse(*events: str, done: bool = True, finish: bool = True) -> bytes:
    """A close-delimited SSE reply of ``events`` (each the text of one ``data:`` payload)."""
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    for e in events:
        out += b"data: " + e.encode() + b"\n\n"
    if finish:
        out += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    if done:
        out += b"data: [DONE]\n\n"
    return out


def delta(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[dict[str, Any]], bytes]], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Callable[[dict[str, Any]], bytes]) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def run_router(plan: Plan) -> LiveArmOutcome:
    async def go() -> LiveArmOutcome:
        pool = ClientPool()
        try:
            arms = build_live_arms(plan, CASES, pool)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            case = CASES[0]
            request = ArmRequest(0, f"router:{case.id}:0", case, "router", 0, 0.0)
            result = await arms["router"].handle(request, lambda: loop.time() - t0)
            assert isinstance(result, LiveArmOutcome)
            return result
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_a_stream_cut_before_its_end_is_a_connection_error(raw: Any) -> None:
    """No finish_reason and no [DONE]: the classifier's half answer is not a label."""
    server = raw(lambda _body: sse(delta(CASES[0].family[:3]), done=False, finish=False))
    result = run_router(live_plan(server.url))
    assert result.routing is not None and result.routing.status == "connection_error"
    assert "stream ended early" in (result.routing.error or "")
    assert result.downstream is not None and result.downstream.status == "connection_error"


def test_an_sse_event_split_over_data_lines_is_joined(raw: Any) -> None:
    """One event's ``data:`` lines are joined with a newline (a legal way to send a JSON chunk)."""
    label = CASES[0].family
    chunk = delta(label).replace('"delta":', '"delta":\ndata: ')
    server = raw(lambda _body: sse(chunk))
    result = run_router(live_plan(server.url))
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("ok", label)


def test_a_retry_after_beyond_the_timeout_is_not_waited_for(raw: Any) -> None:
    """429 with Retry-After: 30 under a 2 s timeout: no 30 s hold; the trial is rate_limited now."""
    server = raw(
        lambda _body: (
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    )
    plan = live_plan(server.url, timeout_ms=2_000.0, retry={"max_attempts": 3, "retry_on": ["rate_limited"]})
    started = time.monotonic()
    result = run_router(plan)
    assert time.monotonic() - started < 10.0
    assert result.routing is not None and result.routing.status == "rate_limited"
    assert "Retry-After 30 s exceeds the timeout" in (result.routing.error or "")


def test_every_attempt_carries_a_request_id_from_the_trial_id(raw: Any) -> None:
    server = raw(lambda _body: sse(delta(CASES[0].family)))
    run_router(live_plan(server.url))
    ids = [headers.get("x-request-id") for headers, _ in server.requests]
    assert ids and all(i == f"router:{CASES[0].id}:0" for i in ids), ids


def test_request_id_uuid_sends_a_uuid_derived_from_the_trial_id(raw: Any) -> None:
    """``request_id: uuid`` (servers that take nothing else): a UUID, the same one for the same
    trial and attempt, so a server's log still joins to ``trial_id``; no trial id in any header."""
    import uuid

    from arms._openai import request_uuid

    server = raw(lambda _body: sse(delta(CASES[0].family)))
    plan = live_plan(server.url)
    doc = plan.model_dump(mode="json")
    doc["arms"][1]["classifier"]["backend"]["request_id"] = "uuid"
    for model in doc["models"].values():
        model["backend"]["request_id"] = "uuid"
    run_router(Plan.model_validate(doc))
    ids = [headers.get("x-request-id") for headers, _ in server.requests]
    trial = f"router:{CASES[0].id}:0"
    assert len(ids) == 2 and all(i == request_uuid(trial, 1) for i in ids), ids
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert all(trial not in " ".join(h.values()) for h, _ in server.requests)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("choice", "structured_outputs"),
        ("guided_choice", "guided_choice"),
        ("json_schema", "response_format"),
        ("json_object_schema", "response_format"),
    ],
)
def test_each_structured_dialect_sends_its_own_body(raw: Any, dialect: str, expected: str) -> None:
    server = raw(lambda _body: sse(delta(CASES[0].family)))
    run_router(live_plan(server.url, structured=dialect))
    body = server.requests[0][1]
    assert expected in body, body
    if dialect == "json_object_schema":
        assert body["response_format"]["type"] == "json_object" and "schema" in body["response_format"]
    if dialect == "json_schema":
        assert body["response_format"]["type"] == "json_schema"
