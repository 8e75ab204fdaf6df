"""The ``demo`` command: the whole life of a study on the embedded defaults, ending in an HTML report.

It is the README's first command, so it must work on a fresh machine with nothing but the package:
the starter plan (a simulated replication of Study 2, ``shared/STUDY.md``) and its shipped corpus
are written into a folder, checked, frozen and verified; the design is diagnosed by simulation; the
campaign runs in virtual time into the embedded DuckDB store; the locked analysis decides the
gates; the verdict report is written. Each step is the same library call its own command makes.

Running it again on the same folder resumes rather than starts over: an existing plan is reused
(and must still verify), stored trials are kept, and the report is rewritten.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["COMMANDS"]


def _step(number: int, text: str) -> None:
    click.secho(f"[{number}/6] {text}", bold=True)


@click.command("demo")
@click.argument("folder", required=False, default="demo", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--design-sims",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Simulations per world for the design diagnosis (0 skips it).",
)
def demo_command(folder: Path, design_sims: int) -> None:
    """Run a simulated replication of Study 2 end to end in FOLDER (default: ./demo).

    init -> check -> freeze -> verify -> design -> run -> analyze -> report. Safe to run again:
    it reuses the folder's frozen plan and resumes its store.
    """
    from experiment.cli.options import default_store
    from experiment.cli.steps import (
        check_step,
        design_step,
        freeze_step,
        run_step,
        summary_lines,
        verify_step,
    )
    from experiment.design import DesignSettings, EngineSettings
    from experiment.locked import render_locked, run_locked_analysis
    from prereg.starter import init_plan
    from prereg.study_files import lock_path, log_path

    started = time.perf_counter()
    plan = folder / "plan.yaml"
    _step(1, f"pre-registration in {folder}/")
    if plan.exists():
        click.echo(f"reusing {plan} (delete {folder}/ to start afresh)")
    else:
        plan, corpus = init_plan(folder)
        click.echo(f"wrote {plan} and {corpus} (the starter plan: a simulated replication of Study 2)")
    check_step(plan)
    from experiment.cli.output_guard import refuse_study_files

    for output in (folder / "results.json", folder / "report.html"):
        refuse_study_files(output, option="demo", plan=plan, store=default_store(plan))
    freeze_step(plan)
    verify_step(plan)

    _step(2, "design diagnosis: what this design can show, by simulation")
    if design_sims:
        settings = DesignSettings(
            sims=design_sims,
            curve_sims=max(20, design_sims // 5),
            # the ICC grid is 8 boundary worlds: a quarter of the simulations each keeps the demo
            # quick, and its Wilson intervals say how rough that is
            icc_sims=max(20, design_sims // 4),
        )
        design_step(plan, settings, EngineSettings("local", None))
    else:
        click.echo("skipped (--design-sims 0)")

    store = default_store(plan)
    _step(3, f"campaign: simulated traffic in virtual time into {store}")
    from prereg.frozen import load_frozen_plan

    run_step(load_frozen_plan(plan), store)

    _step(4, "locked analysis")
    locked = run_locked_analysis(plan, store=store, command="demo")
    for line in summary_lines(locked.results):
        click.echo(line)

    _step(5, "results document")
    from analysis import results_to_json
    from prereg.atomic_write import write_text_atomically

    results_path = write_text_atomically(folder / "results.json", results_to_json(locked.results))
    click.echo(f"wrote {results_path}")

    _step(6, "verdict report")
    html = render_locked(locked)
    report = write_text_atomically(folder / "report.html", html)
    click.echo(f"done in {time.perf_counter() - started:.0f} s. Where things are:")
    for what, path in (
        ("plan (frozen)", plan),
        ("lock record", lock_path(plan)),
        ("hash-chained log", log_path(plan)),
        ("trial store (DuckDB)", Path(store)),
        ("results JSON", results_path),
        ("report", report),
    ):
        click.echo(f"  {what:<21} {path}")
    click.echo(f"open {report.resolve().as_uri()} in a browser")


COMMANDS: list[click.Command] = [demo_command]
