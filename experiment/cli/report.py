"""The ``report`` command: a frozen plan's store in, one self-contained HTML verdict report out.

Wiring only: :func:`experiment.locked.analysis.run_locked_analysis` (the frozen plan, the store's
trials and allocation, :func:`analysis.analyze`), then :func:`reports.render_report`; the page is
written atomically (a reader never sees half a report). The library is imported inside the
functions so that ``routetrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from experiment.cli.run import store_option

if TYPE_CHECKING:
    from experiment.locked.analysis import LockedAnalysis
    from prereg.frozen import FrozenPlan
    from reports import Registration

__all__ = ["COMMANDS", "build_report", "registration_of", "render_locked", "write_report"]


def registration_of(frozen: FrozenPlan) -> Registration:
    """The report's registration facts: the lock record and the plan's hash-chained log."""
    from prereg.log import read_log
    from reports import LogEvent, Registration

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
    from experiment.design.diagnosis import load_design_results
    from reports import render_report

    frozen = locked.frozen
    design = load_design_results(frozen.path, plan_hash=frozen.canonical_hash)
    return render_report(locked.results, frozen.plan, registration_of(frozen), design, corpus=frozen.corpus)


def build_report(plan: Path, store: str, *, deviation: str | None = None) -> str:
    """Analyse a frozen plan's store and render the report (HTML text).

    A change of the analysis code since freezing is refused unless ``deviation`` gives a reason;
    the reason is then appended to the plan's hash-chained log and shown in the report.
    """
    from experiment.locked.analysis import run_locked_analysis

    return render_locked(run_locked_analysis(plan, store=store, deviation=deviation, command="report"))


def write_report(plan: Path, store: str, out: Path, *, deviation: str | None = None) -> Path:
    """Build the report and write it to ``out`` atomically; return the path written."""
    from experiment.cli.output_guard import refuse_study_files
    from prereg.atomic_write import write_text_atomically

    refuse_study_files(out, option="--out", plan=plan, store=store)
    return write_text_atomically(out, build_report(plan, store, deviation=deviation))


@click.command("report")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@store_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML report.",
)
@click.option(
    "--deviation",
    metavar="REASON",
    default=None,
    help="Accept analysis code that differs from the frozen code; the reason is logged.",
)
def report_command(plan: Path, store: str | None, out: Path, deviation: str | None) -> None:
    """Write the CONSORT-style HTML verdict report of a frozen PLAN's campaign."""
    from experiment.cli.run import default_store

    path = write_report(plan, store or default_store(plan), out, deviation=deviation)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:,.0f} KiB, self-contained: open it in any browser)")


COMMANDS: list[click.Command] = [report_command]
