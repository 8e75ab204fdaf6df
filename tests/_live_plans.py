"""Plans for the live tests: a simulated plan for ``routetrial serve`` and its live twin.

Both name the same models; the live twin points every backend at the local server. Latencies are
a few milliseconds so that a test runs in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prereg.corpus import load_corpus
from prereg.records import Case
from prereg.schema import Plan

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "prereg" / "starter" / "corpus.jsonl"
LABELS = ["code", "math", "summarization", "translation", "creative_writing", "knowledge_qa"]
GRADERS = {
    "numeric": {"kind": "numeric", "tolerance": 0.01},
    "exact": {"kind": "exact"},
    "regex": {"kind": "regex"},
}
FAST = {"median_ms": 4.0, "p95_ms": 8.0, "concurrency": 64}
PROMPT = "Classify this request into one of: {labels}. Reply with the label only.\n\n{text}"


def starter_cases(n: int | None = None) -> tuple[Case, ...]:
    """The starter corpus (its first ``n`` cases, taking references first when n is small)."""
    cases = load_corpus(STARTER)
    if n is None:
        return cases
    graded = [c for c in cases if c.grader is not None]
    rest = [c for c in cases if c.grader is None]
    return tuple((graded + rest)[:n])


def _plan(
    classifier_backend: dict[str, Any],
    model_backends: dict[str, dict[str, Any]],
    *,
    cases: int,
    replays: int,
    rate: float,
    extra: dict[str, Any],
    classifier: dict[str, Any],
    model: dict[str, Any],
) -> Plan:
    models = {
        key: {"model": name, "backend": b, **model}
        for key, (name, b) in {
            "small": ("small-llm", model_backends["small"]),
            "large": ("large-llm", model_backends["large"]),
        }.items()
    }
    doc: dict[str, Any] = {
        "study": {"title": "live test", "authors": ["t"], "hypotheses": ["h"]},
        "taxonomy": {"labels": LABELS},
        "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
        "models": models,
        "arms": [
            {"id": "control", "kind": "control", "model": "large"},
            {
                "id": "router",
                "kind": "router",
                "classifier": {
                    "model": "router-llm",
                    "backend": classifier_backend,
                    "prompt_template": PROMPT,
                    **classifier,
                },
            },
        ],
        "routing": {
            "routes": {lab: ("small" if lab in ("math", "code") else "large") for lab in LABELS},
            "fallback": "large",
        },
        "graders": GRADERS,
        "traffic": {"arrival": {"kind": "constant", "rate_per_s": rate}, "replays_per_case": replays},
        "randomization": {"seed": 11},
        "sample_size": {"unique_cases": cases, "requests_total": 2 * cases * replays},
        "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.85}],
    }
    doc.update(extra)
    return Plan.model_validate(doc)


def sim_plan(
    *,
    accuracy: float = 0.8,
    quality: float = 0.7,
    cases: int = 12,
    replays: int = 1,
    rate: float = 50.0,
    latency: dict[str, float] | None = None,
) -> Plan:
    """The simulated plan the local server serves."""
    lat = latency or FAST
    clf = {"kind": "simulated", "accuracy": dict.fromkeys(LABELS, accuracy), "latency": lat}
    mod = {"kind": "simulated", "quality": dict.fromkeys(LABELS, quality), "latency": lat}
    return _plan(
        clf,
        {"small": mod, "large": mod},
        cases=cases,
        replays=replays,
        rate=rate,
        extra={},
        classifier={},
        model={},
    )


def live_plan(
    base_url: str,
    *,
    structured: str = "none",
    parsing: str = "strict",
    stream: bool = True,
    api_key_env: str | None = None,
    cases: int = 12,
    replays: int = 1,
    rate: float = 50.0,
    timeout_ms: float = 5_000.0,
    retry: dict[str, Any] | None = None,
    extra_body: dict[str, Any] | None = None,
    max_lateness_p99_ms: float | None = None,
    max_in_flight: int | None = None,
) -> Plan:
    """The live twin of :func:`sim_plan`: every backend is ``openai`` at ``base_url``."""
    backend: dict[str, Any] = {
        "kind": "openai",
        "base_url": base_url,
        "structured": structured,
        "stream": stream,
        "api_key_env": api_key_env,
        "extra_body": extra_body or {},
        "max_in_flight": max_in_flight,
    }
    common: dict[str, Any] = {"timeout_ms": timeout_ms, "retry": retry or {"max_attempts": 1}}
    plan = _plan(
        backend,
        {"small": backend, "large": backend},
        cases=cases,
        replays=replays,
        rate=rate,
        extra={},
        classifier={"parsing": parsing, **common},
        model=common,
    )
    if max_lateness_p99_ms is not None:
        traffic = plan.traffic.model_copy(update={"max_lateness_p99_ms": max_lateness_p99_ms})
        plan = plan.model_copy(update={"traffic": traffic})
    return plan


def start_server(
    plan: Plan | None = None, cases: tuple[Case, ...] | None = None, *, api_key: str | None = None
) -> tuple[Any, Any]:
    """A :class:`experiment.serve.server.SimulatedServer` for ``plan`` running on 127.0.0.1 (started)."""
    from experiment.serve import FaultSpec, ServerThread, SimulatedServer, build_app

    server = SimulatedServer(
        plan or sim_plan(), cases or starter_cases(), "f" * 64, FaultSpec(), api_key=api_key
    )
    thread = ServerThread(build_app(server)).start()
    return server, thread


def write_live_study(directory: Path, base_url: str, *, cases: int, replays: int, rate: float) -> Path:
    """A live plan on the starter corpus's first ``cases`` cases, written into ``directory`` beside
    a copy of that corpus (pinned), ready to freeze: the subprocess tests' live study."""
    import hashlib
    import shutil

    import yaml

    shutil.copy(STARTER, directory / "corpus.jsonl")
    doc = live_plan(base_url, cases=cases, replays=replays, rate=rate).model_dump(
        mode="json", exclude_none=True
    )
    doc["corpus"]["sha256"] = hashlib.sha256(STARTER.read_bytes()).hexdigest()
    plan = directory / "live.yaml"
    plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return plan


def journal_sends(journal: Path) -> int:
    """How many sends a live run's journal records so far (0 before it exists)."""
    try:
        return journal.read_text(encoding="utf-8").count('"e":"sent"')
    except FileNotFoundError:
        return 0
