"""Byte-deterministic JSON for the results document, and its inverse.

Keys are sorted, floats are rounded to 10 significant digits (so platform noise in the last bits
does not change the bytes) and written with Python's shortest round-trip repr; non-finite floats
become ``null``. The document carries ``schema_version`` (docs/results-schema.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from analysis._results import SCHEMA_VERSION, Results
from prereg.errors import AnalysisError

__all__ = ["results_from_json", "results_to_json"]


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and dicts to JSON-ready values with rounded floats."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_if_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.10g}") if value != 0.0 else 0.0
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    # numpy scalars that slipped through
    if hasattr(value, "item"):
        return _plain(value.item())
    raise TypeError(f"cannot serialise {type(value).__name__}")


def results_to_json(results: Results) -> str:
    """The results as JSON text: sorted keys, two-space indent, trailing newline, deterministic."""
    return json.dumps(_plain(results), sort_keys=True, indent=2, allow_nan=False) + "\n"


def _build(tp: Any, data: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _build(arg, data, path)
            except AnalysisError:
                continue
        raise AnalysisError(f"results JSON: {path}: expected {tp}, found {data!r}")
    if origin is Literal:
        if data not in get_args(tp):
            raise AnalysisError(f"results JSON: {path}: expected one of {get_args(tp)}, found {data!r}")
        return data
    if origin is tuple:
        if not isinstance(data, list):
            raise AnalysisError(f"results JSON: {path}: expected a list, found {data!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        return tuple(_build(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=False)))
    if origin is dict:
        if not isinstance(data, dict):
            raise AnalysisError(f"results JSON: {path}: expected an object, found {data!r}")
        _, vt = get_args(tp)
        return {k: _build(vt, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise AnalysisError(f"results JSON: {path}: expected an object, found {data!r}")
        hints = get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise AnalysisError(f"results JSON: {path}: expected keys {names}, found unknown {unknown}")
        optional = {f.name for f in dataclasses.fields(tp) if f.metadata.get("omit_if_none")}
        missing = [n for n in names if n not in data and n not in optional]
        if missing:
            raise AnalysisError(f"results JSON: {path}: expected keys {missing}, found none")
        return tp(**{n: _build(hints[n], data.get(n), f"{path}.{n}") for n in names})
    if tp is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif tp is bool or tp is str:
        if isinstance(data, tp):
            return data
    elif tp is typing.Any:
        return data
    raise AnalysisError(f"results JSON: {path}: expected {getattr(tp, '__name__', tp)}, found {data!r}")


def results_from_json(text: str) -> Results:
    """Results from their JSON text; a wrong schema version or shape raises AnalysisError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"results JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise AnalysisError(f"results JSON: schema_version: expected {SCHEMA_VERSION}, found {version!r}")
    result = _build(Results, data, "$")
    assert isinstance(result, Results)
    return result
