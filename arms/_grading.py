"""Downstream answer grading in live mode: a case's reference answer and the grader it names.

A case may carry ``reference`` and ``grader`` (a key of the plan's ``graders``). The grader kinds:

``exact``
    The normalised answer equals the normalised reference. Normalising folds case, collapses
    whitespace and drops surrounding quotes and one trailing ``.``, ``!`` or ``?``.
``numeric``
    The first number in the answer (thousands commas allowed, e.g. ``5,624.32``) is within
    ``tolerance`` of the reference number. An answer without a number is incorrect.
``regex``
    ``re.search`` finds the pattern in the answer. The pattern is the grader's ``pattern`` when
    given (``{reference}`` in it stands for the escaped reference), else the reference itself.
``judge``
    A judge model (``judge_model``, a key of the plan's ``models``, reached through the same
    kind of backend) reads the question, the reference and the answer and replies ``correct``
    or ``incorrect`` (strict parsing); any other reply, or a failed judge call, leaves the trial
    ungraded.

A case without a grader or a reference is ungraded: ``None``, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import GraderSpec

__all__ = [
    "JUDGE_PROMPT",
    "JudgeCall",
    "extract_number",
    "grade_answer",
    "grade_case",
    "judge_prompt",
    "normalise_answer",
    "regex_for",
]

#: The judge model's prompt; ``routetrial serve`` recognises its first line.
JUDGE_PROMPT = (
    "You are grading an answer against a reference answer.\n"
    "Question:\n{question}\n"
    "Reference answer:\n{reference}\n"
    "Candidate answer:\n{answer}\n"
    "Reply with exactly one word: correct or incorrect."
)

#: A coroutine function that asks the judge model and returns its verdict (None: no verdict).
JudgeCall = Callable[[str, str], Awaitable[bool | None]]

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_SPACE = re.compile(r"\s+")


def normalise_answer(text: str) -> str:
    """Case-folded, whitespace-collapsed, without surrounding quotes or one final ``.!?``."""
    s = _SPACE.sub(" ", text).strip()
    if s[-1:] in (".", "!", "?"):
        s = s[:-1].rstrip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1].strip()
        if s[-1:] in (".", "!", "?"):
            s = s[:-1].rstrip()
    return s.casefold()


def extract_number(text: str) -> float | None:
    """The first number in ``text`` (``1,234.5`` reads as 1234.5), or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    return float(m.group(0).replace(",", ""))


def regex_for(reference: str, grader: GraderSpec) -> str:
    """The pattern a ``regex`` grader searches for."""
    if grader.pattern is None:
        return reference
    return grader.pattern.replace("{reference}", re.escape(reference))


def grade_answer(answer: str, reference: str, grader: GraderSpec) -> bool:
    """Whether ``answer`` matches ``reference`` under an ``exact``, ``numeric`` or ``regex`` grader."""
    if grader.kind == "exact":
        return normalise_answer(answer) == normalise_answer(reference)
    if grader.kind == "numeric":
        got = extract_number(answer)
        want = extract_number(reference)
        if got is None or want is None:
            return False
        return abs(got - want) <= grader.tolerance
    if grader.kind == "regex":
        try:
            return re.search(regex_for(reference, grader), answer) is not None
        except re.error as exc:
            raise ArmError(f"graders: regex: expected a valid pattern, found {exc}") from exc
    raise ArmError("graders: judge graders need a judge model; call grade_case")


def judge_prompt(question: str, reference: str, answer: str) -> str:
    """The prompt sent to a judge model."""
    # str.replace, not str.format: the texts may contain braces.
    return (
        JUDGE_PROMPT.replace("{question}", question)
        .replace("{reference}", reference)
        .replace("{answer}", answer)
    )


async def grade_case(
    case: Case,
    answer: str,
    graders: Mapping[str, GraderSpec],
    judges: Mapping[str, JudgeCall],
) -> bool | None:
    """Grade a downstream answer for ``case``; None when the case is ungraded.

    ``judges`` maps a judge model key to a coroutine function ``(prompt, trial_tag) -> verdict``;
    it is consulted only for ``judge`` graders.
    """
    if case.grader is None or case.reference is None:
        return None
    grader = graders.get(case.grader)
    if grader is None:
        raise ArmError(f"corpus: case {case.id}: grader: expected a key of graders, found {case.grader!r}")
    if grader.kind != "judge":
        return grade_answer(answer, case.reference, grader)
    if grader.judge_model is None or grader.judge_model not in judges:
        raise ArmError(
            f"graders.{case.grader}.judge_model: expected a key of models, found {grader.judge_model!r}"
        )
    return await judges[grader.judge_model](judge_prompt(case.text, case.reference, answer), case.id)
