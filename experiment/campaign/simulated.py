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
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from arms import ArmOutcome, ArmRequest, build_simulated_arms, to_trial_record
from experiment.campaign.abort import ABORTED_ARMS_KEY, ArmAborts
from experiment.campaign.bar import ProgressBar
from experiment.campaign.driver import drive
from experiment.campaign.looks import LookDecision, LookWatcher, decide_look
from experiment.campaign.plan_modules import plan_modules
from experiment.campaign.progress import now_utc
from experiment.campaign.reporter import ProgressReporter
from experiment.campaign.requests import ScheduleRequests
from experiment.campaign.rows import aborted_row
from experiment.campaign.summary import RunSummary
from experiment.campaign.tally import Tally, planned_per_arm
from experiment.campaign.writer import BatchWriter
from experiment.stop_signals import Interrupted, StopSignals, signal_name
from experiment.store import TrialStore, progress_path, store_url
from prereg.errors import InputError
from prereg.frozen import FrozenPlan
from prereg.records import Case, TrialRecord
from prereg.schema import Plan
from traffic import build_schedule

__all__ = [
    "BATCH_SIZE_ENV",
    "DEFAULT_BATCH_SIZE",
    "batch_size_from_env",
    "run_simulated",
    "simulate_campaign",
]

#: Trials per store transaction: big enough for bulk speed, small enough to bound memory.
DEFAULT_BATCH_SIZE = 50_000
#: Environment variable overriding the batch size (tests use small batches to kill mid-run).
BATCH_SIZE_ENV = "ROUTETRIAL_BATCH_SIZE"
#: Young-generation GC threshold during a simulation (Python's default is 700).
_GC_YOUNG = 50_000
#: Completed requests between two redraws of the terminal bar.
_BAR_EVERY = 2_048


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
        plan_path=frozen.path,
    )


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
    plan_path: Path | None = None,
) -> RunSummary:
    """The campaign of ``plan`` over ``cases`` (see the module docstring); errors before any write.

    The schedule and the arms are built before the store is opened, so a bad trace file or a
    misconfigured arm leaves no store behind. A group-sequential plan is analysed at each look
    as its trials are stored (:mod:`experiment.campaign.looks`, logged in ``plan_path``'s log)
    and stops at the first look that decides every gate; a re-run replays the same looks.
    """
    url = store_url(url)
    schedule = build_schedule(plan, [c.id for c in cases], plan_hash, base_dir)
    env = simpy.Environment()
    with plan_modules(base_dir):
        arms = build_simulated_arms(plan, cases, plan_hash, env, plan_dir=base_dir)
    started, t0 = now_utc(), time.perf_counter()
    with StopSignals() as stops, TrialStore.open(url, plan_hash, create=True) as store:
        if plan_bytes_hash is not None:
            store.set_meta({"plan_bytes_sha256": plan_bytes_hash, "mode": "simulated"})
        store.write_allocation(schedule)
        tally = Tally(planned_per_arm(schedule), store.done_per_arm(), store.failures_by_status())
        stored = store.existing_seqs()
        resumed = int(stored.size)
        reporter = ProgressReporter(
            progress_path(url), store=store.where, plan_hash=plan_hash, tally=tally,
            started=started, t0=t0, virtual_now=lambda: float(env.now),
        )  # fmt: skip

        def on_commit(batch: Sequence[TrialRecord]) -> None:
            tally.add(batch)
            reporter.report("running")

        stopped_by: int | None = None
        early: str | None = store.meta().get("stop_reason") or None
        looks, aborts = None, ArmAborts.of(plan)
        if plan.analysis.stopping.kind != "fixed_horizon":
            looks = _Looks(plan, store, plan_hash, plan_path, LookWatcher(plan, len(cases), stored.tolist()))
        try:
            reporter.report("running")
            stops.check()
            if looks is not None and early is None:
                early = looks.stored_looks()
            if resumed < len(schedule) and early is None:
                requests = ScheduleRequests(schedule, cases)
                writer = BatchWriter(store, on_commit)
                try:
                    _simulate(
                        env, requests, arms, plan_hash, stored, batch_size, writer, tally.planned, progress,
                        stops, looks, aborts, frozenset(plan.decision_arms),
                    )  # fmt: skip
                finally:
                    if aborts is not None and aborts.aborted:
                        store.set_meta({ABORTED_ARMS_KEY: json.dumps(aborts.aborted, sort_keys=True)})
        except StoppedEarly as exc:
            early = exc.reason
        except Interrupted as exc:
            stopped_by = exc.signum
        except KeyboardInterrupt:  # only if a caller replaced our handler with Python's default
            stopped_by = signal.SIGINT
        except BaseException as exc:
            reporter.error(exc)
            raise
        if stopped_by is not None and not tally.complete and early is None:
            reporter.report(
                "interrupted",
                f"stopped by {signal_name(stopped_by)}; run the same command again to resume",
                final=True,
            )
        else:
            stopped_by = None
            if early is None:
                reporter.report("finished")
            else:
                reporter.report("stopped", final=True, stopped_early=early)
        counts = tally.snapshot()
        return RunSummary(
            store_url=url,
            plan_hash=plan_hash,
            planned=dict(tally.planned),
            done=counts.done,
            failures=counts.failures,
            resumed=resumed,
            written=counts.written,
            elapsed_s=time.perf_counter() - t0,
            virtual_s=float(env.now),
            progress_file=reporter.path,
            interrupted_by=stopped_by,
            stopped_early=early,
        )


def _simulate(
    env: simpy.Environment,
    requests: ScheduleRequests,
    arms: dict[str, Any],
    plan_hash: str,
    stored: np.ndarray,
    batch_size: int,
    writer: BatchWriter,
    planned: dict[str, int],
    progress: bool,
    stops: StopSignals,
    looks: _Looks | None = None,
    aborts: ArmAborts | None = None,
    routers: frozenset[str] = frozenset(),
) -> None:
    """Drive the campaign (:func:`~experiment.campaign.driver.drive`) into the store's writer in
    batches, skipping what the store already holds; the hot path of a campaign.

    With ``looks`` (a group-sequential plan), the row that completes a look has every row so far
    committed, then the look decided; :class:`StoppedEarly` ends the drive when it says stop.
    With ``aborts`` (an abort rule), an arm whose failure rate crosses it sends nothing more: each
    of its later requests is stored unsent at its arrival."""
    schedule = requests.schedule
    n = len(schedule)
    skip_mask = np.zeros(n, dtype=np.bool_)
    skip_mask[stored] = True
    skip = bytearray(skip_mask.tobytes())  # indexing a bytearray is far cheaper than numpy
    del skip_mask
    buffer: list[TrialRecord] = []
    append = buffer.append
    bar = ProgressBar(n - len(stored), planned, every=_BAR_EVERY) if progress else None
    tick = bar.tick if bar is not None else None

    def keep(record: TrialRecord) -> None:
        append(record)
        if tick is not None:
            tick(record.arm)
        if len(buffer) >= batch_size:
            writer.submit(buffer.copy())
            buffer.clear()
        if looks is not None and looks.watcher.add(record.seq):
            writer.submit(buffer.copy())
            buffer.clear()
            looks.decide(writer.call)

    def finish(request: ArmRequest, outcome: ArmOutcome) -> None:
        if aborts is not None:
            # Every finished trial counts, stored or not: a resumed replay reaches the same abort.
            record = to_trial_record(plan_hash, request, outcome)
            aborts.count(request.arm, record.status)
            if not skip[request.seq]:
                keep(record)
            return
        if skip[request.seq]:
            return
        keep(to_trial_record(plan_hash, request, outcome))

    def unsent(request: ArmRequest) -> None:
        assert aborts is not None
        if not skip[request.seq]:
            keep(aborted_row(plan_hash, request, aborts.aborted[request.arm], router=request.arm in routers))

    stopped = None if aborts is None else (lambda request: request.arm in aborts.aborted)

    # A campaign allocates millions of short-lived objects (events, requests, records); the
    # default young-generation threshold (700) has the collector walk them ~15% of the run.
    thresholds = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, *thresholds[1:])
    try:
        drive(env, requests, arms, finish, stops, stopped, unsent)
        if buffer:
            writer.submit(buffer.copy())
            buffer.clear()
    finally:
        gc.set_threshold(*thresholds)
        if bar is not None:
            bar.close()
        writer.close()


class StoppedEarly(Exception):
    """The pre-registered stopping rule ended the campaign at a look (raised out of the drive)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Looks:
    """A group-sequential campaign's looks: the watcher, and deciding each look on the store."""

    def __init__(
        self, plan: Plan, store: TrialStore, plan_hash: str, plan_path: Path | None, watcher: LookWatcher
    ) -> None:
        self.plan, self.store, self.plan_hash, self.plan_path = plan, store, plan_hash, plan_path
        self.watcher = watcher

    def stored_looks(self) -> str | None:
        """Decide the looks the store already completes (a resume); the stop reason if one stops."""
        try:
            self.decide()
        except StoppedEarly as exc:
            return exc.reason
        return None

    def decide(self, via: Callable[[Callable[[], LookDecision]], LookDecision] | None = None) -> None:
        """Decide every look completed since the last call (on the writer's thread, after its
        queued batches, when ``via`` is its :meth:`~BatchWriter.call`); raise
        :class:`StoppedEarly` at a stop."""
        for look in self.watcher.completed():
            decide = partial(decide_look, self.plan, self.store, self.plan_hash, look, self.plan_path)
            decision = decide() if via is None else via(decide)
            if decision.stop:
                reason = decision.result.reason
                self.store.set_meta(
                    {"stopped_at_look": str(decision.result.stopped_at), "stop_reason": reason}
                )
                raise StoppedEarly(reason)
