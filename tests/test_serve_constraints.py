"""``routetrial serve`` honours structured-output constraints like a constrained server (issue 14).

Through real HTTP on 127.0.0.1: asked to choose among two labels, every answer is one of them, in
the shape the dialect asks for; a malformed constraint is a 400. (Like a sampling server, serve
draws in the order requests arrive, so a repeated request may get another allowed label.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _live_plans import sim_plan, starter_cases

from experiment.serve import FaultSpec, ServerThread, SimulatedServer, build_app

ALLOWED = ["translation", "creative_writing"]
CASES = starter_cases()


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    server = SimulatedServer(sim_plan(), CASES, "f" * 64, FaultSpec())
    thread = ServerThread(build_app(server)).start()
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.stop()


def ask(root: str, extra: dict[str, Any], text: str) -> httpx.Response:
    body = {"model": "router-llm", "messages": [{"role": "user", "content": f"Request: {text}"}], **extra}
    return httpx.post(f"{root}/v1/chat/completions", json=body, timeout=30)


def enum_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ALLOWED}},
        "required": ["label"],
    }


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


@pytest.mark.parametrize(
    ("extra", "json_object"),
    [
        ({"structured_outputs": {"choice": ALLOWED}}, False),
        ({"guided_choice": ALLOWED}, False),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "l", "schema": enum_schema()},
                }
            },
            True,
        ),
        ({"response_format": {"type": "json_object", "schema": enum_schema()}}, True),
    ],
    ids=["structured_outputs", "guided_choice", "json_schema", "json_object_schema"],
)
def test_every_answer_is_an_allowed_label(root: str, extra: dict[str, Any], json_object: bool) -> None:
    labels = []
    for case in CASES[:24]:
        text = answer(ask(root, extra, case.text))
        labels.append(json.loads(text)["label"] if json_object else text)
    assert set(labels) <= set(ALLOWED), labels


@pytest.mark.parametrize(
    "extra",
    [{"guided_choice": []}, {"guided_choice": "translation"}, {"structured_outputs": {"choice": [1, 2]}}],
)
def test_a_malformed_constraint_is_a_400(root: str, extra: dict[str, Any]) -> None:
    response = ask(root, extra, CASES[0].text)
    assert response.status_code == 400
    assert "error" in response.json()
