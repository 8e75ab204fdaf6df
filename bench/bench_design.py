"""Benchmark: 1,000 simulations of the four-arm 60 x 5 Study 2 design, on all cores.

The plan is the starter plan of ``routetrial init`` (control, Phi-4-mini, Qwen-2.5-3B and
DeepSeek-V3 routers; 60 cases x 5 replays per arm: 1,200 requests per simulation). Each simulation
is a whole campaign in memory plus the locked analysis, as ``routetrial design`` runs it. Prints
simulations per second and the total (target: under 2 minutes on a 2-core machine), then where one
simulation's time goes (campaign vs analysis), measured in this process.

Run: ``.venv/bin/python bench/bench_design.py [--sims N] [--workers K] [--engine local|dask]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from analysis import RunMeta, TrialTable, analyze
from experiment._design_engine import (
    EngineSettings,
    chunk_bounds,
    default_workers,
    run_tasks,
)
from experiment._design_scenarios import assumed_scenario
from experiment._design_sim import ChunkTask, run_campaign, sim_seed, simulate_chunk
from prereg.check import load_checked_plan
from prereg.starter import init_plan


def main() -> None:
    """Time N simulations of the starter plan's assumed truths, then one simulation's parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        plan_path, _ = init_plan(Path(folder))
        checked = load_checked_plan(plan_path)
    plan, cases, plan_hash = checked.plan, checked.corpus, checked.canonical_sha256
    scenario = assumed_scenario(plan, cases)
    seed = plan.randomization.seed
    engine = EngineSettings(args.engine, args.workers)
    tasks = [ChunkTask(scenario, seed, plan_hash, Path("."), a, b, False)
             for a, b in chunk_bounds(args.sims, engine.workers)]

    started = time.perf_counter()
    chunks = run_tasks(simulate_chunk, tasks, engine)
    total = time.perf_counter() - started
    done = sum(len(c) for c in chunks)
    requests = done * len(cases) * plan.traffic.replays_per_case * len(plan.arms)
    print(f"design simulations: {done:,} of the 4-arm 60 x 5 design "
          f"({requests:,} simulated requests), {engine.engine} engine, {engine.workers} workers")
    per_1000 = total / done * 1000
    print(f"  total {total:.1f} s, {done / total:.1f} simulations/s; 1,000 simulations "
          f"{'take' if done == 1000 else 'would take'} {per_1000:.0f} s "
          f"({'within' if per_1000 < 120 else 'over'} the 2-minute target)")

    # Where one simulation's time goes, in this process (no pool).
    reps = 20
    campaign_s = analysis_s = 0.0
    for i in range(reps):
        seeded = plan.model_copy(update={"randomization": plan.randomization.model_copy(
            update={"seed": sim_seed(seed, plan_hash, i)})})
        t0 = time.perf_counter()
        schedule, records = run_campaign(seeded, scenario, plan_hash, Path("."))
        t1 = time.perf_counter()
        allocated = schedule.allocation_counts()
        meta = RunMeta(plan_hash, plan_hash, True, (), "store",
                       {a: sum(c.values()) for a, c in allocated.items()}, allocated, None)
        analyze(seeded, TrialTable.from_records(records), meta)
        t2 = time.perf_counter()
        campaign_s += t1 - t0
        analysis_s += t2 - t1
    per = (campaign_s + analysis_s) / reps
    print(f"  one simulation, single process: {per * 1000:.0f} ms = campaign "
          f"{campaign_s / reps * 1000:.0f} ms + locked analysis {analysis_s / reps * 1000:.0f} ms "
          f"({analysis_s / (campaign_s + analysis_s):.0%} in the analysis)")


if __name__ == "__main__":
    main()
