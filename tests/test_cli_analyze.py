"""``routetrial analyze`` through the real entry point, on a real simulated store and its exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import run_cli
from _experiment_plans import write_plan

import prereg.lock
from analysis import results_from_json
from experiment.campaign.simulated import run_simulated
from experiment.cli import USER_ERROR_EXIT
from prereg.frozen import load_frozen_plan
from prereg.log import read_log


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A frozen four-arm plan and the store of its simulated campaign (12 cases x 2 replays x 4 arms)."""
    folder = tmp_path_factory.mktemp("analyze")
    plan = write_plan(folder)
    prereg.lock.freeze(plan)
    run_simulated(load_frozen_plan(plan), str(folder / "plan.duckdb"), progress=False)
    return plan, folder / "plan.duckdb"


def test_analyze_prints_verdicts_and_writes_deterministic_json(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every router arm's gates are printed with their verdict; two runs write byte-identical JSON."""
    plan, store = campaign
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    code, out, err = run_cli(capsys, "analyze", plan, "--store", store, "--json", first)
    assert code == 0, err
    for arm in ("phi", "qwen", "deepseek"):
        assert any(
            line.strip().startswith(arm) and "routing_accuracy >= 0.85" in line for line in out.splitlines()
        )
        assert any(line.strip().startswith(arm) and "viable:" in line for line in out.splitlines())
    assert f"wrote {first}" in out
    assert run_cli(capsys, "analyze", plan, "--json", second)[0] == 0  # default store beside the plan
    assert first.read_bytes() == second.read_bytes()
    results = results_from_json(first.read_text(encoding="utf-8"))
    assert results.plan.source == "store" and results.plan.deviations == ()
    assert {g.verdict for g in results.gates} <= {"PASS", "FAIL", "INCONCLUSIVE"}


def test_json_to_stdout_is_the_results_document(
    campaign: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json -`` prints the results document and nothing else."""
    plan, store = campaign
    code, out, _ = run_cli(capsys, "analyze", plan, "--store", store, "--json", "-")
    assert code == 0 and results_from_json(out).schema_version == json.loads(out)["schema_version"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_trial_file_from_export_gives_the_same_results(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """Re-analysing an exported Parquet or CSV file gives the store's results, marked with its source,
    except what only the store knows: the allocation written before the first request."""
    plan, store = campaign
    exported = tmp_path / f"trials.{fmt}"
    assert run_cli(capsys, "export", store, "--format", fmt, "--out", exported)[0] == 0
    from_store, from_file = tmp_path / "store.json", tmp_path / "file.json"
    assert run_cli(capsys, "analyze", plan, "--store", store, "--json", from_store)[0] == 0
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", exported, "--json", from_file)
    assert code == 0, err
    a = json.loads(from_store.read_text(encoding="utf-8"))
    b = json.loads(from_file.read_text(encoding="utf-8"))
    assert (a["plan"].pop("source"), b["plan"].pop("source")) == ("store", fmt)
    srm_a, srm_b = a.pop("srm"), b.pop("srm")
    assert srm_a[1] == srm_b[1] and srm_a[0]["p_value"] is not None
    assert srm_b[0]["p_value"] is None and "not checkable" in srm_b[0]["note"]
    for arm_a, arm_b in zip(a["arms"], b["arms"], strict=True):
        assert arm_b["flow"].pop("allocated") is None
        arm_a["flow"].pop("allocated")
    assert a == b


def test_trial_file_of_another_plan_is_refused(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trials that ran under another plan are a one-line error naming the file and the column."""
    plan, store = campaign
    exported = tmp_path / "trials.csv"
    run_cli(capsys, "export", store, "--format", "csv", "--out", exported)
    lines = exported.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    col = header.index("plan_hash")
    row = lines[1].split(",")
    row[col] = "f" * 64
    exported.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", exported)
    assert code == USER_ERROR_EXIT and err.count("\n") == 1
    assert str(exported) in err and "plan_hash" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.csv", None, "found nothing there"),
        ("t.csv", "seq,arm\n1,a\n", "missing"),
        ("t.parquet", "not parquet", "expected a readable parquet"),
        ("t.txt", "", "expected a .parquet or .csv file"),
    ],
)
def test_bad_trial_files_get_one_line(
    campaign: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    expected: str,
) -> None:
    """A missing, foreign, malformed or mis-named trial file is a one-line error naming the file."""
    plan, _ = campaign
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = run_cli(capsys, "analyze", plan, "--trials", path)
    assert code == USER_ERROR_EXIT and expected in err and str(path) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_changed_analysis_code_needs_a_logged_deviation(
    campaign: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Analysis code unlike the frozen hash is refused; with --deviation it runs, logged and marked."""
    plan, store = campaign
    monkeypatch.setattr(prereg.lock, "analysis_code_hash", lambda: "e" * 64)
    before = len(read_log(plan))
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store)
    assert code == USER_ERROR_EXIT and "--deviation" in err and err.count("\n") == 1
    assert len(read_log(plan)) == before
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(
        capsys,
        "analyze",
        plan,
        "--store",
        store,
        "--json",
        out_json,
        "--deviation",
        "fixed a typo in a label",
    )
    assert code == 0, err
    assert "deviations: fixed a typo in a label" in out
    results = results_from_json(out_json.read_text(encoding="utf-8"))
    assert results.plan.deviations == ("fixed a typo in a label",)
    assert not results.plan.analysis_code_matches
    entry = read_log(plan)[-1]
    assert entry.kind == "deviation" and entry.detail["reason"] == "fixed a typo in a label"
    assert entry.detail["command"] == "analyze"


def test_store_and_trials_together_are_refused(
    campaign: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--store and --trials name two sources: the command refuses to guess."""
    plan, store = campaign
    code, _, err = run_cli(capsys, "analyze", plan, "--store", store, "--trials", "t.csv")
    assert code == USER_ERROR_EXIT and "either --store or --trials" in err


def test_unfrozen_plan_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unfrozen plan is refused with a message that says how to freeze it."""
    plan = write_plan(tmp_path)
    code, _, err = run_cli(capsys, "analyze", plan)
    assert code == USER_ERROR_EXIT and "freeze" in err and err.count("\n") == 1


def test_written_files_follow_the_umask(
    campaign: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The results file is as readable as any file the user writes (not private like a temp file)."""
    import os
    import stat

    plan, store = campaign
    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        assert run_cli(capsys, "analyze", plan, "--store", store, "--json", out)[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
