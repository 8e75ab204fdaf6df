"""Requests in flight are bounded per server, and the wait for a connection is measured (issue 14).

A full connection pool used to turn the open loop into a closed one invisibly: requests waited
for a connection after their send time was recorded. Now each trial stores when its first request
was written to the wire (``wire_s``) and how long it waited (``connect_wait_ms``); lateness is
measured to the wire, and a request whose timeout expires before it is written is
``not_sent_in_time``. The servers are real: ``routetrial serve`` slowed on purpose, and a raw TCP
server that holds every reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _live_plans import live_plan, sim_plan, start_server, starter_cases
from _raw_server import RawServer

from analysis import RunMeta
from analysis._run_validity import invalid_run
from arms import ClientPool
from arms._openai import OpenAIChat
from experiment.campaign.live import run_live_plan
from experiment.serve import FaultSpec, SimulatedServer
from experiment.store import TrialStore
from prereg._check_backends import check_backends
from prereg.loader import FieldPath, format_path
from prereg.schema import DecodingSpec, OpenAIBackendSpec, RetrySpec

CASES = starter_cases(12)
HASH = "c" * 64


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatedServer, str]]:
    server, thread = start_server(sim_plan(), CASES)
    yield server, thread.base_url
    thread.stop()


def _stored(url: str) -> dict[str, list[Any]]:
    with TrialStore.open(url, HASH, create=False) as store:
        return {k: v.tolist() for k, v in store.read_columns().items()}


def test_a_full_pool_shows_as_connection_wait_and_lateness(
    served: tuple[SimulatedServer, str], tmp_path: Path
) -> None:
    """Two in flight against a server that takes 150 ms, 20 requests/s: the queue is measured.

    The dispatcher itself is punctual here; what is late is the wire, and the run says so.
    """
    server, url = served
    server.faults = FaultSpec(slow_rate=1.0, slow_ms=150.0)
    try:
        store = f"duckdb:///{tmp_path / 'full.duckdb'}"
        plan = live_plan(url, cases=12, rate=20.0, max_in_flight=2, max_lateness_p99_ms=100.0)
        summary = run_live_plan(plan, CASES, HASH, tmp_path, store)
    finally:
        server.faults = FaultSpec()
    cols = _stored(store)
    assert set(cols["status"]) == {"ok"}
    waits = [w for w in cols["connect_wait_ms"] if w is not None]
    assert len(waits) == 24 and max(waits) > 300.0
    for sent, wire, wait, late in zip(
        cols["sent_s"], cols["wire_s"], cols["connect_wait_ms"], cols["lateness_ms"], strict=True
    ):
        assert wire >= sent and wait == pytest.approx((wire - sent) * 1000.0)
        assert late >= wait - 1e-6  # lateness reaches to the wire, so it holds the wait
    assert summary.connect_wait_p99_ms is not None and summary.connect_wait_p99_ms > 300.0
    assert summary.valid is False
    with TrialStore.open(store, HASH, create=False) as st:
        meta = st.meta()
    assert meta["live_valid"] == "false" and float(meta["live_connect_wait_p99_ms"]) > 300.0


def test_the_default_limit_leaves_an_unloaded_server_unqueued(
    served: tuple[SimulatedServer, str], tmp_path: Path
) -> None:
    """With the default max_in_flight nothing waits for a connection at 20/s against a fast server."""
    _, url = served
    store = f"duckdb:///{tmp_path / 'free.duckdb'}"
    run_live_plan(live_plan(url, cases=12, rate=20.0), CASES, HASH, tmp_path, store)
    cols = _stored(store)
    # Generous: nothing queues (24 requests, 512 allowed), so only connecting and the event loop's
    # own delays are in it; a loaded machine must not fail the test.
    assert all(w is not None and w < 1000.0 for w in cols["connect_wait_ms"])
    assert all(wire is not None for wire in cols["wire_s"])


def _held(hold_s: float) -> RawServer:
    """A server that holds every request ``hold_s`` before a short JSON reply."""
    body = b'{"choices":[{"index":0,"message":{"content":"math"},"finish_reason":"stop"}]}'
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

    def hold(_: dict[str, Any]) -> bytes:
        time.sleep(hold_s)
        return reply

    return RawServer(hold)


def _chat(pool: ClientPool, url: str, timeout_ms: float) -> OpenAIChat:
    backend = OpenAIBackendSpec(kind="openai", base_url=url, stream=False, max_in_flight=1)
    return OpenAIChat(pool, backend, "m", DecodingSpec(), timeout_ms, RetrySpec(max_attempts=1))


def test_a_timeout_before_the_request_is_written_is_not_sent_in_time() -> None:
    """One in flight, held 1.5 s: a second call with a 0.3 s timeout never reaches the wire.

    Its status is not_sent_in_time (not a server timeout), it has no wire time, and the server
    never saw it; the first call, written at once, has one.
    """
    server = _held(1.5)

    async def go() -> tuple[Any, Any]:
        pool = ClientPool()
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()

            def clock() -> float:
                return loop.time() - t0

            slow, hurried = _chat(pool, server.url, 5_000.0), _chat(pool, server.url, 300.0)
            first = asyncio.create_task(slow.complete([{"role": "user", "content": "a"}], clock, tag="t:a:0"))
            await asyncio.sleep(0.1)
            second = await hurried.complete([{"role": "user", "content": "b"}], clock, tag="t:b:0")
            return await first, second
        finally:
            await pool.aclose()

    try:
        first, second = asyncio.run(go())
    finally:
        server.close()
    assert first.status == "ok" and first.wire_s is not None and first.wire_s < 0.1
    assert second.status == "not_sent_in_time" and second.wire_s is None
    assert "max_in_flight 1" in (second.error or "")
    assert [headers.get("x-request-id") for headers, _ in server.requests] == ["t:a:0"]


def test_a_run_with_requests_not_sent_in_time_cannot_decide_latency() -> None:
    """The analysis refuses latency verdicts of a run where the open loop broke outright."""
    plan = live_plan("http://127.0.0.1:9/v1")
    meta = RunMeta(HASH, HASH, True, live={"p50_ms": 1.0, "p99_ms": 2.0, "not_sent_in_time": 3.0})
    why = invalid_run(plan, meta)
    assert why is not None and "3 requests timed out before they were written" in why
    fine = RunMeta(HASH, HASH, True, live={"p50_ms": 1.0, "p99_ms": 2.0, "not_sent_in_time": 0.0})
    assert invalid_run(plan, fine) is None


def test_backends_at_one_server_must_agree_on_max_in_flight() -> None:
    """Two backends at the same base URL share its connections: different limits are refused."""
    plan = live_plan("http://127.0.0.1:9/v1", max_in_flight=4)
    models = dict(plan.models)
    small = models["small"]
    models["small"] = small.model_copy(
        update={"backend": small.backend.model_copy(update={"max_in_flight": 8})}
    )
    found: list[str] = []

    class Collect:
        def plan(self, path: FieldPath, message: str) -> None:
            found.append(f"{format_path(path)}: {message}")

    check_backends(plan.model_copy(update={"models": models}), Collect())
    assert len(found) == 1 and ".backend.max_in_flight: expected " in found[0], found
    assert "share its connections" in found[0] and {"4", "8"} <= set(found[0].replace(",", " ").split())
