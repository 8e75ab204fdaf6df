"""The plan's parsing rules and the live graders, as pure functions."""

from __future__ import annotations

import asyncio

import pytest

from arms._grading import extract_number, grade_answer, grade_case, judge_prompt
from arms._parsing import parse_label, parse_verdict
from experiment.serve import answer_text, judge_verdict
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import GraderSpec

LABELS = ("code", "math", "knowledge_qa")


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("code", "code"),
        ("  Math\n", "math"),
        ('"code"', "code"),
        ("'math'.", "math"),
        ('"code."', "code"),
        ("KNOWLEDGE_QA.", "knowledge_qa"),
        ("`math`", "math"),
        ("code, I think", None),
        ("poetry", None),
        ("", None),
        ('"code', None),
        ("code..", None),
        ('{"label": "code"}', None),
    ],
)
def test_strict_rule(reply: str, label: str | None) -> None:
    """Strict parsing accepts a label with case, quotes and one period, and nothing else."""
    assert parse_label(reply, LABELS, "strict") == label


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ('{"label": "code"}', "code"),
        (' {"label": " Math ", "why": "x"} ', "math"),
        ('{"label": "poetry"}', None),
        ('{"label": 3}', None),
        ('["code"]', None),
        ("code", None),
        ('{"answer": "code"}', None),
        ('{"label": "code"', None),
    ],
)
def test_json_label_rule(reply: str, label: str | None) -> None:
    """json_label parsing needs an object whose label field names a taxonomy label."""
    assert parse_label(reply, LABELS, "json_label") == label


def test_verdicts() -> None:
    """A judge's reply is correct, incorrect, or no verdict."""
    assert [parse_verdict(t) for t in ("Correct.", "incorrect", "maybe")] == [True, False, None]


@pytest.mark.parametrize(
    ("answer", "reference", "grader", "ok"),
    [
        ("The balance is $5,624.32.", "5624.32", GraderSpec(kind="numeric", tolerance=0.01), True),
        ("x = -12", "-12", GraderSpec(kind="numeric"), True),
        ("about 31 dollars", "30.88", GraderSpec(kind="numeric", tolerance=0.01), False),
        ("no idea", "8", GraderSpec(kind="numeric", tolerance=1.0), False),
        ('"Canberra."', "Canberra", GraderSpec(kind="exact"), True),
        ("  w ", "W", GraderSpec(kind="exact"), True),
        ("It is Sydney", "Canberra", GraderSpec(kind="exact"), False),
        ("Use 429 Too Many Requests", r"\b429\b", GraderSpec(kind="regex"), True),
        ("4290", r"\b429\b", GraderSpec(kind="regex"), False),
        ("It's CHF", "CHF", GraderSpec(kind="regex", pattern=r"\b{reference}\b"), True),
    ],
)
def test_graders(answer: str, reference: str, grader: GraderSpec, ok: bool) -> None:
    """exact, numeric and regex graders accept exactly the right answers."""
    assert grade_answer(answer, reference, grader) is ok


def test_first_number_is_read() -> None:
    """The numeric grader reads the first number, thousands commas included."""
    assert [extract_number(t) for t in ("1,234.5 and 7", "none", "-.5")] == [1234.5, None, -0.5]


def test_ungraded_and_judged_cases() -> None:
    """No grader means None; a judge grader asks the judge; an unknown grader is an ArmError."""
    graders = {"j": GraderSpec(kind="judge", judge_model="big")}
    asked: list[str] = []

    async def judge(prompt: str, tag: str) -> bool | None:
        asked.append(tag)
        return judge_verdict(prompt) == "correct"

    plain = Case("c1", "q?", "math", ("math",))
    judged = Case("c2", "Capital of Peru?", "knowledge_qa", ("knowledge_qa",), "Lima", "j")
    run = asyncio.run
    assert run(grade_case(plain, "x", graders, {"big": judge})) is None
    assert run(grade_case(judged, "It is Lima.", graders, {"big": judge})) is True
    assert run(grade_case(judged, "It is Cusco.", graders, {"big": judge})) is False
    assert asked == ["c2", "c2"]
    with pytest.raises(ArmError, match="grader"):
        run(grade_case(Case("c3", "q", "math", ("math",), "1", "nope"), "1", graders, {}))


def test_judge_prompt_keeps_braces() -> None:
    """Texts with braces go into the judge prompt untouched."""
    assert "{x}" in judge_prompt("what is {x}?", "1", "2")


@pytest.mark.parametrize(
    "grader", [GraderSpec(kind="numeric"), GraderSpec(kind="exact"), GraderSpec(kind="regex")]
)
@pytest.mark.parametrize("correct", [True, False])
def test_server_answers_are_graded_as_decided(grader: GraderSpec, correct: bool) -> None:
    """The simulated server's answer passes the grader exactly when the behaviour said correct."""
    reference = {"numeric": "30.88", "exact": "Canberra", "regex": r"\b429\b"}[grader.kind]
    case = Case("c", "q", "math", ("math",), reference, "g")
    assert grade_answer(answer_text(case, correct, grader, "m"), reference, grader) is correct
