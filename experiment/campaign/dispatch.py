"""The live event loop: every pending request sent at its absolute wall-clock time, open loop.

:func:`dispatch` sleeps until ``origin + scheduled_s * time_scale`` on the event loop's monotonic
clock (an absolute deadline, never a relative gap, so sleep overshoot does not accumulate), then
hands the request to its arm as a task of its own, whatever is still outstanding. Finished trials
go to a background writer every :data:`FLUSH_EVERY_S`, so a store commit never delays a send. A
signal, a bug in an arm, or a journal or store that cannot be written stops the sends; in-flight
requests are then cancelled and stored as ``interrupted`` (see :mod:`experiment.campaign.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from arms import ClientPool, LiveArm, build_live_arms
from experiment.campaign.abort import ArmAborts, DispatchWatch, aborted_arms
from experiment.campaign.bar import ProgressBar
from experiment.campaign.live_run import LiveRun
from experiment.campaign.writer import BatchWriter
from experiment.stop_signals import StopSignals
from prereg.records import TrialRecord

__all__ = ["FLUSH_EVERY_S", "START_LEAD_S", "dispatch"]

#: Delay between the start (or resumption) of a run and its first pending request.
START_LEAD_S = 0.05
#: How often finished trials are committed.
FLUSH_EVERY_S = 0.5
_MAX_SLEEP_S = 0.25
#: The timer wakes the dispatcher this long before a send is due (see the final approach in
#: ``_send_all``): the resolution of the event loop's selector.
_APPROACH_S = 0.001
#: The GIL switch interval during dispatch. At Python's default (5 ms) a store batch being built
#: on the writer thread can hold the dispatcher off for up to 5 ms; at 0.2 ms it cannot.
_SWITCH_INTERVAL_S = 0.0002
#: Connections opened per server before the clock starts: more than a few hundred requests/s
#: keep in flight against a fast server, so a run's start does not open them mid-schedule.
_WARM_CONNECTIONS = 16


async def dispatch(
    run: LiveRun, stops: StopSignals, *, time_scale: float, progress: bool, plan_dir: Path | None = None
) -> bool:
    """Send every pending request of ``run`` on time; returns True when stopped by a signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        # Called from the signal handler: hand the stop to the loop, which may be asleep.
        loop.call_soon_threadsafe(stop.set)

    stops.listen(on_signal)
    try:
        pool = ClientPool()
        arms = build_live_arms(run.plan, run.requests.cases, pool, plan_dir=plan_dir)
        run.warm_up_failures = await pool.warm_up(connections=_WARM_CONNECTIONS)
        bar = ProgressBar(len(run.pending), run.planned) if progress else None
        loop_run = _Dispatch(run, arms, stop, time_scale, bar)
        await loop_run.execute(pool)
    finally:
        stops.unlisten(on_signal)
    return stop.is_set()


class _Dispatch:
    """One dispatch: the send loop, the request tasks, the flusher and the clean-up."""

    def __init__(
        self,
        run: LiveRun,
        arms: dict[str, LiveArm],
        stop: asyncio.Event,
        time_scale: float,
        bar: ProgressBar | None,
    ) -> None:
        self.run, self.arms, self.stop, self.scale, self.bar = run, arms, stop, time_scale, bar
        self.loop = asyncio.get_running_loop()
        self.writer = BatchWriter(run.store, run.on_commit)
        self.buffer: list[TrialRecord] = []
        self.tasks: dict[int, asyncio.Task[None]] = {}
        #: Plan-timeline send time of every sent request that has no row yet (see ``_close``).
        self.unrecorded: dict[int, float] = {}
        self.errors: list[Exception] = []
        #: A group-sequential plan's looks (None at a fixed horizon) and the task deciding them.
        self.looks = run.look_watcher()
        self.deciding: asyncio.Task[None] | None = None
        #: Abort rules: arms stopped for their failure rate, the run for invalid dispatch.
        self.aborts = ArmAborts.of(run.plan, aborted_arms(run.store.meta()))
        self.dispatch_watch = DispatchWatch(run.plan)
        #: How many of the pending requests the send loop has handled (sent or stored unsent).
        self.handled = 0
        #: Store meta writes queued behind the batches (awaited before the writer closes).
        self.meta_writes: list[asyncio.Future[None]] = []
        #: Set when the run ends: the flusher finishes the flush under way, then stops.
        self.closing = asyncio.Event()
        first = float(run.schedule.scheduled_s[run.pending[0]]) * time_scale
        self.origin = self.loop.time() + START_LEAD_S - first
        run.journal.segment(
            origin_unix=time.time() + START_LEAD_S - first,
            first_seq=run.pending[0],
            time_scale=time_scale,
            pending=len(run.pending),
        )

    def clock(self) -> float:
        """Seconds on the campaign's (scaled) timeline."""
        return self.loop.time() - self.origin

    def fail(self, exc: Exception) -> None:
        """A bug or an unwritable journal or store: remember it and stop sending."""
        self.errors.append(exc)
        self.stop.set()

    async def execute(self, pool: ClientPool) -> None:
        """Send everything, wait for the replies (or a stop), clean up; raise the first error."""
        flushing = asyncio.create_task(self._flusher())
        stopper = asyncio.create_task(self.stop.wait())
        # Collections of long-lived objects would pause the loop for milliseconds mid-schedule.
        gc.freeze()
        switch = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        try:
            await self._send_all()
            if self.tasks and not self.stop.is_set():
                drain = asyncio.gather(*self.tasks.values(), return_exceptions=True)
                waiting: list[asyncio.Future[Any]] = [drain, stopper]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            # The last look is decided (and logged) before the run ends.
            while self.deciding is not None and not self.stop.is_set():
                await asyncio.wait([self.deciding, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sys.setswitchinterval(switch)
            gc.unfreeze()
            await self._close(pool, flushing, stopper)
        if self.errors:
            raise self.errors[0]

    async def _send_all(self) -> None:
        loop, sched, scale = self.loop, self.run.schedule.scheduled_s, self.scale
        for seq in self.run.pending:
            self.handled += 1
            if self.aborts is not None and self.aborts.aborted:
                request = self.run.requests.at(seq, float(sched[seq]))
                if request.arm in self.aborts.aborted:
                    self.buffer.append(self.run.aborted_row(request, self.aborts.aborted[request.arm]))
                    self._count_row(seq)
                    continue
            plan_s = float(sched[seq])
            due = plan_s * scale
            # Sleep until an absolute deadline; in slices, so a signal is seen within 0.25 s.
            deadline = self.origin + due
            delay = deadline - loop.time() - _APPROACH_S
            while delay > 0.0 and not self.stop.is_set():
                await asyncio.sleep(min(delay, _MAX_SLEEP_S))
                delay = deadline - loop.time() - _APPROACH_S
            if self.stop.is_set():
                self.handled -= 1  # not sent: a resume, or the run's abort, stores it
                return
            # The final approach: the selector sleeps in whole milliseconds rounded up, so a
            # timer set for the deadline fires up to 1 ms late. Yielding to the loop instead
            # keeps its I/O served and sends within one loop iteration of the deadline.
            while loop.time() < deadline:
                await asyncio.sleep(0)
            sent = self.clock()
            try:
                self.run.journal.sent(seq, plan_s + (sent - due))
            except Exception as exc:  # not sent: the journal could not say so
                self.errors.append(exc)
                return
            self.run.sent += 1
            self.unrecorded[seq] = plan_s + (sent - due)
            task = asyncio.create_task(self._one(seq, plan_s, due, sent))
            self.tasks[seq] = task
            task.add_done_callback(partial(self._forget, seq))

    def _forget(self, seq: int, _task: object) -> None:
        self.tasks.pop(seq, None)

    async def _one(self, seq: int, plan_s: float, due: float, sent: float) -> None:
        request = self.run.requests.at(seq, due)
        try:
            result = await self.arms[request.arm].handle(request, self.clock)
        except asyncio.CancelledError:
            self.buffer.append(self.run.interrupted_row(seq, self.unrecorded.pop(seq, plan_s + (sent - due))))
            raise
        except Exception as exc:
            # A bug, not a failed trial (those are results): stop the run; dispatch raises it
            # (not this task: a finished task's exception would be reported as never retrieved).
            self.fail(exc)
            return
        try:
            record = self.run.record(seq, plan_s, due, sent, result)
            self.buffer.append(record)
            del self.unrecorded[seq]
        except Exception as exc:  # the journal cannot be written: the same stop
            self.fail(exc)
            return
        aborted = self.aborts is not None and self.aborts.count(record.arm, record.status) is not None
        why = self.dispatch_watch.add(self.clock(), record.lateness_ms)
        if why is not None and self.run.run_abort is None:
            self.run.run_abort = why
            self.stop.set()
            aborted = True
        if aborted:
            self._write_abort_meta()
        self._count_row(seq)
        if self.bar is not None:
            self.bar.tick(request.arm)

    def _count_row(self, seq: int) -> None:
        """Count a row towards its look; decide the looks it completes (in the background)."""
        if self.looks is not None and self.looks.add(seq) and self.deciding is None:
            self.deciding = asyncio.create_task(self._decide_looks())

    def _write_abort_meta(self) -> None:
        """Queue the abort rules' stops for the store, behind the batches (the writer owns it)."""
        meta = self.run.abort_meta({} if self.aborts is None else self.aborts.aborted)
        done = self.loop.run_in_executor(None, self.writer.call, partial(self.run.store.set_meta, meta))
        self.meta_writes.append(done)

    async def _decide_looks(self) -> None:
        """Decide the looks just completed, on the writer's thread after their rows are committed
        (sends go on meanwhile); at a stop, end the sends like a signal does (what is in flight
        is stored as interrupted, after the look, and not analysed)."""
        assert self.looks is not None
        try:
            while looks := self.looks.completed():
                await self._flush()
                for look in looks:
                    decision = await self.loop.run_in_executor(
                        None, self.writer.call, partial(self.run.decide_look, look)
                    )
                    if decision.stop:
                        self.run.stop_early(decision)
                        self.stop.set()
                        return
        except Exception as exc:
            self.fail(exc)
        finally:
            # No await since the last `completed()`: a row that completes a look later spawns anew.
            self.deciding = None

    async def _flusher(self) -> None:
        # Stopped by ``closing``, never cancelled: a cancelled flush leaves its batch on an executor
        # thread on the way to the writer's queue, where the writer's close could overtake it (the
        # batch then lands after the end marker and is never written: issue 14, item 11).
        try:
            while not self.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.closing.wait(), FLUSH_EVERY_S)
                await self._flush()
        except Exception as exc:
            # The store cannot be written (full, read-only): stop sending what cannot be kept.
            self.fail(exc)

    async def _flush(self) -> None:
        if self.buffer:
            batch = self.buffer.copy()
            self.buffer.clear()
            await self.loop.run_in_executor(None, self.writer.submit, batch)
        if self.bar is not None:
            self.bar.flush()

    async def _close(
        self, pool: ClientPool, flushing: asyncio.Task[None], stopper: asyncio.Task[Any]
    ) -> None:
        """Cancel what is in flight (stored as interrupted), commit, close the writer and pool."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        # A task cancelled before its first step never ran its body, so it stored no row: under
        # load a stop can land between a send and its task's start. Every sent request without a
        # row is stored as interrupted here, so a stop never loses one.
        for seq, sent_s in sorted(self.unrecorded.items()):
            self.buffer.append(self.run.interrupted_row(seq, sent_s))
        self.unrecorded.clear()
        if self.run.run_abort is not None:
            # The run's abort rule: what was never sent is stored unsent, with the rule's reason.
            sched = self.run.schedule.scheduled_s
            for seq in self.run.pending[self.handled :]:
                request = self.run.requests.at(seq, float(sched[seq]))
                self.buffer.append(self.run.aborted_row(request, self.run.run_abort))
        stopper.cancel()
        self.closing.set()
        await asyncio.gather(flushing, stopper, return_exceptions=True)
        for outcome in await asyncio.gather(*self.meta_writes, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.errors.append(outcome)
        # Every step runs even when one fails (a full disk fails the flush and the close);
        # the first failure is raised after the others, unless another error is under way.
        for step in (self._flush, lambda: self.loop.run_in_executor(None, self.writer.close), pool.aclose):
            try:
                await step()
            except Exception as exc:
                self.errors.append(exc)
        if self.bar is not None:
            self.bar.close()
