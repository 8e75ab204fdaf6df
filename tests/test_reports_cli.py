"""``routetrial report`` through the real entry point: a real simulated store in, one HTML file out."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from _cli import run_cli
from test_reports_fixtures import frozen_starter

import reports
from experiment.campaign.simulated import run_simulated
from experiment.cli import USER_ERROR_EXIT
from prereg.frozen import load_frozen_plan


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A frozen starter plan and the store of its simulated campaign (1,200 trials)."""
    folder = tmp_path_factory.mktemp("cli")
    frozen = frozen_starter(folder)
    url = str(folder / "plan.duckdb")
    run_simulated(frozen, url, progress=False)
    return frozen.path, url


def test_report_command_writes_one_self_contained_page(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command writes the page where --out says, names it, and leaves no temporary file behind."""
    plan, url = store
    out = tmp_path / "nested" / "report.html"
    code, stdout, _ = run_cli(capsys, "report", str(plan), "--store", url, "--out", str(out))
    assert code == 0 and f"wrote {out}" in stdout
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    frozen = load_frozen_plan(plan)
    assert all(f"Allocated to {arm}</text>" in html for arm in frozen.plan.arm_ids)
    assert frozen.canonical_hash in html
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_unfrozen_plan_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan without a lock record gets a one-line error and the user-error exit status."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("study: {}\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "report", str(plan), "--store", str(tmp_path / "s.duckdb"))
    assert code == USER_ERROR_EXIT
    assert err.startswith("routetrial: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_missing_store_is_refused_in_one_line(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store path with no store behind it is a one-line user error, and no report is written."""
    plan, _ = store
    out = tmp_path / "r.html"
    code, _, err = run_cli(capsys, "report", plan, "--store", tmp_path / "none.duckdb", "--out", out)
    assert code == USER_ERROR_EXIT and "no store here" in err and not out.exists()


def test_public_names_are_exported_once_and_sorted() -> None:
    """reports.__all__ lists exactly the public names, sorted isort-style (constants, classes, functions)."""
    public = {n for n, v in vars(reports).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert set(reports.__all__) == public
    assert reports.__all__ == sorted(reports.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
