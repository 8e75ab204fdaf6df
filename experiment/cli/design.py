"""The ``design`` command: simulate a plan's design before the campaign (docs/design.md).

Thin wiring to :mod:`experiment.design`; the library is imported inside the command so that
``routetrial --help`` stays fast. The plan must be valid (every ``check``); it need not be frozen,
since an author runs this while still choosing the sample size.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["COMMANDS"]


@click.command("design")
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--sims",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Simulations under the assumed truths and at each gate boundary.",
)
@click.option(
    "--curve-sims",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Simulations per grid point and per corpus size of the sample-size search.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes (default: all cores). Results do not depend on it.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: a process pool; dask: a dask.distributed cluster (optional extra).",
)
@click.option(
    "--dask-scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --engine dask: an existing scheduler (default: a local cluster).",
)
@click.option(
    "--grid/--no-grid",
    default=True,
    show_default=True,
    help="Simulate the grids: the P(PASS) curve over true accuracies 0.70..0.95 and each "
    "gate's boundary over the ICC grid.",
)
@click.option(
    "--icc-grid",
    "icc_grid",
    metavar="ICCS",
    default="0,0.3,0.6,0.9",
    show_default=True,
    help="Comma-separated ICCs (0..0.99) at which each gate's boundary is simulated ('' for none).",
)
@click.option(
    "--icc-sims",
    type=click.IntRange(min=1),
    default=None,
    help="Simulations per gate and ICC (default: --sims, at most 200).",
)
@click.option(
    "--min-cases/--no-min-cases",
    default=True,
    show_default=True,
    help="Search the fewest unique cases that reach 80% power.",
)
@click.option(
    "--max-cases",
    type=click.IntRange(min=1),
    default=None,
    help="Largest corpus the sample-size search tries (default: 4 x the corpus).",
)
def design_command(
    plan: Path,
    sims: int,
    curve_sims: int,
    workers: int | None,
    engine: str,
    dask_scheduler: str | None,
    grid: bool,
    min_cases: bool,
    max_cases: int | None,
    icc_grid: str = "0,0.3,0.6,0.9",
    icc_sims: int | None = None,
) -> None:
    """Simulate PLAN's whole design many times: power, type I error, coverage, sample size.

    Runs the plan's traffic, simulated arms and locked analysis in memory (no store) under the
    plan's assumed truths, at each gate's boundary (also over a grid of replay ICCs) and over a
    grid of true accuracies, and writes <plan stem>.design.json beside the plan. The plan need
    not be frozen.
    """
    from experiment.cli.steps import design_step
    from experiment.design import DEFAULT_GRID, DesignSettings, EngineSettings

    settings = DesignSettings(
        sims=sims,
        curve_sims=curve_sims,
        grid=DEFAULT_GRID if grid else (),
        min_cases=min_cases,
        max_cases=max_cases,
        icc_grid=_parse_iccs(icc_grid) if grid else (),
        icc_sims=icc_sims,
    )
    design_step(
        plan,
        settings,
        EngineSettings("dask" if engine == "dask" else "local", workers, dask_address=dask_scheduler),
    )


def _parse_iccs(text: str) -> tuple[float, ...]:
    """``"0,0.3"`` -> ``(0.0, 0.3)``; a one-line input error names ``--icc-grid`` otherwise."""
    from prereg.errors import InputError

    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise InputError(
                f"expected comma-separated numbers, found {part!r}", field="--icc-grid"
            ) from None
    return tuple(values)


COMMANDS: list[click.Command] = [design_command]
