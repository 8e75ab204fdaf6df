"""Calibration of the gates on the starter plan: type I error, P(FAIL) and coverage at each gate's
boundary over a grid of replay ICCs, and power at a true accuracy of 0.90 (ICC 0.25).

The numbers of docs/design.md's "Calibration before/after" table. The starter plan of
``routetrial init`` (60 cases x 5 replays, three router arms, the accuracy >= 0.85 and P95 <=
2,000 ms gates) is simulated through the design diagnosis's own machinery (the SimPy campaign,
the simulated arms and the tree's locked analysis, ``experiment.design.sim``) in these worlds:

- accuracy gate at its boundary: every router classifier at true marginal accuracy 0.85 with the
  case difficulty SD whose binary replay ICC of correctness is 0, 0.3, 0.6, 0.9
  (``experiment.design.icc.difficulty_for_icc``);
- latency gate at its boundary (true routing P95 = 2,000 ms, no queueing): the latency
  ``case_icc`` set to 0, 0.3, 0.6, 0.9 where the tree's plan schema has it. A tree without it
  (before issue 11) drew latencies independently, so its ICC 0 row is simulated by the design
  machinery and its ICC > 0 rows by a numpy simulation of the same thing: 60 cases x 5 replays
  per arm of lognormal latencies with the boundary's median and P95 and a case effect carrying
  the ICC's share of the log variance, judged by the tree's own latency bound
  (``analysis.estimate_quantile``, the order-statistic bound) and gate rule
  (``analysis.decide_gate``). Source column: ``design`` or ``numpy``;
- power: true accuracy 0.90 at correctness ICC 0.25, P(PASS) of the accuracy gate.

Shares are pooled over the three router arms (3 N arm-campaigns); the arms of one campaign share
half of each case's difficulty, so the 95% Wilson interval printed uses N, the number of
independent campaigns (conservative). Runs against whichever tree is on the path, so the same
script gives the "before" column (``PYTHONPATH=/tmp/before``, a ``git archive`` of the earlier
commit) and the "after" one (this checkout); the ICC solver is this checkout's when the tree has
none.

Run: ``.venv/bin/python bench/calibration_table.py [--sims N] [--workers K] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import analysis
import experiment
from analysis import proportion_bounds
from experiment.design.batches import SimulationBatches
from experiment.design.engine import EngineSettings, default_workers
from experiment.design.scenarios import Scenario, accuracy_scenario, latency_boundary_scenario
from experiment.design.sim import SimOutcome
from prereg.check import load_checked_plan
from prereg.records import Case
from prereg.schema import GateSpec, LatencySpec, Plan
from prereg.starter import init_plan

ICCS = (0.0, 0.3, 0.6, 0.9)
POWER_ACCURACY, POWER_ICC = 0.90, 0.25


def _icc_module() -> ModuleType:
    """The tree's ICC solver, or this checkout's when the tree predates it."""
    try:
        return importlib.import_module("experiment.design.icc")
    except ImportError:
        path = Path(__file__).resolve().parents[1] / "experiment" / "_design_icc.py"
        spec = importlib.util.spec_from_file_location("_calibration_icc", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def _with_classifiers(plan: Plan, edit: Callable[[dict[str, Any]], None]) -> Plan:
    data = plan.model_dump(mode="python")
    for arm in data["arms"]:
        if arm["kind"] == "router":
            edit(arm["classifier"]["backend"])
    return Plan.model_validate(data)


def accuracy_world(
    plan: Plan, cases: Sequence[Case], accuracy: float, icc: float, solver: ModuleType
) -> Scenario:
    """Every router at true marginal ``accuracy`` with correctness ICC ``icc``, no failures."""
    base = accuracy_scenario(plan, cases, accuracy, key=f"calibration:{accuracy}:{icc}")
    d = solver.difficulty_for_icc(accuracy, icc)

    def edit(backend: dict[str, Any]) -> None:
        backend["accuracy"] = dict.fromkeys(backend["accuracy"], d.plan_accuracy)
        backend["case_difficulty_sd"] = d.sd

    rewritten = _with_classifiers(base.plan, edit)
    routers = [a.id for a in rewritten.router_arms]
    return Scenario(base.key, rewritten, tuple(cases), dict.fromkeys(routers, accuracy), {}, True)


def latency_world(plan: Plan, cases: Sequence[Case], gate: GateSpec, icc: float) -> Scenario | None:
    """The latency boundary at log-latency ICC ``icc``; None when the tree has no ``case_icc``
    and ``icc`` > 0."""
    base = latency_boundary_scenario(plan, cases, gate)
    if "case_icc" not in LatencySpec.model_fields:
        return base if icc == 0.0 else None

    def edit(backend: dict[str, Any]) -> None:
        backend["latency"]["case_icc"] = icc

    rewritten = _with_classifiers(base.plan, edit)
    return Scenario(
        f"calibration:{gate.id}:{icc}",
        rewritten,
        tuple(cases),
        base.true_accuracy,
        base.true_latency_ms,
        True,
    )


def _wilson(k: float, n: int) -> tuple[float, float]:
    lo, hi = proportion_bounds(k, n, 0.95, "wilson")
    return float(lo), float(hi)


def shares(outcomes: Sequence[SimOutcome], gate_pos: int, truth: float | None) -> dict[str, Any]:
    """P(PASS), P(FAIL) and (given the truth) coverage of the two-sided accuracy interval, pooled
    over the router arms, with Wilson intervals on the number of campaigns."""
    n = len(outcomes)
    arms = range(len(outcomes[0].arms))
    pooled = n * len(arms)
    verdicts = [o.arms[a].verdicts[gate_pos] for o in outcomes for a in arms]
    out: dict[str, Any] = {"sims": n, "arm_campaigns": pooled}
    for key, verdict in (("p_pass", "PASS"), ("p_fail", "FAIL")):
        p = sum(v == verdict for v in verdicts) / pooled
        out[key], out[f"{key}_ci"] = p, _wilson(p * n, n)
    if truth is not None:
        covered = 0
        for o in outcomes:
            for a in arms:
                lo, hi = o.arms[a].accuracy_lower, o.arms[a].accuracy_upper
                covered += (math.isnan(lo) or lo <= truth) and (math.isnan(hi) or truth <= hi)
        p = covered / pooled
        out["coverage"], out["coverage_ci"] = p, _wilson(p * n, n)
    realised = [
        getattr(o.arms[a], "correct_icc" if truth is not None else "latency_icc", math.nan)
        for o in outcomes
        for a in arms
    ]
    finite = [r for r in realised if math.isfinite(r)]
    out["realised_icc"] = float(np.mean(finite)) if finite else None
    return out


def numpy_latency(plan: Plan, gate: GateSpec, icc: float, sims: int, seed: int) -> dict[str, Any]:
    """The latency boundary by numpy: per campaign and router arm, cases x replays lognormal
    latencies with the boundary's median and P95 and a case effect of ICC ``icc`` on the log
    scale, judged by the tree's order-statistic bound and gate rule."""
    rng = np.random.default_rng(seed)
    k, m = plan.sample_size.unique_cases, plan.traffic.replays_per_case
    level = gate.rule.level if gate.rule.kind == "confidence_bound" else 0.95
    q = 0.95 if "p95" in gate.metric else 0.5
    verdicts: list[str] = []
    for arm in plan.router_arms:
        latency = arm.classifier.backend.latency  # type: ignore[union-attr]
        mu = math.log(latency.median_ms)
        sigma = (math.log(latency.p95_ms) - mu) / 1.6448536269514722  # the boundary's lognormal
        for _ in range(sims):
            case = rng.standard_normal(k)[:, None]
            noise = rng.standard_normal((k, m))
            values = np.exp(mu + sigma * (math.sqrt(icc) * case + math.sqrt(1 - icc) * noise)).ravel()
            res = analysis.estimate_quantile(values, q, level)
            verdict = analysis.decide_gate(
                arm.id, gate, "request", res.estimate, res.lower_bound, res.upper_bound
            )
            verdicts.append(verdict.verdict)
    n_arms = len(plan.router_arms)
    out: dict[str, Any] = {"sims": sims, "arm_campaigns": sims * n_arms, "realised_icc": icc}
    for key, verdict_name in (("p_pass", "PASS"), ("p_fail", "FAIL")):
        p = sum(v == verdict_name for v in verdicts) / len(verdicts)
        out[key], out[f"{key}_ci"] = p, _wilson(p * sims, sims)
    return out


def _cell(fig: dict[str, Any], key: str) -> str:
    if key not in fig:
        return "–"
    lo, hi = fig[f"{key}_ci"]
    return f"{fig[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    """Simulate the worlds, print the table (and write it as JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=500, help="campaigns per world")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    solver = _icc_module()
    with tempfile.TemporaryDirectory() as folder:
        plan_path, _ = init_plan(Path(folder))
        checked = load_checked_plan(plan_path)
    plan, cases, plan_hash = checked.plan, tuple(checked.corpus), checked.canonical_sha256
    gates = list(plan.gates)
    acc_pos = next(i for i, g in enumerate(gates) if g.metric == "routing_accuracy")
    lat_pos = next(i for i, g in enumerate(gates) if g.metric != "routing_accuracy")
    acc_gate, lat_gate = gates[acc_pos], gates[lat_pos]

    worlds: dict[tuple[str, float], Scenario | None] = {}
    for icc in ICCS:
        worlds[(acc_gate.id, icc)] = accuracy_world(plan, cases, acc_gate.threshold, icc, solver)
    for icc in ICCS:
        worlds[(lat_gate.id, icc)] = latency_world(plan, cases, lat_gate, icc)
    worlds[("power", POWER_ICC)] = accuracy_world(plan, cases, POWER_ACCURACY, POWER_ICC, solver)

    batches = SimulationBatches(
        plan.randomization.seed, plan_hash, Path("."), EngineSettings("local", args.workers), None
    )
    started = time.perf_counter()
    batches.ensure("calibration", [(w, args.sims, False) for w in worlds.values() if w is not None])
    elapsed = time.perf_counter() - started

    rows: list[dict[str, Any]] = []
    for (gate_id, icc), world in worlds.items():
        if gate_id == "power":
            continue
        is_acc = gate_id == acc_gate.id
        if world is None:
            fig = numpy_latency(
                latency_boundary_scenario(plan, cases, lat_gate).plan,
                lat_gate,
                icc,
                args.sims,
                seed=int(icc * 1000) + 11,
            )
            source = "numpy"
        else:
            fig = shares(
                batches.outcomes(world, args.sims),
                acc_pos if is_acc else lat_pos,
                acc_gate.threshold if is_acc else None,
            )
            source = "design"
        rows.append({"gate": gate_id, "icc": icc, "source": source, **fig})
    power_world = worlds[("power", POWER_ICC)]
    assert power_world is not None
    power = shares(batches.outcomes(power_world, args.sims), acc_pos, POWER_ACCURACY)

    tree = Path(experiment.__file__).resolve().parents[1]
    print(
        f"calibration of the starter plan's gates ({len(cases)} cases x "
        f"{plan.traffic.replays_per_case} replays, {len(plan.router_arms)} router arms); tree {tree}"
    )
    print(
        f"analysis: ci_method {plan.analysis.ci_method}, unit {plan.analysis.unit}, "
        f"latency_interval {plan.analysis.latency_interval}; {args.sims} campaigns per world, "
        f"{elapsed:.0f} s on {args.workers} workers"
    )
    print()
    print(
        "| gate | ICC | P(PASS) at the boundary | P(FAIL) at the boundary | coverage of the 95% "
        "accuracy interval | realised ICC | source |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        realised = "–" if r.get("realised_icc") is None else f"{r['realised_icc']:.2f}"
        print(
            f"| {r['gate']} | {r['icc']:.1f} | {_cell(r, 'p_pass')} | {_cell(r, 'p_fail')} | "
            f"{_cell(r, 'coverage')} | {realised} | {r['source']} |"
        )
    print()
    print(
        f"power at true accuracy {POWER_ACCURACY:.2f} (correctness ICC {POWER_ICC:.2f}): "
        f"P(PASS) {_cell(power, 'p_pass')}; coverage {_cell(power, 'coverage')}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"tree": str(tree), "sims": args.sims, "rows": rows, "power": power}, indent=2, sort_keys=True
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
