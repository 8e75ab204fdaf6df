"""Reference inputs for the analysis tests: a Study-2-shaped plan and synthetic trial columns.

Kept beside the reference values so every analysis test builds its inputs the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prereg.schema import DEFAULT_LABELS, Plan

HASH = "a" * 64


def _classifier(acc: float, median: float, p95: float) -> dict[str, Any]:
    return {
        "model": "m",
        "prompt_template": "{text} {labels}",
        "backend": {
            "kind": "simulated",
            "accuracy": dict.fromkeys(DEFAULT_LABELS, acc),
            "latency": {"median_ms": median, "p95_ms": p95},
        },
    }


def study_plan(**analysis: Any) -> Plan:
    """Control + three routers, 60 cases x 5 replays, the two gates; ``analysis`` overrides."""
    model = {
        "model": "big",
        "backend": {
            "kind": "simulated",
            "quality": dict.fromkeys(DEFAULT_LABELS, 0.8),
            "latency": {"median_ms": 500, "p95_ms": 1500},
        },
    }
    return Plan.model_validate(
        {
            "study": {"title": "Study 2 replication", "authors": ["t"], "hypotheses": ["h"]},
            "corpus": {"path": "cases.jsonl", "sha256": "b" * 64},
            "models": {"big": model},
            "arms": [
                {"id": "control", "kind": "control", "model": "big"},
                {"id": "phi", "kind": "router", "classifier": _classifier(0.75, 900, 1900)},
                {"id": "qwen", "kind": "router", "classifier": _classifier(0.79, 988, 1800)},
                {"id": "deepseek", "kind": "router", "classifier": _classifier(0.83, 1200, 2295)},
            ],
            "routing": {"routes": dict.fromkeys(DEFAULT_LABELS, "big"), "fallback": "big"},
            "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 5.0}, "replays_per_case": 5},
            "randomization": {"seed": 7},
            "sample_size": {"unique_cases": 60, "requests_total": 1200},
            "gates": [
                {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85},
                {"id": "p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 2000.0},
            ],
            "analysis": analysis,
        }
    )


def synthetic_columns(
    arms: tuple[str, ...] = ("control", "phi", "qwen", "deepseek"),
    accuracy: tuple[float, ...] = (0.0, 0.75, 0.79, 0.83),
    n_cases: int = 60,
    replays: int = 5,
    seed: int = 1,
    plan_hash: str = HASH,
) -> dict[str, Any]:
    """Columns of a fully blocked campaign: every arm sees every case ``replays`` times.

    Each case has a difficulty, so replays of a case agree (as a mostly deterministic router's do).
    The first arm is the control (no routing decision).
    """
    rng = np.random.default_rng(seed)
    labels = np.array(DEFAULT_LABELS)
    n_arms = len(arms)
    arm_i = np.repeat(np.arange(n_arms), n_cases * replays)
    case_i = np.tile(np.repeat(np.arange(n_cases), replays), n_arms)
    replay = np.tile(np.arange(replays), n_arms * n_cases)
    n = arm_i.size
    family = labels[case_i % labels.size]
    ease = rng.normal(0.0, 1.5, n_cases)
    acc = np.clip(np.array(accuracy), 1e-6, 0.999)
    p = 1.0 / (1.0 + np.exp(-(np.log(acc / (1.0 - acc))[arm_i] + ease[case_i])))
    correct = rng.random(n) < p
    control = arm_i == 0
    wrong = labels[(case_i + 1) % labels.size]
    predicted = np.where(correct, family, wrong).astype(object)
    predicted[control] = None
    correct_col = correct.astype(np.float64)
    correct_col[control] = np.nan
    routing_latency = rng.lognormal(np.log(1000.0), 0.4, n)
    routing_latency[control] = np.nan
    routing_status = np.where(control, None, "ok").astype(object)
    down_lat = rng.lognormal(np.log(500.0), 0.5, n)
    downstream_correct = (rng.random(n) < np.where(correct | control, 0.85, 0.6)).astype(np.float64)
    cases = np.array([f"case-{i:03d}" for i in range(n_cases)])
    arm_names = np.array(arms)
    return {
        "plan_hash": np.full(n, plan_hash),
        "trial_id": np.array(
            [f"{arm_names[a]}:{cases[c]}:{r}" for a, c, r in zip(arm_i, case_i, replay, strict=False)]
        ),
        "seq": np.arange(n),
        "case_id": cases[case_i],
        "family": family,
        "arm": arm_names[arm_i],
        "replay": replay,
        "scheduled_s": np.arange(n) * 0.2,
        "sent_s": np.arange(n) * 0.2,
        "end_s": np.arange(n) * 0.2 + 2.0,
        "wire_s": np.full(n, np.nan),
        "connect_wait_ms": np.full(n, np.nan),
        "lateness_ms": np.full(n, np.nan),
        "routing_status": routing_status,
        "routing_latency_ms": routing_latency,
        "routing_first_token_ms": np.full(n, np.nan),
        "routing_attempts": np.where(control, np.nan, 1.0),
        "predicted_label": predicted,
        "gold_labels": family,
        "correct": correct_col,
        "routed_model": np.full(n, "big"),
        "downstream_status": np.full(n, "ok"),
        "downstream_latency_ms": down_lat,
        "downstream_first_token_ms": np.full(n, np.nan),
        "downstream_itl_ms": np.full(n, np.nan),
        "downstream_correct": downstream_correct,
        "e2e_latency_ms": np.where(control, 0.0, np.nan_to_num(routing_latency)) + down_lat,
        "tokens_in": np.full(n, 500),
        "tokens_out": np.full(n, 400),
        "cost_usd": np.where(control, 0.02, 0.001),
        "routing_cost_usd": np.where(control, np.nan, 0.0001),
        "status": np.full(n, "ok"),
        "error": np.full(n, None, dtype=object),
    }
