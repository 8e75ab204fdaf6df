"""Simulated arms in SimPy: queueing, timeouts, retries, routing, cost, records and determinism."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import pytest
import simpy

from arms import (
    ArmOutcome,
    ArmRequest,
    DownstreamOutcome,
    FifoServer,
    SimulatedRouterArm,
    build_simulated_arms,
    to_trial_record,
)
from prereg.errors import ArmError
from prereg.records import Case, TrialRecord
from prereg.schema import DEFAULT_LABELS, Plan

HASH = "ab" * 32
CORPUS = tuple(Case(f"c{i}", "text", f, (f,)) for i, f in enumerate(DEFAULT_LABELS * 5))
#: Service times this tight are deterministic to ~1e-6 ms: exact logs without fixing the draws.
FIXED_100MS = {"median_ms": 100.0, "p95_ms": 100.0001}


def everywhere(value: float) -> dict[str, float]:
    return dict.fromkeys(DEFAULT_LABELS, value)


def plan(
    *,
    classifier: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    model_latency: dict[str, Any] | None = None,
    seed: int = 1,
) -> Plan:
    """A minimal valid plan: control on ``big``, router ``r`` routing code and math to ``big``."""
    model_backend = {
        "kind": "simulated",
        "quality": everywhere(0.8),
        "latency": {**FIXED_100MS, "concurrency": 8, **(model_latency or {})},
        "tokens": {"input": 300, "output": 400},
    }
    router_backend: dict[str, Any] = {
        "kind": "simulated",
        "accuracy": everywhere(0.8),
        "latency": {**FIXED_100MS, "concurrency": 8},
        "tokens": {"input": 200, "output": 4},
    }
    router_backend.update(backend or {})
    router_classifier: dict[str, Any] = {
        "model": "qwen2.5-3b",
        "prompt_template": "{labels}: {text}",
        "backend": router_backend,
        "price": {"input_per_1k": 0.5, "output_per_1k": 2.0},
    }
    router_classifier.update(classifier or {})
    return Plan.model_validate(
        {
            "study": {"title": "t", "authors": ["a"], "hypotheses": ["h"]},
            "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
            "models": {
                "big": {
                    "model": "big",
                    "backend": model_backend,
                    "price": {"input_per_1k": 0.01, "output_per_1k": 0.03},
                },
                "small": {"model": "small", "backend": model_backend},
            },
            "arms": [
                {"id": "control", "kind": "control", "model": "big"},
                {"id": "r", "kind": "router", "classifier": router_classifier},
            ],
            "routing": {
                "routes": {f: ("big" if f in ("code", "math") else "small") for f in DEFAULT_LABELS},
                "fallback": "big",
            },
            "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 1.0}},
            "randomization": {"seed": seed},
            "sample_size": {"unique_cases": 30, "requests_total": 300},
            "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
        }
    )


def run(
    p: Plan, requests: Sequence[tuple[float, str, Case]], *, logs: bool = False
) -> tuple[list[ArmOutcome], list[TrialRecord], dict[str, Any]]:
    """Send ``(time_s, arm, case)`` requests through the plan's arms; results in request order."""
    env = simpy.Environment()
    arms = build_simulated_arms(p, CORPUS, HASH, env)
    if logs:
        for arm in arms.values():
            if isinstance(arm, SimulatedRouterArm):
                arm.classifier.server.log = []
                arm.routes["code"].server.log = []
    results: list[ArmOutcome | None] = [None] * len(requests)
    records: list[TrialRecord | None] = [None] * len(requests)

    def one(seq: int, at: float, arm_id: str, case: Case) -> Generator[Any, Any, None]:
        yield env.timeout(at)
        request = ArmRequest(seq, f"{arm_id}:{case.id}:{seq}", case, arm_id, seq, at)
        result = yield from arms[arm_id].process(env, request)
        results[seq] = result
        records[seq] = to_trial_record(HASH, request, result)

    for seq, (at, arm_id, case) in enumerate(requests):
        env.process(one(seq, at, arm_id, case))
    env.run()
    return [r for r in results if r], [r for r in records if r], arms


def test_fifo_server_starts_requests_exactly_as_a_simpy_resource_does() -> None:
    """Booking gives the same start times as a simpy.Resource holding each slot for its service."""
    rng = np.random.default_rng(3)
    arrivals = np.cumsum(rng.exponential(0.1, 300)).tolist()
    service = rng.lognormal(np.log(0.3), 0.8, 300).tolist()
    server = FifoServer("m", 3)
    booked = [server.book(a, s) for a, s in zip(arrivals, service, strict=True)]

    env = simpy.Environment()
    resource = simpy.Resource(env, capacity=3)
    started: list[float] = [0.0] * 300

    def user(i: int) -> Generator[Any, Any, None]:
        yield env.timeout(arrivals[i])
        req = resource.request()
        yield req
        started[i] = env.now
        yield env.timeout(service[i])
        resource.release(req)

    for i in range(300):
        env.process(user(i))
    env.run()
    assert booked == started


def test_a_queue_forms_when_arrivals_exceed_concurrency() -> None:
    """Five requests at once on two slots of one second start at 0, 0, 1, 1, 2."""
    log: list[tuple[float, float, float]] = []
    server = FifoServer("m", 2, log)
    for _ in range(5):
        server.book(0.0, 1.0)
    assert [start for _, start, _ in log] == [0.0, 0.0, 1.0, 1.0, 2.0]


def test_router_requests_queue_at_a_classifier_of_concurrency_one() -> None:
    """Three simultaneous requests to a one-slot classifier wait 0, 100 and 200 ms for it."""
    p = plan(backend={"latency": {**FIXED_100MS, "concurrency": 1}})
    case = CORPUS[0]
    results, _, arms = run(p, [(0.0, "r", case)] * 3, logs=True)
    starts = [start for _, start, _ in arms["r"].classifier.server.log]
    assert starts == pytest.approx([0.0, 0.1, 0.2], abs=1e-6)
    assert [r.routing.latency_ms for r in results if r.routing] == pytest.approx(
        [100.0, 200.0, 300.0], abs=1e-3
    )


def test_latency_adds_the_network_round_trip() -> None:
    """An unloaded hosted classifier answers in service time plus the round trip."""
    p = plan(backend={"latency": {**FIXED_100MS, "network_rtt_ms": 80.0}})
    results, _, _ = run(p, [(0.0, "r", CORPUS[0])])
    assert results[0].routing is not None
    assert results[0].routing.latency_ms == pytest.approx(180.0, abs=1e-3)


def test_a_slow_decision_times_out_at_exactly_the_timeout_and_goes_to_the_fallback() -> None:
    """A decision slower than timeout_ms times out at timeout_ms and goes to the fallback model."""
    p = plan(
        classifier={"timeout_ms": 1000.0},
        backend={"latency": {"median_ms": 5000.0, "p95_ms": 6000.0}},
    )
    results, records, _ = run(p, [(0.0, "r", CORPUS[2])])
    routing, downstream = results[0].routing, results[0].downstream
    assert routing is not None and downstream is not None
    assert (routing.status, routing.latency_ms, routing.predicted_label) == (
        "timeout",
        1000.0,
        None,
    )
    assert downstream.model == "big"
    assert (records[0].status, records[0].correct) == ("timeout", None)


def test_retries_count_their_time_and_backoff_in_the_latency() -> None:
    """Three timed-out attempts of 1 s with backoffs of 100 and 200 ms take 3,300 ms."""
    p = plan(
        classifier={
            "timeout_ms": 1000.0,
            "retry": {"max_attempts": 3, "backoff_ms": 100.0, "retry_on": ["timeout"]},
        },
        backend={"latency": {"median_ms": 5000.0, "p95_ms": 6000.0}},
    )
    results, _, _ = run(p, [(0.0, "r", CORPUS[0])])
    routing = results[0].routing
    assert routing is not None
    assert (routing.attempts, routing.latency_ms) == (3, 3300.0)


def test_the_server_stays_busy_after_a_client_timeout() -> None:
    """A timed-out request still holds its slot, so the next request waits for it."""
    p = plan(
        classifier={"timeout_ms": 50.0},
        backend={"latency": {**FIXED_100MS, "concurrency": 1}},
    )
    _, _, arms = run(p, [(0.0, "r", CORPUS[0]), (0.06, "r", CORPUS[0])], logs=True)
    assert [start for _, start, _ in arms["r"].classifier.server.log] == pytest.approx([0.0, 0.1], abs=1e-6)


def test_cost_is_tokens_times_the_plans_prices() -> None:
    """Classifier and downstream costs are mean tokens x price per 1k, summed in the record."""
    results, records, _ = run(plan(), [(0.0, "r", CORPUS[0])])  # code -> big
    routing, downstream = results[0].routing, results[0].downstream
    assert routing is not None and downstream is not None
    assert routing.cost_usd == pytest.approx((200 * 0.5 + 4 * 2.0) / 1000)
    assert downstream.cost_usd == pytest.approx((300 * 0.01 + 400 * 0.03) / 1000)
    assert records[0].cost_usd == pytest.approx(routing.cost_usd + downstream.cost_usd)
    assert (records[0].tokens_in, records[0].tokens_out) == (500, 404)


def test_control_arm_has_no_routing_decision() -> None:
    """The control goes straight to its model: routing None, correct NULL, model 'big'."""
    results, records, _ = run(plan(), [(0.0, "control", CORPUS[3])])
    assert results[0].routing is None
    record = records[0]
    assert (record.routing_status, record.correct, record.routed_model) == (None, None, "big")
    assert record.e2e_latency_ms == record.downstream_latency_ms


def test_router_sends_each_label_to_its_route_and_scores_it() -> None:
    """The routed model is the route of the predicted label, and correct means label in gold."""
    requests = [(0.01 * i, "r", case) for i, case in enumerate(CORPUS * 4)]
    _, records, _ = run(plan(), requests)
    routes = plan().routing.routes
    assert all(r.routed_model == routes[r.predicted_label or ""] for r in records)
    assert all(r.correct == (r.predicted_label in r.gold_labels.split("|")) for r in records)
    assert {r.correct for r in records} == {True, False}


def test_same_seed_gives_identical_trials_and_another_seed_does_not() -> None:
    """A campaign is a deterministic function of the plan: same seed, same records."""
    requests = [(0.05 * i, ("r", "control")[i % 2], CORPUS[i % 30]) for i in range(400)]
    first = run(plan(seed=5), requests)[1]
    assert first == run(plan(seed=5), requests)[1]
    assert first != run(plan(seed=6), requests)[1]


def test_a_plan_with_a_live_backend_cannot_be_simulated() -> None:
    """An openai classifier backend in a simulated campaign is an ArmError naming the field."""
    data = plan().model_dump()
    data["arms"][1]["classifier"]["backend"] = {"kind": "openai", "base_url": "http://127.0.0.1:1"}
    p = Plan.model_validate(data)
    with pytest.raises(ArmError, match=r"arms\[1\]\.classifier\.backend\.kind"):
        build_simulated_arms(p, CORPUS, HASH, simpy.Environment())


def test_a_request_without_downstream_outcome_is_not_sent() -> None:
    """A result with neither routing nor downstream becomes a 'not_sent' row."""
    request = ArmRequest(0, "control:c0:0", CORPUS[0], "control", 0, 1.5)
    record = to_trial_record(HASH, request, ArmOutcome(None, None, None, None))
    assert (record.status, record.e2e_latency_ms, record.cost_usd) == ("not_sent", None, 0.0)


def test_a_failed_downstream_answer_is_ungraded() -> None:
    """A downstream failure gives status and error of the trial and downstream_correct NULL."""
    request = ArmRequest(0, "control:c0:0", CORPUS[0], "control", 0, 0.0)
    failed = DownstreamOutcome("big", "http_error", 12.0, None, 0, 0, 0.0, "HTTP 500")
    record = to_trial_record(HASH, request, ArmOutcome(0.0, 0.012, None, failed))
    assert (record.status, record.error, record.downstream_correct) == (
        "http_error",
        "HTTP 500",
        None,
    )
