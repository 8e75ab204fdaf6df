"""Design diagnosis: simulate a plan's whole campaign many times before running it (docs/design.md).

``routetrial design PLAN`` is :func:`run_design`: :func:`diagnose` (power, type I error, coverage
and the fewest unique cases, as an :class:`analysis.DiagnosisResult`), :func:`write_design_results`
and the table of :func:`format_design`;
``routetrial check`` and ``routetrial report`` read the file back with
:func:`load_design_results`. The modules, one concept each:

- ``settings``: how much to simulate (:class:`DesignSettings`);
- ``scenarios``: the worlds (assumed truths, boundaries, grids, resized corpora);
- ``sim``: one simulation, a whole campaign in memory (what worker processes import);
- ``engine`` and ``batches``: simulations run in parallel, locally or on Dask, and kept per world;
- ``figures``, ``icc``, ``icc_grid``, ``search``, ``min_cases``: from simulations to figures;
- ``diagnosis``: the whole diagnosis, and the warnings ``check`` prints;
- ``results_file``: ``<plan stem>.design.json`` beside the plan;
- ``table`` and ``runner``: the printed table, and one run as the ``design`` and ``demo`` commands do it.

Import-light on purpose: worker processes import :mod:`experiment.design.sim`, which imports this
package first, so the names below are loaded on first use (PEP 562) rather than here; nothing of
the design imports a store driver (DuckDB, SQLAlchemy, pyarrow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiment.design.batches import Progress
    from experiment.design.diagnosis import diagnose, power_warnings, require_simulated
    from experiment.design.engine import ENGINES, Engine, EngineSettings, default_workers
    from experiment.design.icc import DEFAULT_ICC_GRID
    from experiment.design.results_file import design_results_path, load_design_results, write_design_results
    from experiment.design.runner import DesignRun, run_design
    from experiment.design.settings import DEFAULT_GRID, DEFAULT_ICC_SIMS, MAX_SIMS, DesignSettings
    from experiment.design.table import format_design, format_icc_grid

__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_ICC_GRID",
    "DEFAULT_ICC_SIMS",
    "ENGINES",
    "MAX_SIMS",
    "DesignRun",
    "DesignSettings",
    "Engine",
    "EngineSettings",
    "Progress",
    "default_workers",
    "design_results_path",
    "diagnose",
    "format_design",
    "format_icc_grid",
    "load_design_results",
    "power_warnings",
    "require_simulated",
    "run_design",
    "write_design_results",
]

#: Where each public name lives (module under ``experiment.design``).
_HOMES = {
    "DEFAULT_GRID": "settings",
    "DEFAULT_ICC_GRID": "icc",
    "DEFAULT_ICC_SIMS": "settings",
    "ENGINES": "engine",
    "MAX_SIMS": "settings",
    "DesignRun": "runner",
    "DesignSettings": "settings",
    "Engine": "engine",
    "EngineSettings": "engine",
    "Progress": "batches",
    "default_workers": "engine",
    "design_results_path": "results_file",
    "diagnose": "diagnosis",
    "format_design": "table",
    "format_icc_grid": "table",
    "load_design_results": "results_file",
    "power_warnings": "diagnosis",
    "require_simulated": "diagnosis",
    "run_design": "runner",
    "write_design_results": "results_file",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
