"""Plan fixtures and Hypothesis strategies shared by the prereg tests.

``small_plan`` is a complete, valid plan over a six-case corpus (one case per task family, one of
them with two gold labels): a control and one simulated router, 2 replays, 24 requests.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from prereg.canonical import bytes_hash
from prereg.schema import DEFAULT_LABELS

__all__ = [
    "SMALL_CORPUS",
    "corpus_bytes",
    "leaf_paths",
    "render_yaml",
    "renderings",
    "small_plan",
    "write_corpus",
    "write_plan",
]

SMALL_CORPUS: tuple[dict[str, Any], ...] = (
    {"id": "c1", "text": "Fix this Python loop.", "family": "code", "gold_labels": ["code"]},
    {
        "id": "m1",
        "text": "What is 17 * 23?",
        "family": "math",
        "gold_labels": ["math"],
        "reference": "391",
        "grader": "numeric",
    },
    {
        "id": "s1",
        "text": "Summarise this function in a sentence.",
        "family": "summarization",
        "gold_labels": ["summarization", "code"],
    },
    {
        "id": "t1",
        "text": "Translate 'good morning' into German.",
        "family": "translation",
        "gold_labels": ["translation"],
    },
    {
        "id": "w1",
        "text": "Write a haiku about routers.",
        "family": "creative_writing",
        "gold_labels": ["creative_writing"],
    },
    {"id": "q1", "text": "Who wrote Middlemarch?", "family": "knowledge_qa", "gold_labels": ["knowledge_qa"]},
)


def corpus_bytes(cases: tuple[dict[str, Any], ...] | list[dict[str, Any]] = SMALL_CORPUS) -> bytes:
    """Cases as JSON Lines bytes."""
    return "".join(json.dumps(c) + "\n" for c in cases).encode("utf-8")


def write_corpus(
    folder: Path, cases: tuple[dict[str, Any], ...] | list[dict[str, Any]] = SMALL_CORPUS
) -> Path:
    """Write a corpus file into ``folder``."""
    path = folder / "corpus.jsonl"
    path.write_bytes(corpus_bytes(cases))
    return path


def small_plan(corpus_sha256: str | None = None) -> dict[str, Any]:
    """A valid plan as plain data, pinned to :data:`SMALL_CORPUS` unless told otherwise."""
    labels = list(DEFAULT_LABELS)
    quality = dict.fromkeys(labels, 0.8)
    return {
        "study": {"title": "Small test study", "authors": ["A. Tester"], "hypotheses": ["H1: it routes"]},
        "corpus": {"path": "corpus.jsonl", "sha256": corpus_sha256 or bytes_hash(corpus_bytes())},
        "models": {
            "large": {
                "model": "large-model",
                "backend": {
                    "kind": "simulated",
                    "quality": dict(quality),
                    "latency": {"median_ms": 900.0, "p95_ms": 2000.0},
                },
                "price": {"input_per_1k": 0.01, "output_per_1k": 0.04},
            },
            "small": {
                "model": "small-model",
                "backend": {
                    "kind": "simulated",
                    "quality": dict(quality),
                    "latency": {"median_ms": 400.0, "p95_ms": 900.0},
                },
            },
        },
        "arms": [
            {"id": "control", "kind": "control", "model": "large"},
            {
                "id": "qwen",
                "kind": "router",
                "classifier": {
                    "model": "qwen2.5-3b",
                    "backend": {
                        "kind": "simulated",
                        "accuracy": dict.fromkeys(labels, 0.8),
                        "latency": {"median_ms": 988.0, "p95_ms": 1800.0},
                    },
                    "prompt_template": "Labels: {labels}. Request: {text}. Label:",
                    "timeout_ms": 10000.0,
                },
            },
        ],
        "routing": {
            "routes": {label: ("small" if label == "translation" else "large") for label in labels},
            "fallback": "large",
        },
        "graders": {"numeric": {"kind": "numeric", "tolerance": 0.01}},
        "traffic": {"arrival": {"kind": "poisson", "rate_per_s": 2.0}, "replays_per_case": 2},
        "randomization": {"seed": 7},
        "sample_size": {"unique_cases": 6, "requests_total": 24},
        "gates": [
            {"id": "accuracy", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85},
            {"id": "p95", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 2000.0},
        ],
    }


def write_plan(
    folder: Path,
    plan: dict[str, Any] | None = None,
    *,
    name: str = "plan.yaml",
    cases: tuple[dict[str, Any], ...] | list[dict[str, Any]] = SMALL_CORPUS,
) -> Path:
    """Write a corpus and a plan (``small_plan()`` by default) into ``folder``; return the plan path."""
    write_corpus(folder, cases)
    path = folder / name
    path.write_text(
        yaml.safe_dump(plan if plan is not None else small_plan(), sort_keys=False), encoding="utf-8"
    )
    return path


def _shuffled(data: Any, rnd: random.Random) -> Any:
    if isinstance(data, dict):
        keys = list(data)
        rnd.shuffle(keys)
        return {k: _shuffled(data[k], rnd) for k in keys}
    if isinstance(data, list):
        return [_shuffled(x, rnd) for x in data]
    return data


def render_yaml(data: dict[str, Any], rnd: random.Random) -> str:
    """The same data as YAML with shuffled key order, a random layout and comments sprinkled in."""
    text = yaml.safe_dump(
        _shuffled(copy.deepcopy(data), rnd),
        sort_keys=False,
        default_flow_style=rnd.choice([False, None]),
        indent=rnd.choice([2, 4]),
        width=100_000,
    )
    out = []
    for line in text.splitlines():
        if rnd.random() < 0.2:
            out.append(" " * rnd.randint(0, 6) + "# a comment: key order: [x, y]")
        out.append(line + (rnd.choice(["", "   ", "  # trailing comment"]) if rnd.random() < 0.3 else ""))
        if rnd.random() < 0.1:
            out.append("")
    return "\n".join(out) + "\n" * rnd.randint(1, 2)


def renderings(data: dict[str, Any]) -> st.SearchStrategy[str]:
    """Strategy: YAML texts that all mean ``data``."""
    return st.randoms(use_true_random=False).map(lambda rnd: render_yaml(data, rnd))


def leaf_paths(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of every scalar leaf in nested dicts and lists."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in leaf_paths(v, (*prefix, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in leaf_paths(v, (*prefix, i))]
    return [prefix]
