"""Campaign commands: ``run``, ``status`` and ``export``.

Thin wiring to :func:`experiment.cli.steps.run_step` (the simulated or live runner of
:mod:`experiment.campaign`) and :mod:`experiment.store`; the library is imported inside each
command so that ``routetrial --help`` stays fast. User errors are
:class:`~prereg.errors.RoutetrialError` and ``experiment.cli`` prints them as one line.

``run`` stopped by SIGINT, SIGTERM or SIGHUP before the campaign is complete says so in one line on
stderr and exits with ``128 + signal`` (130, 143, 129); a signal before the store is opened stops
at once, with the same status.
"""

from __future__ import annotations

from pathlib import Path

import click

from experiment.cli.options import PLAN_PATH, default_store, store_option

__all__ = ["COMMANDS"]


@click.command("run")
@click.argument("plan", type=PLAN_PATH)
@store_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Trials per store transaction (default 50,000, or $ROUTETRIAL_BATCH_SIZE).",
)
def run_command(plan: Path, store: str | None, batch_size: int | None) -> None:
    """Run the campaign of a frozen PLAN, or resume it where a killed run stopped.

    A plan whose backends are all simulated runs in virtual time (a night of traffic in seconds);
    a plan with ``kind: openai`` backends runs live, in wall-clock time, against those servers.
    """
    from experiment.stop_signals import Interrupted, StopSignals

    try:
        with StopSignals(deferred=False):
            from experiment.cli.steps import run_step
            from prereg.frozen import load_frozen_plan

            frozen = load_frozen_plan(plan)
            target = store or default_store(plan)
            _refuse_study_file_as_store(plan, target)
            run_step(frozen, target, batch_size)
    except Interrupted as exc:
        if not exc.reported:
            click.echo(
                f"routetrial: interrupted by {exc.signal_name} before the campaign started; "
                "nothing was written",
                err=True,
            )
        raise
    click.echo(f"next: routetrial analyze {plan}" + (f" --store {store}" if store else ""))


@click.command("status")
@click.argument("store", metavar="STORE")
def status_command(store: str) -> None:
    """Show a campaign's progress: done/planned per arm, failures, elapsed, expected finish.

    Works from another terminal while the campaign runs (it then reads the progress file the
    runner keeps beside the store).
    """
    from experiment.campaign import format_status, pid_alive, read_progress
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
        headline = (
            f"running (pid {last.pid})"
            if alive
            else f"busy; last progress {last.state} at {last.updated_at_utc}"
        )
        click.echo(
            format_status(
                store,
                last.planned,
                last.done,
                last.failures,
                headline=headline,
                elapsed_s=last.elapsed_s,
                expected_finish_utc=last.expected_finish_utc if alive else None,
            )
        )
        return
    with opened:
        planned, done, failures = opened.planned_per_arm(), opened.done_per_arm(), opened.failures_by_status()
        early = opened.meta().get("stop_reason")
    complete = bool(planned) and all(done.get(a, 0) == n for a, n in planned.items())
    if complete:
        headline = "complete"
    elif early:
        headline = f"complete: {early} (pre-registered early stop)"
    elif last is not None and last.state == "failed":
        headline = f"incomplete: the last run failed ({last.error}); run the same command again to resume"
    elif last is not None and last.state == "interrupted":
        headline = f"incomplete: the last run was interrupted ({last.error})"
    else:
        headline = "incomplete: not running; run the same `routetrial run` command again to resume"
    click.echo(
        format_status(
            store,
            planned,
            done,
            failures,
            headline=headline,
            elapsed_s=last.elapsed_s if last is not None else None,
        )
    )


@click.command("export")
@click.argument("store", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), required=True, help="Output format.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Output file (default: the store's path with .parquet or .csv).",
)
def export_command(store: str, fmt: str, out: Path | None) -> None:
    """Export a store's trial table (ordered by seq, documented columns) to Parquet or CSV."""
    from experiment.cli.output_guard import refuse_study_files
    from experiment.store import TrialStore, store_path, store_url

    url = store_url(store)
    if out is None:
        path = store_path(url)
        out = (path if path is not None else Path("trials")).with_suffix(f".{fmt}")
    refuse_study_files(out, option="--out", store=store)
    with TrialStore.open(url, None, create=False, read_only=True) as opened:
        written = opened.export(out, "parquet" if fmt == "parquet" else "csv")
    click.echo(f"wrote {written}")


def _refuse_study_file_as_store(plan: Path, target: str) -> None:
    """A store is written: it must not be the plan, its lock, log, corpus or trace."""
    from experiment.cli.output_guard import refuse_study_files
    from experiment.store import store_path, store_url

    path = store_path(store_url(target))
    if path is not None:
        refuse_study_files(path, option="--store", plan=plan)


COMMANDS: list[click.Command] = [run_command, status_command, export_command]
