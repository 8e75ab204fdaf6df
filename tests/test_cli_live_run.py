"""A live campaign as a user runs it: ``serve`` in one process, ``freeze``/``run``/``analyze``/``report``."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _live_plans import STARTER, live_plan
from test_serve_cli import serve

ROUTETRIAL = Path(sys.executable).parent / "routetrial"


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_run_dispatches_a_live_plan_over_http(tmp_path: Path) -> None:
    """``routetrial run`` sends a frozen live plan to the server, stores every trial, reports its lateness."""
    served = tmp_path / "served"
    served.mkdir()
    proc, url = serve(served, "--error-rate", "0.05", "--seed", "3")
    try:
        study = tmp_path / "study"
        study.mkdir()
        shutil.copy(STARTER, study / "corpus.jsonl")
        doc = live_plan(url, cases=60, rate=100.0).model_dump(mode="json", exclude_none=True)
        doc["corpus"]["sha256"] = hashlib.sha256(STARTER.read_bytes()).hexdigest()
        plan = study / "live.yaml"
        plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        assert _cli("freeze", plan, cwd=tmp_path).returncode == 0

        ran = _cli("run", plan, cwd=tmp_path)
        assert ran.returncode == 0, ran.stderr
        assert "stored 120 of 120 live trials" in ran.stdout
        assert "lateness to the wire p50" in ran.stdout, ran.stdout
        assert "http_error" in ran.stdout  # injected faults are counted as data

        status = _cli("status", study / "live.duckdb", cwd=tmp_path)
        assert status.returncode == 0 and "complete" in status.stdout

        results = tmp_path / "results.json"
        analyzed = _cli("analyze", plan, "--json", results, cwd=tmp_path)
        assert analyzed.returncode == 0, analyzed.stderr
        doc_out = json.loads(results.read_text(encoding="utf-8"))
        assert doc_out["plan"]["live"]["p99_ms"] >= 0.0
        router = next(a for a in doc_out["arms"] if a["arm"] == "router")
        assert router["flow"]["rows"] == 60 and sum(router["flow"]["failed_by_status"].values()) >= 1

        page = tmp_path / "report.html"
        reported = _cli("report", plan, "--out", page, cwd=tmp_path)
        assert reported.returncode == 0, reported.stderr
        assert "router" in page.read_text(encoding="utf-8")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
