"""The verdict report of a locked analysis: the registration facts, the design figures, the page.

Library code behind ``routetrial report`` and ``routetrial demo``: :func:`render_locked` turns a
:class:`~experiment.locked.analysis.LockedAnalysis` into the HTML text of
:func:`reports.render_report`, with the lock record, the plan's hash-chained log and the design
results stored beside the plan (when they belong to this version of it).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiment.design import load_design_results
from experiment.locked.analysis import LockedAnalysis, run_locked_analysis
from experiment.store import TrialStore
from prereg.frozen import FrozenPlan
from prereg.log import read_log
from reports import LogEvent, ManagedServerFact, Registration, render_report

__all__ = ["build_report", "managed_servers_of", "registration_of", "render_locked"]


def registration_of(frozen: FrozenPlan, servers: Sequence[ManagedServerFact] = ()) -> Registration:
    """The report's registration facts: the lock record, the plan's hash-chained log, the servers."""
    lock = frozen.lock
    log = tuple(LogEvent(e.seq, e.kind, e.at_utc, dict(e.detail), e.hash) for e in read_log(frozen.path))
    return Registration(
        plan_path=str(frozen.path),
        bytes_sha256=lock.bytes_sha256,
        canonical_sha256=lock.canonical_sha256,
        corpus_sha256=lock.corpus_sha256,
        frozen_at_utc=lock.frozen_at_utc,
        git_commit=lock.git_commit,
        routetrial_version=lock.routetrial_version,
        analysis_code_sha256=lock.analysis_code_sha256,
        analysis_code_matches=frozen.analysis_code_matches,
        parent_sha256=lock.parent_sha256,
        log=log,
        servers=tuple(servers),
    )


def managed_servers_of(frozen: FrozenPlan, store: str) -> tuple[ManagedServerFact, ...]:
    """What the live run recorded of each managed server (store meta ``live_servers``), in plan order."""
    if not frozen.plan.servers:
        return ()
    with TrialStore.open(store, frozen.canonical_hash, create=False, read_only=True) as st:
        text = st.meta().get("live_servers")
    try:
        recorded: dict[str, Any] = json.loads(text) if text else {}
    except ValueError:
        recorded = {}
    facts = []
    for server_id in frozen.plan.servers:
        rec = recorded.get(server_id)
        if not isinstance(rec, dict):
            continue  # never started (a run stopped before it): nothing to show
        facts.append(
            ManagedServerFact(
                id=server_id,
                command=shlex.join(str(a) for a in rec.get("command", [])),
                version=rec.get("version"),
                model_file=rec.get("model_file"),
                model_sha256=rec.get("model_sha256"),
                startup_s=rec.get("startup_s"),
            )
        )
    return tuple(facts)


def render_locked(locked: LockedAnalysis) -> str:
    """The report of a locked analysis (HTML text), with the design figures stored beside the plan."""
    frozen = locked.frozen
    design = load_design_results(frozen.path, plan_hash=frozen.canonical_hash)
    servers = managed_servers_of(frozen, locked.store) if locked.store is not None else ()
    return render_report(
        locked.results, frozen.plan, registration_of(frozen, servers), design, corpus=frozen.corpus
    )


def build_report(plan: Path, store: str, *, deviation: str | None = None) -> str:
    """Analyse a frozen plan's store and render the report (HTML text).

    A change of the analysis code since freezing is refused unless ``deviation`` gives a reason;
    the reason is then appended to the plan's hash-chained log and shown in the report.
    """
    return render_locked(run_locked_analysis(plan, store=store, deviation=deviation, command="report"))
