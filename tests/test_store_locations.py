"""Store locations that cannot be used, and status while another process holds the store."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from _cli import run_cli as cli
from _experiment_plans import write_plan

from experiment.campaign.progress import ProgressState, write_progress
from experiment.store import TrialStore, progress_path, store_url
from prereg.errors import StoreError


def test_unparseable_url_is_a_store_error_without_the_url() -> None:
    """A URL that does not parse is a StoreError (the URL, which may hold a password, not echoed)."""
    with pytest.raises(StoreError, match=r"^store: expected a file path or a SQLAlchemy URL") as info:
        store_url("://u:secret@host/x")
    assert "secret" not in str(info.value)


def test_unknown_dialect_is_a_store_error() -> None:
    """A URL naming a database SQLAlchemy does not know is a one-line StoreError."""
    with pytest.raises(StoreError, match=r"^nosuchdb://x: expected a usable store URL, found Can't load"):
        TrialStore.open("nosuchdb://x", "a" * 64, create=True)


@pytest.mark.parametrize("command", ["run", "status", "export"])
@pytest.mark.parametrize("url", ["nosuchdb://x", "://x"])
def test_bad_store_url_is_one_line_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, url: str
) -> None:
    """run --store, status and export with an unusable URL exit 2 with one line, no traceback."""
    plan = write_plan(tmp_path)
    assert cli(capsys, "freeze", plan)[0] == 0
    args = {
        "run": ("run", plan, "--store", url),
        "status": ("status", url),
        "export": ("export", url, "--format", "csv"),
    }[command]
    code, _, err = cli(capsys, *args)
    assert code == 2 and err.startswith("routetrial: error: ") and err.count("\n") == 1, err


def _holder(path: Path) -> subprocess.Popen[str]:
    """A process holding the DuckDB file's lock until its stdin closes."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_status_of_a_busy_store_reads_the_progress_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While another process holds the store, status prints the progress file's counts per arm."""
    plan = write_plan(tmp_path)
    assert cli(capsys, "freeze", plan)[0] == 0
    assert cli(capsys, "run", plan)[0] == 0
    store = tmp_path / "plan.duckdb"
    ppath = progress_path(store_url(store))
    assert ppath is not None
    holder = _holder(store)
    try:
        from experiment.campaign.progress import read_progress

        last = read_progress(ppath)
        assert last is not None
        write_progress(
            ppath,
            replace(
                last,
                state="running",
                pid=holder.pid,
                done={"control": 24, "phi": 10},
                failures={"timeout": 3},
                expected_finish_utc="2030-01-01T00:00:00+00:00",
            ),
        )
        code, out, _ = cli(capsys, "status", store)
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == f"{store}: running (pid {holder.pid})"
        assert any(line.split()[:4] == ["control", "24", "/", "24"] for line in lines)
        assert any(line.split()[:4] == ["phi", "10", "/", "24"] for line in lines)
        assert "  failures: timeout 3" in lines
        assert "  expected finish: 2030-01-01T00:00:00+00:00" in lines
        ppath.unlink()
        code, _, err = cli(capsys, "status", store)
        assert code == 2 and err.count("\n") == 1
        assert "held by another process and has no progress file" in err
    finally:
        holder.communicate("")


def test_progress_state_round_trips(tmp_path: Path) -> None:
    """A progress file written atomically reads back as the same state."""
    from experiment.campaign.progress import read_progress

    state = ProgressState(
        store="s",
        plan_hash="a" * 64,
        pid=1,
        state="finished",
        started_at_utc="t0",
        updated_at_utc="t1",
        elapsed_s=1.5,
        planned={"a": 2},
        done={"a": 2},
        failures={},
    )
    path = tmp_path / "s.duckdb.progress.json"
    write_progress(path, state)
    assert read_progress(path) == state
