"""The design results file beside the plan: ``<plan stem>.design.json``.

Deterministic JSON (sorted keys, two-space indent, a final newline): the same plan, seed and
simulation counts give the same bytes whatever the engine or the number of workers. The file
names the plan's canonical hash, so a reader can tell results of an edited plan from current ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prereg.atomic_write import write_text_atomically
from prereg.study_files import design_path

__all__ = [
    "DESIGN_KIND",
    "DESIGN_SCHEMA_VERSION",
    "design_json",
    "design_results_path",
    "load_design_results",
    "write_design_results",
]

DESIGN_KIND = "routetrial.design"
#: Version of the design results layout (docs/design.md); bump on any change of meaning.
DESIGN_SCHEMA_VERSION = 2


def design_results_path(plan_path: Path) -> Path:
    """Where the design results of a plan live (:func:`prereg.study_files.design_path`)."""
    return design_path(plan_path)


def design_json(results: dict[str, Any]) -> str:
    """The results as deterministic JSON text."""
    return json.dumps(results, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_design_results(plan_path: Path, results: dict[str, Any]) -> Path:
    """Write the results beside the plan atomically (a reader never sees half a file)."""
    return write_text_atomically(design_results_path(plan_path), design_json(results))


def load_design_results(plan_path: Path, *, plan_hash: str | None = None) -> dict[str, Any] | None:
    """The design results stored beside ``plan_path`` as a plain dict, or None.

    None when there is no results file, when it is not a design results file of this schema
    version, or, given ``plan_hash`` (the plan's canonical SHA-256), when the results belong to
    another version of the plan (run ``routetrial design`` again).
    """
    path = design_results_path(Path(plan_path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != DESIGN_KIND:
        return None
    if data.get("schema_version") != DESIGN_SCHEMA_VERSION:
        return None
    if plan_hash is not None and data.get("plan", {}).get("canonical_sha256") != plan_hash:
        return None
    return data
