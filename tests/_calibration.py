"""Datasets with replays correlated within a case, for checking decision rules by simulation.

Routing correctness is beta-binomial across cases: case ``i`` is answered correctly with
probability ``p_i ~ Beta`` of mean ``accuracy`` and intra-case correlation ``icc`` (the replay ICC
of the 0/1 outcomes, Ridout et al. 1999), ``icc = 0`` giving independent replays. Log routing
latency is ``mu + sigma * (sqrt(rho) a_i + sqrt(1 - rho) e_ij)``: marginally lognormal, with a
share ``rho`` of its variance belonging to the case (same prompt, same prefill). Every dataset is a
full trial table of one router arm, analysed by :func:`analysis.analyze` exactly as a campaign's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis import RunMeta, TrialTable, analyze
from prereg.schema import DEFAULT_LABELS, Plan
from tests.reference.plans import HASH

META = RunMeta(HASH, "c" * 64, True, planned_per_arm={"router": 300})
#: Threshold of the latency gate; the data put the true P95 exactly there unless told otherwise.
P95_GATE_MS = 2000.0
SIGMA = 0.5


def one_router_plan(n_cases: int = 60, replays: int = 5, **analysis: Any) -> Plan:
    """A plan with one router arm and the study's two gates (accuracy >= 0.85, P95 <= 2000 ms)."""
    backend = {
        "kind": "simulated",
        "accuracy": dict.fromkeys(DEFAULT_LABELS, 0.85),
        "latency": {"median_ms": 900, "p95_ms": 2000},
    }
    return Plan.model_validate(
        {
            "study": {"title": "calibration", "authors": ["t"], "hypotheses": ["h"]},
            "corpus": {"path": "cases.jsonl", "sha256": "b" * 64},
            "models": {
                "big": {
                    "model": "big",
                    "backend": {
                        "kind": "simulated",
                        "quality": dict.fromkeys(DEFAULT_LABELS, 0.8),
                        "latency": {"median_ms": 500, "p95_ms": 1500},
                    },
                }
            },
            "arms": [
                {
                    "id": "router",
                    "kind": "router",
                    "classifier": {"model": "m", "prompt_template": "{text} {labels}", "backend": backend},
                }
            ],
            "routing": {"routes": dict.fromkeys(DEFAULT_LABELS, "big"), "fallback": "big"},
            "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 5.0}, "replays_per_case": replays},
            "randomization": {"seed": 7},
            "sample_size": {"unique_cases": n_cases, "requests_total": n_cases * replays},
            "gates": [
                {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85},
                {"id": "p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": P95_GATE_MS},
            ],
            "analysis": analysis,
        }
    )


def case_probabilities(rng: np.random.Generator, mean: float, icc: float, k: int) -> np.ndarray:
    """Per-case success probabilities: Beta with this mean and ICC ``1 / (a + b + 1)``."""
    if icc <= 0.0:
        return np.full(k, mean)
    s = 1.0 / icc - 1.0
    return rng.beta(mean * s, (1.0 - mean) * s, size=k)


def columns(
    rng: np.random.Generator,
    *,
    accuracy: float,
    icc: float,
    latency_icc: float,
    n_cases: int = 60,
    replays: int = 5,
    true_p95_ms: float = P95_GATE_MS,
) -> dict[str, Any]:
    """One router arm's trial columns (every case ``replays`` times, every request ``ok``)."""
    k, m = n_cases, replays
    n = k * m
    case_i = np.repeat(np.arange(k), m)
    labels = np.array(DEFAULT_LABELS)
    family = labels[case_i % labels.size]
    correct = rng.random(n) < case_probabilities(rng, accuracy, icc, k)[case_i]
    wrong = labels[(case_i + 1) % labels.size]
    z95 = 1.6448536269514722
    mu = np.log(true_p95_ms) - SIGMA * z95
    a = rng.standard_normal(k)[case_i]
    e = rng.standard_normal(n)
    latency = np.exp(mu + SIGMA * (np.sqrt(latency_icc) * a + np.sqrt(1.0 - latency_icc) * e))
    cases = np.array([f"case-{i:03d}" for i in range(k)])
    replay = np.tile(np.arange(m), k)
    return {
        "plan_hash": np.full(n, HASH),
        "trial_id": np.array([f"router:{cases[c]}:{r}" for c, r in zip(case_i, replay, strict=True)]),
        "seq": np.arange(n),
        "case_id": cases[case_i],
        "family": family,
        "arm": np.full(n, "router"),
        "replay": replay,
        "scheduled_s": np.arange(n) * 0.2,
        "sent_s": np.arange(n) * 0.2,
        "end_s": np.arange(n) * 0.2 + 2.0,
        "wire_s": np.full(n, np.nan),
        "connect_wait_ms": np.full(n, np.nan),
        "lateness_ms": np.full(n, np.nan),
        "routing_status": np.full(n, "ok", dtype=object),
        "routing_latency_ms": latency,
        "routing_first_token_ms": np.full(n, np.nan),
        "routing_attempts": np.ones(n),
        "predicted_label": np.where(correct, family, wrong).astype(object),
        "gold_labels": family,
        "correct": correct.astype(np.float64),
        "routed_model": np.full(n, "big"),
        "downstream_status": np.full(n, "ok"),
        "downstream_latency_ms": np.full(n, 500.0),
        "downstream_first_token_ms": np.full(n, np.nan),
        "downstream_itl_ms": np.full(n, np.nan),
        "downstream_correct": np.ones(n),
        "e2e_latency_ms": latency + 500.0,
        "tokens_in": np.full(n, 500),
        "tokens_out": np.full(n, 4),
        "cost_usd": np.full(n, 0.0),
        "routing_cost_usd": np.full(n, 0.0),
        "status": np.full(n, "ok"),
        "error": np.full(n, None, dtype=object),
    }


def verdict_rates(
    plan: Plan, rng: np.random.Generator, sims: int, **data: Any
) -> dict[str, dict[str, float]]:
    """Share of PASS and FAIL per gate over ``sims`` datasets, through :func:`analysis.analyze`."""
    counts = {g.id: {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0} for g in plan.gates}
    for _ in range(sims):
        res = analyze(plan, TrialTable.from_columns(columns(rng, **data)), META, scope="gates")
        for v in res.gates:
            counts[v.gate][v.verdict] += 1
    return {g: {v: c / sims for v, c in by.items()} for g, by in counts.items()}
