"""Micro-benchmark: simulated arms against a bare SimPy loop, in the same process, as a ratio.

Both loops run the same Poisson arrivals (``--rate`` per second, ``--requests`` of them). The bare
loop sends each request to one ``simpy.Resource`` for a lognormal service time and keeps its
latency; the arms loop sends each to an arm of a Study-2-like plan (a control and three routers,
picked uniformly) through :func:`arms.build_simulated_arms` and keeps the :class:`ArmOutcome`, then
(a third figure) also flattens it with :func:`arms.to_trial_record`. Run::

    .venv/bin/python bench/bench_arms.py [--requests 200000]

The target (issue 3) is a ratio of at least 0.5 for a whole campaign; this measures the arms' share.
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, cast

import numpy as np
import simpy

from arms import ArmOutcome, ArmRequest, build_simulated_arms, to_trial_record
from prereg.records import Case, TrialRecord
from prereg.schema import DEFAULT_LABELS, Plan

PLAN_HASH = "0" * 64


def _classifier(accuracy: float, median: float, p95: float, rtt: float, conc: int) -> dict[str, Any]:
    return {
        "model": "m",
        "prompt_template": "{labels}: {text}",
        "backend": {
            "kind": "simulated",
            "accuracy": dict.fromkeys(DEFAULT_LABELS, accuracy),
            "latency": {
                "median_ms": median,
                "p95_ms": p95,
                "network_rtt_ms": rtt,
                "concurrency": conc,
            },
            "failures": {"http_error_rate": 0.002, "unparseable_rate": 0.01},
        },
        "timeout_ms": 5000,
        "retry": {"max_attempts": 2, "retry_on": ["timeout", "http_error"]},
        "price": {"input_per_1k": 0.00027, "output_per_1k": 0.0011},
    }


def _model(quality: float, median: float, p95: float, conc: int) -> dict[str, Any]:
    return {
        "model": "m",
        "backend": {
            "kind": "simulated",
            "quality": dict.fromkeys(DEFAULT_LABELS, quality),
            "latency": {"median_ms": median, "p95_ms": p95, "concurrency": conc},
        },
        "price": {"input_per_1k": 0.0005, "output_per_1k": 0.0015},
    }


def study2_plan() -> Plan:
    """A Study-2-like plan: control + Phi-4-mini, Qwen-2.5-3B and DeepSeek-V3 routers."""
    return Plan.model_validate(
        {
            "study": {"title": "bench", "authors": ["a"], "hypotheses": ["h"]},
            "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
            "models": {"small": _model(0.7, 800, 2500, 64), "large": _model(0.9, 2000, 6000, 128)},
            "arms": [
                {"id": "control", "kind": "control", "model": "large"},
                {"id": "phi", "kind": "router", "classifier": _classifier(0.76, 900, 1700, 0, 8)},
                {"id": "qwen", "kind": "router", "classifier": _classifier(0.793, 988, 1800, 0, 8)},
                {
                    "id": "deepseek",
                    "kind": "router",
                    "classifier": _classifier(0.83, 1150, 2215, 80, 64),
                },
            ],
            "routing": {
                "routes": {f: ("large" if f in ("code", "math") else "small") for f in DEFAULT_LABELS},
                "fallback": "large",
            },
            "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 4.0}},
            "randomization": {"seed": 1},
            "sample_size": {"unique_cases": 60, "requests_total": 1200},
            "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
        }
    )


def corpus() -> tuple[Case, ...]:
    """60 cases, 10 per family."""
    return tuple(Case(f"c{i:02d}", "text", f, (f,)) for i, f in enumerate(DEFAULT_LABELS * 10))


def bare_loop(n: int, rate: float) -> float:
    """Requests per second of Poisson arrivals into one Resource with lognormal service."""
    rng = np.random.default_rng(7)
    gaps = rng.exponential(1.0 / rate, n).tolist()
    service = rng.lognormal(math.log(0.988), 0.37, n).tolist()
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=8)
    latencies: list[float] = []

    def serve(i: int) -> Generator[Any, Any, None]:
        t0 = env.now
        req = server.request()
        yield req
        yield env.timeout(service[i])
        server.release(req)
        latencies.append(env.now - t0)

    def arrivals() -> Generator[Any, Any, None]:
        for i in range(n):
            yield env.timeout(gaps[i])
            env.process(serve(i))

    return _timed(n, env, arrivals)


def arms_loop(n: int, rate: float, *, records: bool) -> float:
    """Requests per second of the same arrivals served by the simulated arms of a Study-2 plan."""
    rng = np.random.default_rng(7)
    gaps = rng.exponential(1.0 / rate, n).tolist()
    cases = corpus()
    case_index = rng.integers(0, len(cases), n).tolist()
    plan = study2_plan()
    env = simpy.Environment()
    arms = list(build_simulated_arms(plan, cases, PLAN_HASH, env).values())
    arm_index = rng.integers(0, len(arms), n).tolist()
    results: list[ArmOutcome] = []
    rows: list[TrialRecord] = []

    def finish(request: ArmRequest, event: simpy.Process) -> None:
        if records:
            rows.append(to_trial_record(PLAN_HASH, request, cast(ArmOutcome, event.value)))
        else:
            results.append(cast(ArmOutcome, event.value))

    # As the campaign runner does: one process per request, its result taken by a callback.
    def arrivals() -> Generator[Any, Any, None]:
        for i in range(n):
            yield env.timeout(gaps[i])
            arm = arms[arm_index[i]]
            case = cases[case_index[i]]
            request = ArmRequest(i, f"{arm.id}:{case.id}:{i}", case, arm.id, 0, env.now)
            env.process(arm.process(env, request)).callbacks.append(partial(finish, request))

    return _timed(n, env, arrivals)


def _timed(n: int, env: simpy.Environment, arrivals: Callable[[], Any]) -> float:
    gc.collect()
    start = time.process_time()
    env.process(arrivals())
    env.run()
    return n / (time.process_time() - start)


def main() -> None:
    """Print requests per second of each loop (best of interleaved repeats) and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, rate = args.requests, args.rate
    # CPU time of this process, best of interleaved repeats: the machine is shared, and other
    # processes' load only ever slows a run down.
    bare = arms_only = with_records = 0.0
    for _ in range(args.repeats):
        bare = max(bare, bare_loop(n, rate))
        arms_only = max(arms_only, arms_loop(n, rate, records=False))
        with_records = max(with_records, arms_loop(n, rate, records=True))
    print(f"requests: {n:,}  Poisson rate {rate:g}/s  best of {args.repeats}")
    print(f"bare SimPy loop (one Resource):    {bare:>10,.0f} req/s")
    print(f"simulated arms (ArmOutcome):        {arms_only:>10,.0f} req/s  ratio {arms_only / bare:.2f}")
    print(f"simulated arms + to_trial_record:  {with_records:>10,.0f} req/s  ratio {with_records / bare:.2f}")


if __name__ == "__main__":
    main()
