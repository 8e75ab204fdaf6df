"""``routetrial serve``'s request log: bounded (entries and body sizes) and guarded by the key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from _live_plans import STARTER, sim_plan, start_server, starter_cases

from experiment.serve import (
    LOG_BODY_BYTES,
    LOG_SIZE,
    MAX_BODY_BYTES,
    FaultSpec,
    ServerThread,
    SimulatedServer,
    build_app,
)

KEY = "sk-test-log-guard-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}


def chat_body(text: str | None = None, pad: int = 0) -> dict[str, object]:
    content = starter_cases()[0].text if text is None else text
    body: dict[str, object] = {"model": "large-llm", "messages": [{"role": "user", "content": content}]}
    if pad:
        body["metadata"] = {"pad": "x" * pad}
    return body


@pytest.fixture()
def keyed() -> Iterator[tuple[SimulatedServer, str]]:
    """A server that requires ``KEY``, with a log of 5 entries; yields it and its root URL."""

    server = SimulatedServer(sim_plan(), starter_cases(), "f" * 64, FaultSpec(), api_key=KEY, log_size=5)
    thread = ServerThread(build_app(server)).start()
    try:
        yield server, f"http://127.0.0.1:{thread.port}"
    finally:
        thread.stop()


def test_log_is_a_ring_buffer_of_the_last_requests(keyed: tuple[SimulatedServer, str]) -> None:
    """Eight requests into a log of five: the last five are kept, the oldest dropped first."""
    _, root = keyed
    with httpx.Client(headers=AUTH) as client:
        for _ in range(8):
            assert client.post(f"{root}/v1/chat/completions", json=chat_body()).status_code == 200
        log = client.get(f"{root}/_log").json()
    assert [e["n"] for e in log] == [4, 5, 6, 7, 8]


def test_default_log_size_is_stated() -> None:
    """The default bound is the documented one, and a negative size is refused."""
    server = SimulatedServer(sim_plan(), starter_cases(), "f" * 64, FaultSpec())
    assert server.log.maxlen == LOG_SIZE == 2_000
    with pytest.raises(ValueError, match="log size"):
        SimulatedServer(sim_plan(), starter_cases(), "f" * 64, server.faults, log_size=-1)


def test_log_answers_only_with_the_key(keyed: tuple[SimulatedServer, str]) -> None:
    """GET and DELETE /_log (and /v1/models) without the key: 401, nothing shown, nothing cleared."""
    server, root = keyed
    assert httpx.post(f"{root}/v1/chat/completions", json=chat_body(), headers=AUTH).status_code == 200
    for method, path in (("GET", "/_log"), ("DELETE", "/_log"), ("GET", "/v1/models")):
        for headers in ({}, {"authorization": "Bearer wrong"}):
            reply = httpx.request(method, f"{root}{path}", headers=headers)
            assert reply.status_code == 401, (method, path, reply.text)
            assert "large-llm" not in reply.text and KEY not in reply.text
    assert len(server.log) == 1
    shown = httpx.get(f"{root}/_log", headers=AUTH)
    assert shown.status_code == 200 and [e["kind"] for e in shown.json()] == ["downstream"]
    assert httpx.get(f"{root}/_log?since=x", headers=AUTH).status_code == 400
    assert httpx.delete(f"{root}/_log", headers=AUTH).json() == {"cleared": True}
    assert len(server.log) == 0


def test_bodies_kept_are_bounded(keyed: tuple[SimulatedServer, str]) -> None:
    """A small body is kept, a large one as its size only, an oversized one refused (413),
    an unauthorized one never kept."""
    server, root = keyed
    with httpx.Client(headers=AUTH) as client:
        small = client.post(f"{root}/v1/chat/completions", json=chat_body())
        large = client.post(f"{root}/v1/chat/completions", json=chat_body(pad=LOG_BODY_BYTES))
        huge = client.post(f"{root}/v1/chat/completions", json=chat_body(pad=MAX_BODY_BYTES))
    stranger = httpx.post(f"{root}/v1/chat/completions", json=chat_body(pad=100))
    assert (small.status_code, large.status_code, huge.status_code, stranger.status_code) == (
        200,
        200,
        413,
        401,
    )
    kept = list(server.log)
    assert kept[0].body["model"] == "large-llm"
    assert set(kept[1].body) == {"omitted_bytes"} and kept[1].body["omitted_bytes"] > LOG_BODY_BYTES
    assert kept[2].status_code == 413 and kept[2].body == {}
    assert kept[3].authorized is False and kept[3].body == {}


def test_open_server_still_serves_its_log() -> None:
    """Without a key the log stays open, as before."""
    _, thread = start_server()
    try:
        root = f"http://127.0.0.1:{thread.port}"
        assert httpx.post(f"{root}/v1/chat/completions", json=chat_body()).status_code == 200
        assert len(httpx.get(f"{root}/_log").json()) == 1
    finally:
        thread.stop()


def test_serve_cli_guards_the_log_and_bounds_it(tmp_path: Path) -> None:
    """``routetrial serve --api-key-env NAME --log-size 3``: /_log needs the key and keeps three."""
    plan = tmp_path / "sim.yaml"
    plan.write_text(yaml.safe_dump(sim_plan().model_dump(mode="json", exclude_none=True)))
    shutil.copy(STARTER, tmp_path / "corpus.jsonl")
    env = {**os.environ, "RT_SERVE_KEY": KEY}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiment",
            "serve",
            str(plan),
            "--port",
            "0",
            "--api-key-env",
            "RT_SERVE_KEY",
            "--log-size",
            "3",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()
        assert "serving" in line, line
        root = line.split(" on ", 1)[1].split()[0].removesuffix("/v1")
        with httpx.Client(headers=AUTH) as client:
            for _ in range(4):
                assert client.post(f"{root}/v1/chat/completions", json=chat_body()).status_code == 200
            log = client.get(f"{root}/_log").json()
        assert httpx.get(f"{root}/_log").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [e["n"] for e in log] == [2, 3, 4]
