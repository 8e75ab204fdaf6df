"""``routetrial serve`` as a real process: it serves the plan's models and injects faults."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from _live_plans import STARTER, sim_plan, starter_cases


def serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``routetrial serve`` on a free port; returns the process and its base URL."""
    plan = tmp_path / "sim.yaml"
    plan.write_text(yaml.safe_dump(sim_plan().model_dump(mode="json", exclude_none=True)))
    shutil.copy(STARTER, tmp_path / "corpus.jsonl")
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiment", "serve", str(plan), "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "serving" not in line:
        proc.kill()
        pytest.fail(line + proc.stderr.read())
    return proc, line.split(" on ", 1)[1].split()[0]


def test_serve_answers_models_and_chat(tmp_path: Path) -> None:
    """The server lists the plan's models and answers a downstream request with usage."""
    proc, url = serve(tmp_path)
    try:
        models = httpx.get(f"{url}/models").json()
        body = {"model": "large-llm", "messages": [{"role": "user", "content": starter_cases()[0].text}]}
        reply = httpx.post(f"{url}/chat/completions", json=body).json()
        log = httpx.get(url.removesuffix("/v1") + "/_log").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert {m["id"] for m in models["data"]} == {"router-llm", "small-llm", "large-llm", "small", "large"}
    assert reply["usage"] == {"prompt_tokens": 300, "completion_tokens": 400, "total_tokens": 700}
    assert [(e["kind"], e["case_id"]) for e in log] == [("downstream", starter_cases()[0].id)]


def test_serve_injects_rate_limits_with_retry_after(tmp_path: Path) -> None:
    """--rate-limit-rate 1 --retry-after 2 answers 429 with Retry-After: 2."""
    proc, url = serve(tmp_path, "--rate-limit-rate", "1", "--retry-after", "2")
    try:
        body = {"model": "small-llm", "messages": [{"role": "user", "content": "x"}]}
        reply = httpx.post(f"{url}/chat/completions", json=body)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (reply.status_code, reply.headers["retry-after"]) == (429, "2")


def test_bound_socket_accepts_before_the_server_runs() -> None:
    """A client that connects as soon as the port is announced is queued, not refused.

    ``serve`` prints its URL before uvicorn has started; CI once saw ``Connection refused``
    there because the socket was bound but not yet listening.
    """
    import socket

    from experiment.serve import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=2.0):
            pass
    finally:
        sock.close()
