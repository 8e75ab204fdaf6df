"""The ``tfidf`` backend: a real scikit-learn TF-IDF + logistic regression, in both time models.

Nothing is mocked: the router is trained on the examples file when the arm is built, and the
campaigns run through ``routetrial freeze`` / ``run`` / ``export``, the live one against a
``routetrial serve`` process on 127.0.0.1. Skipped without the ``local`` extra, unless
``ROUTETRIAL_REQUIRE_LOCAL=1``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli import run_cli
from _live_plans import FAST, live_plan, sim_plan, starter_cases
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

from prereg.backends import TfidfClassifierSpec
from prereg.examples import Example

#: Requests whose words the examples of their label share (none is an example or a starter case).
CLEAR = {
    "Translate 'good morning' into Spanish": "translation",
    "Write a haiku about the sea": "creative_writing",
    "Summarize this report in two sentences": "summarization",
}


@pytest.fixture(scope="module", autouse=True)
def _sklearn() -> None:
    require_local("sklearn")


def _router(**fields: Any) -> Any:
    from arms._tfidf import TfidfRouter

    doc = {"kind": "tfidf", "examples": {"path": "x.jsonl", "sha256": "0" * 64}, **fields}
    examples = [Example(f"ex-{i}", text, label, i + 1) for i, (label, text) in enumerate(EXAMPLES)]
    return TfidfRouter(TfidfClassifierSpec.model_validate(doc), examples, "test")


def test_training_is_deterministic_and_routes_clear_requests() -> None:
    """Two routers trained on one file give the same probabilities; clear requests get their label."""
    texts = [c.text for c in starter_cases()]
    assert _router().best(texts) == _router().best(texts)
    assert [label for label, _status, _ in _router().decide(list(CLEAR))] == list(CLEAR.values())


def test_below_abstain_below_the_router_abstains() -> None:
    """A top probability under the floor is ``abstained``, no label, the probability in the error."""
    label, status, error = _router(abstain_below=0.99).decide(["Write a haiku about the sea"])[0]
    assert (label, status) == (None, "abstained")
    assert error is not None and "below abstain_below 0.99" in error


def test_more_ngrams_and_less_regularisation_are_other_routers() -> None:
    """``max_ngram`` and ``c`` reach scikit-learn: the probabilities change with them."""
    texts = [c.text for c in starter_cases()[:12]]
    assert _router(max_ngram=1, c=0.5).best(texts) != _router(max_ngram=3, c=100.0).best(texts)


def test_a_simulated_campaign_routes_by_the_trained_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every stored decision is the trained model's; those under the floor go to the fallback."""
    cases = starter_cases()[:60]
    scores = _router().best([c.text for c in cases])
    floor = threshold([s for _, s in scores])
    plan = write_study(
        tmp_path, sim_plan(cases=60), local_arm({"kind": "tfidf", "abstain_below": floor, "latency": FAST})
    )
    rows = campaign(capsys, plan)
    assert len(rows) == 60
    check_rows(rows, expected_rows(cases, scores, floor), sim_plan().routing.routes)
    assert {"ok", "abstained"} == {r["routing_status"] for r in rows}


def test_a_live_campaign_routes_on_the_wall_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Live, downstream answered by ``routetrial serve``: the decisions are the model's, time measured."""
    cases = starter_cases()[:12]
    scores = _router().best([c.text for c in cases])
    floor = threshold([s for _, s in scores])
    served = tmp_path / "served"
    served.mkdir()
    proc, url = serve(served, "--seed", "3")
    try:
        backend = {"kind": "tfidf", "abstain_below": floor, "concurrency": 2}
        plan = write_study(tmp_path / "study", live_plan(url, rate=50.0), local_arm(backend))
        rows = campaign(capsys, plan)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len(rows) == 12
    check_rows(rows, expected_rows(cases, scores, floor), live_plan(url).routing.routes)
    assert {"ok", "abstained"} == {r["routing_status"] for r in rows}


def test_without_the_library_the_run_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interpreter where scikit-learn cannot be imported: one line naming the field and the extra."""
    plan = write_study(tmp_path, sim_plan(cases=12), local_arm({"kind": "tfidf", "latency": FAST}))
    assert run_cli(capsys, "freeze", plan)[0] == 0
    done = subprocess.run(
        [sys.executable, "-c", BLOCK % "sklearn", "run", str(plan), "--store", str(tmp_path / "s.duckdb")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    err = done.stderr.strip()
    assert done.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "arms[2].classifier.backend.kind: expected the optional library sklearn" in err
    assert "pip install -e '.[local]'" in err
