"""The ``python`` backend: your own router code, frozen by hash, in a simulated and a live campaign.

The router modules are real files beside the plan, imported the way the campaign imports them;
the campaigns run through ``routetrial freeze`` / ``run`` / ``export`` (a separate process, so the
import is the console script's), the live one against ``routetrial serve`` on 127.0.0.1.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _live_plans import STARTER, live_plan, sim_plan, start_server, starter_cases

from prereg.schema import Plan

ROUTETRIAL = Path(sys.executable).parent / "routetrial"

#: A router by first word: translation and math by keywords, a non-label for "haiku", an error
#: for "poem", else knowledge_qa. Deterministic, so simulated runs can be compared.
ROUTER = """
def route(text):
    t = text.lower()
    if "translate" in t:
        return "translation"
    if "solve" in t or "sum" in t:
        return ("math", 0.9)
    if "haiku" in t:
        return "poetry"
    if "poem" in t:
        raise ValueError("no poems here")
    return "knowledge_qa"


def make(prefix):
    def routed(text):
        return prefix
    return routed
"""


def _python_arm(callable_ref: str = "myrouter:route", **extra: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"kind": "python", "callable": callable_ref, **extra}
    return {"id": "mine", "kind": "router", "classifier": {"model": "my-router", "backend": backend}}


def _study(directory: Path, plan: Plan, arm: dict[str, Any], *, router: str = ROUTER) -> Path:
    doc: dict[str, Any] = plan.model_dump(mode="json", exclude_none=True)
    doc["arms"] = [*doc["arms"], arm]
    size = doc["sample_size"]
    size["requests_total"] = size["unique_cases"] * doc["traffic"]["replays_per_case"] * len(doc["arms"])
    n = size["unique_cases"]
    corpus = b"".join(STARTER.read_bytes().splitlines(keepends=True)[:n])
    (directory / "corpus.jsonl").write_bytes(corpus)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    (directory / "myrouter.py").write_text(router, encoding="utf-8")
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _rows(directory: Path, store: Path) -> list[dict[str, str]]:
    out = directory / "trials.csv"
    done = _cli("export", store, "--format", "csv", "--out", out, cwd=directory)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["arm"] == "mine"]


def _expected(text: str) -> tuple[str, str]:
    t = text.lower()
    if "translate" in t:
        return "translation", "ok"
    if "solve" in t or "sum" in t:
        return "math", "ok"
    if "haiku" in t:
        return "", "unparseable"
    if "poem" in t:
        return "", "router_error"
    return "knowledge_qa", "ok"


def test_a_simulated_campaign_routes_by_the_users_code(tmp_path: Path) -> None:
    """Frozen, run from another folder, exported: each label is the router's, failures are statuses."""
    lat = {"median_ms": 5.0, "p95_ms": 9.0, "concurrency": 4}
    plan = _study(tmp_path, sim_plan(cases=60), _python_arm(latency=lat))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _cli("freeze", plan, cwd=elsewhere).returncode == 0
    store = tmp_path / "sim.duckdb"
    ran = _cli("run", plan, "--store", store, cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    texts = {c.id: c.text for c in starter_cases(60)}
    rows = _rows(tmp_path, store)
    assert len(rows) == 60
    for row in rows:
        label, status = _expected(texts[row["case_id"]])
        assert (row["predicted_label"], row["routing_status"]) == (label, status), row
    statuses = {r["routing_status"] for r in rows}
    assert {"ok"} <= statuses
    errors = [r["error"] for r in rows if r["routing_status"] == "router_error"]
    assert all("raised an exception" in e for e in errors)
    again = tmp_path / "again.duckdb"
    assert _cli("run", plan, "--store", again, cwd=elsewhere).returncode == 0
    assert _rows(tmp_path, again) == rows  # one seed, the same router: the same trials


def test_editing_the_router_after_freezing_is_refused(tmp_path: Path) -> None:
    """The lock holds the router's source hash: ``verify`` names the change, ``run`` refuses."""
    lat = {"median_ms": 5.0, "p95_ms": 9.0, "concurrency": 4}
    plan = _study(tmp_path, sim_plan(cases=12), _python_arm(latency=lat))
    assert _cli("freeze", plan, cwd=tmp_path).returncode == 0
    assert _cli("verify", plan, cwd=tmp_path).returncode == 0
    (tmp_path / "myrouter.py").write_text(ROUTER.replace('"knowledge_qa"', '"code"'), encoding="utf-8")
    verified = _cli("verify", plan, cwd=tmp_path)
    assert verified.returncode != 0 and "router code" in verified.stdout + verified.stderr
    assert "arm mine (myrouter:route)" in verified.stdout + verified.stderr
    ran = _cli("run", plan, "--store", tmp_path / "s.duckdb", cwd=tmp_path)
    assert ran.returncode != 0 and "router code" in ran.stderr
    assert "Traceback" not in ran.stderr and len(ran.stderr.strip().splitlines()) == 1


def test_a_factory_builds_the_router_once_from_its_options(tmp_path: Path) -> None:
    """``options`` make ``callable(**options)`` the router: every decision is its answer."""
    lat = {"median_ms": 5.0, "p95_ms": 9.0, "concurrency": 4}
    arm = _python_arm("myrouter:make", latency=lat, options={"prefix": "code"})
    plan = _study(tmp_path, sim_plan(cases=12), arm)
    assert _cli("freeze", plan, cwd=tmp_path).returncode == 0
    store = tmp_path / "f.duckdb"
    assert _cli("run", plan, "--store", store, cwd=tmp_path).returncode == 0
    assert {r["predicted_label"] for r in _rows(tmp_path, store)} == {"code"}


def test_refusals_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No latency in a simulated plan (check), a module that is not there (freeze): one line each."""
    plan = _study(tmp_path, sim_plan(cases=12), _python_arm())
    code, _out, err = run_cli(capsys, "check", plan)
    assert code == 2 and "arms[2].classifier.backend.latency: expected the declared service time" in err
    lat = {"median_ms": 5.0, "p95_ms": 9.0, "concurrency": 4}
    missing = tmp_path / "missing"
    missing.mkdir()
    plan = _study(missing, sim_plan(cases=12), _python_arm("nosuchrouter:route", latency=lat))
    frozen = _cli("freeze", plan, cwd=missing)
    assert frozen.returncode == 2 and "arms[2].classifier.backend.callable" in frozen.stderr
    assert len(frozen.stderr.strip().splitlines()) == 1 and "Traceback" not in frozen.stderr


SLOW_ROUTER = """
import time

def route(text):
    time.sleep(0.03)
    if "translate" in text.lower():
        return "translation"
    if "poem" in text.lower():
        raise RuntimeError("boom")
    return "knowledge_qa"
"""


def test_a_live_campaign_measures_the_routers_own_time(tmp_path: Path) -> None:
    """Live, against ``routetrial serve``: the 30 ms the router takes is in every routing latency."""
    cases = 12
    _, thread = start_server(sim_plan(cases=cases), starter_cases()[:cases])
    try:
        plan = _study(
            tmp_path, live_plan(thread.base_url, cases=cases, rate=20.0), _python_arm(), router=SLOW_ROUTER
        )
        assert _cli("freeze", plan, cwd=tmp_path).returncode == 0
        store = tmp_path / "live.duckdb"
        ran = _cli("run", plan, "--store", store, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
    finally:
        thread.stop()
    rows = _rows(tmp_path, store)
    assert len(rows) == cases
    for row in rows:
        if row["routing_status"] == "ok":
            assert float(row["routing_latency_ms"]) >= 30.0
            assert row["downstream_status"] == "ok", row["error"]
    assert {r["routing_status"] for r in rows} <= {"ok", "router_error"}
