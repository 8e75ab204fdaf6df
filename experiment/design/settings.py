"""How much a design diagnosis simulates: counts, grids and the sample-size search's bounds."""

from __future__ import annotations

from dataclasses import dataclass

from experiment.design.icc import DEFAULT_ICC_GRID, MAX_ICC
from experiment.design.scenarios import grid_values
from prereg.errors import InputError

__all__ = ["DEFAULT_GRID", "DEFAULT_ICC_SIMS", "MAX_SIMS", "DesignSettings"]

#: True accuracies of the P(PASS) curve: 0.70, 0.725, ..., 0.95.
DEFAULT_GRID: tuple[float, ...] = grid_values(0.70, 0.95, 0.025)
#: Most simulations per world of the ICC grid when ``icc_sims`` is not given (never above ``sims``).
DEFAULT_ICC_SIMS = 200
#: Most simulations per world: at ~100 simulations a second per core, 100,000 already take hours.
MAX_SIMS = 100_000


@dataclass(frozen=True)
class DesignSettings:
    """How much to simulate.

    ``sims`` simulations under the assumed truths and at each boundary; ``curve_sims`` at each
    grid point and each corpus size of the sample-size search (cheaper figures, larger Monte Carlo
    error, reported); ``grid`` the true accuracies of the curve (empty: no curve);
    ``icc_grid`` the ICCs at which each gate's boundary is simulated again (empty: none), with
    ``icc_sims`` simulations per gate and ICC (default ``min(sims, DEFAULT_ICC_SIMS)``);
    ``min_cases``: search the fewest unique cases reaching ``target_power``, up to ``max_cases``
    (default 4 times the corpus), to within ``rel_tol`` of the answer.
    """

    sims: int = 500
    curve_sims: int = 100
    grid: tuple[float, ...] = DEFAULT_GRID
    min_cases: bool = True
    target_power: float = 0.8
    max_cases: int | None = None
    rel_tol: float = 0.05
    icc_grid: tuple[float, ...] = DEFAULT_ICC_GRID
    icc_sims: int | None = None

    def __post_init__(self) -> None:
        counts = (("--sims", self.sims), ("--curve-sims", self.curve_sims), ("--icc-sims", self.icc_sims))
        for option, count in counts:
            if count is not None and not 1 <= count <= MAX_SIMS:
                raise InputError(f"expected 1 to {MAX_SIMS:,} simulations, found {count:,}", field=option)
        bad = [v for v in self.icc_grid if not 0.0 <= v <= MAX_ICC]
        if bad:
            raise InputError(f"expected ICCs in [0, {MAX_ICC}], found {bad[0]:g}", field="--icc-grid")
        if self.icc_sims is not None and self.icc_sims < 1:
            raise InputError(f"expected at least 1, found {self.icc_sims}", field="--icc-sims")

    @property
    def icc_sim_count(self) -> int:
        """Simulations per world of the ICC grid."""
        return self.icc_sims if self.icc_sims is not None else min(self.sims, DEFAULT_ICC_SIMS)

    @property
    def icc_values(self) -> tuple[float, ...]:
        """The ICC grid sorted, without repeats (6 decimals)."""
        return tuple(sorted({round(float(v), 6) for v in self.icc_grid}))
