"""Plan commands: ``init``, ``check``, ``freeze``, ``verify``, ``amend`` and ``schema``.

Thin wiring to :mod:`prereg`; user errors are :class:`~prereg.errors.RoutetrialError` and
``experiment.cli`` prints them as one line. Imports of the library happen inside the commands so
that ``routetrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from prereg.check import CheckedPlan
    from prereg.schema import Plan

__all__ = ["COMMANDS", "design_summary"]

_PLAN = click.Path(path_type=Path, dir_okay=False)


@click.command("init")
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path, file_okay=False))
def init_command(folder: Path) -> None:
    """Write a commented starter plan (Study 2) and its 60-case corpus into FOLDER (default: here)."""
    from prereg.starter import init_plan

    plan_path, corpus_path = init_plan(folder)
    click.echo(f"wrote {plan_path} and {corpus_path} (60 cases, sha256 pinned in the plan)")
    click.echo(f"next: routetrial check {plan_path} && routetrial freeze {plan_path}")


@click.command("check")
@click.argument("plan", type=_PLAN)
def check_command(plan: Path) -> None:
    """Check PLAN: schema, meaning, corpus hash and sample size; say what the design can show."""
    from prereg.check import load_checked_plan

    checked = load_checked_plan(plan)
    for line in _summary(checked):
        click.echo(line)
    for line in _power_lines(checked):
        click.echo(line)


def _power_lines(checked: CheckedPlan) -> list[str]:
    """Power from the design diagnosis stored beside the plan: a warning per gate below target."""
    from experiment.design.diagnosis import design_results_path, load_design_results, power_warnings

    results = load_design_results(checked.path, plan_hash=checked.canonical_sha256)
    if results is None:
        stale = (
            " (the stored one is for another version of the plan)"
            if design_results_path(checked.path).exists()
            else ""
        )
        return [f"  power: not simulated yet{stale}; run `routetrial design {checked.path}`"]
    warnings = power_warnings(results)
    if not warnings:
        return [
            f"  power: every gate reaches {results.get('target_power', 0.8):.0%} at the assumed "
            f"truths ({results.get('sims')} simulations)"
        ]
    return [f"  warning: {line}" for line in warnings]


@click.command("freeze")
@click.argument("plan", type=_PLAN)
def freeze_command(plan: Path) -> None:
    """Check PLAN and write its lock record beside it (never rewritten)."""
    from prereg.lock import freeze, lock_path

    existed = lock_path(plan).exists()
    record = freeze(plan)
    if existed:
        click.echo(f"{plan}: already frozen at {record.frozen_at_utc}, unchanged (nothing written)")
        return
    click.echo(f"froze {plan} -> {lock_path(plan)}")
    click.echo(f"  canonical sha256 {record.canonical_sha256}")
    click.echo(f"  bytes sha256     {record.bytes_sha256}")
    click.echo(f"  corpus sha256    {record.corpus_sha256}")
    if record.trace_sha256 is not None:
        click.echo(f"  trace sha256     {record.trace_sha256}")
    click.echo(f"  analysis code    {record.analysis_code_sha256}")
    click.echo(f"  git commit       {record.git_commit or '(not in a git repository)'}")
    if record.parent_sha256:
        click.echo(f"  amends           {record.parent_sha256}")


@click.command("verify")
@click.argument("plan", type=_PLAN)
@click.option(
    "--store",
    "store",
    metavar="URL",
    help="Also check this store's trials against their committed digests "
    "(default: <plan dir>/<plan stem>.duckdb, when it exists).",
)
def verify_command(plan: Path, store: str | None) -> None:
    """Check PLAN against its lock, and its store's trials against what was committed: exit 0
    and print "unchanged", or name what changed."""
    from prereg.errors import PlanChangedError
    from prereg.lock import verify

    report = verify(plan)
    if not report.ok:
        raise PlanChangedError(f"{plan}: {report.describe()}")
    bound = "plan bytes, corpus, trace" if report.lock.trace_sha256 is not None else "plan bytes, corpus"
    click.echo(
        f"unchanged: {plan} ({bound}, analysis code and log agree with the lock "
        f"of {report.lock.frozen_at_utc})"
    )
    if store is None and plan.with_suffix(".duckdb").exists():
        store = str(plan.with_suffix(".duckdb"))
    if store is not None:
        from experiment.store.trial_store import TrialStore

        with TrialStore.open(store, report.lock.canonical_sha256, create=False, read_only=True) as st:
            trials = st.read_arrow()
            st.check_trials(trials)  # raises naming the first trial edited, deleted or inserted
            n = trials.num_rows
        click.echo(f"unchanged: {store} ({n:,} trials agree with the digests committed with them)")


@click.command("amend")
@click.argument("plan", type=_PLAN)
@click.option("--reason", required=True, help="Why the frozen plan is amended (goes into the log).")
def amend_command(plan: Path, reason: str) -> None:
    """Start an amendment of the frozen PLAN: a copy naming its parent's hash, to edit and freeze."""
    from prereg.lock import amend

    target = amend(plan, reason)
    click.echo(f"wrote {target}: edit it, then run `routetrial freeze {target}`")


@click.command("schema")
def schema_command() -> None:
    """Print the plan's JSON Schema (for editor completion and validation)."""
    import json

    from prereg.schema import Plan

    click.echo(json.dumps(Plan.model_json_schema(), indent=2, sort_keys=True))


COMMANDS: list[click.Command] = [
    init_command,
    check_command,
    freeze_command,
    verify_command,
    amend_command,
    schema_command,
]


# --- the check summary -------------------------------------------------------------------------


def _summary(checked: CheckedPlan) -> list[str]:
    plan = checked.plan
    routers = [a.id for a in plan.router_arms]
    controls = [a.id for a in plan.arms if a.kind == "control"]
    families = len({c.family for c in checked.corpus})
    weights = {a: plan.ratio_of(a) for a in plan.arm_ids}
    replays = plan.traffic.replays_per_case
    n_cases = len(checked.corpus)
    per_arm = ", ".join(f"{a} {n_cases * replays * w}" for a, w in weights.items())
    return [
        f"{checked.path}: OK (schema, meaning, corpus hash and sample size)",
        f"  study: {plan.study.title}",
        f"  canonical sha256: {checked.canonical_sha256}",
        f"  arms: {len(plan.arms)} ({', '.join(routers)} routing; control: {', '.join(controls) or 'none'})",
        f"  corpus: {plan.corpus.path}, {n_cases} cases in {families} families, sha256 matches the pin",
        f"  sample: {n_cases} cases x {replays} replays x {sum(weights.values())} arm weights = "
        f"{plan.sample_size.requests_total} requests (per arm: {per_arm})",
        *design_summary(plan, n_cases),
    ]


def design_summary(plan: Plan, n_cases: int) -> list[str]:
    """What the design can show for each gate (:func:`analysis.gate_requirement`, the answer the
    results document and design diagnosis give too), per distinct arm size."""
    import analysis

    unit = plan.analysis.unit
    lines = [f"  design (unit of analysis: {unit}; what n per arm can show):"]
    sizes: dict[int, list[str]] = {}
    for arm in plan.router_arms:
        sizes.setdefault(plan.traffic.replays_per_case * plan.ratio_of(arm.id), []).append(arm.id)
    for gate in plan.gates:
        for replays, arms in sizes.items():
            scope = "" if len(sizes) == 1 else f" [{', '.join(arms)}]"
            req = analysis.gate_requirement(gate, plan.analysis, n_cases, replays)
            head = f"{gate.metric} {gate.op} {gate.threshold:g} ({req.rule}, unit {req.unit}, n = {req.n})"
            verdict = "decidable" if req.decidable else "can NOT pass at this n: only FAIL or INCONCLUSIVE"
            lines.append(f"    gate {gate.id}{scope}: {head}: {verdict}; {req.needs}")
    lines.extend(f"  warning: {w}" for w in analysis.plan_warnings(plan, n_cases))
    return lines
