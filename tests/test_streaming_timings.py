"""Streaming timings through real HTTP: downstream TTFT and mean inter-token latency.

A raw asyncio server on 127.0.0.1 streams reasoning deltas first, then content, with known gaps
(50 ms) between chunks and a usage chunk at the end. Bounds are generous: these tests check what
is measured (first token of any kind; (last - first) / (tokens - 1)), not the machine's timing.
Also: a body cut short (Content-Length or chunked) is reported without aiohttp's invented "400".
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

from _live_plans import live_plan, starter_cases

from arms import ArmRequest, ClientPool, LiveArmOutcome, build_live_arms
from arms._records import to_trial_record
from prereg.records import TrialRecord

CASES = starter_cases()
GAP_S = 0.05

Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _event(delta: dict[str, str], finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def _streamed(writer: asyncio.StreamWriter) -> None:
    """Two reasoning deltas, then the label in two content deltas, 50 ms apart; usage 4 tokens."""
    label = CASES[0].family
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    await writer.drain()
    pieces = [{"reasoning_content": "Thinking"}, {"reasoning": " more"}]
    pieces += [{"content": label[:2]}, {"content": label[2:]}]
    for delta in pieces:
        await asyncio.sleep(GAP_S)
        writer.write(_event(delta))
        await writer.drain()
    usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4}}
    writer.write(_event({}, "stop") + b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
    await writer.drain()


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        try:
            await handler(writer)
        finally:
            writer.close()

    server = await asyncio.start_server(one, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


def _run(handler: Handler, arm: str) -> tuple[LiveArmOutcome, TrialRecord]:
    async def go() -> tuple[LiveArmOutcome, TrialRecord]:
        server, url = await _serve(handler)
        pool = ClientPool()
        try:
            plan = live_plan(url)
            arms = build_live_arms(plan, CASES, pool)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            case = CASES[0]
            request = ArmRequest(0, f"{arm}:{case.id}:0", case, arm, 0, 0.0)
            result = await arms[arm].handle(request, lambda: loop.time() - t0)
            assert isinstance(result, LiveArmOutcome)
            return result, to_trial_record("0" * 64, request, result)
        finally:
            await pool.aclose()
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def test_control_downstream_ttft_counts_reasoning_and_itl_follows_the_gaps() -> None:
    """The first token is the first reasoning delta (~1 gap); ITL = 3 gaps / 3 = ~1 gap."""
    result, row = _run(_streamed, "control")
    assert result.downstream is not None and result.downstream.status == "ok"
    ttft, itl = row.downstream_first_token_ms, row.downstream_itl_ms
    assert ttft is not None and itl is not None
    # Reasoning first: one gap, far below the four gaps a content-only TTFT would wait for.
    assert 0.8 * GAP_S * 1000 <= ttft < 2.5 * GAP_S * 1000 + 500
    assert ttft < row.downstream_latency_ms
    assert 0.5 * GAP_S * 1000 <= itl <= 3.0 * GAP_S * 1000
    assert row.routing_first_token_ms is None


def test_router_downstream_ttft_follows_routing() -> None:
    """For a router arm the downstream call follows the classifier's: its TTFT comes later."""
    result, row = _run(_streamed, "router")
    assert result.routing is not None and result.routing.status == "ok"
    routing, ttft, itl = row.routing_first_token_ms, row.downstream_first_token_ms, row.downstream_itl_ms
    assert routing is not None and ttft is not None and itl is not None
    assert 0.8 * GAP_S * 1000 <= routing < ttft
    # The downstream call starts after the whole classifier stream (~5 gaps) and waits one more.
    assert ttft >= routing + 3 * GAP_S * 1000
    assert 0.5 * GAP_S * 1000 <= itl <= 3.0 * GAP_S * 1000


async def _short_body(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
    await writer.drain()


async def _cut_chunk(writer: asyncio.StreamWriter) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    event = _event({"content": "ma"})
    writer.write(head + f"{len(event) + 40:x}\r\n".encode() + event)
    await writer.drain()


def test_a_short_content_length_body_is_no_invented_400() -> None:
    result, row = _run(_short_body, "control")
    assert result.downstream is not None and result.downstream.status == "connection_error"
    error = result.downstream.error or ""
    assert "body ended early" in error and "400" not in error
    assert row.downstream_first_token_ms is None and row.downstream_itl_ms is None


def test_a_chunked_stream_cut_mid_chunk_is_no_invented_400() -> None:
    result, row = _run(_cut_chunk, "control")
    assert result.downstream is not None and result.downstream.status == "connection_error"
    error = result.downstream.error or ""
    assert "body ended early" in error and "400" not in error
    assert row.downstream_itl_ms is None
