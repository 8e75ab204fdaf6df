"""Plan commands: ``init``, ``check``, ``freeze``, ``verify``, ``amend`` and ``schema``.

Thin wiring to :mod:`prereg` and :mod:`experiment.cli.steps`; user errors are :class:`~prereg.errors.RoutetrialError` and
``experiment.cli`` prints them as one line. Imports of the library happen inside the commands so
that ``routetrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from experiment.cli.options import PLAN_PATH as _PLAN

__all__ = ["COMMANDS"]


@click.command("init")
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--example",
    type=click.Choice(["study2", "local"]),
    default="study2",
    show_default=True,
    help="study2: a simulated replication of Study 2. local: a live study of real small routers on this machine.",
)
def init_command(folder: Path, example: str) -> None:
    """Write a commented example plan and its 60-case corpus into FOLDER (default: here)."""
    from prereg.starter import init_plan

    plan_path, corpus_path = init_plan(folder, example)
    click.echo(f"wrote {plan_path} and {corpus_path} (60 cases, sha256 pinned in the plan)")
    click.echo(f"next: routetrial check {plan_path} && routetrial freeze {plan_path}")


@click.command("check")
@click.argument("plan", type=_PLAN)
def check_command(plan: Path) -> None:
    """Check PLAN: schema, meaning, corpus hash and sample size; say what the design can show."""
    from experiment.cli.steps import check_step

    check_step(plan)


@click.command("freeze")
@click.argument("plan", type=_PLAN)
def freeze_command(plan: Path) -> None:
    """Check PLAN and write its lock record beside it (never rewritten)."""
    from experiment.cli.steps import freeze_step

    freeze_step(plan)


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
    from experiment.cli.steps import verify_step

    verify_step(plan, store)


@click.command("amend")
@click.argument("plan", type=_PLAN)
@click.option("--reason", required=True, help="Why the frozen plan is amended (goes into the log).")
def amend_command(plan: Path, reason: str) -> None:
    """Start an amendment of the frozen PLAN: a copy naming its parent's hash, to edit and freeze."""
    from prereg.amend import amend

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
