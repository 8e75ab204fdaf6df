"""SIGINT, SIGTERM and SIGHUP sent to real ``routetrial`` processes at several moments.

A run (simulated or live) stopped before its campaign is complete exits with ``128 + signal``,
prints no traceback, leaves the progress file saying ``interrupted`` and a store that a second
``run`` completes; the resumed table equals an uninterrupted run's. ``design`` takes its worker
processes down with it (even on ``kill -9``); ``serve`` shuts down and exits the same way.

Moments are reached by waiting for a marker (the progress file's committed count, the journal's
sends, the design's worker processes), never by sleeping a fixed time.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _experiment_plans import write_plan
from _live_plans import STARTER, journal_sends, sim_plan, start_server, starter_cases, write_live_study

from experiment.store import TrialStore

ROUTETRIAL = str(Path(sys.executable).with_name("routetrial"))
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
BATCH = 2_000
N_CASES, REPLAYS = 60, 167  # 40,080 simulated requests: a few seconds, 20 batches
PLANNED = N_CASES * REPLAYS * 4


def routetrial(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROUTETRIAL, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=env,
    )


def launch(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ROUTETRIAL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for(
    what: str, ready: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    """Poll ``ready`` until it holds; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (status {proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def progress_of(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError):
        return {}


def committed(path: Path) -> int:
    return sum(progress_of(path).get("done", {}).values())


def assert_stopped_cleanly(proc: subprocess.Popen[str], sig: signal.Signals, progress: Path) -> str:
    """Exit 128 + sig, one ``interrupted`` line and no traceback, progress ``interrupted``."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, (proc.returncode, out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert f"routetrial: interrupted by {sig.name}" in err, err
    state = progress_of(progress)
    assert state["state"] == "interrupted" and sig.name in state["error"], state
    assert state["pid"] == proc.pid
    return err


# --- simulated runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A frozen 40,080-request plan and the CSV export of its uninterrupted run."""
    directory = tmp_path_factory.mktemp("signals")
    plan = write_plan(directory, n_cases=N_CASES, replays=REPLAYS, rate_per_s=20.0)
    assert routetrial("freeze", plan).returncode == 0
    clean = directory / "clean.duckdb"
    assert routetrial("run", plan, "--store", clean, "--batch-size", "50000").returncode == 0
    assert routetrial("export", clean, "--format", "csv").returncode == 0
    return plan, clean.with_suffix(".csv").read_bytes()


#: Moments of a simulated run: the store is open and nothing is committed yet; the first batch
#: is committed; about half the campaign is.
SIM_MOMENTS: dict[str, Callable[[Path], bool]] = {
    "started": lambda p: progress_of(p).get("state") == "running",
    "first-batch": lambda p: committed(p) >= BATCH,
    "half": lambda p: committed(p) >= PLANNED // 2,
}


def interrupt_and_resume(
    plan: Path, clean_csv: bytes, tmp_path: Path, sig: signal.Signals, moment: str
) -> None:
    store = tmp_path / f"{sig.name}-{moment}.duckdb"
    progress = Path(f"{store}.progress.json")
    proc = launch("run", plan, "--store", store, "--batch-size", str(BATCH))
    wait_for(f"the {moment} marker", lambda: SIM_MOMENTS[moment](progress), proc)
    proc.send_signal(sig)
    assert_stopped_cleanly(proc, sig, progress)
    with TrialStore.open(str(store), None, create=False) as opened:
        kept = len(opened.existing_seqs())
    assert kept < PLANNED and kept % BATCH == 0  # whole batches only
    status = routetrial("status", store)
    assert status.returncode == 0 and "the last run was interrupted" in status.stdout, status.stdout
    resumed = routetrial("run", plan, "--store", store, "--batch-size", str(BATCH))
    assert resumed.returncode == 0, resumed.stderr
    assert progress_of(progress)["state"] == "finished"
    assert routetrial("export", store, "--format", "csv").returncode == 0
    assert store.with_suffix(".csv").read_bytes() == clean_csv


def test_sigterm_after_the_first_batch_then_resume(study: tuple[Path, bytes], tmp_path: Path) -> None:
    """The quick case: SIGTERM once a batch is committed; exit 143, and a resume equals a clean run."""
    interrupt_and_resume(*study, tmp_path, signal.SIGTERM, "first-batch")


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(SIM_MOMENTS))
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_each_signal_at_each_moment_of_a_simulated_run(
    study: tuple[Path, bytes], tmp_path: Path, sig: signal.Signals, moment: str
) -> None:
    """Every signal at every moment: 128 + signal, no traceback, interrupted, resumable to the same table."""
    if (sig, moment) == (signal.SIGTERM, "first-batch"):
        pytest.skip("the quick test covers it")
    interrupt_and_resume(*study, tmp_path, sig, moment)


# --- live runs ------------------------------------------------------------------------------------

LIVE_CASES, LIVE_REPLAYS = 60, 1
LIVE_PLANNED = 2 * LIVE_CASES * LIVE_REPLAYS


@pytest.fixture(scope="module")
def live_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A frozen live plan (120 requests at 40/s) against a local simulated server."""
    slow = {"median_ms": 150.0, "p95_ms": 250.0, "concurrency": 64}
    _, thread = start_server(sim_plan(latency=slow), starter_cases(LIVE_CASES))
    directory = tmp_path_factory.mktemp("live-signals")
    plan = write_live_study(directory, thread.base_url, cases=LIVE_CASES, replays=LIVE_REPLAYS, rate=40.0)
    assert routetrial("freeze", plan).returncode == 0
    yield plan
    thread.stop()


sends = journal_sends


def live_rows(store: Path) -> list[tuple[int, str, str, str, str]]:
    with TrialStore.open(str(store), None, create=False) as opened:
        cols = opened.read_columns()
    return sorted(
        zip(
            cols["seq"].tolist(),
            cols["trial_id"].tolist(),
            cols["arm"].tolist(),
            cols["case_id"].tolist(),
            cols["status"].tolist(),
            strict=False,
        )
    )


#: Moments of a live run: the run segment has begun (nothing sent yet); requests are in flight.
LIVE_MOMENTS: dict[str, Callable[[Path], bool]] = {
    "segment": lambda j: j.exists() and '"e":"segment"' in j.read_text(encoding="utf-8"),
    "in-flight": lambda j: sends(j) >= 20,
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(LIVE_MOMENTS))
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_each_signal_stops_a_live_run_and_it_resumes(
    live_study: Path, tmp_path: Path, sig: signal.Signals, moment: str
) -> None:
    """A live run stopped by a signal: 128 + signal, interrupted; a second run completes every trial once."""
    store = tmp_path / "live.duckdb"
    progress, journal = Path(f"{store}.progress.json"), Path(f"{store}.live.jsonl")
    proc = launch("run", live_study, "--store", store)
    wait_for(f"the {moment} marker", lambda: LIVE_MOMENTS[moment](journal), proc)
    proc.send_signal(sig)
    assert_stopped_cleanly(proc, sig, progress)
    before = live_rows(store)
    assert len(before) < LIVE_PLANNED
    resumed = routetrial("run", live_study, "--store", store)
    assert resumed.returncode == 0, resumed.stderr
    assert progress_of(progress)["state"] == "finished"
    rows = live_rows(store)
    assert [r[0] for r in rows] == list(range(LIVE_PLANNED))  # every trial, once
    assert rows[: len(before)] == before or set(before) <= set(rows)  # nothing stored was changed
    clean = tmp_path / "clean.duckdb"
    assert routetrial("run", live_study, "--store", clean).returncode == 0
    assert [r[:4] for r in rows] == [r[:4] for r in live_rows(clean)]  # same trials, arms, cases
    assert {r[4] for r in rows} <= {"ok", "interrupted"}


# --- design ---------------------------------------------------------------------------------------


def children(pid: int) -> set[int]:
    """Every thread's children: Dask's nannies start their workers from threads of their own."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except FileNotFoundError:
            continue
    return found


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.fixture(scope="module")
def design_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plan(tmp_path_factory.mktemp("design-signals"), n_cases=60, replays=20)


def start_design(plan: Path, engine: str = "local") -> tuple[subprocess.Popen[str], set[int]]:
    proc = launch(
        "design",
        plan,
        "--sims",
        "100000",
        "--workers",
        "2",
        "--no-grid",
        "--no-min-cases",
        "--engine",
        engine,
    )
    # A local Dask cluster also starts multiprocessing's resource tracker beside its two workers.
    expected = 2 if engine == "local" else 3
    wait_for("two design workers", lambda: len(children(proc.pid)) >= expected, proc)
    return proc, children(proc.pid)


def wait_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.02)
    return {p for p in pids if not gone(p)}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "dask"])
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_design_workers_stop_with_their_parent(design_plan: Path, sig: signal.Signals, engine: str) -> None:
    """A signal to ``design`` (process pool or local Dask cluster): its workers end, it exits
    128 + signal with one line and no traceback."""
    proc, workers = start_design(design_plan, engine)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    # SIGINT just as the workers start (before the engine's handlers) is click's Ctrl-C: "aborted".
    said = f"interrupted by {sig.name}" in err or (sig == signal.SIGINT and "routetrial: aborted" in err)
    assert "Traceback" not in err and said, err
    assert len(err.strip().splitlines()) == 1, err
    assert wait_gone(workers) == set()


@pytest.mark.slow
def test_design_workers_die_when_the_parent_is_killed(design_plan: Path) -> None:
    """``kill -9`` of ``design`` (no clean-up possible): the kernel takes its workers down too."""
    proc, workers = start_design(design_plan)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert wait_gone(workers) == set()


# --- serve ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_serve_stops_on_each_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """``serve`` shuts down on SIGINT, SIGTERM and SIGHUP: one line, 128 + signal, no traceback."""
    plan = tmp_path / "sim.yaml"
    plan.write_text(yaml.safe_dump(sim_plan().model_dump(mode="json", exclude_none=True)))
    shutil.copy(STARTER, tmp_path / "corpus.jsonl")
    proc = launch("serve", plan, "--port", "0")
    assert proc.stderr is not None
    assert "serving" in proc.stderr.readline()
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err and f"serve stopped by {sig.name}" in err, err


# --- the import of the command line ---------------------------------------------------------------


def loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_ctrl_c_while_the_command_line_imports_is_one_line() -> None:
    """SIGINT while ``routetrial`` is still importing its commands (pydantic's compiled core is
    mapped, the help not yet printed): one line and 130, never a ``KeyboardInterrupt`` traceback.

    The moment is found by watching the process's memory maps; an attempt whose import finished
    first (exit 0) is simply repeated.
    """
    landed = 0
    for _ in range(30):
        proc = launch("--help")
        while proc.poll() is None and not loaded(proc.pid, "_pydantic_core"):
            time.sleep(0.0005)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        if proc.returncode == 0:
            continue
        assert proc.returncode == 130 and err.strip() == "routetrial: interrupted by SIGINT", (
            proc.returncode,
            err,
        )
        landed += 1
        if landed >= 3:
            return
    pytest.fail(f"SIGINT reached only {landed} of 30 imports of the command line before they finished")
