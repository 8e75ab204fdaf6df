"""The ``analyze`` command: the frozen plan's locked analysis, as a verdict summary and a results JSON.

Wiring only: :func:`experiment.locked.analysis.run_locked_analysis`, then
:func:`analysis.results_to_json` (the versioned schema of docs/results-schema.md), written
atomically. Trials come from the plan's store, or from a Parquet or CSV file with the documented
columns (``--trials``) for data collected elsewhere; the results say which.
"""

from __future__ import annotations

from pathlib import Path

import click

from experiment.cli.options import PLAN_PATH, default_store, store_option

__all__ = ["COMMANDS"]


@click.command("analyze")
@click.argument("plan", type=PLAN_PATH)
@store_option
@click.option(
    "--trials",
    "trials_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Analyse a Parquet or CSV trial file (documented columns) instead of the store.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the results document (docs/results-schema.md) here; '-' for stdout.",
)
@click.option(
    "--deviation",
    metavar="REASON",
    default=None,
    help="Record a deviation from the plan (required when the analysis code differs "
    "from the frozen code); the reason is logged and marks the results.",
)
def analyze_command(
    plan: Path, store: str | None, trials_file: Path | None, json_out: Path | None, deviation: str | None
) -> None:
    """Run the frozen PLAN's locked analysis: gate verdicts, and the results as JSON."""
    from analysis import results_to_json
    from experiment.cli.steps import summary_lines
    from experiment.locked import run_locked_analysis
    from prereg.atomic_write import write_text_atomically
    from prereg.errors import InputError

    if store is not None and trials_file is not None:
        raise InputError("expected either --store or --trials, found both", field="analyze")
    if json_out is not None and str(json_out) != "-":
        from experiment.cli.output_guard import refuse_study_files

        refuse_study_files(
            json_out,
            option="--json",
            plan=plan,
            store=store or default_store(plan),
            inputs=[("trial file", trials_file)],
        )
    locked = run_locked_analysis(
        plan,
        store=store or default_store(plan),
        trials_file=trials_file,
        deviation=deviation,
        command="analyze",
    )
    text = results_to_json(locked.results)
    if json_out is not None and str(json_out) == "-":
        click.echo(text, nl=False)
        return
    for line in summary_lines(locked.results):
        click.echo(line)
    if json_out is not None:
        written = write_text_atomically(json_out, text)
        click.echo(f"wrote {written} (results schema v{locked.results.schema_version})")
    if trials_file is None:  # the report reads a store; a trial file has none
        click.echo(f"next: routetrial report {plan}" + (f" --store {store}" if store else ""))


COMMANDS: list[click.Command] = [analyze_command]
