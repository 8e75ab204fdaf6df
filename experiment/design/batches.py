"""Simulations run so far, per world, extended on demand in parallel batches.

A world is identified by its rewritten plan's canonical hash and its case ids
(:attr:`~experiment.design.scenarios.Scenario.identity`), so two figures that need the same world
(the accuracy boundary and the grid point at the threshold; the plan's own corpus size in the
sample-size search) share its simulations. Simulation ``i`` of a world is the same whichever batch
ran it, so asking for more simulations later extends, never redraws, the earlier ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from experiment.design.engine import EngineSettings, chunk_bounds, run_tasks
from experiment.design.scenarios import Scenario
from experiment.design.sim import ChunkTask, SimOutcome, simulate_chunk

__all__ = ["Progress", "SimulationBatches"]

#: Called with a phase name, simulations finished and simulations in the phase.
Progress = Callable[[str, int, int], None]


class SimulationBatches:
    """Simulations run so far, per world (scenario identity), extended on demand in batches."""

    def __init__(
        self,
        base_seed: int,
        plan_hash: str,
        base_dir: Path,
        engine: EngineSettings,
        progress: Progress | None,
    ) -> None:
        self._base_seed = base_seed
        self._plan_hash = plan_hash
        self.base_dir = base_dir
        self._engine = engine
        self._progress = progress
        self._done: dict[str, list[SimOutcome]] = {}

    def ensure(self, phase: str, wants: Sequence[tuple[Scenario, int, bool]]) -> None:
        """Run whatever is missing so each scenario has at least its count of simulations."""
        tasks: list[ChunkTask] = []
        planned: dict[str, int] = {}
        for scenario, count, keep in wants:
            have = max(len(self._done.get(scenario.identity, [])), planned.get(scenario.identity, 0))
            if count <= have:
                continue
            planned[scenario.identity] = count
            for start, stop in chunk_bounds(count - have, self._engine.workers):
                tasks.append(
                    ChunkTask(
                        scenario,
                        self._base_seed,
                        self._plan_hash,
                        self.base_dir,
                        have + start,
                        have + stop,
                        keep,
                    )
                )
        total = sum(t.stop - t.start for t in tasks)
        progress = self._progress

        def report(done_tasks: int, all_tasks: int) -> None:
            # Chunks finish out of order; the bar shows simulations in proportion to chunks.
            if progress is not None:
                progress(phase, total * done_tasks // all_tasks, total)

        chunks = run_tasks(simulate_chunk, tasks, self._engine, report if progress else None)
        for task, outcomes in zip(tasks, chunks, strict=False):
            self._done.setdefault(task.scenario.identity, []).extend(outcomes)

    def outcomes(self, scenario: Scenario, count: int) -> list[SimOutcome]:
        """The first ``count`` simulations of a scenario (in index order)."""
        done = self._done[scenario.identity]
        assert [o.index for o in done[:count]] == list(range(min(count, len(done))))
        return done[:count]
