"""The ``routetrial`` command line: thin wiring from arguments to the library.

Each command lives in a module of its own (``cmd_*.py``) and exports ``COMMANDS``. A user error
(any :class:`prereg.errors.RoutetrialError`) prints one line and exits with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import click

from experiment.cli import USER_ERROR_EXIT, analyze, demo, design, plan, report, run, serve
from prereg.errors import RoutetrialError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="routetrial")
def cli() -> None:
    """Pre-registered randomized experiments on LLM front-door routers."""


for _module in (plan, run, analyze, report, serve, design, demo):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the console script enters through :func:`experiment.cli.main`)."""
    try:
        cli.main(args=argv, prog_name="routetrial", standalone_mode=False)
    except RoutetrialError as exc:
        click.echo(f"routetrial: error: {exc}", err=True)
        sys.exit(USER_ERROR_EXIT)
    except click.exceptions.Abort:
        click.echo("routetrial: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
