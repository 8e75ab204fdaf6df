"""The simulated campaign: a frozen plan carried through SimPy virtual time into the trial store.

Steps, in order: derive the schedule (allocation and send times) from the plan; build the
simulated arms; open the store (bound to the plan's canonical hash) and write the whole allocation
before the first request; drive :func:`traffic.request_stream`, whose sink starts one SimPy process
per request on its arm; flatten each finished request into a :class:`~prereg.records.TrialRecord`
and hand full batches to a background writer (one transaction per batch).

Resume: the simulation is a deterministic function of the frozen plan, so a re-run replays the
same virtual night exactly (queueing included, which is why it cannot start in the middle) and
writes only the trials the store does not hold yet. Whenever the first run was killed, the final
table is the one an uninterrupted run writes.

Signals: SIGINT, SIGTERM and SIGHUP are caught (:class:`~experiment.campaign.progress.StopSignals`) from
before the store is opened until the summary is built. The request stream looks at them before
each arrival; a stop discards the trials of the unfinished batch, lets the writer commit the
batches it holds, writes the progress state ``interrupted`` and returns a summary whose
``interrupted_by`` names the signal (the command turns that into exit status ``128 + signal``).
A signal that arrives once every trial is stored changes nothing.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import click
import numpy as np
import simpy

from arms import ArmRequest, build_simulated_arms, to_trial_record
from experiment.campaign.progress import (
    Interrupted,
    ProgressState,
    StopSignals,
    expected_finish,
    now_utc,
    signal_name,
    try_write_progress,
    write_progress,
)
from experiment.campaign.writer import BatchWriter
from experiment.store.trial_store import TrialStore, progress_path, store_url
from prereg.errors import InputError
from prereg.frozen import FrozenPlan
from prereg.records import Case, TrialRecord
from prereg.schema import Plan
from traffic import Schedule, build_schedule, request_stream

__all__ = [
    "BATCH_SIZE_ENV",
    "DEFAULT_BATCH_SIZE",
    "RunSummary",
    "batch_size_from_env",
    "run_simulated",
    "simulate_campaign",
]

#: Trials per store transaction: big enough for bulk speed, small enough to bound memory.
DEFAULT_BATCH_SIZE = 50_000
#: Environment variable overriding the batch size (tests use small batches to kill mid-run).
BATCH_SIZE_ENV = "ROUTETRIAL_BATCH_SIZE"
#: Requests whose schedule entries are turned into Python values at a time (bounded memory).
_CHUNK = 65_536
#: Young-generation GC threshold during a simulation (Python's default is 700).
_GC_YOUNG = 50_000
#: Completed requests between two redraws of the terminal bar.
_BAR_EVERY = 2_048


@dataclass(frozen=True)
class RunSummary:
    """What a run did: the store's counts after it, and how much of that this run wrote."""

    store_url: str
    plan_hash: str
    planned: dict[str, int]
    done: dict[str, int]
    failures: dict[str, int]
    resumed: int
    written: int
    elapsed_s: float
    virtual_s: float
    progress_file: Path | None
    #: The signal that stopped the run before every trial was stored, else None.
    interrupted_by: int | None = None

    @property
    def complete(self) -> bool:
        """Every allocated request has its trial row."""
        return all(self.done.get(arm, 0) == n for arm, n in self.planned.items())


def batch_size_from_env() -> int:
    """The batch size from ``ROUTETRIAL_BATCH_SIZE``, else the default."""
    raw = os.environ.get(BATCH_SIZE_ENV)
    if raw is None:
        return DEFAULT_BATCH_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"expected a positive integer, found {raw!r}", field=BATCH_SIZE_ENV)
    return value


def run_simulated(
    frozen: FrozenPlan, store_url: str, *, progress: bool, batch_size: int | None = None
) -> RunSummary:
    """Run (or resume) the simulated campaign of a frozen plan into the store at ``store_url``.

    ``frozen`` comes from :func:`prereg.load_frozen_plan`, which refuses unfrozen or changed plans.
    ``progress`` draws a bar on stderr; the progress file is written either way.
    """
    return simulate_campaign(
        frozen.plan,
        frozen.corpus,
        frozen.canonical_hash,
        frozen.path.parent,
        store_url,
        plan_bytes_hash=frozen.bytes_hash,
        progress=progress,
        batch_size=batch_size_from_env() if batch_size is None else batch_size,
    )


class _Counts:
    """Committed trials per arm and failures by status, updated by the writer thread."""

    def __init__(self, done: dict[str, int], failures: dict[str, int]) -> None:
        self.done = Counter(done)
        self.failures = Counter(failures)
        self.new_done = 0

    def add(self, batch: Sequence[TrialRecord]) -> None:
        self.done.update(r.arm for r in batch)
        self.failures.update(r.status for r in batch if r.status != "ok")
        self.new_done += len(batch)


def simulate_campaign(
    plan: Plan,
    cases: Sequence[Case],
    plan_hash: str,
    base_dir: Path,
    url: str,
    *,
    plan_bytes_hash: str | None = None,
    progress: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RunSummary:
    """The campaign of ``plan`` over ``cases`` (see the module docstring); errors before any write.

    The schedule and the arms are built before the store is opened, so a bad trace file or a
    misconfigured arm leaves no store behind.
    """
    url = store_url(url)
    schedule = build_schedule(plan, [c.id for c in cases], plan_hash, base_dir)
    env = simpy.Environment()
    arms = build_simulated_arms(plan, cases, plan_hash, env)
    started, t0 = now_utc(), time.perf_counter()
    with StopSignals() as stops, TrialStore.open(url, plan_hash, create=True) as store:
        if plan_bytes_hash is not None:
            store.set_meta({"plan_bytes_sha256": plan_bytes_hash, "mode": "simulated"})
        store.write_allocation(schedule)
        planned = {arm: sum(c.values()) for arm, c in schedule.allocation_counts().items()}
        stored = store.existing_seqs()
        counts = _Counts(store.done_per_arm(), store.failures_by_status())
        resumed = int(stored.size)
        ppath = progress_path(url)

        def report(state: str, error: str | None = None, *, final: bool = False) -> None:
            if ppath is None:
                return
            now = now_utc()
            remaining = sum(planned.values()) - sum(counts.done.values())
            (try_write_progress if final else write_progress)(
                ppath,
                ProgressState(
                    store=store.where,
                    plan_hash=plan_hash,
                    pid=os.getpid(),
                    state=state,  # type: ignore[arg-type]
                    started_at_utc=started.isoformat(timespec="seconds"),
                    updated_at_utc=now.isoformat(timespec="seconds"),
                    elapsed_s=round(time.perf_counter() - t0, 3),
                    planned=dict(planned),
                    done=dict(sorted(counts.done.items())),
                    failures=dict(sorted(counts.failures.items())),
                    new_done=counts.new_done,
                    expected_finish_utc=(
                        None
                        if state in ("failed", "interrupted")
                        else expected_finish(started, now, counts.new_done, remaining)
                    ),
                    virtual_now_s=float(env.now),
                    error=error,
                ),
            )

        def on_commit(batch: Sequence[TrialRecord]) -> None:
            counts.add(batch)
            report("running")

        stopped_by: int | None = None
        try:
            report("running")
            stops.check()
            if resumed < len(schedule):
                _simulate(
                    env,
                    schedule,
                    cases,
                    arms,
                    plan_hash,
                    stored,
                    batch_size,
                    BatchWriter(store, on_commit),
                    planned,
                    progress,
                    stops,
                )
        except Interrupted as exc:
            stopped_by = exc.signum
        except KeyboardInterrupt:  # only if a caller replaced our handler with Python's default
            stopped_by = signal.SIGINT
        except BaseException as exc:
            report("failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, final=True)
            raise
        complete = all(counts.done.get(arm, 0) == n for arm, n in planned.items())
        if stopped_by is not None and not complete:
            report(
                "interrupted",
                f"stopped by {signal_name(stopped_by)}; run the same command again to resume",
                final=True,
            )
        else:
            stopped_by = None
            report("finished")
        return RunSummary(
            store_url=url,
            plan_hash=plan_hash,
            planned=dict(planned),
            done=dict(sorted(counts.done.items())),
            failures=dict(sorted(counts.failures.items())),
            resumed=resumed,
            written=counts.new_done,
            elapsed_s=time.perf_counter() - t0,
            virtual_s=float(env.now),
            progress_file=ppath,
            interrupted_by=stopped_by,
        )


def _simulate(
    env: simpy.Environment,
    schedule: Schedule,
    cases: Sequence[Case],
    arms: dict[str, Any],
    plan_hash: str,
    stored: np.ndarray,
    batch_size: int,
    writer: BatchWriter,
    planned: dict[str, int],
    progress: bool,
    stops: StopSignals,
) -> None:
    """Drive the request stream through the arms; the hot path of a campaign.

    A caught signal raises :class:`Interrupted` before the next arrival (from inside the request
    stream's process, which SimPy re-raises out of ``env.run``).
    """
    n = len(schedule)
    skip_mask = np.zeros(n, dtype=np.bool_)
    skip_mask[stored] = True
    skip = bytearray(skip_mask.tobytes())  # indexing a bytearray is far cheaper than numpy
    del skip_mask
    arm_ids = schedule.arm_ids
    arm_objs = [arms[a] for a in arm_ids]
    by_id = {c.id: c for c in cases}
    case_objs = [by_id[c] for c in schedule.case_ids]
    process = env.process
    buffer: list[TrialRecord] = []
    append = buffer.append
    bar = _Bar(n - len(stored), planned) if progress else None
    tick = bar.tick if bar is not None else None
    # Schedule entries as Python values, one chunk at a time: the sink is called in seq order.
    lo = hi = 0
    arm_of: list[int] = []
    case_of: list[int] = []
    replay_of: list[int] = []
    due_of: list[float] = []

    def finish(request: ArmRequest, event: Any) -> None:
        if skip[request.seq]:
            return
        append(to_trial_record(plan_hash, request, event.value))
        if tick is not None:
            tick(request.arm)
        if len(buffer) >= batch_size:
            writer.submit(buffer.copy())
            buffer.clear()

    def sink(seq: int) -> None:
        nonlocal lo, hi, arm_of, case_of, replay_of, due_of
        if stops.signum is not None:
            raise Interrupted(stops.signum)
        if seq >= hi:
            lo, hi = seq, min(seq + _CHUNK, n)
            arm_of = schedule.arm_index[lo:hi].tolist()
            case_of = schedule.case_index[lo:hi].tolist()
            replay_of = schedule.replay[lo:hi].tolist()
            due_of = schedule.scheduled_s[lo:hi].tolist()
        i = seq - lo
        a = arm_of[i]
        case = case_objs[case_of[i]]
        replay = replay_of[i]
        arm_id = arm_ids[a]
        request = ArmRequest(seq, f"{arm_id}:{case.id}:{replay}", case, arm_id, replay, due_of[i])
        process(arm_objs[a].process(env, request)).callbacks.append(partial(finish, request))

    # A campaign allocates millions of short-lived objects (events, requests, records); the
    # default young-generation threshold (700) has the collector walk them ~15% of the run.
    thresholds = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, *thresholds[1:])
    try:
        env.process(request_stream(env, schedule, None, sink))
        env.run()
        if buffer:
            writer.submit(buffer.copy())
            buffer.clear()
    finally:
        gc.set_threshold(*thresholds)
        if bar is not None:
            bar.close()
        writer.close()


class _Bar:
    """A click progress bar on stderr: ETA, and completed trials per arm in the label."""

    def __init__(self, length: int, planned: dict[str, int]) -> None:
        self._counts = dict.fromkeys(planned, 0)
        self._pending = 0
        self._bar = click.progressbar(
            length=length, label=self._label(), show_eta=True, show_pos=True, file=sys.stderr, width=24
        )
        self._bar.__enter__()
        self._update: Callable[[int], None] = self._bar.update

    def _label(self) -> str:
        return " ".join(f"{arm} {n:,}" for arm, n in self._counts.items())

    def tick(self, arm: str) -> None:
        self._counts[arm] += 1
        self._pending += 1
        if self._pending >= _BAR_EVERY:
            self._flush()

    def _flush(self) -> None:
        self._bar.label = self._label()
        self._update(self._pending)
        self._pending = 0

    def close(self) -> None:
        self._flush()
        self._bar.__exit__(None, None, None)
