"""Reading an examples file: the labelled utterances an ``embedding`` or ``tfidf`` router learns from.

An examples file is JSON Lines, one object a line with exactly ``id``, ``text`` and ``label``
(docs/routers.md). It is pinned in the plan by its SHA-256, like the corpus, so the plan's hash
binds it: a file changed after freezing fails ``check`` and with it ``verify`` and ``run``.
Problems that do not depend on a plan are caught here, with the line they are on: malformed
JSON, unknown or missing keys, wrong types, duplicate ids and an empty file. Whether the labels
belong to the taxonomy, and whether an example overlaps the corpus, is checked by
:mod:`prereg._check_examples`, which knows both.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prereg.canonical import bytes_hash
from prereg.errors import CorpusError

__all__ = [
    "MAX_EXAMPLES_BYTES",
    "Example",
    "load_pinned_examples",
    "normalise_text",
    "parse_examples",
    "read_examples_bytes",
]

#: The largest examples file read: every example is encoded (or vectorised) when the arm is built.
MAX_EXAMPLES_BYTES = 50 * 1024 * 1024

_KEYS = ("id", "text", "label")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled utterance: its id, its text, the taxonomy label it stands for, its line."""

    id: str
    text: str
    label: str
    #: The 1-based line of the file it is on, for messages.
    line: int


def normalise_text(text: str) -> str:
    """``text`` with runs of whitespace as one space, trimmed and case-folded: what overlap compares.

    An example that differs from a corpus case only in spacing or case is the same request: a
    router that learnt it would be scored on its own training data.
    """
    return " ".join(text.split()).casefold()


def read_examples_bytes(path: Path) -> bytes:
    """The bytes of an examples file, refused with one line when missing, unreadable or too large.

    The :class:`~prereg.errors.CorpusError` says what was expected and found, without a file or
    field: the caller knows the plan field that names the path and puts the message there.
    """
    where = f"an examples file at {str(path)!r}"
    try:
        info = Path(path).stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise IsADirectoryError(0, "not a regular file")
        if info.st_size <= MAX_EXAMPLES_BYTES:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_EXAMPLES_BYTES + 1)
    except FileNotFoundError:
        raise CorpusError(f"expected {where}, found no such file") from None
    except OSError as exc:
        raise CorpusError(f"expected {where} (readable), found {exc.strerror}") from None
    except ValueError:  # a NUL character in the path
        raise CorpusError("expected a file path, found a path containing a NUL character") from None
    if info.st_size > MAX_EXAMPLES_BYTES or len(data) > MAX_EXAMPLES_BYTES:
        limit = MAX_EXAMPLES_BYTES // (1024 * 1024)
        raise CorpusError(f"expected {where} of at most {limit} MB, found more")
    return data


def load_pinned_examples(path: Path, sha256: str) -> tuple[Example, ...]:
    """Read, verify against its pinned ``sha256`` and parse an examples file (when an arm is built).

    ``check`` refused the plan already if the file was missing, changed or malformed; reading it
    again here means the router learns from exactly the bytes the plan pins, even if the file
    changed in between. Raises :class:`~prereg.errors.CorpusError` (one line, no field).
    """
    data = read_examples_bytes(path)
    found = bytes_hash(data)
    if found != sha256:
        raise CorpusError(f"expected the pinned hash {sha256}, found {found} for {path}")
    return parse_examples(data, name=str(path))


def parse_examples(data: bytes, *, name: str) -> tuple[Example, ...]:
    """Parse examples bytes (JSON Lines); ``name`` (the file) is used in error messages.

    Raises :class:`~prereg.errors.CorpusError` naming the file and the line at fault.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"byte {exc.start}: expected UTF-8 text, found byte 0x{data[exc.start]:02x}", file=name
        ) from None
    examples: list[Example] = []
    first_line: dict[str, int] = {}
    # JSON Lines splits on "\n" only (prereg.corpus.json_lines says why).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        example = _parse_line(line, number, name)
        if example.id in first_line:
            raise CorpusError(
                f"id: expected a unique example id, found {example.id!r} again (first on line "
                f"{first_line[example.id]})",
                file=name,
                field=f"line {number}",
            )
        first_line[example.id] = number
        examples.append(example)
    if not examples:
        raise CorpusError("expected at least one example, found an empty file", file=name)
    return tuple(examples)


def _parse_line(line: str, number: int, name: str) -> Example:
    where = f"line {number}"
    try:
        obj: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"column {exc.colno}: expected a JSON object, found invalid JSON ({exc.msg})",
            file=name,
            field=where,
        ) from None
    except RecursionError:
        raise CorpusError(
            "expected a JSON object of an example, found values nested too deeply to read",
            file=name,
            field=where,
        ) from None
    if not isinstance(obj, dict):
        raise CorpusError(f"expected a JSON object, found {type(obj).__name__}", file=name, field=where)
    for key in obj:
        if key not in _KEYS:
            raise CorpusError(
                f"unknown key {key!r}: expected one of {', '.join(_KEYS)}", file=name, field=where
            )
    values: list[str] = []
    for key in _KEYS:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            shown = "nothing" if key not in obj else json.dumps(value, ensure_ascii=False)[:60]
            raise CorpusError(f"{key}: expected a non-empty string, found {shown}", file=name, field=where)
        values.append(value)
    return Example(id=values[0], text=values[1], label=values[2], line=number)
