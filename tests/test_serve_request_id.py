"""``routetrial serve`` reads the trial from ``x-request-id`` and echoes that header back.

Through real HTTP on 127.0.0.1. The client sends ``x-request-id``: the trial id on a first
attempt, ``<trial_id>#<n>`` on retry n, ``judge:<trial_id>`` for a judge call. The server's log
records the trial (the id less any ``#<n>``) and the id as sent; without ``x-request-id`` it
falls back to the older ``x-routetrial-trial``. Every chat reply, an error too, echoes the id.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _live_plans import sim_plan, starter_cases

from experiment.serve import MAX_BODY_BYTES, FaultSpec, ServerThread, SimulatedServer, build_app

KEY = "sk-test-request-id-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
CASES = starter_cases()
BODY = {"model": "large-llm", "messages": [{"role": "user", "content": CASES[0].text}]}


@pytest.fixture()
def served() -> Iterator[tuple[SimulatedServer, str]]:
    """A fresh keyed server and its chat URL."""
    server = SimulatedServer(sim_plan(), CASES, "f" * 64, FaultSpec(), api_key=KEY)
    thread = ServerThread(build_app(server)).start()
    try:
        yield server, f"http://127.0.0.1:{thread.port}/v1/chat/completions"
    finally:
        thread.stop()


@pytest.mark.parametrize(
    ("sent", "trial"),
    [
        ({"x-request-id": "router:c1:0"}, "router:c1:0"),
        ({"x-request-id": "router:c1:0#3"}, "router:c1:0"),
        ({"x-request-id": "judge:router:c1:0"}, "judge:router:c1:0"),
        ({"x-request-id": "judge:router:c1:0#2"}, "judge:router:c1:0"),
        ({"x-request-id": "a#b#12"}, "a#b"),
        ({"x-request-id": "odd#x"}, "odd#x"),
        ({"x-request-id": "new:1:2#2", "x-routetrial-trial": "old:1:2"}, "new:1:2"),
    ],
)
def test_trial_comes_from_the_request_id(
    served: tuple[SimulatedServer, str], sent: dict[str, str], trial: str
) -> None:
    """The logged trial is x-request-id less a trailing #<n> (it wins over the old header);
    the logged request id and the reply's header are the id as sent."""
    server, url = served
    reply = httpx.post(url, json=BODY, headers={**AUTH, **sent})
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-request-id"] == sent["x-request-id"]
    (entry,) = server.log
    assert (entry.trial, entry.request_id) == (trial, sent["x-request-id"])
    shown = httpx.get(url.replace("/v1/chat/completions", "/_log"), headers=AUTH).json()
    assert (shown[0]["trial"], shown[0]["request_id"]) == (trial, sent["x-request-id"])


def test_old_trial_header_still_read_without_a_request_id(served: tuple[SimulatedServer, str]) -> None:
    """No x-request-id (or an empty one): the trial is x-routetrial-trial's, nothing is echoed."""
    server, url = served
    for extra in ({}, {"x-request-id": ""}):
        reply = httpx.post(url, json=BODY, headers={**AUTH, **extra, "x-routetrial-trial": "control:c1:4"})
        assert reply.status_code == 200 and "x-request-id" not in reply.headers
    bare = httpx.post(url, json=BODY, headers=AUTH)
    assert bare.status_code == 200 and "x-request-id" not in bare.headers
    assert [(e.trial, e.request_id) for e in server.log] == [
        ("control:c1:4", None),
        ("control:c1:4", None),
        (None, None),
    ]


def test_request_id_is_echoed_on_errors_and_streams(served: tuple[SimulatedServer, str]) -> None:
    """401, 400, 413, an injected 500 and 429, and a stream all carry the id back."""
    server, url = served
    rid = {"x-request-id": "router:c1:0#2"}
    cases = [
        (httpx.post(url, json=BODY, headers=rid), 401),
        (httpx.post(url, json={**BODY, "n": 0}, headers={**AUTH, **rid}), 400),
        (httpx.post(url, content=b"x" * (MAX_BODY_BYTES + 1), headers={**AUTH, **rid}), 413),
        (httpx.post(url, json={**BODY, "stream": True}, headers={**AUTH, **rid}), 200),
    ]
    server.faults = FaultSpec(error_rate=1.0)
    cases.append((httpx.post(url, json=BODY, headers={**AUTH, **rid}), 500))
    server.faults = FaultSpec(rate_limit_rate=1.0)
    cases.append((httpx.post(url, json=BODY, headers={**AUTH, **rid}), 429))
    for reply, code in cases:
        assert reply.status_code == code, reply.text
        assert reply.headers["x-request-id"] == "router:c1:0#2"
    assert {e.trial for e in server.log} == {"router:c1:0"}
