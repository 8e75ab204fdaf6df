"""Campaign commands: ``run``, ``status`` and ``export``.

Thin wiring to :mod:`experiment.runner` and :mod:`experiment.store`; the library is imported inside
each command so that ``routetrial --help`` stays fast. User errors are
:class:`~prereg.errors.RoutetrialError` and ``experiment.cli`` prints them as one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["COMMANDS", "default_store"]


def default_store(plan: Path) -> str:
    """The default store of a plan: ``<plan dir>/<plan stem>.duckdb``."""
    return str(plan.with_suffix(".duckdb"))


@click.command("run")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--store", "store", metavar="URL",
              help="Store path or SQLAlchemy URL (default: <plan dir>/<plan stem>.duckdb).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Trials per store transaction (default 50,000, or $ROUTETRIAL_BATCH_SIZE).")
def run_command(plan: Path, store: str | None, batch_size: int | None) -> None:
    """Run the simulated campaign of a frozen PLAN, or resume it where a killed run stopped."""
    from experiment.runner import run_simulated
    from prereg.frozen import load_frozen_plan

    frozen = load_frozen_plan(plan)
    target = store or default_store(plan)
    summary = run_simulated(frozen, target, progress=sys.stderr.isatty(), batch_size=batch_size)
    done, planned = sum(summary.done.values()), sum(summary.planned.values())
    resumed = f", {summary.resumed:,} were already stored" if summary.resumed else ""
    click.echo(
        f"stored {done:,} of {planned:,} trials in {target} "
        f"({summary.written:,} written in {summary.elapsed_s:.1f} s{resumed}; "
        f"{summary.virtual_s / 3600:.2f} h of virtual traffic)"
    )
    fails = ", ".join(f"{k} {v:,}" for k, v in summary.failures.items()) or "none"
    click.echo(f"failed trials (data, not errors): {fails}")
    click.echo(f"next: routetrial analyze {plan} --store {target}")


@click.command("status")
@click.argument("store", metavar="STORE")
def status_command(store: str) -> None:
    """Show a campaign's progress: done/planned per arm, failures, elapsed, expected finish.

    Works from another terminal while the campaign runs (it then reads the progress file the
    runner keeps beside the store).
    """
    from experiment.progress import format_status, pid_alive, read_progress
    from experiment.store import TrialStore, progress_path, store_url
    from prereg.errors import StoreBusyError, StoreError

    url = store_url(store)
    ppath = progress_path(url)
    last = read_progress(ppath) if ppath is not None else None
    try:
        opened = TrialStore.open(url, None, create=False, read_only=True)
    except StoreBusyError:
        if last is None:
            raise StoreError(f"{store}: store is held by another process and has no progress file") from None
        alive = last.state == "running" and pid_alive(last.pid)
        headline = f"running (pid {last.pid})" if alive else f"busy; last progress {last.state} at {last.updated_at_utc}"
        click.echo(format_status(store, last.planned, last.done, last.failures, headline=headline,
                                 elapsed_s=last.elapsed_s,
                                 expected_finish_utc=last.expected_finish_utc if alive else None))
        return
    with opened:
        planned, done, failures = opened.planned_per_arm(), opened.done_per_arm(), opened.failures_by_status()
    complete = bool(planned) and all(done.get(a, 0) == n for a, n in planned.items())
    if complete:
        headline = "complete"
    elif last is not None and last.state == "failed":
        headline = f"incomplete: the last run failed ({last.error}); run the same command again to resume"
    else:
        headline = "incomplete: not running; run the same `routetrial run` command again to resume"
    click.echo(format_status(store, planned, done, failures, headline=headline,
                             elapsed_s=last.elapsed_s if last is not None else None))


@click.command("export")
@click.argument("store", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), required=True,
              help="Output format.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Output file (default: the store's path with .parquet or .csv).")
def export_command(store: str, fmt: str, out: Path | None) -> None:
    """Export a store's trial table (ordered by seq, documented columns) to Parquet or CSV."""
    from experiment.store import TrialStore, store_path, store_url

    url = store_url(store)
    if out is None:
        path = store_path(url)
        out = (path if path is not None else Path("trials")).with_suffix(f".{fmt}")
    with TrialStore.open(url, None, create=False, read_only=True) as opened:
        written = opened.export(out, "parquet" if fmt == "parquet" else "csv")
    click.echo(f"wrote {written}")


COMMANDS: list[click.Command] = [run_command, status_command, export_command]
