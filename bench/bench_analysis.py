"""Benchmark: the locked analysis on 1,000,000 synthetic trials over four arms.

Prints the wall time of ``TrialTable.from_columns`` and ``analyze`` (bootstrap included, 2,000
resamples) and the ratio to a plain DuckDB aggregate over the same table in the same run
(``GROUP BY arm: count, avg(correct), quantile_cont(routing_latency_ms, 0.95)``). Target: analysis
under 10 s. Run: ``.venv/bin/python bench/bench_analysis.py [--trials N] [--cases K]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reference.plans import HASH, study_plan

from analysis import RunMeta, TrialTable, analyze, results_to_json
from prereg.schema import DEFAULT_LABELS

ARMS = ("control", "phi", "qwen", "deepseek")


def build_columns(n_trials: int, n_cases: int, seed: int = 0) -> dict[str, Any]:
    """A blocked campaign: every arm sees every case equally often, in numpy only."""
    rng = np.random.default_rng(seed)
    replays = n_trials // (len(ARMS) * n_cases)
    n = len(ARMS) * n_cases * replays
    arm_i = np.repeat(np.arange(len(ARMS)), n_cases * replays)
    case_i = np.tile(np.repeat(np.arange(n_cases), replays), len(ARMS))
    replay = np.tile(np.arange(replays), len(ARMS) * n_cases)
    labels = np.array(DEFAULT_LABELS)
    family = labels[case_i % labels.size]
    ease = rng.normal(0.0, 1.5, n_cases)
    logit = np.array([0.0, 1.1, 1.3, 1.6])[arm_i] + ease[case_i]
    correct = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    control = arm_i == 0
    predicted = np.where(correct, family, labels[(case_i + 1) % labels.size]).astype(object)
    predicted[control] = None
    correct_col = np.where(control, np.nan, correct.astype(np.float64))
    rl = np.where(control, np.nan, rng.lognormal(np.log(1000.0), 0.45, n))
    timeout = ~control & (rng.random(n) < 0.01)
    correct_col[timeout] = np.nan
    predicted[timeout] = None
    status = np.where(timeout, "timeout", "ok")
    routing_status = np.where(control, None, status).astype(object)
    down = rng.lognormal(np.log(600.0), 0.5, n)
    cases = np.char.add("case-", np.arange(n_cases).astype(str))
    arm_names = np.array(ARMS)
    trial_id = np.char.add(
        np.char.add(np.char.add(arm_names[arm_i], ":"), np.char.add(cases[case_i], ":")), replay.astype(str)
    )
    return {
        "plan_hash": np.full(n, HASH),
        "trial_id": trial_id,
        "seq": rng.permutation(n),
        "case_id": cases[case_i],
        "family": family,
        "arm": arm_names[arm_i],
        "replay": replay,
        "scheduled_s": np.arange(n) * 0.01,
        "sent_s": np.arange(n) * 0.01,
        "end_s": np.arange(n) * 0.01 + 2,
        "wire_s": np.full(n, np.nan),
        "connect_wait_ms": np.full(n, np.nan),
        "lateness_ms": np.full(n, np.nan),
        "routing_status": routing_status,
        "routing_latency_ms": rl,
        "routing_first_token_ms": np.full(n, np.nan),
        "routing_attempts": np.where(control, np.nan, 1.0),
        "predicted_label": predicted,
        "gold_labels": family,
        "correct": correct_col,
        "routed_model": np.full(n, "big"),
        "downstream_status": np.full(n, "ok"),
        "downstream_latency_ms": down,
        "downstream_first_token_ms": np.full(n, np.nan),
        "downstream_itl_ms": np.full(n, np.nan),
        "downstream_correct": (rng.random(n) < np.where(correct | control, 0.85, 0.6)).astype(np.float64),
        "e2e_latency_ms": np.nan_to_num(rl) + down,
        "tokens_in": np.full(n, 500),
        "tokens_out": np.full(n, 400),
        "cost_usd": np.where(control, 0.02, 0.001),
        "routing_cost_usd": np.where(control, np.nan, 0.0001),
        "status": status,
        "error": np.where(timeout, "timed out", None).astype(object),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    cols = build_columns(args.trials, args.cases)
    n = len(cols["seq"])
    plan = study_plan()
    meta = RunMeta(HASH, "c" * 64, True, planned_per_arm=dict.fromkeys(ARMS, n // len(ARMS)))

    t0 = time.perf_counter()
    table = TrialTable.from_columns(cols)
    t1 = time.perf_counter()
    results = analyze(plan, table, meta)
    t2 = time.perf_counter()
    text = results_to_json(results)
    t3 = time.perf_counter()

    con = duckdb.connect()
    con.register(
        "trials",
        {"arm": cols["arm"], "correct": cols["correct"], "routing_latency_ms": cols["routing_latency_ms"]},
    )
    t4 = time.perf_counter()
    con.execute(
        "SELECT arm, count(*), avg(correct), quantile_cont(routing_latency_ms, 0.95) "
        "FROM trials GROUP BY arm ORDER BY arm"
    ).fetchall()
    t5 = time.perf_counter()

    analysis_s = (t2 - t0) + (t3 - t2)
    print(
        f"trials: {n:,} over {len(ARMS)} arms, {args.cases} cases, bootstrap resamples: "
        f"{plan.analysis.bootstrap.resamples}"
    )
    print(f"TrialTable.from_columns: {t1 - t0:.2f} s")
    print(f"analyze:                 {t2 - t1:.2f} s")
    print(f"results_to_json:         {t3 - t2:.3f} s ({len(text):,} bytes)")
    print(f"total analysis:          {analysis_s:.2f} s (target < 10 s)")
    print(f"duckdb GROUP BY:         {t5 - t4:.3f} s")
    print(f"ratio analysis / duckdb: {analysis_s / (t5 - t4):.1f}x")


if __name__ == "__main__":
    main()
