"""The trial table as plain numpy columns, the only input the analysis reads.

Columns follow :data:`prereg.records.TRIAL_COLUMNS`. Representation, chosen so that NULL survives
without masked arrays and every column is one contiguous array:

- strings (``VARCHAR``): numpy ``str`` arrays when NOT NULL; object arrays holding ``str`` or
  ``None`` when nullable;
- ``BIGINT``: ``int64`` when NOT NULL, ``float64`` with NaN for NULL when nullable;
- ``DOUBLE``: ``float64`` with NaN for NULL;
- ``BOOLEAN``: ``float64`` holding 1.0 / 0.0, NaN for NULL (sums and means then just work).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prereg.errors import AnalysisError
from prereg.records import TRIAL_COLUMNS, Column, TrialRecord

__all__ = ["TrialTable", "factorize"]

_BY_NAME: dict[str, Column] = {c.name: c for c in TRIAL_COLUMNS}


def _null_mask(obj: NDArray[Any]) -> NDArray[np.bool_]:
    """NULL entries of an object array, elementwise in C: None equals None, NaN is unequal to itself."""
    eq: Any = np.equal
    ne: Any = np.not_equal
    return np.asarray(eq(obj, None), dtype=np.bool_) | np.asarray(ne(obj, obj), dtype=np.bool_)


def _is_null(v: Any) -> bool:
    return v is None or v is np.ma.masked or (isinstance(v, float) and math.isnan(v))


def _convert(col: Column, raw: Any, n: int | None) -> NDArray[Any]:
    """One column in the table's representation; NULL in a NOT NULL column is an error."""
    mask: NDArray[np.bool_] | None = None
    if isinstance(raw, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(raw)
        raw = raw.data
    arr = np.asarray(raw)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise AnalysisError(
            f"trial table: column {col.name}: expected {n} values in one dimension, found shape {arr.shape}"
        )
    if col.sql_type == "VARCHAR":
        if arr.dtype.kind in "US" and mask is None:
            out: NDArray[Any] = arr.astype(str, copy=False)
            nulls = np.zeros(arr.shape[0], dtype=bool)
        else:
            obj = arr.astype(object)
            # elementwise in C: None compares equal to None, and NaN is the one value unequal to itself
            nulls = _null_mask(obj)
            if mask is not None:
                nulls |= mask
            out = obj.copy()
            out[nulls] = None
            present = np.logical_not(nulls)
            # values other than str (numbers read from a CSV) become their text
            if any(not isinstance(v, str) for v in out[present][:1_000]):
                out[present] = out[present].astype(str)
        if not col.nullable:
            if nulls.any():
                raise AnalysisError(
                    f"trial table: column {col.name}: expected no NULL, found {int(nulls.sum())}"
                )
            return out.astype(str, copy=False)
        return out if out.dtype == object else out.astype(object)
    try:
        if arr.dtype.kind == "O":
            num = np.array([np.nan if _is_null(v) else float(v) for v in arr], dtype=np.float64)
        else:
            num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"trial table: column {col.name}: expected numbers, found {exc}") from exc
    if mask is not None:
        num[mask] = np.nan
    if col.sql_type == "BOOLEAN":
        bad = ~np.isnan(num) & (num != 0.0) & (num != 1.0)
        if bad.any():
            raise AnalysisError(f"trial table: column {col.name}: expected booleans, found {num[bad][0]!r}")
    if not col.nullable:
        if np.isnan(num).any():
            raise AnalysisError(
                f"trial table: column {col.name}: expected no NULL, found {int(np.isnan(num).sum())}"
            )
        if col.sql_type == "BIGINT":
            return num.astype(np.int64)
    return num


#: Nullable trial columns newer than the first trial tables (issue 14: wire time, downstream
#: streaming timings); a table without them reads them as NULL.
ADDED_COLUMNS: tuple[str, ...] = (
    "wire_s",
    "connect_wait_ms",
    "downstream_first_token_ms",
    "downstream_itl_ms",
)


@dataclass(frozen=True, eq=False)
class TrialTable:
    """Every trial of a campaign, one numpy array per :data:`~prereg.records.TRIAL_COLUMNS` column.

    Build it with :meth:`from_columns` (what a store or a Parquet/CSV reader returns) or
    :meth:`from_records`; never mutate the arrays.
    """

    plan_hash: NDArray[np.str_]
    trial_id: NDArray[np.str_]
    seq: NDArray[np.int64]
    case_id: NDArray[np.str_]
    family: NDArray[np.str_]
    arm: NDArray[np.str_]
    replay: NDArray[np.int64]
    scheduled_s: NDArray[np.float64]
    sent_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    wire_s: NDArray[np.float64]
    connect_wait_ms: NDArray[np.float64]
    lateness_ms: NDArray[np.float64]
    routing_status: NDArray[np.object_]
    routing_latency_ms: NDArray[np.float64]
    routing_first_token_ms: NDArray[np.float64]
    routing_attempts: NDArray[np.float64]
    predicted_label: NDArray[np.object_]
    gold_labels: NDArray[np.str_]
    correct: NDArray[np.float64]
    routed_model: NDArray[np.object_]
    downstream_status: NDArray[np.object_]
    downstream_latency_ms: NDArray[np.float64]
    downstream_first_token_ms: NDArray[np.float64]
    downstream_itl_ms: NDArray[np.float64]
    downstream_correct: NDArray[np.float64]
    e2e_latency_ms: NDArray[np.float64]
    tokens_in: NDArray[np.int64]
    tokens_out: NDArray[np.int64]
    cost_usd: NDArray[np.float64]
    routing_cost_usd: NDArray[np.float64]
    status: NDArray[np.str_]
    error: NDArray[np.object_]

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    def take(self, rows: NDArray[np.intp] | NDArray[np.bool_]) -> TrialTable:
        """The table of the given rows (indices or a mask), in that order."""
        return TrialTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> TrialTable:
        """A table from columns keyed by TRIAL_COLUMNS names (numpy arrays, masked arrays or lists).

        NULL may be given as ``None``, NaN or a masked entry. Extra columns are ignored; a missing
        column, a NULL in a NOT NULL column or columns of unequal length raise
        :class:`~prereg.errors.AnalysisError`.
        """
        n = len(columns["seq"]) if "seq" in columns else 0
        # Columns added after trial tables were first written (routetrial 0.x stores and CSV
        # exports) read as NULL, so an old campaign still analyses; any other gap is an error.
        columns = {**{name: [None] * n for name in ADDED_COLUMNS if name not in columns}, **columns}
        missing = [c.name for c in TRIAL_COLUMNS if c.name not in columns]
        if missing:
            raise AnalysisError(
                f"trial table: expected columns {missing}, found none of them (have {sorted(columns)})"
            )
        converted = {c.name: _convert(c, columns[c.name], n) for c in TRIAL_COLUMNS}
        return cls(**converted)

    @classmethod
    def from_records(cls, records: Iterable[TrialRecord]) -> TrialTable:
        """A table from trial records (small campaigns, tests)."""
        rows = list(records)
        names = [f.name for f in fields(TrialRecord)]
        if not rows:
            return cls.from_columns({name: [] for name in names})
        # one attrgetter call per row and a transpose in C, instead of a getattr per cell
        columns = zip(*map(attrgetter(*names), rows), strict=True)
        return cls.from_columns(dict(zip(names, map(list, columns), strict=True)))


def factorize(values: NDArray[Any]) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    """Sorted distinct non-NULL values and each entry's index into them (-1 for NULL)."""
    if values.dtype.kind in "US":
        return _factorize_str(values.astype(str, copy=False))
    nulls = _null_mask(values)
    filled = values.copy()
    filled[nulls] = ""
    uniques_t, codes = _factorize_str(filled.astype(str))
    names = list(uniques_t)
    if nulls.any():
        if "" in names and not (np.logical_not(nulls) & (filled == "")).any():
            # "" only came from NULLs: drop it and shift codes down.
            empty = names.index("")
            names.pop(empty)
            codes = np.where(codes > empty, codes - 1, codes)
        codes = np.where(nulls, -1, codes)
    return tuple(names), codes


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _factorize_str(values: NDArray[np.str_]) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    """Factorize a str array through a 64-bit hash of its code points (sorting integers is far
    cheaper than sorting strings); a hash collision, checked exactly, falls back to np.unique."""
    n = values.shape[0]
    if n == 0:
        return (), np.zeros(0, dtype=np.intp)
    width = max(values.dtype.itemsize // 4, 1)
    points = values.view(np.uint32).reshape(n, -1) if values.dtype.itemsize else np.zeros((n, 1), np.uint32)
    h = np.full(n, width, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(points.shape[1]):
            h = (h ^ points[:, j].astype(np.uint64)) * _MIX
            h ^= h >> np.uint64(29)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    firsts = values[first]
    if not np.array_equal(firsts[inverse.reshape(-1)], values):
        uniques, codes = np.unique(values, return_inverse=True)
        return tuple(str(u) for u in uniques), codes.reshape(-1).astype(np.intp)
    order = np.argsort(firsts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return tuple(str(u) for u in firsts[order]), rank[inverse.reshape(-1)].astype(np.intp)
