"""The ``report`` command: a frozen plan's store in, one self-contained HTML verdict report out.

Wiring only: :func:`prereg.load_frozen_plan` (refuses an unfrozen or changed plan), the store's
trials and allocation, :func:`analysis.analyze`, then :func:`reports.render_report`; the page is
written atomically (a reader never sees half a report). The library is imported inside the
functions so that ``routetrial --help`` stays fast.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from analysis import RunMeta, TrialTable
    from prereg.frozen import FrozenPlan
    from reports import Registration

__all__ = ["COMMANDS", "build_report", "load_trials", "registration_of", "write_report"]


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


def _live_figures(meta: dict[str, str]) -> dict[str, float] | None:
    """Dispatch lateness of a live run from the store's meta (None for a simulated run)."""
    if meta.get("mode") != "live":
        return None
    out = {}
    for key, name in (("live_lateness_p50_ms", "p50_ms"), ("live_lateness_p99_ms", "p99_ms")):
        if meta.get(key):
            out[name] = float(meta[key])
    return out


def load_trials(
    frozen: FrozenPlan, store: str, deviations: tuple[str, ...] = ()
) -> tuple[TrialTable, RunMeta]:
    """The store's trials as an analysis table, and what the analysis needs to know about the run."""
    from analysis import RunMeta, TrialTable
    from experiment.store import TrialStore

    with TrialStore.open(store, frozen.canonical_hash, create=False, read_only=True) as st:
        columns = st.read_columns()
        allocation = st.allocation_counts()
        meta = st.meta()
    table = TrialTable.from_columns(columns)
    planned = {arm: sum(cases.values()) for arm, cases in allocation.items()}
    run = RunMeta(
        plan_canonical_sha256=frozen.canonical_hash,
        plan_bytes_sha256=frozen.bytes_hash,
        analysis_code_matches=frozen.analysis_code_matches,
        deviations=deviations,
        source="store",
        planned_per_arm=planned,
        allocated_per_arm_case=allocation or None,
        live=_live_figures(meta),
    )
    return table, run


def build_report(plan: Path, store: str, *, deviation: str | None = None) -> str:
    """Analyse a frozen plan's store and render the report (HTML text).

    A change of the analysis code since freezing is refused unless ``deviation`` gives a reason;
    the reason is then appended to the plan's hash-chained log and shown in the report.
    """
    from analysis import analyze
    from experiment.design import load_design_results
    from prereg.errors import PlanChangedError
    from prereg.frozen import load_frozen_plan
    from prereg.log import append_log
    from reports import render_report

    frozen = load_frozen_plan(plan)
    deviations: tuple[str, ...] = ()
    if not frozen.analysis_code_matches:
        if not deviation:
            raise PlanChangedError(
                f"{plan}: the analysis code differs from the code frozen with the plan; report on it "
                "anyway with --deviation REASON (the reason is logged), or amend the plan"
            )
        append_log(
            frozen.path,
            "deviation",
            {"command": "report", "reason": deviation, "what": "analysis code differs from the frozen hash"},
        )
        deviations = (deviation,)
    table, meta = load_trials(frozen, store, deviations)
    results = analyze(frozen.plan, table, meta)
    design = load_design_results(frozen.path, plan_hash=frozen.canonical_hash)
    return render_report(results, frozen.plan, registration_of(frozen), design, corpus=frozen.corpus)


def write_report(plan: Path, store: str, out: Path, *, deviation: str | None = None) -> Path:
    """Build the report and write it to ``out`` atomically; return the path written."""
    from prereg.errors import InputError

    html = build_report(plan, store, deviation=deviation)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(html)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"expected a writable location, found {exc.strerror}", file=str(out)) from None
    return out


@click.command("report")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--store",
    "store",
    metavar="URL",
    help="Store path or SQLAlchemy URL (default: <plan dir>/<plan stem>.duckdb).",
)
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
    from experiment.cmd_run import default_store

    path = write_report(plan, store or default_store(plan), out, deviation=deviation)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:,.0f} KiB, self-contained: open it in any browser)")


COMMANDS: list[click.Command] = [report_command]
