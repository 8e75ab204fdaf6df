"""``routetrial demo``, the README's main job, through the real console script in a fresh folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROUTETRIAL = Path(sys.executable).parent / "routetrial"


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), "demo", *args], cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.slow
def test_demo_runs_the_study_end_to_end_and_resumes(tmp_path: Path) -> None:
    """A fresh folder gets a frozen plan, store, results, design figures and a report; a rerun reuses them."""
    first = _demo(tmp_path, "--design-sims", "20")
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "demo"
    for name in (
        "plan.yaml",
        "plan.yaml.lock.json",
        "plan.yaml.log.jsonl",
        "corpus.jsonl",
        "plan.duckdb",
        "plan.design.json",
        "results.json",
        "report.html",
    ):
        assert (folder / name).is_file(), name
    assert "stored 1,200 of 1,200 trials" in first.stdout
    assert "unchanged: demo/plan.yaml" in first.stdout
    assert f"open {(folder / 'report.html').resolve().as_uri()}" in first.stdout
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert [a["arm"] for a in results["arms"]] == ["control", "phi-4-mini", "qwen-2.5-3b", "deepseek-v3"]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "deepseek-v3" in html and results["plan"]["canonical_sha256"] in html
    report_bytes = (folder / "results.json").read_bytes()

    again = _demo(tmp_path, "--design-sims", "0")
    assert again.returncode == 0, again.stderr
    assert "reusing demo/plan.yaml" in again.stdout and "already frozen" in again.stdout
    assert "0 written" in again.stdout and "1,200 were already stored" in again.stdout
    assert (folder / "results.json").read_bytes() == report_bytes


def test_demo_refuses_a_changed_plan(tmp_path: Path) -> None:
    """A demo folder whose frozen plan was edited is refused in one line, and nothing runs."""
    folder = tmp_path / "demo"
    from prereg.lock import freeze
    from prereg.starter import init_plan

    plan, _ = init_plan(folder)
    freeze(plan)
    plan.write_text(plan.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    done = _demo(tmp_path, "--design-sims", "0")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "plan bytes" in done.stderr and not (folder / "plan.duckdb").exists()
