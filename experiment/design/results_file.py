"""The design results file beside the plan: ``<plan stem>.design.json``.

Deterministic JSON (:func:`analysis.design_results_to_json`: sorted keys, two-space indent, a
final newline): the same plan, seed and simulation counts give the same bytes whatever the engine
or the number of workers. The file names the plan's canonical hash, so a reader can tell results
of an edited plan from current ones.
"""

from __future__ import annotations

from pathlib import Path

from analysis import DiagnosisResult, design_results_from_json, design_results_to_json
from prereg.atomic_write import write_text_atomically
from prereg.errors import AnalysisError
from prereg.study_files import design_path

__all__ = ["design_results_path", "load_design_results", "write_design_results"]


def design_results_path(plan_path: Path) -> Path:
    """Where the design results of a plan live (:func:`prereg.study_files.design_path`)."""
    return design_path(plan_path)


def write_design_results(plan_path: Path, results: DiagnosisResult) -> Path:
    """Write the results beside the plan atomically (a reader never sees half a file)."""
    return write_text_atomically(design_results_path(plan_path), design_results_to_json(results))


def load_design_results(plan_path: Path, *, plan_hash: str | None = None) -> DiagnosisResult | None:
    """The design results stored beside ``plan_path``, or None.

    None when there is no results file, when it is not a design results file of this schema
    version (or not of its layout), or, given ``plan_hash`` (the plan's canonical SHA-256), when
    the results belong to another version of the plan (run ``routetrial design`` again).
    """
    path = design_results_path(Path(plan_path))
    try:
        results = design_results_from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, AnalysisError):
        return None
    if plan_hash is not None and results.plan.canonical_sha256 != plan_hash:
        return None
    return results
