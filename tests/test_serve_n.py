"""``routetrial serve`` honours ``n`` as a sampling server does: ``n`` choices in one reply.

Through real HTTP on 127.0.0.1: ``n`` choices with indices 0..n-1, in the JSON body and in a
stream (each event's choices carry their ``index``, each choice ends with its own
``finish_reason``), each one an allowed label under a structured-output constraint, usage
counting every choice's completion tokens. The ``n`` choices are the draws ``n`` one-choice
requests would have got, so a seed gives the same draws whatever ``n`` is; a bad ``n`` is a 400
naming it. With ``n`` absent or 1 the reply is the single-choice one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from _live_plans import sim_plan, starter_cases

from arms import JUDGE_PROMPT
from experiment.serve import FaultSpec, ServerThread, SimulatedServer, build_app

ALLOWED = ["translation", "creative_writing"]
#: The most choices a request may ask for (serve's ``MAX_N``, not on its face).
MAX_N = 16
CASES = starter_cases()
JSON_SCHEMA = {
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "l",
            "schema": {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": ALLOWED}},
                "required": ["label"],
            },
        },
    }
}


@contextmanager
def serving(faults: FaultSpec | None = None) -> Iterator[str]:
    """A fresh server (its draws from the start of their streams); yields its root URL."""
    server = SimulatedServer(sim_plan(), CASES, "f" * 64, faults or FaultSpec())
    thread = ServerThread(build_app(server)).start()
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serving() as url:
        yield url


def ask(root: str, extra: dict[str, Any], text: str, model: str = "router-llm") -> httpx.Response:
    content = f"Request: {text}" if model == "router-llm" else text
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{root}/v1/chat/completions", json=body, timeout=30)


def contents(response: httpx.Response) -> list[str]:
    """The choices' texts of a JSON reply, checking their indices and finish reasons."""
    assert response.status_code == 200, response.text
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == list(range(len(choices)))
    assert all(c["finish_reason"] == "stop" for c in choices)
    return [str(c["message"]["content"]) for c in choices]


def streamed(response: httpx.Response) -> tuple[dict[int, str], dict[int, list[str]], dict[str, Any]]:
    """Texts by index, finish reasons by index and the usage of an SSE reply ending in [DONE]."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    texts: dict[int, str] = {}
    finishes: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    for raw in events[:-1]:
        chunk = json.loads(raw)
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            i = choice["index"]
            texts[i] = texts.get(i, "") + choice["delta"].get("content", "")
            if choice.get("finish_reason") is not None:
                finishes.setdefault(i, []).append(choice["finish_reason"])
    return texts, finishes, usage


def test_n_choices_in_one_json_reply_each_allowed(root: str) -> None:
    """n=3 under guided_choice: three choices, indices 0..2, each an allowed label; usage x3."""
    for case in CASES[:12]:
        one = ask(root, {"guided_choice": ALLOWED}, case.text)
        three = ask(root, {"guided_choice": ALLOWED, "n": 3}, case.text)
        labels = contents(three)
        assert len(labels) == 3 and set(labels) <= set(ALLOWED), labels
        u1, u3 = one.json()["usage"], three.json()["usage"]
        assert u3["prompt_tokens"] == u1["prompt_tokens"]
        assert u3["completion_tokens"] == 3 * u1["completion_tokens"]
        assert u3["total_tokens"] == u3["prompt_tokens"] + u3["completion_tokens"]


def test_n_choices_in_one_stream_each_allowed_with_its_own_finish(root: str) -> None:
    """n=4 streamed under a JSON schema: four indices, each joined text an allowed label, each
    with exactly one finish_reason; the usage event counts all four choices."""
    usage = {"stream": True, "stream_options": {"include_usage": True}}
    for case in CASES[:8]:
        texts, finishes, used = streamed(ask(root, {**JSON_SCHEMA, **usage, "n": 4}, case.text))
        assert sorted(texts) == [0, 1, 2, 3]
        assert finishes == {i: ["stop"] for i in range(4)}
        assert {json.loads(t)["label"] for t in texts.values()} <= set(ALLOWED), texts
        single = ask(root, {**JSON_SCHEMA, **usage}, case.text)
        assert used["completion_tokens"] == 4 * streamed(single)[2]["completion_tokens"]


def test_downstream_and_judge_honour_n(root: str) -> None:
    """A downstream model (n answers, each as its constraint shapes it) and a judge (n verdicts)."""
    case = CASES[0]
    answers = contents(
        ask(root, {"n": 5, "response_format": {"type": "json_object"}}, case.text, "large-llm")
    )
    assert len(answers) == 5 and all(set(json.loads(a)) == {"answer"} for a in answers)
    plain = contents(ask(root, {"n": 2, "guided_choice": ["yes", "no"]}, case.text, "small-llm"))
    assert len(plain) == 2 and set(plain) <= {"yes", "no"}
    prompt = JUDGE_PROMPT.format(question=case.text, reference="Paris", answer="It is Paris.")
    assert contents(ask(root, {"n": 3}, prompt, "large-llm")) == ["correct"] * 3


def test_n_choices_are_the_draws_of_n_single_requests() -> None:
    """Same seed, same draws: a fresh server's n=3 reply holds what three n=1 requests get from
    another fresh server, streamed or not, constrained or not."""
    for extra in ({}, {"guided_choice": ALLOWED}):
        for case in CASES[:3]:
            with serving() as a, serving() as b, serving() as c:
                singles = [contents(ask(a, extra, case.text))[0] for _ in range(3)]
                assert contents(ask(b, {**extra, "n": 3}, case.text)) == singles
                texts, _, _ = streamed(ask(c, {**extra, "n": 3, "stream": True}, case.text))
                assert [texts[i] for i in range(3)] == singles


def test_n_one_is_the_default_reply() -> None:
    """n=1 and n absent (and null) get the same single choice from the same draws."""
    with serving() as a, serving() as b, serving() as c:
        for case in CASES[:10]:
            got = [
                contents(ask(url, extra, case.text))
                for url, extra in ((a, {}), (b, {"n": 1}), (c, {"n": None}))
            ]
            assert got[0] == got[1] == got[2] and len(got[0]) == 1


def test_single_choice_stream_is_unchanged() -> None:
    """The one-choice stream keeps its exact bytes: a role event, up to four content pieces, the
    finish, the usage, [DONE] (n=1 replies are what they were before n was honoured)."""
    body = {"stream": True, "stream_options": {"include_usage": True}}
    with serving() as a, serving() as b:
        for case in CASES[:6]:
            plain = ask(a, {}, case.text)
            got = ask(b, body, case.text)
            text, usage = contents(plain)[0], plain.json()["usage"]
            serial = int(plain.json()["id"].rsplit("-", 1)[1])
            head = {"id": f"chatcmpl-sim-{serial}", "object": "chat.completion.chunk", "model": "router-llm"}
            step = max(1, -(-len(text) // 4))
            chunks: list[dict[str, Any]] = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
            ]
            chunks += [
                {"choices": [{"index": 0, "delta": {"content": text[i : i + step]}}]}
                for i in range(0, len(text), step)
            ]
            chunks += [
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": usage},
            ]
            expected = b"".join(b"data: " + json.dumps({**head, **c}).encode() + b"\n\n" for c in chunks)
            assert got.content == expected + b"data: [DONE]\n\n"


def test_empty_fault_empties_every_choice() -> None:
    """An injected empty reply is empty in every choice, streamed or not."""
    with serving(FaultSpec(empty_rate=1.0)) as url:
        assert contents(ask(url, {"n": 3}, CASES[0].text)) == ["", "", ""]
        texts, finishes, _ = streamed(ask(url, {"n": 3, "stream": True}, CASES[0].text))
        assert texts == {0: "", 1: "", 2: ""} and sorted(finishes) == [0, 1, 2]


def test_largest_n_is_served(root: str) -> None:
    assert len(contents(ask(root, {"n": MAX_N, "guided_choice": ALLOWED}, CASES[0].text))) == MAX_N


@pytest.mark.parametrize("n", [0, -1, MAX_N + 1, 2.5, "2", True, [2], {"n": 2}])
def test_a_bad_n_is_a_400_naming_it(root: str, n: Any) -> None:
    response = ask(root, {"n": n}, CASES[0].text)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == 400 and error["param"] == "n"
    assert error["message"].startswith(f"n: expected an integer from 1 to {MAX_N}")


def test_a_bad_constraint_names_its_field(root: str) -> None:
    response = ask(root, {"response_format": {"type": "xml"}}, CASES[0].text)
    assert response.status_code == 400 and response.json()["error"]["param"] == "response_format"
