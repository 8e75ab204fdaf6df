"""Small Study-2-like plans for the runner and CLI tests: four arms, six families, code-built."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from prereg.records import Case
from prereg.schema import DEFAULT_LABELS, Plan

ROUTERS = {
    # arm id: (accuracy, median_ms, p95_ms), close to STUDY.md's figures (Phi-4-mini illustrative).
    "phi": (0.76, 1100.0, 2100.0),
    "qwen": (0.79, 988.0, 1900.0),
    "deepseek": (0.83, 1300.0, 2295.0),
}


def make_cases(n_cases: int) -> tuple[Case, ...]:
    """``n_cases`` cases spread over the six families, one gold label each."""
    return tuple(
        Case(
            id=f"case-{i:03d}",
            text=f"request {i}",
            family=DEFAULT_LABELS[i % 6],
            gold_labels=(DEFAULT_LABELS[i % 6],),
        )
        for i in range(n_cases)
    )


def plan_dict(
    *,
    n_cases: int = 12,
    replays: int = 2,
    rate_per_s: float = 2.0,
    seed: int = 11,
    corpus_sha256: str = "0" * 64,
    arrival: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A four-arm plan (control + three routers) as the mapping a YAML plan file holds."""
    quality = dict.fromkeys(DEFAULT_LABELS, 0.8)
    latency = {"median_ms": 1500.0, "p95_ms": 4000.0, "concurrency": 64}
    arms: list[dict[str, Any]] = [{"id": "control", "kind": "control", "model": "large"}]
    for arm, (acc, median, p95) in ROUTERS.items():
        arms.append(
            {
                "id": arm,
                "kind": "router",
                "classifier": {
                    "model": f"{arm}-model",
                    "backend": {
                        "kind": "simulated",
                        "accuracy": dict.fromkeys(DEFAULT_LABELS, acc),
                        "latency": {"median_ms": median, "p95_ms": p95, "concurrency": 16},
                        "failures": {"http_error_rate": 0.01, "unparseable_rate": 0.01},
                    },
                    "prompt_template": "Classify: {text}\nLabels: {labels}",
                    "timeout_ms": 2500.0,
                },
            }
        )
    return {
        "study": {"title": "Router study (test)", "authors": ["tests"], "hypotheses": ["h"]},
        "corpus": {"path": "corpus.jsonl", "sha256": corpus_sha256},
        "models": {
            "large": {
                "model": "large",
                "backend": {"kind": "simulated", "quality": quality, "latency": latency},
            },
            "small": {
                "model": "small",
                "backend": {"kind": "simulated", "quality": quality, "latency": latency},
            },
        },
        "arms": arms,
        "routing": {
            "routes": {label: ("small" if i % 2 else "large") for i, label in enumerate(DEFAULT_LABELS)},
            "fallback": "large",
        },
        "traffic": {
            "arrival": arrival or {"kind": "poisson", "rate_per_s": rate_per_s},
            "replays_per_case": replays,
        },
        "randomization": {"seed": seed},
        "sample_size": {"unique_cases": n_cases, "requests_total": n_cases * replays * 4},
        "gates": [
            {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85},
            {"id": "p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 2000.0},
        ],
    }


def make_plan(**kwargs: Any) -> Plan:
    """The plan of :func:`plan_dict` as a validated model."""
    return Plan.model_validate(plan_dict(**kwargs))


def write_plan(directory: Path, *, n_cases: int = 12, name: str = "plan.yaml", **kwargs: Any) -> Path:
    """Write a corpus and a plan pinning its hash into ``directory``; returns the plan's path."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": c.id, "text": c.text, "family": c.family, "gold_labels": list(c.gold_labels)})
        for c in make_cases(n_cases)
    ]
    corpus = ("\n".join(lines) + "\n").encode()
    (directory / "corpus.jsonl").write_bytes(corpus)
    data = plan_dict(n_cases=n_cases, corpus_sha256=hashlib.sha256(corpus).hexdigest(), **kwargs)
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
