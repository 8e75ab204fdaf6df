"""Exporting a store's trial table to a Parquet or CSV file, ordered by ``seq``.

DuckDB writes the file itself (``COPY ... TO``), without the table passing through Python; other
databases go through Arrow. Either way the file appears under its name only once it is complete
(written beside it, then renamed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pyarrow as pa
import sqlalchemy as sa

from experiment.store.driver_errors import translating
from experiment.store.schema import TRIAL_COLUMN_NAMES

__all__ = ["ExportFormat", "export_trials"]

ExportFormat = Literal["parquet", "csv"]


def export_trials(
    conn: sa.Connection, out: Path, fmt: ExportFormat, *, duck: bool, read_arrow: Callable[[], pa.Table]
) -> Path:
    """Write the trial table of ``conn`` to ``out``; ``read_arrow`` reads it when ``duck`` is False."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    with translating(str(out), "export"):
        if duck:
            driver = conn.connection.driver_connection
            assert driver is not None
            cols = ", ".join(TRIAL_COLUMN_NAMES)
            target = str(tmp).replace("'", "''")
            options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
            with conn.begin():
                driver.execute(f"COPY (SELECT {cols} FROM trials ORDER BY seq) TO '{target}' ({options})")
        else:
            _write_with_arrow(read_arrow(), tmp, fmt)
        tmp.replace(out)
    return out


def _write_with_arrow(table: pa.Table, path: Path, fmt: ExportFormat) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
