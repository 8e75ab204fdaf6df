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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from arms import ArmOutcome, ArmRequest, build_simulated_arms, to_trial_record
from experiment.campaign.bar import ProgressBar
from experiment.campaign.driver import drive
from experiment.campaign.plan_modules import plan_modules
from experiment.campaign.progress import now_utc
from experiment.campaign.reporter import ProgressReporter
from experiment.campaign.requests import ScheduleRequests
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
) -> RunSummary:
    """The campaign of ``plan`` over ``cases`` (see the module docstring); errors before any write.

    The schedule and the arms are built before the store is opened, so a bad trace file or a
    misconfigured arm leaves no store behind.
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
        try:
            reporter.report("running")
            stops.check()
            if resumed < len(schedule):
                requests = ScheduleRequests(schedule, cases)
                writer = BatchWriter(store, on_commit)
                _simulate(
                    env, requests, arms, plan_hash, stored, batch_size, writer, tally.planned, progress, stops
                )
        except Interrupted as exc:
            stopped_by = exc.signum
        except KeyboardInterrupt:  # only if a caller replaced our handler with Python's default
            stopped_by = signal.SIGINT
        except BaseException as exc:
            reporter.error(exc)
            raise
        if stopped_by is not None and not tally.complete:
            reporter.report(
                "interrupted",
                f"stopped by {signal_name(stopped_by)}; run the same command again to resume",
                final=True,
            )
        else:
            stopped_by = None
            reporter.report("finished")
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
) -> None:
    """Drive the campaign (:func:`~experiment.campaign.driver.drive`) into the store's writer in
    batches, skipping what the store already holds; the hot path of a campaign."""
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

    def finish(request: ArmRequest, outcome: ArmOutcome) -> None:
        if skip[request.seq]:
            return
        append(to_trial_record(plan_hash, request, outcome))
        if tick is not None:
            tick(request.arm)
        if len(buffer) >= batch_size:
            writer.submit(buffer.copy())
            buffer.clear()

    # A campaign allocates millions of short-lived objects (events, requests, records); the
    # default young-generation threshold (700) has the collector walk them ~15% of the run.
    thresholds = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, *thresholds[1:])
    try:
        drive(env, requests, arms, finish, stops)
        if buffer:
            writer.submit(buffer.copy())
            buffer.clear()
    finally:
        gc.set_threshold(*thresholds)
        if bar is not None:
            bar.close()
        writer.close()
