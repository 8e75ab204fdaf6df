"""A store on a disk that fills up, or turns read-only, while ``routetrial run`` writes to it.

The disk is real: a small tmpfs mounted for the test (root only; skipped elsewhere), filled by a
filler file once the run has committed something, or remounted read-only. The run must stop with
one line naming the path it could not write, exit 2, leave the progress file saying ``failed``
(on a full disk; a read-only one cannot take even that) and, once space is freed, resume to the
table an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _experiment_plans import write_plan
from _live_plans import journal_sends, sim_plan, start_server, starter_cases, write_live_study

from experiment.store import TrialStore

ROUTETRIAL = str(Path(sys.executable).with_name("routetrial"))
BATCH = 2_000
PLANNED = 60 * 167 * 4


def routetrial(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROUTETRIAL, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own, unmounted afterwards; skipped where mounting is not allowed."""
    point = tmp_path / "disk"
    point.mkdir()
    try:
        mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system is full; returns it (delete it to free the space)."""
    filler = directory / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    fh.write(chunk[:size])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def progress_of(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError):
        return {}


def wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def assert_one_line_failure(proc: subprocess.Popen[str], *paths: Path) -> str:
    """Exit 2, no traceback, a single ``routetrial: error:`` line naming one of ``paths``."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (proc.returncode, out, err)
    assert "Traceback" not in err and err.startswith("routetrial: error: ") and err.count("\n") == 1, err
    assert any(str(p) in err for p in paths), err
    return err


# --- a simulated run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A frozen 40,080-request plan and the CSV export of its uninterrupted run."""
    directory = tmp_path_factory.mktemp("disk-full")
    plan = write_plan(directory, n_cases=60, replays=167, rate_per_s=20.0)
    assert routetrial("freeze", plan).returncode == 0
    clean = directory / "clean.duckdb"
    assert routetrial("run", plan, "--store", clean).returncode == 0
    assert routetrial("export", clean, "--format", "csv").returncode == 0
    return plan, clean.with_suffix(".csv").read_bytes()


def test_simulated_run_on_a_disk_that_fills_up(sim_study: tuple[Path, bytes], disk: Path) -> None:
    """The disk fills after the first batch: one line, exit 2, progress failed; freed, a resume
    gives the uninterrupted table."""
    plan, clean_csv = sim_study
    store = disk / "trials.duckdb"
    progress = Path(f"{store}.progress.json")
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(plan), "--store", str(store), "--batch-size", str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for("the first batch", lambda: sum(progress_of(progress).get("done", {}).values()) >= BATCH, proc)
    filler = fill(disk)
    assert_one_line_failure(proc, store, progress)
    state = progress_of(progress)
    assert state["state"] == "failed" and state["error"], state
    filler.unlink()
    status = routetrial("status", store)
    assert status.returncode == 0 and "the last run failed" in status.stdout, status.stdout
    resumed = routetrial("run", plan, "--store", store, "--batch-size", str(BATCH))
    assert resumed.returncode == 0, resumed.stderr
    assert progress_of(progress)["state"] == "finished"
    out = disk / "trials.csv"
    assert routetrial("export", store, "--format", "csv", "--out", out).returncode == 0
    assert out.read_bytes() == clean_csv


# --- a live run -----------------------------------------------------------------------------------

LIVE_CASES, LIVE_REPLAYS = 60, 1
LIVE_PLANNED = 2 * LIVE_CASES * LIVE_REPLAYS


@pytest.fixture(scope="module")
def live_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A frozen live plan (120 requests at 40/s) against a local simulated server."""
    slow = {"median_ms": 150.0, "p95_ms": 250.0, "concurrency": 64}
    _, thread = start_server(sim_plan(latency=slow), starter_cases(LIVE_CASES))
    directory = tmp_path_factory.mktemp("live-disk")
    plan = write_live_study(directory, thread.base_url, cases=LIVE_CASES, replays=LIVE_REPLAYS, rate=40.0)
    assert routetrial("freeze", plan).returncode == 0
    yield plan
    thread.stop()


sends = journal_sends


def live_rows(store: Path) -> list[tuple[int, str, str, str]]:
    with TrialStore.open(str(store), None, create=False) as opened:
        cols = opened.read_columns()
    return sorted(
        zip(
            cols["seq"].tolist(),
            cols["trial_id"].tolist(),
            cols["arm"].tolist(),
            cols["case_id"].tolist(),
            strict=False,
        )
    )


def resume_live(plan: Path, store: Path, tmp_path: Path) -> None:
    """A second run completes every trial exactly once; the same trials as an uninterrupted run."""
    resumed = routetrial("run", plan, "--store", store)
    assert resumed.returncode == 0, resumed.stderr
    assert progress_of(Path(f"{store}.progress.json"))["state"] == "finished"
    rows = live_rows(store)
    assert [r[0] for r in rows] == list(range(LIVE_PLANNED))
    clean = tmp_path / "clean.duckdb"
    assert routetrial("run", plan, "--store", clean).returncode == 0
    assert rows == live_rows(clean)
    journal = Path(f"{store}.live.jsonl")
    seqs = [json.loads(line)["seq"] for line in _whole_lines(journal) if line.startswith('{"e":"sent"')]
    assert len(seqs) == len(set(seqs))  # nothing was sent twice


def _whole_lines(journal: Path) -> list[str]:
    """The journal's lines that are whole JSON: the write that met the full disk may have left a
    torn one (as the journal's own reader allows), and only one."""
    whole, torn = [], []
    for line in journal.read_text().splitlines():
        try:
            json.loads(line)
        except ValueError:
            torn.append(line)
        else:
            whole.append(line)
    assert len(torn) <= 1, torn
    return whole


@pytest.mark.slow
def test_live_run_on_a_disk_that_fills_up(live_study: Path, disk: Path, tmp_path: Path) -> None:
    """The journal (or the store) hits a full disk: one line naming it, exit 2, progress failed;
    freed, a resume stores every trial once."""
    store = disk / "live.duckdb"
    journal, progress = Path(f"{store}.live.jsonl"), Path(f"{store}.progress.json")
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(live_study), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for("20 sends", lambda: sends(journal) >= 20, proc)
    filler = fill(disk)
    assert_one_line_failure(proc, journal, store, progress)
    state = progress_of(progress)
    assert state["state"] == "failed" and state["error"], state
    filler.unlink()
    resume_live(live_study, store, tmp_path)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Stack a read-only bind mount on ``directory`` (``remount,ro`` of the tmpfs itself is refused
    while files are open for writing): every open from now on is refused; unstacked afterwards."""
    mount("--bind", str(directory), str(directory))
    try:
        mount("-o", "remount,bind,ro", str(directory))
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True, capture_output=True)


def test_run_into_a_read_only_store(sim_study: tuple[Path, bytes], disk: Path) -> None:
    """A store on a read-only file system: one line naming it, exit 2, nothing written; writable
    again, the run completes the uninterrupted table."""
    plan, clean_csv = sim_study
    store = disk / "trials.duckdb"
    with read_only(disk):
        refused = routetrial("run", plan, "--store", store)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.stderr.startswith("routetrial: error: ") and refused.stderr.count("\n") == 1
        assert str(store) in refused.stderr
        assert os.listdir(disk) == []
    assert routetrial("run", plan, "--store", store).returncode == 0
    out = disk / "trials.csv"
    assert routetrial("export", store, "--format", "csv", "--out", out).returncode == 0
    assert out.read_bytes() == clean_csv


@pytest.mark.slow
def test_live_run_on_a_store_that_turns_read_only(live_study: Path, disk: Path, tmp_path: Path) -> None:
    """The store's directory turns read-only mid-run: one line naming the path, exit 2; writable
    again, a resume stores every trial once. (Nothing new can be written there meanwhile, the
    progress file included: it keeps its last state.)"""
    store = disk / "live.duckdb"
    journal, progress = Path(f"{store}.live.jsonl"), Path(f"{store}.progress.json")
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(live_study), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for("20 sends", lambda: sends(journal) >= 20, proc)
    with read_only(disk):
        assert_one_line_failure(proc, journal, store, progress)
        assert progress_of(progress).get("state") != "finished"
    resume_live(live_study, store, tmp_path)


def test_progress_file_is_written_in_place_on_a_full_disk(disk: Path) -> None:
    """No room for the temporary file: the final state still reaches the progress file."""
    from experiment.campaign.progress import ProgressState, read_progress, write_progress

    path = disk / "x.progress.json"
    state = ProgressState(
        store="x",
        plan_hash="h",
        pid=1,
        state="running",
        started_at_utc="t",
        updated_at_utc="t",
        elapsed_s=0.0,
        planned={"a": 1},
        done={},
        failures={},
    )
    write_progress(path, state)
    fill(disk)
    failed = dataclasses.replace(state, state="failed", error="disk full")
    write_progress(path, failed)
    assert read_progress(path) == failed
    assert not [p for p in os.listdir(disk) if p.endswith(".tmp")]
