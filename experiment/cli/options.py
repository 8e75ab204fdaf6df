"""What several commands share on their command line: the ``--store`` option and its default.

A module of its own so that commands never import one another (DEVELOPERS.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from prereg.study_files import default_store_path

__all__ = ["PLAN_PATH", "default_store", "store_option"]

#: The PLAN argument of every command that reads a plan file.
PLAN_PATH = click.Path(path_type=Path, dir_okay=False)

#: The ``--store`` option of every command that reads or writes a plan's store.
store_option = click.option(
    "--store",
    "store",
    metavar="URL",
    help="Store path or SQLAlchemy URL (default: <plan dir>/<plan stem>.duckdb).",
)


def default_store(plan: Path) -> str:
    """The default store of a plan (:func:`prereg.study_files.default_store_path`)."""
    return str(default_store_path(plan))
