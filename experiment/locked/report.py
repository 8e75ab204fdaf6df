"""The verdict report of a locked analysis: the registration facts, the design figures, the page.

Library code behind ``routetrial report`` and ``routetrial demo``: :func:`render_locked` turns a
:class:`~experiment.locked.analysis.LockedAnalysis` into the HTML text of
:func:`reports.render_report`, with the lock record, the plan's hash-chained log and the design
results stored beside the plan (when they belong to this version of it).
"""

from __future__ import annotations

from pathlib import Path

from experiment.design import load_design_results
from experiment.locked.analysis import LockedAnalysis, run_locked_analysis
from prereg.frozen import FrozenPlan
from prereg.log import read_log
from reports import LogEvent, Registration, render_report

__all__ = ["build_report", "registration_of", "render_locked"]


def registration_of(frozen: FrozenPlan) -> Registration:
    """The report's registration facts: the lock record and the plan's hash-chained log."""
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
    )


def render_locked(locked: LockedAnalysis) -> str:
    """The report of a locked analysis (HTML text), with the design figures stored beside the plan."""
    frozen = locked.frozen
    design = load_design_results(frozen.path, plan_hash=frozen.canonical_hash)
    return render_report(locked.results, frozen.plan, registration_of(frozen), design, corpus=frozen.corpus)


def build_report(plan: Path, store: str, *, deviation: str | None = None) -> str:
    """Analyse a frozen plan's store and render the report (HTML text).

    A change of the analysis code since freezing is refused unless ``deviation`` gives a reason;
    the reason is then appended to the plan's hash-chained log and shown in the report.
    """
    return render_locked(run_locked_analysis(plan, store=store, deviation=deviation, command="report"))
