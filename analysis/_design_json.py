"""Byte-deterministic JSON for the design diagnosis document, and its inverse.

Keys are sorted, two-space indent, a final newline, non-ASCII text kept as is, NaN refused. Unlike
:mod:`analysis._json` no float is rounded here: the figures are rounded where they are computed
(shares and means to 6 decimals, reference latencies to 3), and rounding again to significant
digits would change the bytes of schema 2 for latencies of 10 s and more. A field marked
``omit_none`` is left out when None, as schema 2 writes it (docs/design.md).
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from analysis._design_results import DESIGN_KIND, DESIGN_SCHEMA_VERSION, DiagnosisResult
from prereg.errors import AnalysisError

__all__ = ["design_results_from_json", "design_results_to_json"]


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and dicts to JSON-ready values (dict keys as text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot serialise {type(value).__name__}")


def design_results_to_json(result: DiagnosisResult) -> str:
    """The design diagnosis as JSON text.

    Parameters
    ----------
    result
        The document :func:`experiment.design.diagnose` returned.

    Returns
    -------
    str
        Sorted keys, two-space indent, a final newline: the same document gives the same bytes.
    """
    return json.dumps(_plain(result), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _fail(path: str, expected: object, data: Any) -> AnalysisError:
    return AnalysisError(f"design JSON: {path}: expected {expected}, found {data!r}")


def _build(tp: Any, data: Any, path: str) -> Any:
    """``data`` (parsed JSON) as a value of type ``tp``, or AnalysisError naming the path."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _build(arg, data, path)
                except AnalysisError:
                    continue
        raise _fail(path, tp, data)
    if origin is Literal:
        if data not in get_args(tp):
            raise _fail(path, f"one of {get_args(tp)}", data)
        return data
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(data, list) or (args[-1] is not Ellipsis and len(args) != len(data)):
            raise _fail(path, f"a list for {tp}", data)
        items = [args[0]] * len(data) if args[-1] is Ellipsis else list(args)
        return tuple(_build(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(items, data, strict=True)))
    if origin is dict:
        if not isinstance(data, dict):
            raise _fail(path, "an object", data)
        kt, vt = get_args(tp)
        return {_key(kt, k, path): _build(vt, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, data, path)
    if tp is float and isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    if tp is int and isinstance(data, int) and not isinstance(data, bool):
        return data
    if tp in (bool, str) and isinstance(data, tp):
        return data
    raise _fail(path, getattr(tp, "__name__", tp), data)


def _key(tp: Any, key: str, path: str) -> Any:
    """A JSON object's key as the dict's key type (text, or a corpus size)."""
    if tp is int:
        try:
            return int(key)
        except ValueError:
            raise _fail(path, "integer keys", key) from None
    return key


def _build_dataclass(tp: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(path, "an object", data)
    hints = get_type_hints(tp)
    fields = dataclasses.fields(tp)
    names = [f.name for f in fields]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise _fail(path, f"keys {names}", f"unknown {unknown}")
    missing = [f.name for f in fields if f.name not in data and not f.metadata.get("omit_none")]
    if missing:
        raise _fail(path, f"keys {missing}", "none")
    return tp(**{n: _build(hints[n], data.get(n), f"{path}.{n}") for n in names})


def design_results_from_json(text: str) -> DiagnosisResult:
    """The design diagnosis from its JSON text.

    Parameters
    ----------
    text
        What :func:`design_results_to_json` wrote.

    Returns
    -------
    DiagnosisResult
        The document; ``design_results_to_json`` of it gives ``text`` back.

    Raises
    ------
    prereg.errors.AnalysisError
        Not JSON, not ``kind: routetrial.design`` of :data:`DESIGN_SCHEMA_VERSION`, or a key
        missing, unknown or of a wrong type.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"design JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("kind") != DESIGN_KIND:
        raise _fail("$.kind", repr(DESIGN_KIND), data.get("kind") if isinstance(data, dict) else data)
    if data.get("schema_version") != DESIGN_SCHEMA_VERSION:
        raise _fail("$.schema_version", DESIGN_SCHEMA_VERSION, data.get("schema_version"))
    result = _build(DiagnosisResult, data, "$")
    assert isinstance(result, DiagnosisResult)
    return result
