"""``parsing: {rule, strip_reasoning}``: a classifier that reasons before its label (Qwen3, R1).

The parser on its own, the plan's two spellings of ``parsing`` (the bare rule keeps its canonical
hash), and the live classifier against a raw OpenAI-compatible server on 127.0.0.1 that replies
``<think>...</think>\\nmath``: ``math`` with stripping, ``unparseable`` without.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _live_plans import live_plan, starter_cases
from _raw_server import RawServer
from strategies import small_plan, write_plan

from arms import ArmRequest, ClientPool, LiveArmOutcome, build_live_arms
from arms._parsing import parse_label, strip_reasoning
from prereg.canonical import canonical_hash
from prereg.errors import InputError
from prereg.loader import load_plan
from prereg.schema import ClassifierSpec, ParsingSpec, Plan

LABELS = ("code", "math", "translation")
THINKING = "<think>the user asks for a sum, so...</think>\nmath"


# --- the parser ----------------------------------------------------------------------------------


def test_a_leading_think_block_is_cut_before_the_rule_reads_the_reply() -> None:
    assert parse_label(THINKING, LABELS, "strict", strip=True) == "math"
    assert parse_label("  <THINK>\nhmm, code?\n</Think>  Math.", LABELS, "strict", strip=True) == "math"
    assert parse_label('<think>x</think>{"label": "code"}', LABELS, "json_label", strip=True) == "code"


def test_without_strip_the_reasoning_makes_the_reply_unparseable() -> None:
    assert parse_label(THINKING, LABELS, "strict") is None
    assert parse_label("math", LABELS, "strict", strip=True) == "math"  # no block: unchanged


def test_an_unclosed_think_leaves_nothing_so_the_reply_is_unparseable() -> None:
    """Cut off mid-reasoning: no label is credited, not even one the reasoning mentions."""
    assert strip_reasoning("<think>it is math") is None
    assert parse_label("<think>it is math", LABELS, "strict", strip=True) is None


def test_only_one_leading_think_block_is_stripped() -> None:
    """A tag after the label, or a second block, is text the rule sees; ``<reasoning>`` is not cut."""
    assert parse_label("math <think>x</think>", LABELS, "strict", strip=True) is None
    assert parse_label("<think>a</think><think>b</think>math", LABELS, "strict", strip=True) is None
    assert parse_label("<reasoning>x</reasoning>math", LABELS, "strict", strip=True) is None
    assert strip_reasoning("<think>a</think>b</think>c") == "b</think>c"


# --- the plan ------------------------------------------------------------------------------------


def _classifier(parsing: Any) -> ClassifierSpec:
    return ClassifierSpec.model_validate(
        {"model": "m", "backend": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"}, "parsing": parsing}
    )


def test_the_bare_rule_and_the_mapping_form_mean_the_same() -> None:
    bare = _classifier("json_label").parsing
    assert bare == ParsingSpec(rule="json_label", strip_reasoning=False)
    assert _classifier({"rule": "json_label"}).parsing == bare
    assert _classifier({"rule": "strict", "strip_reasoning": True}).parsing.strip_reasoning
    assert _classifier("strict").model_dump(mode="json")["parsing"] == "strict"


def test_a_plan_without_stripping_keeps_its_canonical_hash() -> None:
    """No stripping dumps as the bare rule: frozen plans and `{rule: strict}` hash as `strict`."""
    plan = live_plan("http://127.0.0.1:1/v1")
    doc = plan.model_dump(mode="json")
    assert doc["arms"][1]["classifier"]["parsing"] == "strict"
    doc["arms"][1]["classifier"]["parsing"] = {"rule": "strict", "strip_reasoning": False}
    assert canonical_hash(Plan.model_validate(doc)) == canonical_hash(plan)
    doc["arms"][1]["classifier"]["parsing"] = {"rule": "strict", "strip_reasoning": True}
    stripped = Plan.model_validate(doc)
    assert canonical_hash(stripped) != canonical_hash(plan)
    assert stripped.model_dump(mode="json")["arms"][1]["classifier"]["parsing"] == {
        "rule": "strict",
        "strip_reasoning": True,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("strictt", "arms[1].classifier.parsing: expected 'strict' or 'json_label', found 'strictt'"),
        (
            {"rule": "strict", "strip": True},
            "parsing.strip: unknown key 'strip': did you mean 'strip_reasoning'?",
        ),
        ({"strip_reasoning": "yes"}, "arms[1].classifier.parsing.strip_reasoning: expected a valid boolean"),
        (3, "arms[1].classifier.parsing: expected 'strict', 'json_label' or a mapping"),
    ],
)
def test_a_wrong_parsing_is_one_line_naming_the_field(tmp_path: Path, value: Any, expected: str) -> None:
    data = small_plan()
    data["arms"][1]["classifier"]["parsing"] = value
    with pytest.raises(InputError) as info:
        load_plan(write_plan(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message and expected in message, message


def test_the_json_schema_offers_both_spellings() -> None:
    schema = yaml.safe_dump(Plan.model_json_schema())
    assert "strip_reasoning" in schema


# --- end to end, through real HTTP -----------------------------------------------------------------


def _whole(text: str) -> bytes:
    payload = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + payload


def _stream(text: str) -> bytes:
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    # The reasoning arrives in pieces, the closing tag split over two chunks.
    cut = text.index("</think>") + 3
    for piece in (text[:10], text[10:cut], text[cut:]):
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        out += b"data: " + json.dumps(chunk).encode() + b"\n\n"
    out += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    return out + b"data: [DONE]\n\n"


@pytest.fixture
def thinking() -> Iterator[RawServer]:
    """An OpenAI-compatible chat server on 127.0.0.1 whose every reply reasons before its label."""
    server = RawServer(lambda body: _stream(THINKING) if body.get("stream") else _whole(THINKING))
    yield server
    server.close()


def _with_parsing(plan: Plan, parsing: Any) -> Plan:
    doc = plan.model_dump(mode="json")
    doc["arms"][1]["classifier"]["parsing"] = parsing
    return Plan.model_validate(doc)


def _route_once(plan: Plan) -> LiveArmOutcome:
    """One trial of the router arm through the real live client (``build_live_arms``)."""
    cases = starter_cases()

    async def go() -> LiveArmOutcome:
        pool = ClientPool()
        try:
            arms = build_live_arms(plan, cases, pool)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            request = ArmRequest(0, f"router:{cases[0].id}:0", cases[0], "router", 0, 0.0)
            result = await arms["router"].handle(request, lambda: loop.time() - t0)
            assert isinstance(result, LiveArmOutcome)
            return result
        finally:
            await pool.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("stream", [True, False])
def test_a_reasoning_reply_routes_as_its_label_with_strip_on(thinking: RawServer, stream: bool) -> None:
    plan = _with_parsing(live_plan(thinking.url, stream=stream), {"rule": "strict", "strip_reasoning": True})
    result = _route_once(plan)
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("ok", "math")
    assert result.downstream is not None and result.downstream.model == "small"  # math's route
    assert thinking.requests and thinking.requests[0][1]["stream"] is stream


@pytest.mark.parametrize("parsing", ["strict", {"rule": "strict", "strip_reasoning": False}])
def test_the_same_reply_is_unparseable_with_strip_off(thinking: RawServer, parsing: Any) -> None:
    result = _route_once(_with_parsing(live_plan(thinking.url), parsing))
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("unparseable", None)
    assert "under rule strict" in (result.routing.error or "")
