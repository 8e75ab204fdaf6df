"""The live OpenAI-compatible arms against the simulated server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import statistics
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _live_plans import LABELS, live_plan, sim_plan, start_server, starter_cases

from arms._live_arms import LiveArmOutcome, build_live_arms
from arms._openai import ClientPool, OpenAIChat
from arms._protocol import ArmRequest
from experiment.serve import FaultSpec, SimulatedServer
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import Plan

SECRET = "sk-test-9f8e7d6c5b4a-never-print-me"
CASES = starter_cases()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatedServer, str]]:
    server, thread = start_server(sim_plan(accuracy=1.0, quality=1.0), CASES)
    yield server, thread.base_url
    thread.stop()


def run_arm(plan: Plan, arm: str = "router", case: Case | None = None, replay: int = 0) -> LiveArmOutcome:
    """Send one request through a live arm and return its result."""
    case = case or CASES[0]

    async def go() -> LiveArmOutcome:
        pool = ClientPool()
        try:
            arms = build_live_arms(plan, CASES, pool)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            request = ArmRequest(0, f"{arm}:{case.id}:{replay}", case, arm, replay, 0.0)
            result = await arms[arm].handle(request, lambda: loop.time() - t0)
            assert isinstance(result, LiveArmOutcome)
            return result
        finally:
            await pool.aclose()

    return asyncio.run(go())


def statuses(result: LiveArmOutcome) -> tuple[str | None, str | None]:
    return (
        result.routing.status if result.routing else None,
        result.downstream.status if result.downstream else None,
    )


def test_router_request_is_labelled_answered_and_graded(srv: tuple[SimulatedServer, str]) -> None:
    """A router request gets a taxonomy label, reaches the routed model and is graded correct."""
    server, url = srv
    case = next(c for c in CASES if c.grader == "numeric")
    result = run_arm(live_plan(url), case=case)
    assert result.routing is not None and result.downstream is not None
    assert (result.routing.status, result.routing.predicted_label) == ("ok", case.family)
    assert (result.downstream.model, result.downstream.status, result.downstream.correct) == (
        "small",
        "ok",
        True,
    )
    assert (result.routing.tokens_in, result.routing.tokens_out) == (200, 4)
    assert [e.kind for e in server.log] == ["classifier", "downstream"]


def test_ungraded_case_is_never_guessed(srv: tuple[SimulatedServer, str]) -> None:
    """A case without a grader comes back with downstream_correct None."""
    _, url = srv
    case = next(c for c in CASES if c.grader is None)
    result = run_arm(live_plan(url), arm="control", case=case)
    assert result.downstream is not None
    assert (result.downstream.status, result.downstream.correct) == ("ok", None)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (FaultSpec(error_rate=1.0), "http_error"),
        (FaultSpec(rate_limit_rate=1.0, retry_after_s=0.0), "rate_limited"),
        (FaultSpec(garbage_rate=1.0), "unparseable"),
        (FaultSpec(empty_rate=1.0), "empty"),
        (FaultSpec(slow_rate=1.0, slow_ms=400.0), "timeout"),
    ],
)
def test_each_injected_fault_becomes_its_status(
    srv: tuple[SimulatedServer, str], faults: FaultSpec, expected: str, stream: bool
) -> None:
    """Server errors, rate limits, garbage, empty content and slowness are trial statuses."""
    server, url = srv
    server.faults = faults
    result = run_arm(live_plan(url, stream=stream, timeout_ms=150.0), arm="control")
    assert statuses(result) == (None, expected)
    assert result.downstream is not None and result.downstream.error


def test_connection_refused_is_a_status() -> None:
    """A port nobody listens on gives connection_error, not an exception."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_arm(live_plan(f"http://127.0.0.1:{port}/v1"))
    assert statuses(result) == ("connection_error", "connection_error")
    assert result.routing is not None and result.routing.predicted_label is None


def test_unparseable_label_from_plain_prompt(srv: tuple[SimulatedServer, str]) -> None:
    """A reply that is JSON while the plan's rule is strict names no label: unparseable."""
    _, url = srv
    result = run_arm(live_plan(url, structured="json_schema", parsing="strict"))
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("unparseable", None)
    assert result.downstream is not None and result.downstream.model == "large"  # the fallback


def test_retry_after_is_honoured_and_counted(srv: tuple[SimulatedServer, str]) -> None:
    """A 429 with Retry-After 0.3 s is retried no sooner, and the wait counts in the latency."""
    server, url = srv
    server.faults = FaultSpec(rate_limit_rate=1.0, retry_after_s=0.3)
    retry = {"max_attempts": 2, "backoff_ms": 0.0, "retry_on": ["rate_limited"]}
    result = run_arm(live_plan(url, retry=retry))
    assert result.routing is not None
    assert (result.routing.status, result.routing.attempts) == ("rate_limited", 2)
    first, second = [e.received_s for e in server.log][:2]
    assert second - first >= 0.3
    assert result.routing.latency_ms >= 300.0


def test_failures_not_named_in_retry_on_are_not_retried(srv: tuple[SimulatedServer, str]) -> None:
    """An HTTP 500 is tried once when the plan retries only rate limits."""
    server, url = srv
    server.faults = FaultSpec(error_rate=1.0)
    retry = {"max_attempts": 3, "backoff_ms": 0.0, "retry_on": ["rate_limited"]}
    result = run_arm(live_plan(url, retry=retry))
    assert result.routing is not None and result.routing.attempts == 1
    assert [e.kind for e in server.log] == ["classifier", "downstream"]


def sent_body(server: SimulatedServer, kind: str = "classifier") -> dict[str, Any]:
    return next(e.body for e in server.log if e.kind == kind)


def test_choice_mode_sends_vllm_structured_outputs(srv: tuple[SimulatedServer, str]) -> None:
    """structured: choice sends {"structured_outputs": {"choice": labels}} and streams with usage."""
    server, url = srv
    result = run_arm(live_plan(url, structured="choice"))
    body = sent_body(server)
    assert body["structured_outputs"] == {"choice": LABELS}
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})
    assert "response_format" not in body and "structured_outputs" not in sent_body(server, "downstream")
    assert result.routing is not None and result.routing.status == "ok"


def test_json_schema_mode_sends_an_enum_schema(srv: tuple[SimulatedServer, str]) -> None:
    """structured: json_schema sends a response_format whose schema enumerates the labels."""
    server, url = srv
    result = run_arm(live_plan(url, structured="json_schema", parsing="json_label", stream=False))
    rf = sent_body(server)["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"]["properties"]["label"]["enum"] == LABELS
    assert "stream_options" not in sent_body(server)
    assert result.routing is not None and result.routing.status == "ok"


def test_none_mode_sends_plain_prompt_and_extra_body(srv: tuple[SimulatedServer, str]) -> None:
    """structured: none sends no constraint; extra_body (DeepSeek's json_object) is merged."""
    server, url = srv
    run_arm(live_plan(url, extra_body={"response_format": {"type": "json_object"}}, parsing="json_label"))
    body = sent_body(server)
    assert "structured_outputs" not in body
    assert body["response_format"] == {"type": "json_object"}
    assert CASES[0].text in body["messages"][0]["content"]


def test_api_key_is_sent_but_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key reaches the server's Authorization header and no error text, repr or log entry."""
    monkeypatch.setenv("RT_TEST_KEY", SECRET)
    server, thread = start_server(sim_plan(), CASES, api_key=SECRET)
    try:
        ok = run_arm(live_plan(thread.base_url, api_key_env="RT_TEST_KEY"))
        assert statuses(ok) == ("ok", "ok") and all(e.authorized for e in server.log)
        server.faults = FaultSpec(error_rate=1.0)
        failed = run_arm(live_plan(thread.base_url, api_key_env="RT_TEST_KEY"))
        response = httpx.get(
            f"http://127.0.0.1:{thread.port}/_log", headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert response.status_code == 200 and response.json()  # the log itself, not a 401
        log = response.text
    finally:
        thread.stop()
    chat = OpenAIChat(
        ClientPool(),
        live_plan("http://x/v1", api_key_env="RT_TEST_KEY").models["small"].backend,  # type: ignore[arg-type]
        "m",
        live_plan("http://x/v1").models["small"].decoding,
        1.0,
        live_plan("http://x/v1").models["small"].retry,
    )
    texts = [repr(ok), repr(failed), log, repr(chat), str(failed.routing and failed.routing.error)]
    assert failed.routing is not None and failed.routing.status == "http_error"
    assert not any(SECRET in t for t in texts)


def test_missing_key_variable_is_an_arm_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A named but unset key variable is a configuration error naming the variable."""
    monkeypatch.delenv("RT_NO_SUCH_KEY", raising=False)
    with pytest.raises(ArmError, match="RT_NO_SUCH_KEY"):
        build_live_arms(live_plan("http://127.0.0.1:9/v1", api_key_env="RT_NO_SUCH_KEY"), CASES, ClientPool())


def test_measured_latency_agrees_with_server_record(srv: tuple[SimulatedServer, str]) -> None:
    """Client-measured call durations exceed the server's own handler time by < 5 ms at the median."""
    server, url = srv
    plan = live_plan(url, stream=False)

    async def go() -> list[tuple[str, float]]:
        pool = ClientPool()
        chat = build_live_arms(plan, CASES, pool)
        del chat
        model = plan.models["large"]
        client = OpenAIChat(pool, model.backend, model.model, model.decoding, 5000.0, model.retry)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        out = []
        for i, case in enumerate(CASES[:40]):
            r = await client.complete(
                [{"role": "user", "content": case.text}], loop.time, tag=f"t:{case.id}:{i}"
            )
            out.append((f"t:{case.id}:{i}", (r.end_s - r.started_s) * 1000.0))
        await pool.aclose()
        return out

    measured = asyncio.run(go())
    record = {e.trial: e.handler_ms for e in server.log}
    diffs = [ms - (record[t] or 0.0) for t, ms in measured]
    assert min(diffs) >= 0.0
    assert statistics.median(diffs) < 5.0
