"""A configured API key is never stored, journalled or printed, even when a server echoes it.

Issue 12, item 2: a server that echoes the key in its reply text (a classifier's reply that names
no label is quoted in the trial's error) or in an error body put the key into the trial table.
The server here is a real HTTP server on 127.0.0.1 that echoes the bearer token it receives, and
also a second key of the plan (another backend's), in every reply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _live_plans import live_plan, starter_cases

from arms import REDACTED, Redactor, plan_secrets
from experiment.campaign.live import run_live_plan
from experiment.store import TrialStore
from prereg.schema import Plan

CASES = starter_cases(6)
HASH = "b" * 64
KEY_A = "sk-live-AAAA-0123456789abcdef"
#: A second key with characters that ``repr`` and JSON escape.
KEY_B = "sk-other-'quote'-\\back-9876"


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        echoed = f"your key is {token} and theirs is {KEY_B}"
        model = body["model"]
        if model == "router-llm":  # a reply that names no label: quoted in an unparseable error
            self._send(200, {"choices": [{"message": {"content": echoed}}]})
        elif model == "large-llm":  # an HTTP error whose body echoes the keys
            self._send(500, {"detail": echoed})
        else:  # an error object in a 200 body
            self._send(200, {"error": {"message": echoed, "key": KEY_B}})

    def _send(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _plan(url: str) -> Plan:
    """Every backend at the echo server with key A; the small model's backend names key B."""
    data = live_plan(url, stream=False, api_key_env="RT_TEST_KEY_A", cases=6).model_dump(mode="python")
    data["models"]["small"]["backend"]["api_key_env"] = "RT_TEST_KEY_B"
    return Plan.model_validate(data)


def test_echoed_keys_are_redacted_everywhere(
    echo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither key is in the trial table, the journal, the progress file or the output."""
    monkeypatch.setenv("RT_TEST_KEY_A", KEY_A)
    monkeypatch.setenv("RT_TEST_KEY_B", KEY_B)
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    summary = run_live_plan(_plan(echo_url), CASES, HASH, tmp_path, store, progress=True)
    assert summary.written == 12
    with TrialStore.open(store, HASH, create=False) as opened:
        cols = {k: v.tolist() for k, v in opened.read_columns().items()}
    assert set(cols["status"]) == {"unparseable", "http_error"}
    errors = [e for e in cols["error"] if e is not None]
    assert len(errors) == 12
    assert all(REDACTED in e for e in errors), errors
    texts = [str(v) for col in cols.values() for v in col] + [capsys.readouterr().out]
    texts += [p.read_text("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (KEY_A, KEY_B, repr(KEY_B)[1:-1], json.dumps(KEY_B)[1:-1], KEY_A[:12]):
        assert not any(secret in t for t in texts), secret
    quoted = next(e for e in errors if e.startswith("reply "))
    assert f"your key is {REDACTED} and theirs is {REDACTED}" in quoted


def test_plan_secrets_reads_every_named_variable(echo_url: str) -> None:
    """Keys of every backend the plan names are collected; unset variables are skipped."""
    env = {"RT_TEST_KEY_A": KEY_A, "RT_TEST_KEY_B": KEY_B}
    assert plan_secrets(_plan(echo_url), env) == tuple(sorted((KEY_A, KEY_B)))
    assert plan_secrets(_plan(echo_url), {"RT_TEST_KEY_A": KEY_A}) == (KEY_A,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a {KEY_A} b {KEY_A}", f"a {REDACTED} b {REDACTED}"),
        (f"cut at {KEY_A[:10]}", f"cut at {REDACTED}"),  # a key cut by a length limit
        (f"escaped {KEY_B!r}", f'escaped "{REDACTED}"'),  # repr quotes it with "
        (f"json {json.dumps(KEY_B)}", f'json "{REDACTED}"'),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redactor(text: str, expected: str) -> None:
    """Whole keys, their escaped forms and a key's cut-off start are redacted."""
    redact = Redactor([KEY_A, KEY_B])
    assert redact.text(text) == expected
    assert redact.optional(None) is None


def test_a_key_with_a_trailing_newline_is_redacted_without_it() -> None:
    """The header carries the key without whitespace; the redaction matches that form too."""
    assert Redactor([KEY_A + "\r\n"]).text(f"echo {KEY_A}!") == f"echo {REDACTED}!"
