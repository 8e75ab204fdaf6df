"""Benchmark: 1,000 simulations of the four-arm 60 x 5 Study 2 design, on all cores.

The plan is the starter plan of ``routetrial init`` (control, Phi-4-mini, Qwen-2.5-3B and
DeepSeek-V3 routers; 60 cases x 5 replays per arm: 1,200 requests per simulation). Each simulation
is a whole campaign in memory plus the locked analysis, as ``routetrial design`` runs it. Prints
simulations per second and the total (target: under 2 minutes on a 2-core machine), then where one
simulation's time goes (campaign, trial table, the analysis' gate scope), measured in this process.

Run: ``.venv/bin/python bench/bench_design.py [--sims N] [--workers K] [--engine local|dask]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from analysis import RunMeta, TrialTable, analyze
from experiment.design.engine import (
    EngineSettings,
    chunk_bounds,
    default_workers,
    run_tasks,
)
from experiment.design.scenarios import assumed_scenario
from experiment.design.sim import ChunkTask, run_campaign, sim_seed, simulate_chunk
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
    tasks = [
        ChunkTask(scenario, seed, plan_hash, Path("."), a, b, False)
        for a, b in chunk_bounds(args.sims, engine.workers)
    ]

    started = time.perf_counter()
    chunks = run_tasks(simulate_chunk, tasks, engine)
    total = time.perf_counter() - started
    done = sum(len(c) for c in chunks)
    requests = done * len(cases) * plan.traffic.replays_per_case * len(plan.arms)
    print(
        f"design simulations: {done:,} of the 4-arm 60 x 5 design "
        f"({requests:,} simulated requests), {engine.engine} engine, {engine.workers} workers"
    )
    per_1000 = total / done * 1000
    print(
        f"  total {total:.1f} s, {done / total:.1f} simulations/s; 1,000 simulations "
        f"{'take' if done == 1000 else 'would take'} {per_1000:.0f} s "
        f"({'within' if per_1000 < 120 else 'over'} the 2-minute target)"
    )

    # Where one simulation's time goes, in this process (no pool), as the design runs it: the
    # campaign, its trial table, the locked analysis' gate scope. The full analysis a real
    # campaign runs is timed beside it, for comparison. CPU time of this process, so that other
    # work on the machine inflates it less than wall time.
    reps = 20
    campaign_s = table_s = analysis_s = full_s = 0.0
    for i in range(reps):
        seeded = plan.model_copy(
            update={
                "randomization": plan.randomization.model_copy(update={"seed": sim_seed(seed, plan_hash, i)})
            }
        )
        t0 = time.process_time()
        schedule, records = run_campaign(seeded, scenario, plan_hash, Path("."))
        t1 = time.process_time()
        table = TrialTable.from_records(records)
        t2 = time.process_time()
        allocated = schedule.allocation_counts()
        meta = RunMeta(
            plan_hash,
            plan_hash,
            True,
            (),
            "store",
            {a: sum(c.values()) for a, c in allocated.items()},
            allocated,
            None,
        )
        analyze(seeded, table, meta, scope="gates")
        t3 = time.process_time()
        analyze(seeded, table, meta)
        t4 = time.process_time()
        campaign_s += t1 - t0
        table_s += t2 - t1
        analysis_s += t3 - t2
        full_s += t4 - t3
    per = (campaign_s + table_s + analysis_s) / reps
    print(
        f"  one simulation, single process (CPU time): {per * 1000:.0f} ms = campaign "
        f"{campaign_s / reps * 1000:.0f} ms + trial table {table_s / reps * 1000:.0f} ms + "
        f"locked analysis, gate scope {analysis_s / reps * 1000:.0f} ms "
        f"(the full analysis of a real campaign: {full_s / reps * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
