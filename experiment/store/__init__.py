"""The trial store: the only code of routetrial that speaks SQL (SQLAlchemy, DuckDB) or Arrow.

What lives here, one concept a module:

- :mod:`~experiment.store.trial_store`: :class:`TrialStore`, a campaign's database bound to its
  plan (open, meta, allocation, trials in batch transactions, reads);
- :mod:`~experiment.store.locations`: where a store is (:func:`store_url`, :func:`store_path`,
  :func:`progress_path`);
- :mod:`~experiment.store.schema`: the tables as SQLAlchemy and Arrow schemas, the columnar form
  of trials and schedules;
- :mod:`~experiment.store.digest_chain`: the tamper evidence (row digests, the chain over
  committed batches, the check);
- :mod:`~experiment.store.export`: the trial table to a Parquet or CSV file;
- :mod:`~experiment.store.trial_files`: trials read back from such a file;
- :mod:`~experiment.store.driver_errors`: driver and OS errors as one-line routetrial errors.

Who may import it: the rest of :mod:`experiment` (campaigns, the locked analysis, the CLI), the
tests and the benchmarks, through the names below (``from experiment.store import TrialStore``),
never its modules. ``tests/test_store_boundary.py`` checks that no other code imports a database
driver or Arrow.

The names are loaded on first use: ``from experiment.store import store_url`` costs SQLAlchemy
only, so a command that merely names a store's files does not import DuckDB or Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiment.store.analysis_input import store_trials
    from experiment.store.digest_chain import ROW_DIGEST_CHARS, row_digests
    from experiment.store.export import ExportFormat
    from experiment.store.locations import progress_path, store_path, store_url
    from experiment.store.schema import (
        ARROW_TRIAL_SCHEMA,
        TRIAL_COLUMN_NAMES,
        arrow_to_columns,
        columns_markdown,
    )
    from experiment.store.trial_files import read_trial_file, trial_file_format
    from experiment.store.trial_store import TrialStore

__all__ = [
    "ARROW_TRIAL_SCHEMA",
    "ROW_DIGEST_CHARS",
    "TRIAL_COLUMN_NAMES",
    "ExportFormat",
    "TrialStore",
    "arrow_to_columns",
    "columns_markdown",
    "progress_path",
    "read_trial_file",
    "row_digests",
    "store_path",
    "store_trials",
    "store_url",
    "trial_file_format",
]

#: The module each public name lives in (``tests/test_store_boundary.py`` checks it against
#: ``__all__`` and the imports above).
_HOMES: dict[str, str] = {
    "ARROW_TRIAL_SCHEMA": "schema",
    "ROW_DIGEST_CHARS": "digest_chain",
    "TRIAL_COLUMN_NAMES": "schema",
    "ExportFormat": "export",
    "TrialStore": "trial_store",
    "arrow_to_columns": "schema",
    "columns_markdown": "schema",
    "progress_path": "locations",
    "read_trial_file": "trial_files",
    "row_digests": "digest_chain",
    "store_path": "locations",
    "store_trials": "analysis_input",
    "store_url": "locations",
    "trial_file_format": "trial_files",
}

if not TYPE_CHECKING:
    # Hidden from the type checker, which reads the imports above instead: a misspelt name
    # stays an error there rather than an attribute typed ``object``.

    def __getattr__(name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
