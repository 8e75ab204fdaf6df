"""Minimal valid plans for the traffic tests, built as pydantic models in code."""

from __future__ import annotations

from typing import Any

from prereg.schema import Plan

_SIM_LATENCY = {"median_ms": 900.0, "p95_ms": 2000.0}


def make_plan(
    *,
    arm_ids: tuple[str, ...] = ("control", "qwen"),
    ratio: dict[str, int] | None = None,
    replays: int = 2,
    seed: int = 7,
    arrival: dict[str, Any] | None = None,
    cases: int = 3,
) -> Plan:
    """A plan with one control arm, router arms for the other ids, and the given traffic."""
    labels = ["code", "math"]
    router = {
        "model": "tiny-router",
        "backend": {
            "kind": "simulated",
            "accuracy": {"code": 0.8, "math": 0.8},
            "latency": _SIM_LATENCY,
        },
        "prompt_template": "Classify {text} as one of {labels}",
    }
    arms: list[dict[str, Any]] = [{"id": arm_ids[0], "kind": "control", "model": "big"}]
    arms += [{"id": a, "kind": "router", "classifier": router} for a in arm_ids[1:]]
    weights = [1 if ratio is None else ratio.get(a, 0) for a in arm_ids]
    return Plan.model_validate(
        {
            "study": {"title": "t", "authors": ["a"], "hypotheses": ["h"]},
            "taxonomy": {"labels": labels},
            "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
            "models": {
                "big": {
                    "model": "big",
                    "backend": {
                        "kind": "simulated",
                        "quality": {"code": 0.9, "math": 0.9},
                        "latency": _SIM_LATENCY,
                    },
                }
            },
            "arms": arms,
            "routing": {"routes": {"code": "big", "math": "big"}, "fallback": "big"},
            "traffic": {
                "arrival": arrival or {"kind": "poisson", "rate_per_s": 10.0},
                "replays_per_case": replays,
            },
            "randomization": {"ratio": ratio, "seed": seed},
            "sample_size": {
                "unique_cases": cases,
                "requests_total": cases * replays * sum(weights),
            },
            "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
        }
    )


def case_ids(count: int) -> tuple[str, ...]:
    """Case ids ``c000``, ``c001``, ..."""
    return tuple(f"c{i:03d}" for i in range(count))
