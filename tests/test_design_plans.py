"""Small plans for the design tests, built in code (a helper module: it holds no tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from prereg.canonical import bytes_hash
from prereg.records import Case
from prereg.schema import Plan

FAMILIES = ("code", "math", "summarization", "translation")
GATES: tuple[dict[str, Any], ...] = (
    {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85},
    {"id": "latency_p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 2000.0},
)


def make_cases(n: int) -> tuple[Case, ...]:
    """``n`` cases cycling over four families; every fifth summarization case also accepts code."""
    cases = []
    for i in range(n):
        family = FAMILIES[i % len(FAMILIES)]
        gold = (family, "code") if family == "summarization" and i % 5 == 2 else (family,)
        cases.append(Case(id=f"c{i:03d}", text=f"request {i}", family=family, gold_labels=gold))
    return tuple(cases)


def make_plan(
    *,
    cases: int = 20,
    replays: int = 2,
    routers: tuple[str, ...] = ("small", "hosted"),
    control: bool = True,
    accuracy: float | dict[str, float] = 0.8,
    difficulty_sd: float = 1.5,
    unparseable: float = 0.01,
    resamples: int = 100,
    seed: int = 11,
    gates: tuple[str, ...] = ("accuracy", "latency_p95"),
    timeout_ms: float = 10_000.0,
    corpus_sha256: str = "0" * 64,
) -> Plan:
    """A valid plan: an optional control, router arms and both Study 2 gates, fast to analyse."""
    acc = accuracy if isinstance(accuracy, dict) else dict.fromkeys(FAMILIES, accuracy)
    model = {
        "model": "big",
        "backend": {
            "kind": "simulated",
            "quality": dict.fromkeys(FAMILIES, 0.9),
            "latency": {"median_ms": 800.0, "p95_ms": 1600.0, "concurrency": 16},
        },
    }
    arms: list[dict[str, Any]] = [{"id": "control", "kind": "control", "model": "big"}] if control else []
    for k, arm_id in enumerate(routers):
        arms.append(
            {
                "id": arm_id,
                "kind": "router",
                "classifier": {
                    "model": f"clf-{arm_id}",
                    "backend": {
                        "kind": "simulated",
                        "accuracy": acc,
                        "case_difficulty_sd": difficulty_sd,
                        "latency": {
                            "median_ms": 900.0 + 300 * k,
                            "p95_ms": 1700.0 + 500 * k,
                            "concurrency": 4,
                            "network_rtt_ms": 50.0 * k,
                        },
                        "failures": {"unparseable_rate": unparseable},
                    },
                    "prompt_template": "Classify {text} as one of {labels}",
                    "timeout_ms": timeout_ms,
                },
            }
        )
    return Plan.model_validate(
        {
            "study": {"title": "design test", "authors": ["a"], "hypotheses": ["h"]},
            "taxonomy": {"labels": list(FAMILIES)},
            "corpus": {"path": "corpus.jsonl", "sha256": corpus_sha256},
            "models": {"big": model},
            "arms": arms,
            "routing": {"routes": dict.fromkeys(FAMILIES, "big"), "fallback": "big"},
            "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 2.0}, "replays_per_case": replays},
            "randomization": {"seed": seed},
            "sample_size": {"unique_cases": cases, "requests_total": cases * replays * len(arms)},
            "gates": [g for g in GATES if g["id"] in gates],
            "analysis": {"bootstrap": {"resamples": resamples}},
        }
    )


def write_plan(folder: Path, **kwargs: Any) -> Path:
    """Write ``plan.yaml`` and its corpus into ``folder``; returns the plan path."""
    n = int(kwargs.get("cases", 20))
    lines = [
        json.dumps({"id": c.id, "text": c.text, "family": c.family, "gold_labels": list(c.gold_labels)})
        for c in make_cases(n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    (folder / "corpus.jsonl").write_bytes(data)
    plan = make_plan(corpus_sha256=bytes_hash(data), **kwargs)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path
