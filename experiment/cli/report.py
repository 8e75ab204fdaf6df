"""The ``report`` command: a frozen plan's store in, one self-contained HTML verdict report out.

Wiring only: :func:`experiment.locked.build_report` (the locked analysis, then
:func:`reports.render_report`); the page is written atomically (a reader never sees half a report)
and never over a file of the study. The library is imported inside the function so that
``routetrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from experiment.cli.options import PLAN_PATH, default_store, store_option

__all__ = ["COMMANDS"]


@click.command("report")
@click.argument("plan", type=PLAN_PATH)
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
    from experiment.cli.output_guard import refuse_study_files
    from experiment.locked import build_report
    from prereg.atomic_write import write_text_atomically

    target = store or default_store(plan)
    refuse_study_files(out, option="--out", plan=plan, store=target)
    path = write_text_atomically(out, build_report(plan, target, deviation=deviation))
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:,.0f} KiB, self-contained: open it in any browser)")


COMMANDS: list[click.Command] = [report_command]
