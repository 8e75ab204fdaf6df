"""The live campaign: an open-loop scheduler on an absolute timeline, against real servers.

Each request of the plan's schedule is sent at its scheduled wall-clock time, whatever is still
outstanding (open loop): the dispatcher sleeps until ``origin + scheduled_s * time_scale`` on the
event loop's monotonic clock (an absolute deadline, never a relative gap, so sleep overshoot does
not accumulate) and then hands the request to its arm as a task of its own. Measurements:

- *lateness* = actual send - scheduled send, per request (``lateness_ms``). The run reports its
  p50/p99 over every stored trial and is marked invalid when p99 exceeds
  ``traffic.max_lateness_p99_ms`` (store meta ``live_valid``);
- *latency* is measured from the scheduled time, not the send time, so a late send or a slow
  queue is counted (no coordinated omission); retries and their waits count too;
- per request the journal keeps scheduled, sent, first byte, first token, done
  (:mod:`experiment.campaign.journal`); the trial table keeps all but first byte.

Times in the store are on the plan's timeline: ``scheduled_s`` is the schedule's value, and
``sent_s`` / ``end_s`` are ``scheduled_s`` plus the real delay since the request was due. With
``time_scale`` < 1 (tests) the schedule is compressed but every duration is real.

Storage: finished trials are handed to a background writer every 0.5 s (one transaction per
batch), so a store commit never delays a send.

Resume (after a kill): trials already stored are skipped; requests the journal saw sent but the
store lacks were in flight at the kill and are stored as ``interrupted`` (not resent: a resend
would be a second, different measurement of the same trial id); the analysis treats them as the
plan says (``analysis.failures.interrupted``). The remaining schedule then continues with a *new
time origin*: it is shifted so that its first pending request is due 50 ms after the restart,
with the gaps between requests kept as planned. The downtime is thus removed rather than
replayed as a burst (which would measure a load the plan never specified).

SIGINT (Ctrl-C), SIGTERM or SIGHUP, at any moment from before the store is opened to the summary,
stops cleanly: no new sends, in-flight requests are cancelled and stored as ``interrupted``, the
batch is committed, the progress file says ``interrupted`` and the summary's ``interrupted_by``
names the signal (``routetrial run`` exits with ``128 + signal``); running the command again
resumes. A journal, store or progress file that cannot be written (full disk, read-only file
system) is a :class:`~prereg.errors.StoreWriteError` naming the path; the progress file then says
``failed`` when it can still be written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import click
import numpy as np

from arms import ArmRequest, to_trial_record
from arms._live_arms import LiveArmResult, build_live_arms
from arms._openai import ClientPool
from experiment.campaign.journal import Journal, interrupted_record, journal_path, read_in_flight
from experiment.campaign.progress import (
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
from prereg.frozen import FrozenPlan
from prereg.records import Case, TrialRecord
from prereg.schema import OpenAIBackendSpec, Plan, RouterArmSpec
from traffic import Schedule, build_schedule

__all__ = ["LiveRunSummary", "is_live_plan", "lateness_summary", "pool_size", "run_live", "run_live_plan"]

#: Delay between the start (or resumption) of a run and its first pending request.
START_LEAD_S = 0.05
#: How often finished trials are committed.
FLUSH_EVERY_S = 0.5
_MAX_SLEEP_S = 0.25
#: The timer wakes the dispatcher this long before a send is due (see the final approach in
#: ``dispatch``): the resolution of the event loop's selector.
_APPROACH_S = 0.001
#: The GIL switch interval during dispatch. At Python's default (5 ms) a store batch being built
#: on the writer thread can hold the dispatcher off for up to 5 ms; at 0.2 ms it cannot.
_SWITCH_INTERVAL_S = 0.0002
#: Connections opened per server before the clock starts: more than a few hundred requests/s
#: keep in flight against a fast server, so a run's start does not open them mid-schedule.
_WARM_CONNECTIONS = 16


@dataclass(frozen=True)
class LiveRunSummary:
    """What a live run did, and whether its dispatch was punctual enough to be valid."""

    store_url: str
    plan_hash: str
    planned: dict[str, int]
    done: dict[str, int]
    failures: dict[str, int]
    resumed: int
    written: int
    interrupted: int
    sent: int
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    max_lateness_p99_ms: float
    valid: bool
    stopped: bool
    elapsed_s: float
    progress_file: Path | None
    journal_file: Path
    #: The signal that stopped the run, else None.
    interrupted_by: int | None = None

    @property
    def complete(self) -> bool:
        """Every allocated request has its trial row."""
        return all(self.done.get(arm, 0) == n for arm, n in self.planned.items())


def is_live_plan(plan: Plan) -> bool:
    """Whether the plan names any live (``openai``) backend."""
    backends: list[object] = [m.backend for m in plan.models.values()]
    backends += [a.classifier.backend for a in plan.arms if isinstance(a, RouterArmSpec)]
    return any(isinstance(b, OpenAIBackendSpec) for b in backends)


def pool_size(plan: Plan) -> int:
    """Connections per base URL: about 10 s of the plan's mean arrival rate, within [64, 2048]."""
    arrival = plan.traffic.arrival
    rate = getattr(arrival, "rate_per_s", None) or getattr(arrival, "mean_rate_per_s", None) or 20.0
    peak = rate * getattr(arrival, "peak_to_trough", 1.0)
    return int(min(2048, max(64, round(peak * 10))))


def lateness_summary(lateness_ms: Sequence[float] | np.ndarray) -> tuple[float | None, float | None]:
    """p50 and p99 of dispatch lateness (ms); None when nothing was sent."""
    arr = np.asarray(lateness_ms, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return None, None
    p50, p99 = np.percentile(arr, [50.0, 99.0]).tolist()
    return float(p50), float(p99)


def run_live(
    frozen: FrozenPlan, store_url: str, *, progress: bool, time_scale: float = 1.0
) -> LiveRunSummary:
    """Run (or resume) the live campaign of a frozen plan into the store at ``store_url``."""
    return run_live_plan(
        frozen.plan,
        frozen.corpus,
        frozen.canonical_hash,
        frozen.path.parent,
        store_url,
        plan_bytes_hash=frozen.bytes_hash,
        progress=progress,
        time_scale=time_scale,
    )


def run_live_plan(
    plan: Plan,
    cases: Sequence[Case],
    plan_hash: str,
    base_dir: Path,
    url: str,
    *,
    plan_bytes_hash: str | None = None,
    progress: bool = False,
    time_scale: float = 1.0,
) -> LiveRunSummary:
    """The live campaign of ``plan`` over ``cases``; see the module docstring.

    The schedule and the arms (API keys included) are checked before the store is opened, so a
    misconfigured plan leaves no store behind.
    """
    url = store_url(url)
    schedule = build_schedule(plan, [c.id for c in cases], plan_hash, base_dir)
    build_live_arms(plan, cases, ClientPool())  # fail early: backends, keys, graders
    started, t0 = now_utc(), time.perf_counter()
    jpath = journal_path(url, plan_hash)
    with StopSignals() as stops, TrialStore.open(url, plan_hash, create=True) as store:
        meta: dict[str, str] = {"mode": "live"}
        if plan_bytes_hash is not None:
            meta["plan_bytes_sha256"] = plan_bytes_hash
        store.set_meta(meta)
        store.write_allocation(schedule)
        run = _LiveRun(
            plan, cases, plan_hash, schedule, store, jpath, time_scale, progress, started, t0, stops
        )
        try:
            run.reconcile()
            run.report("running")
            stopped = stops.signum is not None
            if run.pending and not stopped:
                stopped = asyncio.run(run.dispatch())
            summary = run.finish(stopped)
        except BaseException as exc:
            run.report("failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, final=True)
            raise
        finally:
            run.journal.close()
        return summary


class _LiveRun:
    """State of one run segment: the store's counts, the pending schedule, the writer."""

    def __init__(
        self,
        plan: Plan,
        cases: Sequence[Case],
        plan_hash: str,
        schedule: Schedule,
        store: TrialStore,
        jpath: Path,
        time_scale: float,
        progress: bool,
        started: Any,
        t0: float,
        stops: StopSignals,
    ) -> None:
        self.stops = stops
        self.plan, self.plan_hash, self.schedule, self.store = plan, plan_hash, schedule, store
        self.time_scale, self.progress, self.started, self.t0 = time_scale, progress, started, t0
        by_id = {c.id: c for c in cases}
        self.cases = [by_id[c] for c in schedule.case_ids]
        self.planned = {arm: sum(c.values()) for arm, c in schedule.allocation_counts().items()}
        self.routers = {a.id for a in plan.router_arms}
        self.done = Counter(store.done_per_arm())
        self.failures = Counter(store.failures_by_status())
        self.stored = {int(s) for s in store.existing_seqs().tolist()}
        self.resumed = len(self.stored)
        self.written = 0
        self.interrupted = 0
        self.sent = 0
        self.ppath = progress_path(store.url)
        self.journal_path = jpath
        self.journal = Journal(jpath)
        self.pending: list[int] = []
        self._lock = threading.Lock()

    # --- records ------------------------------------------------------------------------------

    def request(self, seq: int, scheduled_s: float) -> ArmRequest:
        s = self.schedule
        arm = s.arm_ids[int(s.arm_index[seq])]
        case = self.cases[int(s.case_index[seq])]
        replay = int(s.replay[seq])
        return ArmRequest(seq, f"{arm}:{case.id}:{replay}", case, arm, replay, scheduled_s)

    def interrupted_row(self, seq: int, sent_s: float | None) -> TrialRecord:
        r = self.request(seq, float(self.schedule.scheduled_s[seq]))
        return interrupted_record(
            self.plan_hash,
            seq,
            r.trial_id,
            r.case,
            r.arm,
            r.replay,
            r.scheduled_s,
            sent_s,
            router=r.arm in self.routers,
        )

    def on_commit(self, batch: Sequence[TrialRecord]) -> None:
        with self._lock:
            self.done.update(r.arm for r in batch)
            self.failures.update(r.status for r in batch if r.status != "ok")
            self.written += len(batch)
            self.interrupted += sum(1 for r in batch if r.status == "interrupted")
        self.report("running")

    def reconcile(self) -> None:
        """Store requests that were in flight at a kill as interrupted; list what is pending."""
        lost = [f for seq, f in sorted(read_in_flight(self.journal_path).items()) if seq not in self.stored]
        if lost:
            rows = [self.interrupted_row(f.seq, f.sent_s) for f in lost]
            self.store.write_trials(rows)
            self.on_commit(rows)
            self.stored.update(f.seq for f in lost)
        self.pending = [i for i in range(len(self.schedule)) if i not in self.stored]

    # --- progress -----------------------------------------------------------------------------

    def report(self, state: str, error: str | None = None, *, final: bool = False) -> None:
        """Rewrite the progress file; ``final`` (the last state, maybe while an error is being
        raised): a file that cannot be written is let go rather than raised."""
        if self.ppath is None:
            return
        now = now_utc()
        with self._lock:
            done, failures, written = (
                dict(sorted(self.done.items())),
                dict(sorted(self.failures.items())),
                self.written,
            )
        remaining = sum(self.planned.values()) - sum(done.values())
        (try_write_progress if final else write_progress)(
            self.ppath,
            ProgressState(
                store=self.store.where,
                plan_hash=self.plan_hash,
                pid=os.getpid(),
                state=state,  # type: ignore[arg-type]
                started_at_utc=self.started.isoformat(timespec="seconds"),
                updated_at_utc=now.isoformat(timespec="seconds"),
                elapsed_s=round(time.perf_counter() - self.t0, 3),
                planned=dict(self.planned),
                done=done,
                failures=failures,
                new_done=written,
                expected_finish_utc=(
                    None
                    if state in ("failed", "interrupted")
                    else expected_finish(self.started, now, written, remaining)
                ),
                error=error,
            ),
        )

    # --- the event loop -----------------------------------------------------------------------

    async def dispatch(self) -> bool:
        """Send every pending request on time; returns True when stopped by a signal."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal() -> None:
            # Called from the signal handler: hand the stop to the loop, which may be asleep.
            loop.call_soon_threadsafe(stop.set)

        self.stops.listen(on_signal)
        pool = ClientPool(pool_size(self.plan))
        arms = build_live_arms(self.plan, self.cases, pool)
        await pool.warm_up(connections=_WARM_CONNECTIONS)
        writer = BatchWriter(self.store, self.on_commit)
        buffer: list[TrialRecord] = []
        scale = self.time_scale
        sched = self.schedule.scheduled_s
        origin = loop.time() + START_LEAD_S - float(sched[self.pending[0]]) * scale
        self.journal.segment(
            origin_unix=time.time() + START_LEAD_S - float(sched[self.pending[0]]) * scale,
            first_seq=self.pending[0],
            time_scale=scale,
            pending=len(self.pending),
        )
        tasks: dict[int, asyncio.Task[None]] = {}
        errors: list[Exception] = []
        bar = _Bar(len(self.pending), self.planned) if self.progress else None

        def clock() -> float:
            return loop.time() - origin

        def forget(seq: int, _task: object) -> None:
            tasks.pop(seq, None)

        async def one(seq: int, plan_s: float, due: float, sent: float) -> None:
            request = self.request(seq, due)
            try:
                result = await arms[request.arm].handle(request, clock)
            except asyncio.CancelledError:
                buffer.append(self.interrupted_row(seq, plan_s + (sent - due)))
                raise
            except Exception as exc:
                # A bug, not a failed trial (those are results): stop the run; dispatch raises it
                # (not this task: a finished task's exception would be reported as never retrieved).
                errors.append(exc)
                stop.set()
                return
            try:
                buffer.append(self.record(seq, plan_s, due, sent, result))
            except Exception as exc:  # the journal cannot be written: the same stop
                errors.append(exc)
                stop.set()
                return
            if bar is not None:
                bar.tick(request.arm)

        async def flusher() -> None:
            try:
                while True:
                    await asyncio.sleep(FLUSH_EVERY_S)
                    await flush()
            except Exception as exc:
                # The store cannot be written (full, read-only): stop sending what cannot be kept.
                errors.append(exc)
                stop.set()

        async def flush() -> None:
            if buffer:
                batch = buffer.copy()
                buffer.clear()
                await loop.run_in_executor(None, writer.submit, batch)
            if bar is not None:
                bar.flush()

        flushing = asyncio.create_task(flusher())
        stopper = asyncio.create_task(stop.wait())
        # Collections of long-lived objects would pause the loop for milliseconds mid-schedule.
        gc.freeze()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        try:
            for seq in self.pending:
                plan_s = float(sched[seq])
                due = plan_s * scale
                # Sleep until an absolute deadline; in slices, so a signal is seen within 0.25 s.
                deadline = origin + due
                delay = deadline - loop.time() - _APPROACH_S
                while delay > 0.0 and not stop.is_set():
                    await asyncio.sleep(min(delay, _MAX_SLEEP_S))
                    delay = deadline - loop.time() - _APPROACH_S
                if stop.is_set():
                    break
                # The final approach: the selector sleeps in whole milliseconds rounded up, so a
                # timer set for the deadline fires up to 1 ms late. Yielding to the loop instead
                # keeps its I/O served and sends within one loop iteration of the deadline.
                while loop.time() < deadline:
                    await asyncio.sleep(0)
                sent = clock()
                try:
                    self.journal.sent(seq, plan_s + (sent - due))
                except Exception as exc:  # not sent: the journal could not say so
                    errors.append(exc)
                    break
                self.sent += 1
                task = asyncio.create_task(one(seq, plan_s, due, sent))
                tasks[seq] = task
                task.add_done_callback(partial(forget, seq))
            if tasks and not stop.is_set():
                drain = asyncio.gather(*tasks.values(), return_exceptions=True)
                waiting: list[asyncio.Future[Any]] = [drain, stopper]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sys.setswitchinterval(switch)
            gc.unfreeze()
            for task in list(tasks.values()):
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            stopper.cancel()
            flushing.cancel()
            await asyncio.gather(flushing, stopper, return_exceptions=True)
            # Every step runs even when one fails (a full disk fails the flush and the close);
            # the first failure is raised after the others, unless another error is under way.
            for step in (flush, lambda: loop.run_in_executor(None, writer.close), pool.aclose):
                try:
                    await step()
                except Exception as exc:
                    errors.append(exc)
            if bar is not None:
                bar.close()
            self.stops.unlisten(on_signal)
        if errors:
            raise errors[0]
        return stop.is_set()

    def record(self, seq: int, plan_s: float, due: float, sent: float, result: Any) -> TrialRecord:
        """The trial row, times moved from the scaled wall timeline onto the plan's timeline."""

        def on_plan(t: float | None) -> float | None:
            return None if t is None else plan_s + (t - due)

        end = result.end_s
        fixed = dataclasses.replace(
            result, sent_s=on_plan(sent), end_s=on_plan(end), lateness_ms=(sent - due) * 1000.0
        )
        if isinstance(result, LiveArmResult) and result.timings is not None:
            tl = result.timings
            self.journal.done(
                seq,
                {
                    "scheduled_s": plan_s,
                    "sent_s": on_plan(sent),
                    "first_byte_s": on_plan(tl.first_byte_s),
                    "first_token_s": on_plan(tl.first_token_s),
                    "routing_done_s": on_plan(tl.routing_done_s),
                    "downstream_first_token_s": on_plan(tl.downstream_first_token_s),
                    "done_s": on_plan(tl.done_s),
                },
            )
        trial = to_trial_record(self.plan_hash, self.request(seq, plan_s), fixed)
        if trial.e2e_latency_ms is not None and end is not None:
            # The final answer minus the scheduled time, whatever happened in between: the
            # control arm's call may start after the dispatcher's send (a busy event loop), and
            # the sum of the routing and downstream latencies would miss that wait.
            trial = dataclasses.replace(trial, e2e_latency_ms=(end - due) * 1000.0)
        return trial

    # --- the end ------------------------------------------------------------------------------

    def finish(self, stopped: bool) -> LiveRunSummary:
        lateness = self.store.read_columns()["lateness_ms"]
        p50, p99 = lateness_summary(np.ma.filled(np.ma.asarray(lateness, dtype=float), np.nan))
        bound = self.plan.traffic.max_lateness_p99_ms
        valid = p99 is None or p99 <= bound
        self.store.set_meta(
            {
                "live_lateness_p50_ms": "" if p50 is None else f"{p50:.6f}",
                "live_lateness_p99_ms": "" if p99 is None else f"{p99:.6f}",
                "live_max_lateness_p99_ms": f"{bound:g}",
                "live_valid": "true" if valid else "false",
            }
        )
        with self._lock:
            done, failures = dict(sorted(self.done.items())), dict(sorted(self.failures.items()))
        complete = all(done.get(arm, 0) == n for arm, n in self.planned.items())
        signum = self.stops.signum if stopped and not complete else None
        if signum is not None:
            self.report(
                "interrupted",
                f"stopped by {signal_name(signum)}; run the same command again to resume",
                final=True,
            )
        elif stopped and not complete:
            self.report("failed", "stopped; run the same command again to resume", final=True)
        else:
            self.report("finished")
        return LiveRunSummary(
            store_url=self.store.url,
            plan_hash=self.plan_hash,
            planned=dict(self.planned),
            done=done,
            failures=failures,
            resumed=self.resumed,
            written=self.written,
            interrupted=self.interrupted,
            sent=self.sent,
            lateness_p50_ms=p50,
            lateness_p99_ms=p99,
            max_lateness_p99_ms=bound,
            valid=valid,
            stopped=stopped,
            elapsed_s=time.perf_counter() - self.t0,
            progress_file=self.ppath,
            journal_file=self.journal_path,
            interrupted_by=signum,
        )


class _Bar:
    """A click progress bar on stderr with per-arm counts, redrawn at each flush."""

    def __init__(self, length: int, planned: dict[str, int]) -> None:
        self._counts = dict.fromkeys(planned, 0)
        self._pending = 0
        self._bar = click.progressbar(
            length=length, label="", show_eta=True, show_pos=True, file=sys.stderr, width=24
        )
        self._bar.__enter__()

    def tick(self, arm: str) -> None:
        self._counts[arm] = self._counts.get(arm, 0) + 1
        self._pending += 1

    def flush(self) -> None:
        self._bar.label = " ".join(f"{arm} {n:,}" for arm, n in self._counts.items())
        self._bar.update(self._pending)
        self._pending = 0

    def close(self) -> None:
        self.flush()
        self._bar.__exit__(None, None, None)
