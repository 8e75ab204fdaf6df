"""Benchmark: a 1,000,000-request simulated campaign against a bare SimPy loop, same process.

Run: ``.venv/bin/python bench/bench_campaign.py [--requests N] [--profile]``.

The campaign is the real thing (schedule, simulated arms, trial records, DuckDB store in batches
of 50,000). The bare loop replays the same arrival times through the same queues (a
``simpy.Resource`` per classifier and per downstream model, of the plan's concurrency, lognormal
service fitted to the plan's median and P95) with no arms, records or store. Printed: requests per
second of each, their ratio (target >= 0.5), the campaign's total time including persistence
(target < 60 s) and its peak resident memory. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import resource
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from experiment.campaign.simulated import simulate_campaign
from prereg.canonical import canonical_hash
from prereg.records import Case
from prereg.schema import DEFAULT_LABELS, LatencySpec, Plan, RouterArmSpec, SimulatedClassifierSpec
from prereg.seeding import derive_rng
from traffic import build_schedule

N_CASES = 60
RATE_PER_S = 20.0
#: Study 2's routers (accuracy, median ms, P95 ms); Phi-4-mini's figures are illustrative.
ROUTERS = {
    "phi4mini": (0.76, 1100.0, 2100.0),
    "qwen25_3b": (0.79, 988.0, 1900.0),
    "deepseek_v3": (0.83, 1300.0, 2295.0),
}
Z_95 = 1.6448536269514722


def study2_plan(replays: int) -> Plan:
    """Four arms as in Study 2 (control + three routers), ``replays`` per case per arm."""
    quality = dict.fromkeys(DEFAULT_LABELS, 0.8)
    model_latency = {"median_ms": 1500.0, "p95_ms": 4000.0, "concurrency": 64}
    arms: list[dict[str, Any]] = [{"id": "control", "kind": "control", "model": "large"}]
    for arm, (acc, median, p95) in ROUTERS.items():
        arms.append(
            {
                "id": arm,
                "kind": "router",
                "classifier": {
                    "model": arm,
                    "prompt_template": "Classify: {text}\nLabels: {labels}",
                    "timeout_ms": 2500.0,
                    "backend": {
                        "kind": "simulated",
                        "accuracy": dict.fromkeys(DEFAULT_LABELS, acc),
                        "latency": {"median_ms": median, "p95_ms": p95, "concurrency": 16},
                        "failures": {"http_error_rate": 0.01, "unparseable_rate": 0.01},
                    },
                },
            }
        )
    return Plan.model_validate(
        {
            "study": {"title": "bench", "authors": ["bench"], "hypotheses": ["h"]},
            "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
            "models": {
                key: {
                    "model": key,
                    "backend": {"kind": "simulated", "quality": quality, "latency": model_latency},
                }
                for key in ("large", "small")
            },
            "arms": arms,
            "routing": {
                "routes": {lab: ("small" if i % 2 else "large") for i, lab in enumerate(DEFAULT_LABELS)},
                "fallback": "large",
            },
            "traffic": {
                "arrival": {"kind": "poisson", "rate_per_s": RATE_PER_S},
                "replays_per_case": replays,
            },
            "randomization": {"seed": 2026},
            "sample_size": {"unique_cases": N_CASES, "requests_total": N_CASES * replays * 4},
            "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
        }
    )


def cases() -> tuple[Case, ...]:
    """Sixty cases, ten per family."""
    return tuple(
        Case(
            id=f"case-{i:02d}",
            text=f"request {i}",
            family=DEFAULT_LABELS[i % 6],
            gold_labels=(DEFAULT_LABELS[i % 6],),
        )
        for i in range(N_CASES)
    )


def _lognormal(rng: np.random.Generator, latency: LatencySpec, n: int) -> list[float]:
    mu = math.log(latency.median_ms / 1000.0)
    sigma = math.log(latency.p95_ms / latency.median_ms) / Z_95
    return rng.lognormal(mu, sigma, n).tolist()  # type: ignore[no-any-return]


def bare_loop(plan: Plan, plan_hash: str) -> float:
    """The same arrivals and queues as the campaign in plain SimPy; returns seconds taken."""
    schedule = build_schedule(plan, [c.id for c in cases()], plan_hash, Path("."))
    rng = derive_rng(0, plan_hash, "bench")
    n = len(schedule)
    env = simpy.Environment()
    model_spec = plan.models["large"].backend
    assert isinstance(model_spec, SimulatedClassifierSpec) is False
    model = simpy.Resource(env, capacity=64)
    model_service = _lognormal(rng, model_spec.latency, n)  # type: ignore[union-attr]
    stages: list[tuple[simpy.Resource, list[float]] | None] = []
    for arm in plan.arms:
        if isinstance(arm, RouterArmSpec):
            backend = arm.classifier.backend
            assert isinstance(backend, SimulatedClassifierSpec)
            stages.append(
                (
                    simpy.Resource(env, capacity=backend.latency.concurrency),
                    _lognormal(rng, backend.latency, n),
                )
            )
        else:
            stages.append(None)

    def request(seq: int, arm: int) -> Generator[simpy.Event, Any, None]:
        stage = stages[arm]
        if stage is not None:
            with stage[0].request() as slot:
                yield slot
                yield env.timeout(stage[1][seq])
        with model.request() as slot:
            yield slot
            yield env.timeout(model_service[seq])

    def arrivals() -> Generator[simpy.Event, Any, None]:
        arms = schedule.arm_index.tolist()
        for seq, due in enumerate(schedule.scheduled_s.tolist()):
            if due > env.now:
                yield env.timeout(due - env.now)
            env.process(request(seq, arms[seq]))

    t0 = time.perf_counter()
    env.process(arrivals())
    env.run()
    assert n > 0
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="profile the campaign (slower)")
    args = parser.parse_args()
    replays = max(1, math.ceil(args.requests / (N_CASES * 4)))
    plan = study2_plan(replays)
    plan_hash = canonical_hash(plan)
    with tempfile.TemporaryDirectory() as tmp:
        url = str(Path(tmp) / "bench.duckdb")
        t0, c0 = time.perf_counter(), time.process_time()
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        summary = simulate_campaign(plan, cases(), plan_hash, Path("."), url)
        if profiler is not None:
            profiler.disable()
        campaign_s, campaign_cpu = time.perf_counter() - t0, time.process_time() - c0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store_mb = (Path(tmp) / "bench.duckdb").stat().st_size / 2**20
    n = sum(summary.planned.values())
    c0 = time.process_time()
    bare_s = bare_loop(plan, plan_hash)
    bare_cpu = time.process_time() - c0
    print(
        f"requests:                 {n:,} ({N_CASES} cases x {replays} replays x 4 arms), "
        f"{summary.virtual_s / 3600:.1f} h virtual"
    )
    print(f"bare SimPy loop:          {n / bare_s:10,.0f} requests/s ({bare_s:.1f} s)")
    print(f"campaign (with store):    {n / campaign_s:10,.0f} requests/s ({campaign_s:.1f} s, target < 60 s)")
    print(f"ratio campaign / bare:    {bare_s / campaign_s:10.2f} (target >= 0.5)")
    print(
        f"CPU seconds (all threads): campaign {campaign_cpu:.1f}, bare {bare_cpu:.1f}, "
        f"ratio {bare_cpu / campaign_cpu:.2f} (steadier than wall time on a shared machine)"
    )
    print(f"peak RSS during campaign: {peak_mb:10,.0f} MB; store file {store_mb:,.0f} MB")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
