"""Live mode over real HTTP: what the other live tests leave out.

Secrets across a whole campaign, cost from usage, time to first token, the judge grader through
the server, backoff time counted, a reply cut off mid-body, open-loop dispatch, latency from the
scheduled time when the event loop is held up, and SIGTERM. Time is only ever bounded from below
by a wait the test itself forces (never an upper bound on how fast something ran).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _live_plans import live_plan, sim_plan, start_server, starter_cases

import experiment.campaign.dispatch as dispatch
import experiment.campaign.live as live
from arms._live_arms import LiveArmOutcome, build_live_arms
from arms._openai import ClientPool, OpenAIChat
from arms._protocol import ArmRequest, DownstreamOutcome, RoutingOutcome
from experiment.campaign.journal import Journal
from experiment.campaign.live import run_live_plan
from experiment.campaign.progress import read_progress
from experiment.serve import FaultSpec, SimulatedServer
from experiment.store import TrialStore
from prereg.errors import ArmError
from prereg.records import Case
from prereg.schema import OpenAIBackendSpec, Plan

SECRET = "sk-audit-4b1d2c3e9f-do-not-leak"
CASES = starter_cases(12)
HASH = "c" * 64
TESTS_DIR = Path(__file__).resolve().parent
PRICE = {"input_per_1k": 0.5, "output_per_1k": 2.0}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SimulatedServer, str]]:
    server, thread = start_server(sim_plan(accuracy=1.0, quality=1.0), CASES)
    yield server, thread.base_url
    thread.stop()


def columns(url: str) -> list[dict[str, Any]]:
    with TrialStore.open(url, HASH, create=False) as store:
        cols = {k: v.tolist() for k, v in store.read_columns().items()}
    return [dict(zip(cols, row, strict=False)) for row in zip(*cols.values(), strict=False)]


def edited(plan: Plan, edit: Callable[[dict[str, Any]], None]) -> Plan:
    data = plan.model_dump(mode="python")
    edit(data)
    return Plan.model_validate(data)


def one_request(plan: Plan, case: Case, arm: str = "router") -> LiveArmOutcome:
    async def go() -> LiveArmOutcome:
        pool = ClientPool()
        try:
            arms = build_live_arms(plan, [case], pool)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            result = await arms[arm].handle(
                ArmRequest(0, f"{arm}:{case.id}:0", case, arm, 0, 0.0), lambda: loop.time() - t0
            )
            assert isinstance(result, LiveArmOutcome)
            return result
        finally:
            await pool.aclose()

    return asyncio.run(go())


# --- secrets ------------------------------------------------------------------------------------


def test_key_never_reaches_store_journal_progress_or_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A keyed campaign with failures: the key is in no byte of any file it wrote, nor its output."""
    monkeypatch.setenv("RT_AUDIT_KEY", SECRET)
    server, thread = start_server(sim_plan(), CASES, api_key=SECRET)
    try:
        server.faults = FaultSpec(error_rate=0.3, garbage_rate=0.2, seed=3)
        store = f"duckdb:///{tmp_path / 'live.duckdb'}"
        plan = live_plan(thread.base_url, api_key_env="RT_AUDIT_KEY")
        summary = run_live_plan(plan, CASES, HASH, tmp_path, store, progress=True)
    finally:
        thread.stop()
    assert summary.complete and summary.failures and all(e.authorized for e in server.log)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"live.duckdb", "live.duckdb.live.jsonl", "live.duckdb.progress.json"}
    out, err = capfd.readouterr()
    for blob in [p.read_bytes() for p in files] + [out.encode(), err.encode(), repr(summary).encode()]:
        assert SECRET.encode() not in blob
    assert "RT_AUDIT_KEY" in plan.model_dump_json() and SECRET not in plan.model_dump_json()


def test_unset_key_variable_stops_the_run_before_a_store_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A named but unset key variable is an ArmError before anything is sent or stored."""
    monkeypatch.delenv("RT_AUDIT_UNSET", raising=False)
    with pytest.raises(ArmError, match="RT_AUDIT_UNSET"):
        run_live_plan(
            live_plan("http://127.0.0.1:9/v1", api_key_env="RT_AUDIT_UNSET"),
            CASES,
            HASH,
            tmp_path,
            f"duckdb:///{tmp_path / 'live.duckdb'}",
        )
    assert list(tmp_path.iterdir()) == []


def test_a_key_pasted_as_the_variable_name_is_not_echoed() -> None:
    """api_key_env holding something that is no variable name is refused without showing it."""
    backend = OpenAIBackendSpec(kind="openai", base_url="http://127.0.0.1:9/v1", api_key_env=SECRET)
    spec = live_plan("http://127.0.0.1:9/v1").models["small"]
    with pytest.raises(ArmError, match="NAME of an environment variable") as info:
        OpenAIChat(ClientPool(), backend, "m", spec.decoding, 1000.0, spec.retry)
    assert SECRET not in str(info.value)


class RawServer:
    """A one-thread TCP server answering every request with ``reply(request_bytes)``, then closing."""

    def __init__(self, reply: Callable[[bytes], bytes]) -> None:
        self._reply = reply
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(self._reply(head))

    def close(self) -> None:
        self._sock.close()


def chat_to(url: str, *, key_env: str | None = None, stream: bool = False) -> OpenAIChat:
    spec = live_plan(url).models["small"]
    backend = OpenAIBackendSpec(kind="openai", base_url=url, api_key_env=key_env, stream=stream)
    return OpenAIChat(ClientPool(), backend, "m", spec.decoding, 5000.0, spec.retry)


def complete(chat: OpenAIChat) -> Any:
    async def go() -> Any:
        try:
            return await chat.complete([{"role": "user", "content": "x"}], time.monotonic)
        finally:
            await chat._pool.aclose()

    return asyncio.run(go())


def test_a_server_echoing_the_key_cut_at_the_error_limit_leaks_no_part_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error body that echoes the Authorization header across the 200-character cut is scrubbed."""
    monkeypatch.setenv("RT_AUDIT_KEY", SECRET)

    def reply(head: bytes) -> bytes:
        auth = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization"))
        # "HTTP 400: " + filler + " you sent " + "authorization: Bearer " puts the key at 195.
        body = b"x" * (195 - 10 - 10 - len(b"authorization: Bearer ")) + b" you sent " + auth
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    raw = RawServer(reply)
    try:
        result = complete(chat_to(raw.base_url, key_env="RT_AUDIT_KEY"))
    finally:
        raw.close()
    assert result.status == "http_error" and result.error
    assert SECRET[:5] not in result.error and len(result.error) <= 200


def test_a_reply_cut_off_mid_body_is_a_connection_error() -> None:
    """A body shorter than its Content-Length (the server closed mid-reply): connection_error."""
    raw = RawServer(
        lambda head: (
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"choices": ['
        )
    )
    try:
        result = complete(chat_to(raw.base_url))
    finally:
        raw.close()
    assert (result.status, result.text) == ("connection_error", None)


# --- usage, cost, first token, judge, retries ------------------------------------------------------


def priced(plan: Plan) -> Plan:
    def edit(data: dict[str, Any]) -> None:
        data["arms"][1]["classifier"]["price"] = PRICE
        for model in data["models"].values():
            model["price"] = PRICE

    return edited(plan, edit)


@pytest.mark.parametrize("stream", [True, False])
def test_usage_gives_cost_and_first_token_is_recorded(
    srv: tuple[SimulatedServer, str], tmp_path: Path, stream: bool
) -> None:
    """Stored tokens are the server's usage, cost is usage times the plan's prices, and every
    routed trial has a first-token time within its routing latency."""
    _, url = srv
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    run_live_plan(priced(live_plan(url, stream=stream)), CASES, HASH, tmp_path, store)
    rows = columns(store)
    assert {r["status"] for r in rows} == {"ok"}
    for r in rows:
        # Simulated server usage: classifier 200 in / 4 out, downstream 300 in / 400 out.
        expected = (500, 404) if r["arm"] == "router" else (300, 400)
        assert (r["tokens_in"], r["tokens_out"]) == expected
        assert r["cost_usd"] == pytest.approx(expected[0] / 1000 * 0.5 + expected[1] / 1000 * 2.0)
        if r["arm"] == "router":
            assert 0.0 < r["routing_first_token_ms"] <= r["routing_latency_ms"]


def judged(quality: float) -> tuple[Plan, tuple[Case, ...]]:
    """The simulated plan with a judge grader, and the corpus with one case graded by it."""
    base = starter_cases()
    ungraded = next(i for i, c in enumerate(base) if c.grader is None)
    c = base[ungraded]
    case = Case(c.id, c.text, c.family, c.gold_labels, "Lima", "judge")
    cases = (*base[:ungraded], case, *base[ungraded + 1 :])

    def edit(data: dict[str, Any]) -> None:
        data["graders"]["judge"] = {"kind": "judge", "judge_model": "large"}

    return edited(sim_plan(accuracy=1.0, quality=quality), edit), cases


@pytest.mark.parametrize("quality", [1.0, 0.0])
def test_judge_grader_asks_the_judge_model_through_the_server(quality: float) -> None:
    """A judge-graded case is graded by a judge call to the plan's judge model; its tokens are
    grading, not serving, so they are not in the trial."""
    plan, cases = judged(quality)
    case = next(c for c in cases if c.grader == "judge")
    server, thread = start_server(plan, cases)
    try:
        twin = edited(
            live_plan(thread.base_url),
            lambda d: d["graders"].update(judge={"kind": "judge", "judge_model": "large"}),
        )
        result = one_request(twin, case, arm="control")
    finally:
        thread.stop()
    assert result.downstream is not None
    assert (result.downstream.status, result.downstream.correct) == ("ok", quality == 1.0)
    assert [e.kind for e in server.log] == ["downstream", "judge"]
    assert (result.downstream.tokens_in, result.downstream.tokens_out) == (300, 400)


def test_backoff_waits_are_taken_and_counted(srv: tuple[SimulatedServer, str]) -> None:
    """500s retried with 100 ms exponential backoff: 3 attempts, gaps of at least 100 and 200 ms,
    all of it in the routing latency."""
    server, url = srv
    server.faults = FaultSpec(error_rate=1.0)
    retry = {"max_attempts": 3, "backoff_ms": 100.0, "retry_on": ["http_error"]}
    result = one_request(live_plan(url, retry=retry), CASES[0])
    assert result.routing is not None
    assert (result.routing.status, result.routing.attempts) == ("http_error", 3)
    sent = [e.received_s for e in server.log if e.kind == "classifier"]
    assert len(sent) == 3
    assert sent[1] - sent[0] >= 0.1 and sent[2] - sent[1] >= 0.2
    assert result.routing.latency_ms >= 300.0


# --- the scheduler ----------------------------------------------------------------------------------


class _GatedArm:
    """A fake live arm: every request waits until all of them have been sent (open loop)."""

    def __init__(self, arm_id: str, gate: dict[str, Any]) -> None:
        self.id = arm_id
        self._gate = gate

    async def handle(self, request: ArmRequest, clock: Callable[[], float]) -> LiveArmOutcome:
        gate = self._gate
        gate["started"] += 1
        gate["max_outstanding"] = max(gate["max_outstanding"], gate["started"] - gate["finished"])
        if gate["started"] == gate["total"]:
            gate["event"].set()
        try:
            await asyncio.wait_for(gate["event"].wait(), 10.0)
        except TimeoutError:
            gate["timed_out"] += 1
        gate["finished"] += 1
        end = clock()
        latency = (end - request.scheduled_s) * 1000.0
        routing = RoutingOutcome("ok", latency, request.case.family, 1, 0, 0, 0.0)
        down = DownstreamOutcome("large", "ok", 0.0, None, 0, 0, 0.0)
        return LiveArmOutcome(sent_s=None, end_s=end, routing=routing, downstream=down)


def test_dispatch_is_open_loop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No request finishes before the last one is sent, yet every one is sent: the dispatcher never
    waits for outstanding requests (a closed loop would deadlock here until the fake arms give up)."""
    plan = live_plan("http://127.0.0.1:9/v1", cases=12, rate=400.0)
    gate: dict[str, Any] = {
        "started": 0,
        "finished": 0,
        "max_outstanding": 0,
        "timed_out": 0,
        "total": 24,
        "event": asyncio.Event(),
    }

    def fake_arms(plan: Plan, cases: Any, pool: ClientPool, **_: Any) -> dict[str, _GatedArm]:
        return {a: _GatedArm(a, gate) for a in plan.arm_ids}

    monkeypatch.setattr(live, "build_live_arms", fake_arms)
    monkeypatch.setattr(dispatch, "build_live_arms", fake_arms)
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    summary = run_live_plan(plan, CASES, HASH, tmp_path, store)
    outcome = (gate["timed_out"], gate["max_outstanding"], summary.written, summary.complete)
    assert outcome == (0, 24, 24, True)


def test_latency_counts_a_held_up_event_loop(
    srv: tuple[SimulatedServer, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Hold the event loop 80 ms right after the first send: the next request goes out late, its
    lateness is recorded, and both requests' latencies (measured from the scheduled time) include
    the hold-up: nothing is hidden by a late start (no coordinated omission)."""
    _, url = srv
    original = Journal.sent

    def held(self: Journal, seq: int, sent_s: float) -> None:
        original(self, seq, sent_s)
        if seq == 0:
            time.sleep(0.08)  # blocks the dispatcher and the whole loop, as a stall would

    monkeypatch.setattr(Journal, "sent", held)
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    run_live_plan(live_plan(url, cases=12, rate=50.0), CASES, HASH, tmp_path, store)
    rows = {r["seq"]: r for r in columns(store)}
    first, second = rows[0], rows[1]
    gap_ms = (second["scheduled_s"] - first["scheduled_s"]) * 1000.0
    assert gap_ms < 60.0  # at 50/s with two arms the next request is due within 80 ms
    assert second["lateness_ms"] >= 80.0 - gap_ms - 1.0
    for r in (first, second):
        assert r["e2e_latency_ms"] >= 80.0 - (r["scheduled_s"] - first["scheduled_s"]) * 1000.0 - 1.0
        assert r["e2e_latency_ms"] == pytest.approx((r["end_s"] - r["scheduled_s"]) * 1000.0, abs=1e-6)
        if r["routing_latency_ms"] is not None:
            assert r["routing_latency_ms"] >= r["lateness_ms"]


def test_progress_file_ends_finished_with_the_stored_counts(
    srv: tuple[SimulatedServer, str], tmp_path: Path
) -> None:
    """The live run keeps the progress file `routetrial status` reads: finished, all trials done."""
    _, url = srv
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    summary = run_live_plan(live_plan(url), CASES, HASH, tmp_path, store)
    assert summary.progress_file is not None
    state = read_progress(summary.progress_file)
    assert state is not None
    assert (state.state, state.done, state.planned) == ("finished", summary.done, summary.planned)


SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from _live_plans import live_plan, starter_cases
from experiment.campaign.live import run_live_plan
plan = live_plan({url!r}, cases=12, replays=2, rate=5.0)  # ~10 s: time for `status`
s = run_live_plan(plan, starter_cases(12), {hash!r}, Path({dir!r}), {store!r})
print("SUMMARY", s.sent, s.written, s.interrupted, s.stopped, flush=True)
"""


@pytest.mark.slow
def test_sigterm_stops_cleanly_like_ctrl_c(tmp_path: Path) -> None:
    """`status` reports the running live campaign; SIGTERM mid-run: exit 0, every sent request
    stored (in-flight ones as interrupted), and a rerun completes the schedule without sending
    anything twice."""
    # Service times above the 200 ms gap between sends keep requests in flight at every moment,
    # so the signal always lands on some (150 ms left a quarter of the moments with none).
    slow = {"median_ms": 600.0, "p95_ms": 900.0, "concurrency": 64}
    _, thread = start_server(sim_plan(latency=slow), starter_cases(12))
    store = f"duckdb:///{tmp_path / 'live.duckdb'}"
    journal = tmp_path / "live.duckdb.live.jsonl"
    code = SCRIPT.format(tests=str(TESTS_DIR), url=thread.base_url, hash=HASH, dir=str(tmp_path), store=store)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=TESTS_DIR.parent
        )
        deadline = time.monotonic() + 20.0
        while not (journal.exists() and journal.read_text().count('"e":"sent"') >= 15):
            assert time.monotonic() < deadline, "the campaign did not start sending"
            time.sleep(0.01)
        # `routetrial status` from another process while the store is held: the progress file.
        status = subprocess.run(
            [sys.executable, "-m", "experiment", "status", str(tmp_path / "live.duckdb")],
            capture_output=True,
            text=True,
            cwd=TESTS_DIR.parent,
            timeout=60,
        )
        assert status.returncode == 0 and f"running (pid {proc.pid})" in status.stdout, status
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        sent, written, interrupted, stopped = out.split("SUMMARY", 1)[1].split()
        assert stopped == "True" and int(sent) == int(written) < 48 and int(interrupted) >= 1
        again = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=TESTS_DIR.parent, timeout=60
        )
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        thread.stop()
    rows = columns(store)
    assert sorted(r["seq"] for r in rows) == list(range(48))
    sends = Counter(
        json.loads(line)["seq"] for line in journal.read_text().splitlines() if '"e":"sent"' in line
    )
    assert max(sends.values()) == 1
    progress = read_progress(tmp_path / "live.duckdb.progress.json")
    assert progress is not None and progress.state == "finished"
