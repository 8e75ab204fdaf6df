"""Trials from a Parquet or CSV file with the documented columns, for re-analysis of data from elsewhere.

A file written by ``routetrial export`` reads back to exactly the columns the store holds; a file
made by other tools must carry the trial table's columns (docs/trial-table.md) under the same names.
Extra columns are ignored. The rows must all carry the frozen plan's canonical hash: a trial table
is only analysed under the plan it ran under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from experiment.store.schema import ARROW_TRIAL_SCHEMA, arrow_to_columns
from prereg.errors import InputError

__all__ = ["TrialFileFormat", "read_trial_file", "trial_file_format"]

TrialFileFormat = Literal["parquet", "csv"]


def trial_file_format(path: Path) -> TrialFileFormat:
    """The format of a trial file, from its suffix (``.parquet`` or ``.csv``)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise InputError(f"expected a .parquet or .csv file, found {suffix or 'no suffix'!r}", file=str(path))


def _read_raw(path: Path, fmt: TrialFileFormat) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    wanted = {f.name: f.type for f in ARROW_TRIAL_SCHEMA}
    # Empty cells are NULL in DuckDB's CSV export, strings included.
    options = pacsv.ConvertOptions(column_types=wanted, strings_can_be_null=True)
    return pacsv.read_csv(path, convert_options=options)


def read_trial_file(path: Path, plan_hash: str) -> dict[str, npt.NDArray[Any]]:
    """The trials of a Parquet or CSV file as numpy columns ordered by ``seq``.

    Raises :class:`~prereg.errors.InputError` naming the file and the column when the file is
    missing, unreadable, lacks a documented column, holds a value of the wrong type, or holds
    trials of another plan.
    """
    path = Path(path)
    fmt = trial_file_format(path)
    if not path.is_file():
        raise InputError("expected a trial file, found nothing there", file=str(path))
    try:
        raw = _read_raw(path, fmt)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"expected a readable {fmt} trial table, found: {first}", file=str(path)) from None
    missing = [f.name for f in ARROW_TRIAL_SCHEMA if f.name not in raw.column_names]
    if missing:
        raise InputError(
            f"expected the documented trial columns (docs/trial-table.md), missing {', '.join(missing)}",
            file=str(path),
        )
    arrays = []
    for field in ARROW_TRIAL_SCHEMA:
        column = raw.column(field.name)
        try:
            arrays.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise InputError(
                f"expected {field.type}, found {column.type}", file=str(path), field=field.name
            ) from None
        if not field.nullable and column.null_count:
            raise InputError("expected no empty values, found some", file=str(path), field=field.name)
    table = pa.Table.from_arrays(arrays, schema=ARROW_TRIAL_SCHEMA)
    others = pc.unique(
        pc.filter(table.column("plan_hash"), pc.not_equal(table.column("plan_hash"), plan_hash))
    )
    if len(others):
        raise InputError(
            f"expected trials of the frozen plan {plan_hash[:12]}…, "
            f"found trials of {others[0].as_py()[:12]}…",
            file=str(path),
            field="plan_hash",
        )
    order = np.argsort(np.asarray(table.column("seq").to_numpy()), kind="stable")
    return arrow_to_columns(table.take(pa.array(order)))
