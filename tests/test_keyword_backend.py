"""The ``keyword`` backend: a rule-based router in a simulated and in a live campaign, via the CLI.

The rules, the matching (whole words, case-insensitive, first label in taxonomy order, else the
default, else ``unparseable``), its time models (both) and its refusals (not a downstream model;
labels outside the taxonomy). The campaigns run through ``routetrial freeze`` / ``run`` /
``export`` on frozen plans; the live one against ``routetrial serve`` on 127.0.0.1.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _cli import run_cli
from _live_plans import FAST, LABELS, STARTER, live_plan, sim_plan, starter_cases
from test_serve_cli import serve

from arms._keyword import KeywordBehaviour
from prereg.backends import KeywordClassifierSpec
from prereg.schema import Plan

ROUTETRIAL = Path(sys.executable).parent / "routetrial"

RULES: dict[str, list[str]] = {
    "code": ["python", "function", "SQL", "query", "bash", "TypeError"],
    "math": ["solve", "sum", "probability", "integral"],
    "translation": ["translate", "French", "Spanish", "German"],
    "summarization": ["summarize", "summarise", "summary", "tl;dr"],
}


def keyword_backend(default: str | None = "knowledge_qa", **latency: float) -> dict[str, Any]:
    """A keyword backend with :data:`RULES`, a few milliseconds of latency."""
    doc: dict[str, Any] = {"kind": "keyword", "rules": RULES, "latency": {**FAST, **latency}}
    if default is not None:
        doc["default"] = default
    return doc


def behaviour(default: str | None, texts: list[str]) -> tuple[KeywordBehaviour, list[Any]]:
    """A keyword behaviour over cases with these texts (and the cases)."""
    from prereg.records import Case

    cases = [Case(id=f"c{i}", text=t, family="code", gold_labels=("code",)) for i, t in enumerate(texts)]
    spec = KeywordClassifierSpec.model_validate(keyword_backend(default))
    return KeywordBehaviour(spec, LABELS, cases, np.random.default_rng(1)), cases


def test_rules_match_whole_words_case_insensitively_first_label_in_taxonomy_order() -> None:
    """`SUM` matches, `summary` is not `sum`; code comes before math in the taxonomy; else the default."""
    texts = ["What is the SUM of 2 and 3?", "Write a summary please", "A python function to solve x", "hi"]
    b, cases = behaviour("knowledge_qa", texts)
    labels = [b.decide(c, 0)[:2] for c in cases]
    assert labels == [("math", "ok"), ("summarization", "ok"), ("code", "ok"), ("knowledge_qa", "ok")]


def test_no_match_without_a_default_is_unparseable() -> None:
    """No rule and no default: the decision fails as ``unparseable``, label None."""
    b, cases = behaviour(None, ["hello there"])
    label, status, service_ms = b.decide(cases[0], 0)
    assert (label, status) == (None, "unparseable") and service_ms > 0.0


def test_latency_is_drawn_from_the_seeded_stream() -> None:
    """Same generator seed, same service times; the label does not depend on them."""
    first, cases = behaviour("knowledge_qa", ["solve it"] * 3)
    again, _ = behaviour("knowledge_qa", ["solve it"] * 3)
    assert [first.decide(c, 0) for c in cases] == [again.decide(c, 0) for c in cases]


def test_keyword_runs_in_both_time_models_openai_only_on_the_wall_clock() -> None:
    """A keyword router beside simulated backends is simulated; beside openai ones, live."""
    assert {"virtual", "wall"} == KeywordClassifierSpec.TIME_MODELS
    assert not _with_keyword_arm(sim_plan()).is_live
    assert _with_keyword_arm(live_plan("http://127.0.0.1:9/v1")).is_live


def test_keyword_is_refused_as_a_downstream_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``kind: keyword`` under ``models``: one line naming the field and the kinds a model may be."""
    doc = _doc(sim_plan())
    doc["models"]["small"]["backend"] = keyword_backend()
    code, _out, err = run_cli(capsys, "check", _write_study(tmp_path, doc))
    line = err.strip()
    assert code == 2 and "\n" not in line
    assert "models.small.backend" in line and "keyword" in line


def test_a_rule_label_outside_the_taxonomy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule for a label the taxonomy lacks: one line naming ``...backend.rules.<label>``."""
    doc = _doc(_with_keyword_arm(sim_plan()))
    doc["arms"][2]["classifier"]["backend"]["rules"]["poetry"] = ["poem"]
    code, _out, err = run_cli(capsys, "check", _write_study(tmp_path, doc))
    assert code == 2 and "arms[2].classifier.backend.rules.poetry: expected a taxonomy label" in err


def _keyword_arm(default: str | None) -> dict[str, Any]:
    return {
        "id": "keyword",
        "kind": "router",
        "classifier": {"model": "rules-v1", "backend": keyword_backend(default), "timeout_ms": 5_000.0},
    }


def _with_keyword_arm(plan: Plan, default: str | None = "knowledge_qa") -> Plan:
    """``plan`` with a third arm, ``keyword``, whose classifier is the keyword backend."""
    doc = _doc(plan)
    doc["arms"] = [*doc["arms"], _keyword_arm(default)]
    size = doc["sample_size"]
    size["requests_total"] = size["unique_cases"] * doc["traffic"]["replays_per_case"] * len(doc["arms"])
    return Plan.model_validate(doc)


def _doc(plan: Plan) -> dict[str, Any]:
    doc: dict[str, Any] = plan.model_dump(mode="json", exclude_none=True)
    return doc


def _write_study(directory: Path, doc: dict[str, Any]) -> Path:
    """``doc`` as ``plan.yaml`` beside a copy of the starter corpus's first cases, pinned."""
    n = doc["sample_size"]["unique_cases"]
    corpus = b"".join(STARTER.read_bytes().splitlines(keepends=True)[:n])
    (directory / "corpus.jsonl").write_bytes(corpus)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _run_and_export(study: Path, plan: Path, store: str) -> tuple[str, list[dict[str, str]]]:
    """``freeze``, ``run``, ``export`` through the CLI: run's stdout and the trial rows."""
    frozen = _cli("freeze", plan, cwd=study)
    assert frozen.returncode == 0, frozen.stderr
    ran = _cli("run", plan, cwd=study)
    assert ran.returncode == 0, ran.stderr
    out = study / "trials.csv"
    exported = _cli("export", study / store, "--format", "csv", "--out", out, cwd=study)
    assert exported.returncode == 0, exported.stderr
    with out.open(encoding="utf-8") as f:
        return ran.stdout, list(csv.DictReader(f))


#: What RULES give the starter corpus's first 12 cases (read off the texts; None: no rule matches).
EXPECTED: dict[str, str | None] = {
    **{f"code-{i:02d}": "code" for i in (1, 2, 3, 4, 5, 8)},
    **{f"code-{i:02d}": None for i in (6, 7, 9, 10)},
    "math-01": None,
    "math-02": "math",
}


def _check_keyword_rows(rows: list[dict[str, str]], default: str | None) -> None:
    keyword = [r for r in rows if r["arm"] == "keyword"]
    assert {r["case_id"] for r in keyword} == set(EXPECTED)
    for r in keyword:
        label = EXPECTED[r["case_id"]] or default
        assert (r["predicted_label"] or None) == label, r
        assert r["routing_status"] == ("ok" if label is not None else "unparseable")
        assert r["routing_attempts"] == "1"
        assert float(r["routing_cost_usd"]) == 0.0 and float(r["routing_latency_ms"]) > 0.0
        if label is None:
            assert "no rule matches" in r["error"] and r["status"] == "unparseable"


def test_a_simulated_campaign_mixes_keyword_and_simulated_arms(tmp_path: Path) -> None:
    """``routetrial run`` simulates a keyword router beside simulated arms; no match is ``unparseable``."""
    plan = _write_study(tmp_path, _doc(_with_keyword_arm(sim_plan(), default=None)))
    out, rows = _run_and_export(tmp_path, plan, "plan.duckdb")
    assert len(rows) == 36 and {r["arm"] for r in rows} == {"control", "router", "keyword"}
    assert "unparseable" in out  # counted like any failure
    _check_keyword_rows(rows, None)
    # Deterministic: a second study from the same plan stores the same keyword rows.
    again = tmp_path / "again"
    again.mkdir()
    plan2 = _write_study(again, _doc(_with_keyword_arm(sim_plan(), default=None)))
    _, rows2 = _run_and_export(again, plan2, "plan.duckdb")
    assert [r for r in rows2 if r["arm"] == "keyword"] == [r for r in rows if r["arm"] == "keyword"]


def test_a_live_campaign_mixes_keyword_and_openai_arms(tmp_path: Path) -> None:
    """``routetrial run`` sends the openai arms to a real server and routes the keyword arm by its rules."""
    served = tmp_path / "served"
    served.mkdir()
    proc, url = serve(served, "--seed", "3")
    try:
        study = tmp_path / "study"
        study.mkdir()
        doc = _doc(_with_keyword_arm(live_plan(url, rate=100.0), default="knowledge_qa"))
        out, rows = _run_and_export(study, _write_study(study, doc), "plan.duckdb")
        assert "stored 36 of 36 live trials" in out, out
        _check_keyword_rows(rows, "knowledge_qa")
        keyword = [r for r in rows if r["arm"] == "keyword"]
        # The downstream call went to the model the routing table names for the keyword's label.
        routes = doc["routing"]["routes"]
        assert all(r["routed_model"] == routes[r["predicted_label"]] for r in keyword)
        assert all(float(r["routing_latency_ms"]) >= 0.0 for r in keyword)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_keyword_with_surrounding_whitespace_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``" py"`` would never match as written: one line naming the rule and the keyword's index."""
    doc = _doc(_with_keyword_arm(sim_plan()))
    doc["arms"][2]["classifier"]["backend"]["rules"]["code"] = [" py"]
    code, _out, err = run_cli(capsys, "check", _write_study(tmp_path, doc))
    assert code == 2 and "arms[2].classifier.backend.rules: code[0]: expected a keyword without" in err


def test_on_the_wall_clock_a_slow_keyword_decision_times_out() -> None:
    """Live, the drawn latency is awaited: above ``timeout_ms`` the decision is a ``timeout``, as data."""
    import asyncio
    import time

    from arms import ArmRequest, ClientPool, build_live_arms

    doc = _doc(_with_keyword_arm(live_plan("http://127.0.0.1:9/v1"), default="knowledge_qa"))
    doc["arms"][2]["classifier"]["backend"]["latency"] = {"median_ms": 200.0, "p95_ms": 300.0}
    doc["arms"][2]["classifier"]["timeout_ms"] = 20.0
    plan = Plan.model_validate(doc)
    arm = build_live_arms(plan, starter_cases(12), ClientPool())["keyword"]
    classifier = arm._classifier  # type: ignore[attr-defined]
    request = ArmRequest(0, "keyword:x:0", starter_cases(12)[0], "keyword", 0, 0.0)
    decided = asyncio.run(classifier.classify(request, time.monotonic))
    assert (decided.label, decided.status) == (None, "timeout")
    assert decided.error == "keyword: no decision within 20 ms (attempt 1)"
