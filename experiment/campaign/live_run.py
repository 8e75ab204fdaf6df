"""One segment of a live run: what is stored and pending, each trial's row, and the summary.

:class:`LiveRun` holds the state that :func:`experiment.campaign.dispatch.dispatch` (the event
loop) and :func:`experiment.campaign.live.run_live_plan` share: the schedule and its requests, the
store's counts (:class:`~experiment.campaign.tally.Tally`), the journal and the progress file.
Times it stores are on the plan's timeline (see :mod:`experiment.campaign.live`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from arms import ArmOutcome, ArmRequest, LiveArmOutcome, to_trial_record
from experiment.campaign.abort import ABORTED_ARMS_KEY, RUN_ABORT_KEY
from experiment.campaign.journal import Journal, read_in_flight
from experiment.campaign.looks import LookDecision, LookWatcher, decide_look
from experiment.campaign.reporter import ProgressReporter
from experiment.campaign.requests import ScheduleRequests
from experiment.campaign.rows import aborted_row, interrupted_record
from experiment.campaign.summary import LiveRunSummary
from experiment.campaign.tally import Tally, planned_per_arm
from experiment.stop_signals import signal_name
from experiment.store import TrialStore, progress_path
from prereg.records import Case, TrialRecord
from prereg.schema import Plan
from traffic import Schedule

__all__ = ["LiveRun", "lateness_summary"]

#: p50 and p99 of the stored lateness column (:func:`lateness_summary`).
LatenessSummary = Callable[[np.ndarray], tuple[float | None, float | None]]


def lateness_summary(lateness_ms: Sequence[float] | np.ndarray) -> tuple[float | None, float | None]:
    """p50 and p99 of dispatch lateness (ms); None when nothing was sent."""
    arr = np.asarray(lateness_ms, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return None, None
    p50, p99 = np.percentile(arr, [50.0, 99.0]).tolist()
    return float(p50), float(p99)


class LiveRun:
    """State of one run segment: the store's counts, the pending schedule, the journal."""

    def __init__(
        self,
        plan: Plan,
        cases: Sequence[Case],
        plan_hash: str,
        schedule: Schedule,
        store: TrialStore,
        journal_file: Path,
        *,
        started: datetime,
        t0: float,
        plan_path: Path | None = None,
    ) -> None:
        self.plan, self.plan_hash, self.schedule, self.store = plan, plan_hash, schedule, store
        self.t0 = t0
        self.requests = ScheduleRequests(schedule, cases)
        self.routers = set(plan.decision_arms)
        self.tally = Tally(planned_per_arm(schedule), store.done_per_arm(), store.failures_by_status())
        self.stored = {int(s) for s in store.existing_seqs().tolist()}
        self.resumed = len(self.stored)
        self.sent = 0
        #: Servers whose warm-up requests all failed (set by the dispatcher before the clock).
        self.warm_up_failures: dict[str, str] = {}
        self.reporter = ProgressReporter(
            progress_path(store.url), store=store.where, plan_hash=plan_hash, tally=self.tally,
            started=started, t0=t0,
        )  # fmt: skip
        self.journal_path = journal_file
        self.journal = Journal(journal_file)
        self.pending: list[int] = []
        self.cases = cases
        self.plan_path = plan_path
        #: Why the run's abort rule stopped it (this segment or an earlier one), else None.
        self.run_abort: str | None = store.meta().get(RUN_ABORT_KEY) or None
        #: Why the stopping rule ended the campaign at a look (this segment or an earlier one).
        self.early: str | None = store.meta().get("stop_reason") or None

    @property
    def planned(self) -> dict[str, int]:
        """Requests allocated to each arm."""
        return self.tally.planned

    # --- interim looks ------------------------------------------------------------------------

    def look_watcher(self) -> LookWatcher | None:
        """A group-sequential plan's look counter over what is stored (None at a fixed horizon)."""
        if self.plan.analysis.stopping.kind == "fixed_horizon":
            return None
        return LookWatcher(self.plan, len(self.cases), self.stored)

    def decide_look(self, look: int) -> LookDecision:
        """The locked gates at ``look`` from the store (run on the writer's thread); the look's
        validity comes from its own trials' lateness (:func:`analysis` judges each look so)."""
        decision = decide_look(self.plan, self.store, self.plan_hash, look, self.plan_path)
        if decision.stop:
            # Here, on the thread that owns the store's connection: a re-run sends nothing more.
            reason = decision.result.reason
            self.store.set_meta({"stopped_at_look": str(decision.result.stopped_at), "stop_reason": reason})
        return decision

    def decide_stored_looks(self) -> None:
        """Before a resumed segment sends anything: decide the looks the store already completes,
        so a run killed between its last row of a look and the stop sends nothing more."""
        watcher = self.look_watcher()
        if watcher is None or self.early is not None:
            return
        for look in watcher.completed():
            decision = self.decide_look(look)
            if decision.stop:
                self.stop_early(decision)
                return

    def aborted_row(self, request: ArmRequest, reason: str) -> TrialRecord:
        """The row of a request an abort rule kept from being sent."""
        return aborted_row(self.plan_hash, request, reason, router=request.arm in self.routers)

    def abort_meta(self, aborted: Mapping[str, str]) -> dict[str, str]:
        """The store meta recording the abort rules' stops (the arms in ``aborted``, and the run's):
        a resume keeps them. Written by the caller on the store's own thread."""
        meta = {ABORTED_ARMS_KEY: json.dumps(dict(aborted), sort_keys=True)} if aborted else {}
        if self.run_abort is not None:
            meta[RUN_ABORT_KEY] = self.run_abort
        return meta

    def stop_early(self, decision: LookDecision) -> None:
        """Take the stop (:meth:`decide_look` stored it)."""
        self.early = decision.result.reason

    # --- records ------------------------------------------------------------------------------

    def interrupted_row(self, seq: int, sent_s: float | None) -> TrialRecord:
        """The row of a request that was sent (or not) but never answered."""
        r = self.requests.at(seq, float(self.schedule.scheduled_s[seq]))
        return interrupted_record(
            self.plan_hash, seq, r.trial_id, r.case, r.arm, r.replay, r.scheduled_s, sent_s,
            router=r.arm in self.routers,
        )  # fmt: skip

    def on_commit(self, batch: Sequence[TrialRecord]) -> None:
        """Count a committed batch (on the writer thread) and update the progress file."""
        self.tally.add(batch)
        self.reporter.report("running")

    def reconcile(self) -> None:
        """Store requests that were in flight at a kill as interrupted; list what is pending."""
        lost = [f for seq, f in sorted(read_in_flight(self.journal_path).items()) if seq not in self.stored]
        if lost:
            rows = [self.interrupted_row(f.seq, f.sent_s) for f in lost]
            self.store.write_trials(rows)
            self.on_commit(rows)
            self.stored.update(f.seq for f in lost)
        self.pending = [i for i in range(len(self.schedule)) if i not in self.stored]

    def record(self, seq: int, plan_s: float, due: float, sent: float, result: ArmOutcome) -> TrialRecord:
        """The trial row, times moved from the scaled wall timeline onto the plan's timeline."""

        def on_plan(t: float | None) -> float | None:
            return None if t is None else plan_s + (t - due)

        end = result.end_s
        # Lateness is measured to the moment the request was written to the wire: a request
        # that waited for a connection was late by that wait, however punctual the dispatcher.
        wire = result.wire_s
        fixed = dataclasses.replace(
            result,
            sent_s=on_plan(sent),
            end_s=on_plan(end),
            wire_s=on_plan(wire),
            lateness_ms=((sent if wire is None else wire) - due) * 1000.0,
        )
        if isinstance(result, LiveArmOutcome) and result.timings is not None:
            tl = result.timings
            self.journal.done(
                seq,
                {
                    "scheduled_s": plan_s,
                    "sent_s": on_plan(sent),
                    "wire_s": on_plan(wire),
                    "first_byte_s": on_plan(tl.first_byte_s),
                    "first_token_s": on_plan(tl.first_token_s),
                    "routing_done_s": on_plan(tl.routing_done_s),
                    "downstream_first_token_s": on_plan(tl.downstream_first_token_s),
                    "done_s": on_plan(tl.done_s),
                },
            )
        trial = to_trial_record(self.plan_hash, self.requests.at(seq, plan_s), fixed)
        if trial.e2e_latency_ms is not None and end is not None:
            # The final answer minus the scheduled time, whatever happened in between: the
            # control arm's call may start after the dispatcher's send (a busy event loop), and
            # the sum of the routing and downstream latencies would miss that wait.
            trial = dataclasses.replace(trial, e2e_latency_ms=(end - due) * 1000.0)
        return trial

    # --- the end ------------------------------------------------------------------------------

    def finish(self, stopped: bool, signum: int | None, lateness: LatenessSummary) -> LiveRunSummary:
        """Store the run's lateness and validity, write the final progress state, summarise."""
        cols: Any = self.store.read_columns()
        p50, p99 = lateness(np.ma.filled(np.ma.asarray(cols["lateness_ms"], dtype=float), np.nan))
        _, wait_p99 = lateness(np.ma.filled(np.ma.asarray(cols["connect_wait_ms"], dtype=float), np.nan))
        unsent = int(np.count_nonzero(np.asarray(cols["status"]) == "not_sent_in_time"))
        bound = self.plan.traffic.max_lateness_p99_ms
        # A request that never reached the wire within its timeout is the open loop broken
        # outright, however few: its lateness is unknown and at least the timeout.
        valid = (p99 is None or p99 <= bound) and unsent == 0
        self.store.set_meta(
            {
                "live_lateness_p50_ms": "" if p50 is None else f"{p50:.6f}",
                "live_lateness_p99_ms": "" if p99 is None else f"{p99:.6f}",
                "live_max_lateness_p99_ms": f"{bound:g}",
                "live_connect_wait_p99_ms": "" if wait_p99 is None else f"{wait_p99:.6f}",
                "live_not_sent_in_time": str(unsent),
                "live_warm_up_failures": json.dumps(self.warm_up_failures, sort_keys=True),
                "live_valid": "true" if valid else "false",
            }
        )
        complete = self.tally.complete
        stopped_by = signum if stopped and not complete and self.early is None else None
        if self.early is not None:
            self.reporter.report("stopped", final=True, stopped_early=self.early)
        elif stopped_by is not None:
            self.reporter.report(
                "interrupted",
                f"stopped by {signal_name(stopped_by)}; run the same command again to resume",
                final=True,
            )
        elif stopped and not complete:
            self.reporter.report("failed", "stopped; run the same command again to resume", final=True)
        elif not complete:
            # Never "finished" with a scheduled trial missing (issue 14, item 11): say so, and the
            # command exits non-zero; running it again stores what is missing.
            missing = sum(self.planned.values()) - sum(self.tally.snapshot().done.values())
            self.reporter.report(
                "failed",
                f"{missing} scheduled trials have no row; run the same command again to resume",
                final=True,
            )
        else:
            self.reporter.report("finished")
        counts = self.tally.snapshot()
        return LiveRunSummary(
            store_url=self.store.url,
            plan_hash=self.plan_hash,
            planned=dict(self.planned),
            done=counts.done,
            failures=counts.failures,
            resumed=self.resumed,
            written=counts.written,
            interrupted=counts.interrupted,
            sent=self.sent,
            lateness_p50_ms=p50,
            lateness_p99_ms=p99,
            max_lateness_p99_ms=bound,
            valid=valid,
            connect_wait_p99_ms=wait_p99,
            not_sent_in_time=unsent,
            warm_up_failures=dict(self.warm_up_failures),
            stopped=stopped,
            elapsed_s=time.perf_counter() - self.t0,
            progress_file=self.reporter.path,
            journal_file=self.journal_path,
            interrupted_by=stopped_by,
            stopped_early=self.early,
        )
