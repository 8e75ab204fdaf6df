"""The design results file and the design table, byte for byte, and the typed document's codec.

A behaviour pin: ``routetrial design`` on a small plan (tests/_experiment_plans.py, 12 cases) must
write exactly ``tests/golden/design_plan12*.json.gz`` and print exactly the ``*_stdout.txt`` table
(the files were written by the dict-building code before the results became dataclasses). The one
field allowed to differ is ``analysis_code_sha256``, the hash of the analysis package's sources,
which every edit of ``analysis/`` changes. A change meant to change the figures regenerates them
on purpose, and the diff is reviewed like code::

    ROUTETRIAL_REGOLD=1 .venv/bin/python -m pytest tests/test_design_golden.py
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _cli import run_cli
from _experiment_plans import write_plan

from analysis import DiagnosisResult, design_results_from_json, design_results_to_json
from prereg.canonical import analysis_code_hash
from prereg.errors import AnalysisError

GOLDEN = Path(__file__).with_name("golden")
#: golden file stem: the ``routetrial design`` options that wrote it
RUNS = {
    "design_plan12": ("--sims", "40", "--curve-sims", "20", "--icc-sims", "10", "--workers", "2"),
    "design_plan12_no_grid": ("--sims", "30", "--no-grid", "--no-min-cases", "--workers", "2"),
}
_HASH = re.compile(r'"analysis_code_sha256": "[0-9a-f]{64}"')


def golden_text(stem: str) -> str:
    """A golden design results file, with this tree's analysis code hash."""
    text = gzip.decompress((GOLDEN / f"{stem}.json.gz").read_bytes()).decode("utf-8")
    return _HASH.sub(f'"analysis_code_sha256": "{analysis_code_hash()}"', text)


def golden_design(stem: str = "design_plan12") -> DiagnosisResult:
    """A golden design results file as the typed document (for tests of its readers)."""
    return design_results_from_json(golden_text(stem))


@pytest.mark.parametrize("stem", sorted(RUNS))
def test_design_writes_the_golden_file_and_table(
    stem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The results file and the printed table are the golden ones, byte for byte."""
    plan = write_plan(tmp_path, n_cases=12)
    code, out, err = run_cli(capsys, "design", plan, *RUNS[stem])
    assert code == 0, err
    got = (tmp_path / "plan.design.json").read_text(encoding="utf-8")
    table = "".join(out.splitlines(keepends=True)[1:-1])  # without the timing and the path lines
    if os.environ.get("ROUTETRIAL_REGOLD") == "1":
        (GOLDEN / f"{stem}.json.gz").write_bytes(gzip.compress(got.encode(), compresslevel=9, mtime=0))
        (GOLDEN / f"{stem}_stdout.txt").write_text(table, encoding="utf-8")
        return
    assert got == golden_text(stem)
    assert table == (GOLDEN / f"{stem}_stdout.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("stem", sorted(RUNS))
def test_the_document_round_trips(stem: str) -> None:
    """decode(encode(x)) == x and encode(decode(text)) == text."""
    text = golden_text(stem)
    design = design_results_from_json(text)
    assert design_results_to_json(design) == text
    assert design_results_from_json(design_results_to_json(design)) == design


def test_the_document_is_typed_all_the_way_down() -> None:
    """Readers get dataclasses and tuples, not dicts of dicts, and absent keys stay absent."""
    design = golden_design()
    assert design.arms == ("phi", "qwen", "deepseek") and design.gates[0].id == "accuracy"
    gate = design.assumed["phi"].gates["accuracy"]
    assert gate.target == "FAIL" and isinstance(gate.power_ci, tuple)
    assert design.boundary["p95"]["phi"].accuracy_interval is None
    assert '"accuracy_interval"' not in json.dumps(
        json.loads(design_results_to_json(design))["boundary"]["p95"]
    )
    assert design.min_cases is not None and design.min_cases.arms["phi"]["accuracy"].evaluated == {
        12: 0.45,
        24: 0.5,
        36: 0.7,
        42: 0.75,
        45: 0.9,
        48: 0.9,
    }
    assert design.icc_grid is not None and design.icc_grid.gates["p95"].icc_of == "log_latency"


def test_a_wrong_document_is_an_analysis_error() -> None:
    """Another kind or schema version, a missing or unknown key: AnalysisError naming the path."""
    data = json.loads(golden_text("design_plan12_no_grid"))
    for edit, match in (
        ({"schema_version": 1}, r"\$\.schema_version"),
        ({"kind": "routetrial.results"}, r"\$\.kind"),
        ({"sims": "many"}, r"\$\.sims"),
        ({"extra": 1}, "unknown"),
    ):
        with pytest.raises(AnalysisError, match=match):
            design_results_from_json(json.dumps({**data, **edit}))
    del data["assumed"]["phi"]["gates"]
    with pytest.raises(AnalysisError, match=r"\$\.assumed\.phi"):
        design_results_from_json(json.dumps(data))
    with pytest.raises(AnalysisError, match="line 1"):
        design_results_from_json("{not json")


def test_a_changed_figure_changes_the_bytes() -> None:
    """The codec writes what the dataclass holds (nothing rounded away, nothing added)."""
    design = golden_design("design_plan12_no_grid")
    changed = dataclasses.replace(design, target_power=0.9)
    assert '"target_power": 0.9' in design_results_to_json(changed) and changed != design


def test_design_workers_import_no_store_driver() -> None:
    """A fresh interpreter importing the worker module (and the package's face) loads no DuckDB,
    SQLAlchemy or pyarrow: design workers stay light."""
    code = (
        "import experiment.design.sim, experiment.design, sys; "
        "from experiment.design import DesignSettings, diagnose; "
        "bad = [m for m in ('duckdb', 'sqlalchemy', 'pyarrow') if m in sys.modules]; "
        "assert not bad, bad; "
        "assert 'experiment.design.diagnosis' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_the_face_exports_what_other_packages_use() -> None:
    """``experiment.design.__all__`` names resolve, lazily, to the modules' objects."""
    code = (
        "import sys, experiment.design as d; "
        "assert 'experiment.design.diagnosis' not in sys.modules; "
        "assert all(getattr(d, n) is not None for n in d.__all__); "
        "from experiment.design.diagnosis import diagnose; assert d.diagnose is diagnose; "
        "assert sorted(d.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n)) == d.__all__"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
