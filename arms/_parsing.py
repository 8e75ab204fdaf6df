"""The plan's parsing rule: turning a classifier's raw reply into one taxonomy label.

Two rules exist, named in the plan (``classifier.parsing``):

``strict``
    The reply, stripped of surrounding whitespace, optionally wrapped in one pair of quotes
    (``"``, ``'`` or a backtick) and optionally ending in one period, equals a taxonomy label
    up to letter case. ``" Code."`` and ``'"math"'`` parse; ``"code, I think"`` does not.
``json_label``
    The reply is a JSON object with a string field ``label`` (other fields are ignored) whose
    value, stripped, equals a taxonomy label up to letter case.

Anything else, including a well-formed reply naming a label outside the taxonomy, is
unparseable: :func:`parse_label` returns None and the trial's routing status is ``unparseable``.
There is no fuzzy matching on purpose: a lenient parser would credit the router with answers it
did not give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

__all__ = ["ParsingRule", "parse_label", "parse_verdict"]

ParsingRule = Literal["strict", "json_label"]

_QUOTES = ('"', "'", "`")


def _match(candidate: str, labels: Sequence[str]) -> str | None:
    folded = candidate.strip().casefold()
    for label in labels:
        if label.casefold() == folded:
            return label
    return None


def _unwrap(text: str) -> str:
    s = text.strip()
    if s.endswith("."):
        s = s[:-1].rstrip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in _QUOTES:
        s = s[1:-1].strip()
        # A period may also sit inside the quotes: "code."
        if s.endswith("."):
            s = s[:-1].rstrip()
    return s


def parse_label(text: str, labels: Sequence[str], rule: ParsingRule) -> str | None:
    """The taxonomy label a reply names under ``rule``, or None when it names none.

    The label is returned as spelled in ``labels`` (the taxonomy), whatever the reply's case.
    """
    if rule == "strict":
        return _match(_unwrap(text), labels)
    try:
        obj = json.loads(text.strip())
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    value = obj.get("label")
    if not isinstance(value, str):
        return None
    return _match(value, labels)


def parse_verdict(text: str) -> bool | None:
    """A judge model's verdict under the strict rule: ``correct`` -> True, ``incorrect`` -> False."""
    verdict = parse_label(text, ("correct", "incorrect"), "strict")
    return None if verdict is None else verdict == "correct"
