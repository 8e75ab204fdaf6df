"""The router service arm (``kind: service``): a black box that routes and answers, judged live.

The service is a real aiohttp server on 127.0.0.1 (tests/_router_service.py) in front of a real
``routetrial serve``: it picks a model by a rule of its own, forwards the request and names its
pick in a response header. The campaign runs through ``routetrial freeze`` / ``run`` / ``export``
/ ``analyze`` in separate processes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _live_plans import STARTER, live_plan, sim_plan, start_server, starter_cases
from _router_service import HEADER, RouterService, pick

from prereg.records import trial_id

ROUTETRIAL = Path(sys.executable).parent / "routetrial"
#: Two cases of each family, a haiku among them (which the service routes to an unknown model).
CASE_IDS = (
    "code-01", "code-04", "math-01", "math-09", "sum-01", "sum-04",
    "trans-01", "trans-02", "creative-01", "creative-03", "qa-01", "qa-03",
)  # fmt: skip
CASES = len(CASE_IDS)


def _cases() -> tuple[Any, ...]:
    by_id = {c.id: c for c in starter_cases()}
    return tuple(by_id[i] for i in CASE_IDS)


def _corpus() -> bytes:
    lines = STARTER.read_bytes().splitlines(keepends=True)
    return b"".join(line for line in lines if json.loads(line)["id"] in CASE_IDS)


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _service_arm(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "vsr",
        "kind": "service",
        "backend": {"kind": "openai", "base_url": base_url, "stream": False},
        "selected_model_header": HEADER,
        "timeout_ms": 5000,
        **extra,
    }


def _study(directory: Path, models_url: str, arm: dict[str, Any]) -> Path:
    doc: dict[str, Any] = live_plan(models_url, cases=CASES, rate=20.0).model_dump(
        mode="json", exclude_none=True
    )
    doc["arms"] = [*doc["arms"], arm]
    # A bound no HTTP round trip meets: the router arm FAILs it; the service's bound cannot say so.
    doc["gates"].append({"id": "instant", "metric": "routing_latency_p95_ms", "op": "<=", "threshold": 0.5})
    size = doc["sample_size"]
    size["requests_total"] = CASES * len(doc["arms"])
    corpus = _corpus()
    (directory / "corpus.jsonl").write_bytes(corpus)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _rows(directory: Path, store: Path, arm: str) -> list[dict[str, str]]:
    out = directory / "trials.csv"
    done = _cli("export", store, "--format", "csv", "--out", out, cwd=directory)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["arm"] == arm]


@pytest.fixture(scope="module")
def service_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """One live campaign with a control, a router and the service arm; the service's picks."""
    directory = tmp_path_factory.mktemp("service")
    _, models = start_server(sim_plan(cases=CASES), _cases())
    try:
        with RouterService(models.base_url) as service:
            plan = _study(directory, models.base_url, _service_arm(service.base_url))
            frozen = _cli("freeze", plan, cwd=directory)
            assert frozen.returncode == 0, frozen.stderr
            store = directory / "plan.duckdb"
            ran = _cli("run", plan, "--store", store, cwd=directory)
            assert ran.returncode == 0, ran.stderr
            picks = dict(service.picks)
    finally:
        models.stop()
    return directory, store, picks


def test_the_services_pick_is_the_route_and_its_answer_the_downstream_answer(
    service_run: tuple[Path, Path, dict[str, str]],
) -> None:
    """Every trial names the model the service picked (from its header) and is graded route-level."""
    directory, store, picks = service_run
    rows = _rows(directory, store, "vsr")
    assert len(rows) == CASES
    routes = {"math": "small", "code": "small"}
    keys = {"small-llm": "small", "large-llm": "large"}
    for row in rows:
        chosen = picks[row["trial_id"]]
        assert chosen == pick(next(c.text for c in _cases() if c.id == row["case_id"]))
        if chosen == "mystery-llm":
            assert row["status"] == "unknown_model", row
            assert "mystery-llm" in row["error"]
            assert row["downstream_status"] == ""
            continue
        assert row["status"] == "ok", row["error"]
        assert row["routed_model"] == keys[chosen]
        gold = row["gold_labels"].split("|")
        expected = any(routes.get(g, "large") == keys[chosen] for g in gold)
        assert row["correct"] == str(expected).lower() or row["correct"] == str(expected)
        assert row["predicted_label"] == ""
        # Routing latency ends at the response headers, downstream at the answer: e2e is both.
        assert float(row["routing_latency_ms"]) > 0.0
        assert float(row["e2e_latency_ms"]) >= float(row["routing_latency_ms"])
    assert {r["status"] for r in rows} == {"ok", "unknown_model"}
    assert trial_id("vsr", rows[0]["case_id"], 0) in picks


def test_the_analysis_judges_the_service_route_level(service_run: tuple[Path, Path, dict[str, str]]) -> None:
    """Gates apply to the service arm; its accuracy is route-level and a latency FAIL is not claimed."""
    directory, store, _ = service_run
    out = directory / "results.json"
    done = _cli("analyze", directory / "plan.yaml", "--store", store, "--json", out, cwd=directory)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    instant = {g["arm"]: g for g in results["gates"] if g["gate"] == "instant"}
    assert instant["router"]["verdict"] == "FAIL", instant["router"]
    assert instant["vsr"]["verdict"] == "INCONCLUSIVE"
    assert "upper bound of the decision time" in instant["vsr"]["reason"]
    accuracy = next(a for a in results["arms"] if a["arm"] == "vsr")["accuracy"]
    assert accuracy is not None and 0.0 <= accuracy["estimate"] <= 1.0
    page = directory / "report.html"
    done = _cli("report", directory / "plan.yaml", "--store", store, "--out", page, cwd=directory)
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "judged route-level" in html and "unknown_model" in html


def test_a_service_plan_with_an_unknown_served_model_key_is_refused(tmp_path: Path) -> None:
    """``served_models`` must map to keys of ``models``: one line naming the field."""
    plan = _study(
        tmp_path, "http://127.0.0.1:9/v1", _service_arm("http://127.0.0.1:9/v1", served_models={"x": "nope"})
    )
    done = _cli("check", plan, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "served_models" in done.stderr and "nope" in done.stderr
