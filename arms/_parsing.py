"""The plan's parsing rule: turning a classifier's raw reply into one taxonomy label.

Two rules exist, named in the plan (``classifier.parsing``):

``strict``
    The reply, stripped of surrounding whitespace, optionally wrapped in one pair of quotes
    (``"``, ``'`` or a backtick) and optionally ending in one period, equals a taxonomy label
    up to letter case. ``" Code."`` and ``'"math"'`` parse; ``"code, I think"`` does not.
``json_label``
    The reply is a JSON object with a string field ``label`` (other fields are ignored) whose
    value, stripped, equals a taxonomy label up to letter case.

With ``strip_reasoning`` (the plan's ``parsing: {rule: ..., strip_reasoning: true}``), a reply
that opens with a ``<think>...</think>`` block, as Qwen3 and DeepSeek-R1 reply, has that block cut
before the rule reads the rest: ``"<think>a sum, so...</think>\nmath"`` parses as ``math``. Only
``<think>`` (the tag those models emit) and only one leading block: a tag elsewhere in the reply is
text the rule sees. A ``<think>`` that is never closed leaves nothing to read, so the reply is
unparseable; the model ran out of tokens before it named a label, and crediting a label found
inside its reasoning would credit a guess it did not commit to.

Anything else, including a well-formed reply naming a label outside the taxonomy, is
unparseable: :func:`parse_label` returns None and the trial's routing status is ``unparseable``.
There is no fuzzy matching on purpose: a lenient parser would credit the router with answers it
did not give.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from prereg.schema import ParsingRule

__all__ = ["ParsingRule", "parse_label", "parse_verdict", "strip_reasoning"]

_QUOTES = ('"', "'", "`")
_OPEN, _CLOSE = "<think>", "</think>"


def strip_reasoning(text: str) -> str | None:
    """``text`` without its leading ``<think>...</think>`` block; None when the block is unclosed.

    A reply with no leading block comes back unchanged. The opening tag is matched up to letter
    case after leading whitespace; the first closing tag ends the block.
    """
    s = text.lstrip()
    if s[: len(_OPEN)].casefold() != _OPEN:
        return text
    end = s.casefold().find(_CLOSE, len(_OPEN))
    if end < 0:
        return None
    return s[end + len(_CLOSE) :]


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


def parse_label(text: str, labels: Sequence[str], rule: ParsingRule, *, strip: bool = False) -> str | None:
    """The taxonomy label a reply names under ``rule``, or None when it names none.

    The label is returned as spelled in ``labels`` (the taxonomy), whatever the reply's case.
    With ``strip``, a leading reasoning block is cut first (:func:`strip_reasoning`).
    """
    if strip:
        stripped = strip_reasoning(text)
        if stripped is None:
            return None
        text = stripped
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
