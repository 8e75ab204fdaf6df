"""Structured-output constraints and ``n`` as the test server reads them from a request body.

Dialects honoured (the first one present wins, in this order):

- vLLM ``structured_outputs: {choice: [...]}`` and the older top-level ``guided_choice: [...]``:
  the reply is one of the strings, bare;
- OpenAI ``response_format: {type: json_schema, json_schema: {schema: S}}`` and llama.cpp's
  ``response_format: {type: json_object, schema: S}``, where ``S`` is a string ``enum`` (the reply
  is that JSON string, e.g. ``"code"``) or an object whose one property is a string ``enum``
  (the reply is ``{"<property>": "<label>"}``);
- ``response_format: {type: json_object}`` without a schema: the reply is a JSON object
  (``{"label": ...}`` for a classifier, ``{"answer": ...}`` otherwise), labels unconstrained;
- ``response_format: {type: text}``: no constraint.

A malformed constraint raises :class:`ConstraintError` naming the field (the server answers 400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_N", "Constraint", "ConstraintError", "read_constraint", "read_n", "render"]

#: Most choices one request may ask for (``n``).
MAX_N = 16

Shape = Literal["bare", "json_string", "json_object"]


class ConstraintError(ValueError):
    """A request's constraint or ``n`` is malformed; the message names the field, ``param`` its top key."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        #: The request body's top-level key at fault (OpenAI's error ``param``), when known.
        self.param = param


@dataclass(frozen=True, slots=True)
class Constraint:
    """What a reply must be: one of ``allowed`` (None: any) rendered as ``shape`` (under ``key``)."""

    allowed: tuple[str, ...] | None = None
    shape: Shape = "bare"
    key: str | None = None


NONE = Constraint()


def _choices(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConstraintError(
            f"{where}: expected a non-empty list of strings, found {json.dumps(value)[:200]}"
        )
    return tuple(value)


def _from_schema(schema: Any, where: str) -> Constraint:
    """The constraint a JSON schema puts on the label (a string enum, directly or on a property)."""
    if not isinstance(schema, dict):
        raise ConstraintError(f"{where}: expected a JSON schema object, found {json.dumps(schema)[:200]}")
    if "enum" in schema:
        if schema.get("type", "string") != "string":
            raise ConstraintError(f"{where}.type: expected 'string' beside an enum, found {schema['type']!r}")
        return Constraint(_choices(schema["enum"], f"{where}.enum"), "json_string")
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, dict):
        raise ConstraintError(f"{where}: unsupported schema (expected a string enum or an object of one)")
    enums = [k for k, p in props.items() if isinstance(p, dict) and "enum" in p]
    required = schema.get("required", [])
    if len(enums) != 1 or not isinstance(required, list) or any(r != enums[0] for r in required):
        raise ConstraintError(
            f"{where}.properties: unsupported schema (expected exactly one property with a string enum, "
            "the only one required)"
        )
    key = enums[0]
    inner = _from_schema(props[key], f"{where}.properties.{key}")
    return Constraint(inner.allowed, "json_object", key)


def _from_response_format(rf: Any) -> Constraint:
    if not isinstance(rf, dict):
        raise ConstraintError(f"response_format: expected an object, found {json.dumps(rf)[:200]}")
    kind = rf.get("type")
    if kind == "text":
        return NONE
    if kind == "json_schema":
        spec = rf.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise ConstraintError("response_format.json_schema: expected an object with a 'schema'")
        return _from_schema(spec["schema"], "response_format.json_schema.schema")
    if kind == "json_object":
        if "schema" in rf:
            return _from_schema(rf["schema"], "response_format.schema")
        return Constraint(None, "json_object")
    raise ConstraintError(
        f"response_format.type: expected 'text', 'json_object' or 'json_schema', found {json.dumps(kind)}"
    )


def read_constraint(body: dict[str, Any]) -> Constraint:
    """The constraint of a request body (:data:`NONE` when it has none)."""
    try:
        return _read_constraint(body)
    except ConstraintError as exc:
        top = next(k for k in ("structured_outputs", "guided_choice", "response_format") if k in body)
        raise ConstraintError(str(exc), top) from None


def _read_constraint(body: dict[str, Any]) -> Constraint:
    if "structured_outputs" in body:
        so = body["structured_outputs"]
        if not isinstance(so, dict) or "choice" not in so:
            raise ConstraintError("structured_outputs: expected an object with 'choice'")
        return Constraint(_choices(so["choice"], "structured_outputs.choice"))
    if "guided_choice" in body:
        return Constraint(_choices(body["guided_choice"], "guided_choice"))
    if "response_format" in body:
        return _from_response_format(body["response_format"])
    return NONE


def read_n(body: dict[str, Any]) -> int:
    """The number of choices asked for (``n``; 1 when absent or null)."""
    n = body.get("n")
    if n is None:
        return 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ConstraintError(f"n: expected an integer from 1 to {MAX_N}, found {json.dumps(n)[:50]}", "n")
    return n


def render(value: str, constraint: Constraint, default_key: str) -> str:
    """The reply text of ``value`` in the constraint's shape."""
    if constraint.shape == "json_string":
        return json.dumps(value)
    if constraint.shape == "json_object":
        return json.dumps({constraint.key or default_key: value})
    return value
