"""Reading a plan file: safe YAML in, a validated :class:`~prereg.schema.Plan` out, one-line errors.

Only PyYAML's safe loader is used (no Python objects can be built from a plan). The YAML node tree
is walked once to record where each field sits, so that an error names the file, the field path
(``arms[1].classifier.timeout_ms``), what was expected, what was found, and the line. Duplicate
mapping keys, which YAML would silently resolve to the last one, are rejected. Unknown keys get the
closest known key suggested. Only the first problem is reported; the message says how many more
there are.
"""

from __future__ import annotations

import difflib
import re
import stat
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from prereg.errors import InputError, PlanSchemaError, PlanSyntaxError
from prereg.schema import Plan

__all__ = ["MAX_DEPTH", "MAX_PLAN_BYTES", "FieldPath", "LoadedPlan", "format_path", "load_plan", "read_plan"]

FieldPath = tuple[str | int, ...]

#: A plan has a few hundred nodes; aliases could make a tiny file expand without bound.
_MAX_NODES = 200_000
#: A plan file is a few kilobytes; anything this large is a mistake (and slow to parse).
MAX_PLAN_BYTES = 10 * 1024 * 1024
#: The deepest plan nests about 8 levels; deeper input would only exhaust the parser's stack.
MAX_DEPTH = 64
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan with its exact bytes and the line of each field in the file."""

    path: Path
    data: bytes
    plan: Plan
    lines: Mapping[FieldPath, int]

    def line_of(self, path: FieldPath) -> int | None:
        """The 1-based line of a field, or of its nearest ancestor that is in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def format_path(path: FieldPath) -> str:
    """A field path as people write it: ``arms[1].classifier.timeout_ms``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.fullmatch(part):  # fullmatch: "$" would let a trailing newline through
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def load_plan(path: Path) -> Plan:
    """Read, parse and validate a plan file (structure and per-field ranges only).

    Raises :class:`PlanSyntaxError` for YAML that does not parse (with line and column) and
    :class:`PlanSchemaError` for a field that is unknown, missing or of the wrong type or range.
    Cross-field meaning is checked by :func:`prereg.check.check_plan`.
    """
    return read_plan(path).plan


def read_plan(path: Path) -> LoadedPlan:
    """Like :func:`load_plan`, also keeping the file's bytes and the line of each field."""
    path = Path(path)
    name = str(path)
    try:
        info = path.stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise IsADirectoryError(0, "not a regular file")
        if size > MAX_PLAN_BYTES:
            raise InputError(
                f"expected a plan file of at most {MAX_PLAN_BYTES // (1024 * 1024)} MB, "
                f"found {size / (1024 * 1024):,.1f} MB",
                file=name,
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise InputError("expected a plan file, found no such file", file=name) from None
    except OSError as exc:
        raise InputError(f"expected a readable plan file, found {exc.strerror}", file=name) from None
    if len(data) > MAX_PLAN_BYTES:  # a pipe or a file that grew while being read
        raise InputError(
            f"expected a plan file of at most {MAX_PLAN_BYTES // (1024 * 1024)} MB, found more", file=name
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanSyntaxError(
            f"byte {exc.start}: expected UTF-8 text, found byte 0x{data[exc.start]:02x}", file=name
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise PlanSyntaxError(f"line {line}: expected text, found a NUL byte (byte {nul})", file=name)
    raw, lines = _parse_yaml(text, name)
    if not isinstance(raw, dict):
        raise PlanSchemaError(f"expected a mapping of plan sections, found {_describe(raw)}", file=name)
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        raise _schema_error(exc, raw, lines, name) from None
    return LoadedPlan(path=path, data=data, plan=plan, lines=lines)


# --- YAML --------------------------------------------------------------------------------------


def _parse_yaml(text: str, name: str) -> tuple[Any, dict[FieldPath, int]]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character here already
        node = loader.get_single_node()
        lines: dict[FieldPath, int] = {}
        if node is not None:
            _record_lines(node, (), lines, [0], name)
        raw = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise PlanSyntaxError(problem, file=name) from None
        raise PlanSyntaxError(
            f"line {mark.line + 1}, column {mark.column + 1}: {problem}", file=name
        ) from None
    except yaml.YAMLError as exc:
        raise PlanSyntaxError(" ".join(str(exc).split()), file=name) from None
    except RecursionError:
        raise PlanSyntaxError(
            f"expected values nested at most {MAX_DEPTH} levels deep, found deeper nesting", file=name
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return raw, lines


def _record_lines(
    node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], count: list[int], name: str
) -> None:
    count[0] += 1
    if count[0] > _MAX_NODES:
        mark = node.start_mark
        raise PlanSyntaxError(
            f"line {mark.line + 1}, column {mark.column + 1}: expected a plan of at most "
            f"{_MAX_NODES} values, found more (alias expansion?)",
            file=name,
        )
    if len(path) > MAX_DEPTH:
        mark = node.start_mark
        raise PlanSyntaxError(
            f"line {mark.line + 1}, column {mark.column + 1}: expected values nested at most "
            f"{MAX_DEPTH} levels deep, found deeper nesting",
            file=name,
        )
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            if key in seen:
                mark = key_node.start_mark
                raise PlanSyntaxError(
                    f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {key!r}",
                    file=name,
                )
            seen.add(key)
            lines.setdefault((*path, key), key_node.start_mark.line + 1)
            _record_lines(value_node, (*path, key), lines, count, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, count, name)


# --- validation errors -------------------------------------------------------------------------


def _schema_error(
    exc: ValidationError, raw: dict[str, Any], lines: Mapping[FieldPath, int], name: str
) -> PlanSchemaError:
    errors = exc.errors(include_url=False)
    paths = [_clean_loc(e["loc"], raw) for e in errors]
    pick = 0
    if errors[0]["type"] == "missing":
        # A missing field next to an unknown key is usually a typo: report the typo.
        parent = paths[0][:-1]
        pick = next(
            (i for i, e in enumerate(errors) if e["type"] == "extra_forbidden" and paths[i][:-1] == parent), 0
        )
    first, path = errors[pick], paths[pick]
    field, message = _describe_error(first, path, raw)
    line = _line_of(lines, field)
    more = len({p for p in paths[1:] if p != path})
    message += f" (line {line})" if line is not None else ""
    message += f" (and {more} more)" if more else ""
    return PlanSchemaError(message, file=name, field=format_path(field) or None)


def _line_of(lines: Mapping[FieldPath, int], path: FieldPath) -> int | None:
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _clean_loc(loc: tuple[str | int, ...], raw: Any) -> FieldPath:
    """Drop the union tags pydantic inserts into locations, keeping keys and indices of the data."""
    out: list[str | int] = []
    node = raw
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, dict) and part in node:  # noqa: SIM114
            out.append(part)
            node = node[part]
        # Kept apart from the branch above (ruff's SIM114): merged, mypy can no longer narrow part.
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and last and part != "[key]":
            # A field absent from the data: the location of a missing value.
            out.append(part)
        # Anything else is a union member's tag ("router", "dict[str,float]") or "[key]".
    return tuple(out)


#: Fields whose value is never echoed in an error: a key pasted there would leak into the message.
_SECRET_FIELDS = frozenset({"api_key_env"})


def _describe_error(err: Any, path: FieldPath, raw: Any) -> tuple[FieldPath, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if path and path[-1] in _SECRET_FIELDS and kind not in ("extra_forbidden", "missing"):
        return path, (
            "expected the NAME of an environment variable (letters, digits and _, not starting "
            "with a digit), found a value that is not one (not shown: it may be the key itself)"
        )
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        known = _known_keys(path[:-1], raw)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
        return path, f"unknown key {key!r}: {hint}"
    if kind == "missing":
        return path, "expected a value (required field), found nothing"
    if kind == "union_tag_not_found":
        return (*path, "kind"), f"expected a 'kind' naming the variant, found {_describe(err['input'])}"
    if kind == "union_tag_invalid":
        tags = str(ctx.get("expected_tags", ""))
        close = difflib.get_close_matches(str(ctx.get("tag")), re.findall(r"'([^']*)'", tags), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (*path, "kind"), f"expected one of {tags}, found {ctx.get('tag')!r}{hint}"
    if kind == "value_error" and "error" in ctx:
        return path, str(ctx["error"])
    if kind == "literal_error" and "expected" in ctx:
        return path, f"expected {ctx['expected']}, found {_describe(err['input'])}"
    expected = str(err["msg"])
    if expected.startswith("Input should be "):
        expected = expected[len("Input should be ") :]
        if kind.endswith(("_parsing", "_type")):
            expected = expected.split(", ")[0]
    return path, f"expected {expected}, found {_describe(err['input'])}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_keys(path: FieldPath, raw: Any) -> list[str]:
    """The field names of the model at ``path`` (empty when it cannot be resolved)."""
    tp: Any = Plan
    node = raw
    for part in path:
        tp = _resolve(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return []
        node = _child(node, part)
    tp = _resolve(tp, node)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _resolve(tp: Any, node: Any) -> Any:
    """Unwrap ``Annotated`` and pick the union member the data selects (by ``kind``)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                field = member.model_fields.get("kind")
                if (
                    field is not None
                    and get_origin(field.annotation) is Literal
                    and kind in get_args(field.annotation)
                ):
                    return member
        return _resolve(members[0], node) if len(members) == 1 else None
    return tp


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None
