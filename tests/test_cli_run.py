"""``routetrial run / status / export`` through the real entry point, bad input as one line, kill -9."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from _cli import run_cli as cli
from _experiment_plans import write_plan

from experiment.store import TrialStore

ROUTETRIAL = str(Path(sys.executable).with_name("routetrial"))


def frozen_plan(directory: Path, capsys: pytest.CaptureFixture[str], **kwargs: Any) -> Path:
    """A small four-arm plan written into ``directory`` and frozen."""
    plan = write_plan(directory, **kwargs)
    assert cli(capsys, "freeze", plan)[0] == 0
    return plan


def assert_one_line_error(result: tuple[int, str, str], *needles: str) -> None:
    """Exit status 2 and a single ``routetrial: error:`` line containing every needle."""
    code, _, err = result
    assert code == 2
    assert err.startswith("routetrial: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err


def test_run_status_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run fills the default store, status says complete, export writes every trial."""
    plan = frozen_plan(tmp_path, capsys)
    code, out, _ = cli(capsys, "run", plan)
    assert code == 0 and f"stored 96 of 96 trials in {tmp_path / 'plan.duckdb'}" in out
    code, out, _ = cli(capsys, "status", tmp_path / "plan.duckdb")
    assert code == 0 and out.splitlines()[0] == f"{tmp_path / 'plan.duckdb'}: complete"
    assert "  total            96 / 96        100.0%" in out
    code, out, _ = cli(capsys, "export", tmp_path / "plan.duckdb", "--format", "parquet")
    assert code == 0 and pq.read_table(tmp_path / "plan.parquet").num_rows == 96


def test_unfrozen_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unfrozen plan is refused with one line."""
    plan = write_plan(tmp_path)
    assert_one_line_error(cli(capsys, "run", plan), "not frozen")
    assert not (tmp_path / "plan.duckdb").exists()


def test_changed_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan edited after freezing is refused with one line that says how to amend."""
    plan = frozen_plan(tmp_path, capsys)
    plan.write_text(plan.read_text() + "# an innocent comment\n")
    assert_one_line_error(cli(capsys, "run", plan), "routetrial amend")


def test_store_from_another_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store written by one plan refuses another plan's campaign."""
    first = frozen_plan(tmp_path / "a", capsys)
    second = frozen_plan(tmp_path / "b", capsys, seed=99)
    store = tmp_path / "shared.duckdb"
    assert cli(capsys, "run", first, "--store", store)[0] == 0
    assert_one_line_error(cli(capsys, "run", second, "--store", store), "belongs to plan")


def test_unwritable_store_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store under a regular file cannot be created: one line."""
    plan = frozen_plan(tmp_path, capsys)
    (tmp_path / "blocker").write_text("")
    assert_one_line_error(
        cli(capsys, "run", plan, "--store", tmp_path / "blocker" / "s.duckdb"), "cannot open the store"
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such file"),
        ("0.0\n2.0\n1.0\n" + "3.0\n" * 200, "non-decreasing order"),
        ("", "at least one timestamp"),
    ],
)
def test_bad_trace_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    """A trace that is missing, unsorted or empty is refused by freeze in one line; nothing is run."""
    trace = tmp_path / "trace.txt"
    if content is not None:
        trace.write_text(content)
    plan = write_plan(tmp_path, arrival={"kind": "trace", "path": "trace.txt"})
    result = cli(capsys, "freeze", plan)
    assert_one_line_error(result, "trace.txt")
    assert needle in result[2].lower()
    assert not (tmp_path / "plan.yaml.lock.json").exists()
    assert_one_line_error(cli(capsys, "run", plan), "not frozen")
    assert not (tmp_path / "plan.duckdb").exists()


@pytest.mark.parametrize(
    "content", [None, "0.0\n2.0\n1.0\n" + "3.0\n" * 200, ""], ids=["missing", "unsorted", "empty"]
)
def test_trace_changed_after_freezing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    """The lock pins the trace: deleting or rewriting it after freezing makes run refuse, naming it."""
    trace = tmp_path / "trace.txt"
    trace.write_text("\n".join(str(i * 0.25) for i in range(200)) + "\n")
    plan = frozen_plan(tmp_path, capsys, arrival={"kind": "trace", "path": "trace.txt"})
    if content is None:
        trace.unlink()
    else:
        trace.write_text(content)
    assert_one_line_error(
        cli(capsys, "run", plan), "changed since freezing: trace (trace.txt: frozen", "routetrial amend"
    )
    assert not (tmp_path / "plan.duckdb").exists()
    assert_one_line_error(cli(capsys, "verify", plan), "trace (trace.txt: frozen")


def test_full_disk_leaves_whole_batches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store that fills up (file size limit) fails in one line, keeps whole batches, then resumes."""
    plan = frozen_plan(tmp_path, capsys, n_cases=60, replays=60)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))

    failed = subprocess.run(
        [ROUTETRIAL, "run", str(plan), "--batch-size", "2000"],
        preexec_fn=small_disk,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1
    assert "cannot write the store" in failed.stderr
    with TrialStore.open(str(tmp_path / "plan.duckdb"), None, create=False) as store:
        kept = len(store.existing_seqs())
    assert kept % 2000 == 0
    code, out, _ = cli(capsys, "status", tmp_path / "plan.duckdb")
    assert code == 0 and "incomplete: the last run failed" in out
    code, out, _ = cli(capsys, "run", plan, "--batch-size", "2000")
    assert code == 0 and f"{kept:,} were already stored" in out


@pytest.mark.slow
def test_kill_9_and_resume_gives_the_uninterrupted_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 after the first committed batch, run again: the table equals an uninterrupted run's."""
    plan = frozen_plan(tmp_path, capsys, n_cases=60, replays=417, rate_per_s=20.0)  # 100,080 requests
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    progress = tmp_path / "killed.duckdb.progress.json"
    env = {**os.environ, "ROUTETRIAL_BATCH_SIZE": "5000"}
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(plan), "--store", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = json.loads(progress.read_text()) if progress.exists() else {}
            if sum(state.get("done", {}).values()) >= 5000:
                break
            time.sleep(0.02)
        code, out, _ = cli(capsys, "status", killed)
        assert code == 0 and f"running (pid {proc.pid})" in out.splitlines()[0]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with TrialStore.open(str(killed), None, create=False) as store:
        kept = len(store.existing_seqs())
    assert 0 < kept < 100_080 and kept % 5000 == 0
    code, out, _ = cli(capsys, "run", plan, "--store", killed)
    assert code == 0 and f"{kept:,} were already stored" in out
    assert cli(capsys, "run", plan, "--store", clean, "--batch-size", "50000")[0] == 0
    for store_file in (killed, clean):
        assert cli(capsys, "export", store_file, "--format", "csv")[0] == 0
    assert killed.with_suffix(".csv").read_bytes() == clean.with_suffix(".csv").read_bytes()
