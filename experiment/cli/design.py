"""The ``design`` command: simulate a plan's design before the campaign (docs/design.md).

Thin wiring to :mod:`experiment.design.diagnosis`; the library is imported inside the command so that
``routetrial --help`` stays fast. The plan must be valid (every ``check``); it need not be frozen,
since an author runs this while still choosing the sample size.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["COMMANDS", "format_design", "format_icc_grid"]


class _Bars:
    """One click progress bar per phase on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self._phase: str | None = None
        self._bar: Any = None
        self._shown = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._phase, self._shown = phase, 0
            self._bar = click.progressbar(
                length=total,
                label=f"simulating {phase}",
                show_eta=True,
                show_pos=True,
                file=sys.stderr,
                width=24,
            )
            self._bar.__enter__()
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(value: float | None, ci: list[float] | None, digits: int = 3) -> str:
    """``0.045 [0.024, 0.083]``: a share with its Monte Carlo interval."""
    if value is None:
        return "-"
    if not ci:
        return _fmt(value, digits)
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def format_icc_grid(results: dict[str, Any]) -> list[str]:
    """The ICC grid as a small table: per gate, ICC and router arm, P(PASS) at the boundary (the
    type I error), P(FAIL) and, for accuracy gates, coverage of the accuracy interval."""
    grid = results.get("icc_grid")
    if not grid:
        return []
    lines = [
        f"ICC grid: each gate at its boundary, replays of a case correlated ({grid['sims']} "
        f"simulations per gate and ICC; 95% Wilson intervals)",
        f"{'gate':<14} {'ICC of':<11} {'ICC':>4}  {'arm':<16} {'P(PASS) = type I':>22} "
        f"{'P(FAIL)':>22} {'coverage':>22}",
    ]
    notes: list[str] = []
    for gate_id, g in grid["gates"].items():
        for point in g["points"]:
            icc = f"{point['icc']:.2f}"
            if point["arms"] is None:
                lines.append(
                    f"{gate_id:<14} {g['icc_of']:<11} {icc:>4}  {'-':<16} {'-':>22} {'-':>22} {'-':>22}"
                )
                notes.append(f"{gate_id} at ICC {icc}: {point['note']}")
                continue
            for arm, a in point["arms"].items():
                cov = a.get("accuracy_interval") or {}
                lines.append(
                    f"{gate_id:<14} {g['icc_of']:<11} {icc:>4}  {arm:<16} "
                    f"{_ci(a['type_i_error'], a['type_i_error_ci']):>22} "
                    f"{_ci(a['p_fail'], a['p_fail_ci']):>22} "
                    f"{_ci(cov.get('coverage'), cov.get('coverage_ci')):>22}"
                )
                if a.get("note"):
                    notes.append(f"{gate_id} at ICC {icc}, {arm}: {a['note']}")
    alphas = sorted({g["nominal_alpha"] for g in grid["gates"].values() if g["nominal_alpha"] is not None})
    if alphas:
        lines.append(
            f"nominal alpha {', '.join(f'{a:g}' for a in alphas)}; coverage of the "
            "two-sided accuracy interval at the plan's level."
        )
    return lines + [f"note: {n}" for n in notes]


def format_design(results: dict[str, Any]) -> list[str]:
    """A short plain-text table of the design figures (what ``routetrial design`` prints)."""
    header = (
        f"{'arm':<16} {'gate':<14} {'truth':>8} {'P(PASS)':>8} {'P(FAIL)':>8} {'P(INC)':>7} "
        f"{'power':>6} {'type I':>7} {'n @' + format(results['target_power'], '.0%'):>7}"
    )
    lines = [header]
    gates = results["gates"]
    min_cases = results.get("min_cases")
    for arm in results["arms"]:
        assumed = results["assumed"][arm]
        for gate in gates:
            g = assumed["gates"][gate["id"]]
            boundary = results["boundary"][gate["id"]][arm]
            digits = 3 if gate["metric"] == "routing_accuracy" else 0
            n_text = "-"
            if min_cases is not None:
                m = min_cases["arms"][arm][gate["id"]]
                if m["target"] is not None:
                    n_text = str(m["n"]) if m["n"] is not None else f">{min_cases['n_max']}"
            lines.append(
                f"{arm:<16} {gate['id']:<14} {_fmt(g['truth'], digits):>8} {_fmt(g['p_pass']):>8} "
                f"{_fmt(g['p_fail']):>8} {_fmt(g['p_inconclusive']):>7} {_fmt(g['power'], 2):>6} "
                f"{_fmt(boundary['type_i_error']):>7} {n_text:>7}"
            )
    lines.append("")
    for arm in results["arms"]:
        cov = results["assumed"][arm]["accuracy_interval"]
        level = "-" if cov["level"] is None else f"{cov['level']:.0%}"
        robust = cov.get("robust") or {}
        lines.append(
            f"{arm}: {level} accuracy interval covers the truth "
            f"{_ci(cov['coverage'], cov.get('coverage_ci'))} (cluster-robust interval "
            f"{_ci(robust.get('coverage'), robust.get('coverage_ci'))}); "
            f"bias of the accuracy {_fmt(cov['bias'], 4)}"
        )
    extra = [
        what
        for what, key in (("grid point", "curve"), ("corpus size", "min_cases"))
        if results.get(key) is not None
    ]
    per = f", {results['curve_sims']} per {' and '.join(extra)}" if extra else ""
    lines.append(
        f"{results['sims']} simulations per world{per}. type I: P(PASS) with the truth on the "
        f"threshold; power: P(the verdict the truth deserves); n: fewest unique cases for that power. "
        f"Shares in [ ] are 95% Wilson intervals over the simulations."
    )
    icc = format_icc_grid(results)
    return lines + (["", *icc] if icc else [])


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
    from experiment.cli.output_guard import refuse_study_files
    from experiment.cli.run import default_store
    from experiment.design.diagnosis import (
        DEFAULT_GRID,
        DesignSettings,
        EngineSettings,
        design_results_path,
        diagnose,
        write_design_results,
    )
    from prereg.check import load_checked_plan

    iccs = _parse_iccs(icc_grid) if grid else ()
    checked = load_checked_plan(plan)
    refuse_study_files(
        design_results_path(checked.path),
        option="design",
        plan=checked.path,
        store=default_store(checked.path),
    )
    settings = DesignSettings(
        sims=sims,
        curve_sims=curve_sims,
        grid=DEFAULT_GRID if grid else (),
        min_cases=min_cases,
        max_cases=max_cases,
        icc_grid=iccs,
        icc_sims=icc_sims,
    )
    runner = EngineSettings("dask" if engine == "dask" else "local", workers, dask_address=dask_scheduler)
    bars = _Bars()
    started = time.perf_counter()
    try:
        results = diagnose(
            checked.plan,
            checked.corpus,
            base_dir=checked.path.parent,
            plan_hash=checked.canonical_sha256,
            settings=settings,
            engine=runner,
            progress=bars if sys.stderr.isatty() else None,
            plan_file=checked.path.name,
        )
    finally:
        bars.close()
    elapsed = time.perf_counter() - started
    path = write_design_results(checked.path, results)
    click.echo(
        f"design of {plan} ({len(checked.corpus)} cases, seed {results['seed']}; "
        f"{runner.engine} engine, {runner.workers} workers, {elapsed:.1f} s)"
    )
    for line in format_design(results):
        click.echo(line)
    click.echo(f"results: {path}")


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
