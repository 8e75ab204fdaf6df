"""Reading the case file: JSON Lines in, a tuple of :class:`~prereg.records.Case` out.

Each line is one JSON object with ``id``, ``text``, ``family`` and ``gold_labels`` (every acceptable
label, the family first), and optionally ``reference`` and ``grader`` (docs/corpus.md). Problems
that do not depend on a plan are caught here, with the line they are on: malformed JSON, unknown
or missing keys, wrong types, duplicate case ids and an empty file. Whether the labels belong to
the plan's taxonomy is checked by :mod:`prereg.check`.
"""

from __future__ import annotations

import difflib
import json
import re
import stat
from pathlib import Path
from typing import Any

from prereg.errors import CorpusError
from prereg.records import Case

__all__ = ["MAX_CORPUS_BYTES", "json_lines", "load_corpus", "parse_corpus", "read_corpus_bytes"]

#: The largest corpus file read (a case file of 200 MB is about a million cases).
MAX_CORPUS_BYTES = 200 * 1024 * 1024

_KEYS = ("id", "text", "family", "gold_labels", "reference", "grader")
_REQUIRED = ("id", "text", "family", "gold_labels")
# Case ids appear inside trial ids ("<arm>:<case>:<replay>"): no colons, no spaces.
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def load_corpus(path: Path) -> tuple[Case, ...]:
    """Read and parse a corpus file; :class:`CorpusError` names the file, line and key at fault."""
    path = Path(path)
    return parse_corpus(read_corpus_bytes(path, name=str(path)), name=str(path))


def read_corpus_bytes(path: Path, *, name: str, field: str | None = None) -> bytes:
    """The bytes of a corpus file, refused with one line when missing, unreadable or too large."""
    at = f" at {str(path)!r}" if field is not None else ""
    too_big = f"expected a corpus file of at most {MAX_CORPUS_BYTES // (1024 * 1024)} MB, found"
    try:
        info = Path(path).stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero never end
            raise IsADirectoryError(0, "not a regular file")
        if size <= MAX_CORPUS_BYTES:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_CORPUS_BYTES + 1)
    except FileNotFoundError:
        raise CorpusError(f"expected a corpus file{at}, found no such file", file=name, field=field) from None
    except OSError as exc:
        raise CorpusError(
            f"expected a readable corpus file{at}, found {exc.strerror}", file=name, field=field
        ) from None
    except ValueError:  # a NUL character in the path
        raise CorpusError(
            "expected a file path, found a path containing a NUL character", file=name, field=field
        ) from None
    if size > MAX_CORPUS_BYTES:
        raise CorpusError(f"{too_big} {size / (1024 * 1024):,.1f} MB", file=name, field=field)
    if len(data) > MAX_CORPUS_BYTES:
        raise CorpusError(f"{too_big} more", file=name, field=field)
    return data


def json_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of JSON Lines text with their 1-based numbers.

    JSON Lines separates records by ``\\n`` only (a ``\\r`` before it is JSON whitespace):
    ``str.splitlines`` would also split on U+2028, U+0085 and others, which are valid raw
    characters inside a JSON string.
    """
    return [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip(" \t\r")]


def parse_corpus(data: bytes, *, name: str = "corpus.jsonl") -> tuple[Case, ...]:
    """Parse corpus bytes (JSON Lines); ``name`` is used in error messages."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"byte {exc.start}: expected UTF-8 text, found byte 0x{data[exc.start]:02x}", file=name
        ) from None
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, line in json_lines(text):
        case = _parse_line(line, number, name)
        if case.id in first_line:
            raise CorpusError(
                f"id: expected a unique case id, found {case.id!r} again (first on line {first_line[case.id]})",
                file=name,
                field=f"line {number}",
            )
        first_line[case.id] = number
        cases.append(case)
    if not cases:
        raise CorpusError("expected at least one case, found an empty corpus", file=name)
    return tuple(cases)


def _parse_line(line: str, number: int, name: str) -> Case:
    where = f"line {number}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"column {exc.colno}: expected a JSON object, found invalid JSON ({exc.msg})",
            file=name,
            field=where,
        ) from None
    except RecursionError:
        raise CorpusError(
            "expected a JSON object of a case, found values nested too deeply to read", file=name, field=where
        ) from None
    if not isinstance(obj, dict):
        raise CorpusError(f"expected a JSON object, found {type(obj).__name__}", file=name, field=where)
    for key in obj:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(_KEYS)}"
            raise CorpusError(f"unknown key {key!r}: {hint}", file=name, field=where)
    for key in _REQUIRED:
        if key not in obj:
            raise CorpusError(f"{key}: expected a value (required), found nothing", file=name, field=where)
    case_id = _string(obj, "id", where, name)
    if not _CASE_ID.fullmatch(case_id) or len(case_id) > 64:
        raise CorpusError(
            f"id: expected letters, digits, '_', '.' or '-' (at most 64), found {case_id!r}",
            file=name,
            field=where,
        )
    labels = obj["gold_labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise CorpusError(
            f"gold_labels: expected a non-empty list of labels, found {_show(labels)}", file=name, field=where
        )
    if len(set(labels)) != len(labels):
        raise CorpusError(f"gold_labels: expected distinct labels, found {labels}", file=name, field=where)
    return Case(
        id=case_id,
        text=_string(obj, "text", where, name),
        family=_string(obj, "family", where, name),
        gold_labels=tuple(labels),
        reference=_optional_string(obj, "reference", where, name),
        grader=_optional_string(obj, "grader", where, name),
    )


def _string(obj: dict[str, Any], key: str, where: str, name: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise CorpusError(f"{key}: expected a non-empty string, found {_show(value)}", file=name, field=where)
    return value


def _optional_string(obj: dict[str, Any], key: str, where: str, name: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    return _string(obj, key, where, name)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
