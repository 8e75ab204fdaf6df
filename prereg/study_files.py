"""The names of a study's files: the one place that knows where each file of a plan lives.

Beside the plan ``plan.yaml``: its lock ``plan.yaml.lock.json``, the family's hash-chained log
``plan.yaml.log.jsonl`` (one for the root plan and all its amendments ``plan.amend-<n>.yaml``),
the design results ``plan.design.json`` and the default store ``plan.duckdb``. Beside a store
file ``trials.duckdb``: DuckDB's write-ahead log ``trials.duckdb.wal``, the progress file
``trials.duckdb.progress.json``, a live run's journal ``trials.duckdb.live.jsonl`` and the output of
each managed server ``trials.duckdb.server-<id>.log``. :mod:`experiment.cli.output_guard` refuses every one of them as an
output; nothing else spells a suffix.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "amendment_path",
    "default_store_path",
    "design_path",
    "journal_file",
    "lock_path",
    "log_path",
    "plan_root",
    "progress_file",
    "server_log_file",
    "wal_file",
]

_AMENDMENT_STEM = re.compile(r"^(?P<root>.+)\.amend-(?P<number>[1-9][0-9]*)$")


def plan_root(plan_path: Path) -> tuple[Path, int]:
    """The root plan of a plan family and the amendment number of ``plan_path`` (0 for the root).

    ``plan.amend-2.yaml`` -> (``plan.yaml``, 2); ``plan.yaml`` -> (``plan.yaml``, 0).
    """
    plan_path = Path(plan_path)
    match = _AMENDMENT_STEM.fullmatch(plan_path.stem)
    if match is None:
        return plan_path, 0
    return plan_path.with_name(match["root"] + plan_path.suffix), int(match["number"])


def amendment_path(plan_path: Path, number: int) -> Path:
    """The file of amendment ``number`` of the family ``plan_path`` belongs to (0: the root plan)."""
    root, _ = plan_root(plan_path)
    return root if number == 0 else root.with_name(f"{root.stem}.amend-{number}{root.suffix}")


def lock_path(plan_path: Path) -> Path:
    """``<plan>.lock.json`` beside the plan."""
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_path.name + ".lock.json")


def log_path(plan_path: Path) -> Path:
    """The log of the family ``plan_path`` belongs to: ``<root plan>.log.jsonl``."""
    root, _ = plan_root(plan_path)
    return root.with_name(root.name + ".log.jsonl")


def design_path(plan_path: Path) -> Path:
    """Where the design results of a plan live: beside it, ``<stem>.design.json``."""
    plan_path = Path(plan_path)
    return plan_path.with_name(f"{plan_path.stem}.design.json")


def default_store_path(plan_path: Path) -> Path:
    """The default store of a plan: ``<plan dir>/<plan stem>.duckdb``."""
    return Path(plan_path).with_suffix(".duckdb")


def progress_file(store_file: Path) -> Path:
    """``<store>.progress.json`` beside a store file."""
    return store_file.with_name(store_file.name + ".progress.json")


def journal_file(store_file: Path) -> Path:
    """``<store>.live.jsonl`` beside a store file: a live run's journal of sends and replies."""
    return store_file.with_name(store_file.name + ".live.jsonl")


def server_log_file(store_file: Path, server_id: str) -> Path:
    """``<store>.server-<id>.log`` beside a store file: what a managed server printed."""
    return store_file.with_name(f"{store_file.name}.server-{server_id}.log")


def wal_file(store_file: Path) -> Path:
    """``<store>.wal`` beside a DuckDB store file: DuckDB's own write-ahead log."""
    return store_file.with_name(store_file.name + ".wal")
