"""What the simulated server says: reply texts and OpenAI-shaped bodies and stream events.

Pure functions, so the server module keeps to HTTP. The texts are built so that the plan's own
parsing rule and graders read them the way the simulated behaviour decided: a correct downstream
answer is one its grader accepts, a wrong one is one it rejects.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from arms import JUDGE_PROMPT, grade_answer, normalise_answer
from prereg.records import Case
from prereg.schema import GraderSpec

__all__ = [
    "GARBAGE_BODY",
    "GARBAGE_STREAM",
    "JUDGE_MARK",
    "UNPARSEABLE_LABEL",
    "WRONG_ANSWER",
    "answer_text",
    "classifier_text",
    "completion_body",
    "judge_verdict",
    "stream_events",
]

#: The first line of a judge prompt (how the server knows a judge request).
JUDGE_MARK = JUDGE_PROMPT.split("\n", 1)[0]
WRONG_ANSWER = "I am not able to answer that."
UNPARSEABLE_LABEL = "Hard to say; it could be several things."
GARBAGE_BODY = b"<html><body>502 upstream hiccup {not json"
GARBAGE_STREAM = b'data: {"choices": [{"delta": {"content": "co\n\ndata: <<garbage>>\n\n'

_REGEX_SYNTAX = re.compile(r"\\[bBAZ]|[\^$]")


def _regex_example(pattern: str) -> str:
    """A text that a simple pattern such as ``\\b429\\b`` matches (anchors and escapes dropped)."""
    return re.sub(r"\\(.)", r"\1", _REGEX_SYNTAX.sub("", pattern))


def answer_text(case: Case, correct: bool, grader: GraderSpec | None, model: str) -> str:
    """The downstream answer: accepted by the case's grader exactly when ``correct``."""
    if case.reference is None or grader is None:
        return f"Simulated answer by {model} to case {case.id}."
    if not correct:
        return WRONG_ANSWER
    if grader.kind == "numeric":
        return f"The answer is {case.reference}."
    if grader.kind == "regex":
        example = _regex_example(case.reference if grader.pattern is None else grader.pattern)
        text = f"It is {example}."
        try:
            if grade_answer(text, case.reference, grader):
                return text
        except Exception:
            pass
        return case.reference
    return case.reference


def judge_verdict(prompt: str) -> str:
    """``correct`` when the candidate answer in a judge prompt contains the reference."""
    try:
        rest = prompt.split("Reference answer:\n", 1)[1]
        reference, rest = rest.split("\nCandidate answer:\n", 1)
        answer = rest.rsplit("\nReply with exactly one word", 1)[0]
    except IndexError:
        return "incorrect"
    return "correct" if normalise_answer(reference) in normalise_answer(answer) else "incorrect"


def classifier_text(label: str | None, json_reply: bool) -> str:
    """The classifier's reply: the bare label, or ``{"label": ...}``; junk when label is None."""
    if label is None:
        return UNPARSEABLE_LABEL
    return json.dumps({"label": label}) if json_reply else label


def _usage(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def completion_body(
    model: str, texts: list[str], tokens_in: int, tokens_out: int, serial: int
) -> dict[str, Any]:
    """A non-streamed chat-completions body: one choice per text (``n`` of them), indices 0..n-1.

    ``tokens_out`` is already the completion tokens of all the choices; the prompt counts once,
    as OpenAI and vLLM count it. ``serial`` is the request's number in the server's log.
    """
    return {
        "id": f"chatcmpl-sim-{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for i, text in enumerate(texts)
        ],
        "usage": _usage(tokens_in, tokens_out),
    }


def _choice_events(index: int, text: str) -> list[dict[str, Any]]:
    """The ``choices`` entries one choice streams: its role, its content pieces, its finish."""
    step = max(1, -(-len(text) // 4))
    pieces = [text[i : i + step] for i in range(0, len(text), step)] or [""]
    out: list[dict[str, Any]] = [{"index": index, "delta": {"role": "assistant", "content": ""}}]
    out.extend({"index": index, "delta": {"content": piece}} for piece in pieces)
    out.append({"index": index, "delta": {}, "finish_reason": "stop"})
    return out


def stream_events(
    model: str, texts: list[str], tokens_in: int, tokens_out: int, serial: int, *, usage: bool
) -> list[bytes]:
    """SSE events of a streamed reply: content pieces, the finishes, usage (if asked), ``[DONE]``.

    With several choices each event carries one choice (its ``index`` says which), taken in turn
    round the choices as a sampling server interleaves them, so a client must join the pieces by
    index; each choice ends with its own ``finish_reason``. With one choice this is the plain
    single-choice stream.
    """
    base: dict[str, Any] = {"id": f"chatcmpl-sim-{serial}", "object": "chat.completion.chunk", "model": model}

    def event(obj: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({**base, **obj}).encode() + b"\n\n"

    per_choice = [_choice_events(i, text) for i, text in enumerate(texts)]
    out = [
        event({"choices": [events[k]]})
        for k in range(max(len(events) for events in per_choice))
        for events in per_choice
        if k < len(events)
    ]
    if usage:
        out.append(event({"choices": [], "usage": _usage(tokens_in, tokens_out)}))
    out.append(b"data: [DONE]\n\n")
    return out
