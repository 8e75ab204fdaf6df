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
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from arms import ClientPool, build_live_arms
from experiment.campaign.dispatch import dispatch
from experiment.campaign.journal import journal_path
from experiment.campaign.live_run import LiveRun, lateness_summary
from experiment.campaign.managed_servers import ManagedServers
from experiment.campaign.plan_modules import plan_modules
from experiment.campaign.progress import now_utc
from experiment.campaign.summary import LiveRunSummary
from experiment.stop_signals import StopSignals
from experiment.store import TrialStore, store_url
from prereg.frozen import FrozenPlan
from prereg.records import Case
from prereg.schema import Plan
from traffic import build_schedule

__all__ = ["is_live_plan", "lateness_summary", "run_live", "run_live_plan"]


def is_live_plan(plan: Plan) -> bool:
    """Whether the plan needs the wall clock (:attr:`prereg.schema.Plan.is_live`)."""
    return plan.is_live


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
        plan_path=frozen.path,
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
    plan_path: Path | None = None,
) -> LiveRunSummary:
    """The live campaign of ``plan`` over ``cases``; see the module docstring.

    A group-sequential plan is decided at each look as its rows are stored (logged in
    ``plan_path``'s log) and stops at the first look that decides every gate.

    The schedule and the arms (API keys included) are checked before the store is opened, so a
    misconfigured plan leaves no store behind; so are the plan's managed servers started and
    found ready (:mod:`experiment.campaign.managed_servers`), and stopped when the run ends.
    """
    url = store_url(url)
    schedule = build_schedule(plan, [c.id for c in cases], plan_hash, base_dir)
    with plan_modules(base_dir):
        build_live_arms(plan, cases, ClientPool(), plan_dir=base_dir)  # fail early: backends, keys, graders
    started, t0 = now_utc(), time.perf_counter()
    jpath = journal_path(url, plan_hash)
    with (
        plan_modules(base_dir),
        StopSignals() as stops,
        ManagedServers(plan, base_dir, url, plan_hash, stops) as servers,
        TrialStore.open(url, plan_hash, create=True) as store,
    ):
        meta: dict[str, str] = {"mode": "live", **servers.meta(store.meta())}
        if plan_bytes_hash is not None:
            meta["plan_bytes_sha256"] = plan_bytes_hash
        store.set_meta(meta)
        store.write_allocation(schedule)
        run = LiveRun(
            plan, cases, plan_hash, schedule, store, jpath, started=started, t0=t0, plan_path=plan_path
        )
        try:
            run.reconcile()
            run.decide_stored_looks()
            run.reporter.report("running")
            stopped = stops.signum is not None
            if run.pending and not stopped and run.early is None:
                stopped = asyncio.run(
                    dispatch(run, stops, time_scale=time_scale, progress=progress, plan_dir=base_dir)
                )
            summary = replace(run.finish(stopped, stops.signum, lateness_summary), servers=servers.started)
        except BaseException as exc:
            run.reporter.error(exc)
            raise
        finally:
            run.journal.close()
        return summary
