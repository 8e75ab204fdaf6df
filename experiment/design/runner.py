"""One ``routetrial design`` run: diagnose a checked plan, write its results file, say so.

What the ``design`` command and the ``demo`` command share (a command never imports another).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from analysis import DiagnosisResult
from experiment.design.batches import Progress
from experiment.design.diagnosis import diagnose
from experiment.design.engine import EngineSettings
from experiment.design.results_file import write_design_results
from experiment.design.settings import DesignSettings
from experiment.design.table import format_design
from prereg.check import CheckedPlan

__all__ = ["DesignRun", "run_design"]


@dataclass(frozen=True)
class DesignRun:
    """A finished diagnosis: its figures, where they were written, and how it ran."""

    results: DiagnosisResult
    path: Path
    engine: EngineSettings
    seconds: float

    def lines(self, plan: Path | str) -> list[str]:
        """What the command prints: a header naming ``plan``, the table, the results file."""
        r = self.results
        header = (
            f"design of {plan} ({r.unique_cases} cases, seed {r.seed}; "
            f"{self.engine.engine} engine, {self.engine.workers} workers, {self.seconds:.1f} s)"
        )
        return [header, *format_design(r), f"results: {self.path}"]


def run_design(
    checked: CheckedPlan,
    settings: DesignSettings,
    engine: EngineSettings,
    progress: Progress | None = None,
) -> DesignRun:
    """Diagnose ``checked`` (a plan that passed every check; it need not be frozen) and write
    ``<plan stem>.design.json`` beside it."""
    started = time.perf_counter()  # wall clock: only for the line that says how long it took
    results = diagnose(
        checked.plan,
        checked.corpus,
        base_dir=checked.path.parent,
        plan_hash=checked.canonical_sha256,
        settings=settings,
        engine=engine,
        progress=progress,
        plan_file=checked.path.name,
    )
    seconds = time.perf_counter() - started
    return DesignRun(results, write_design_results(checked.path, results), engine, seconds)
