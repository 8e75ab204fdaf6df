"""``parsing: {rule, strip_reasoning}``: a classifier that reasons before its label (Qwen3, R1).

The parser on its own, the plan's two spellings of ``parsing`` (the bare rule keeps its canonical
hash), and the live classifier against a raw OpenAI-compatible server on 127.0.0.1 that replies
``<think>...</think>\\nmath``: ``math`` with stripping, ``unparseable`` without.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _live_plans import live_plan, starter_cases
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


class ThinkingServer:
    """An OpenAI-compatible chat server on 127.0.0.1 whose every reply reasons before its label."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.bodies: list[dict[str, Any]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(body) < length:
                body += conn.recv(65536)
            request = json.loads(body)
            self.bodies.append(request)
            # One write: headers and body together (no Nagle stall, see NOTES.md).
            conn.sendall(self._stream() if request.get("stream") else self._whole())

    def _whole(self) -> bytes:
        payload = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
            }
        ).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        return head.encode() + b"Connection: close\r\n\r\n" + payload

    def _stream(self) -> bytes:
        out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        # The reasoning arrives in pieces, the closing tag split over two chunks.
        cut = self.text.index("</think>") + 3
        for piece in (self.text[:10], self.text[10:cut], self.text[cut:]):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            out += b"data: " + json.dumps(chunk).encode() + b"\n\n"
        out += b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        return out + b"data: [DONE]\n\n"

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self._sock.close()


@pytest.fixture
def thinking() -> Iterator[ThinkingServer]:
    server = ThinkingServer(THINKING)
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
def test_a_reasoning_reply_routes_as_its_label_with_strip_on(thinking: ThinkingServer, stream: bool) -> None:
    plan = _with_parsing(live_plan(thinking.url, stream=stream), {"rule": "strict", "strip_reasoning": True})
    result = _route_once(plan)
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("ok", "math")
    assert result.downstream is not None and result.downstream.model == "small"  # math's route
    assert thinking.bodies and thinking.bodies[0]["stream"] is stream


@pytest.mark.parametrize("parsing", ["strict", {"rule": "strict", "strip_reasoning": False}])
def test_the_same_reply_is_unparseable_with_strip_off(thinking: ThinkingServer, parsing: Any) -> None:
    result = _route_once(_with_parsing(live_plan(thinking.url), parsing))
    assert result.routing is not None
    assert (result.routing.status, result.routing.predicted_label) == ("unparseable", None)
    assert "under rule strict" in (result.routing.error or "")
