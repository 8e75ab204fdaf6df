"""The plan commands through the real entry point: one-line errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _cli import run_cli as _main
from strategies import SMALL_CORPUS, corpus_bytes, small_plan, write_plan

from prereg.canonical import bytes_hash

ROUTETRIAL = Path(sys.executable).parent / "routetrial"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROUTETRIAL), *map(str, args)], capture_output=True, text=True, timeout=60)


# --- through a real subprocess -----------------------------------------------------------------


@pytest.mark.slow
def test_newcomer_path_init_check_freeze_verify(tmp_path: Path) -> None:
    """init -> check -> freeze -> verify works from a fresh folder, and check says what n = 60 can show."""
    folder = tmp_path / "study"
    init = _run("init", folder)
    assert init.returncode == 0, init.stderr
    plan = folder / "plan.yaml"
    check = _run("check", plan)
    assert check.returncode == 0, check.stderr
    assert "PASS needs at least 56 of 60 cases correct when every replay agrees" in check.stdout
    assert (
        "routing_latency_p95_ms <= 2000" in check.stdout
        and "PASS needs at least 53 cases for a one-sided 0.95 upper bound of the 0.95 quantile (this design has 60)"
        in check.stdout
    )
    freeze = _run("freeze", plan)
    assert freeze.returncode == 0 and (folder / "plan.yaml.lock.json").exists()
    verify = _run("verify", plan)
    assert verify.returncode == 0 and verify.stdout.startswith("unchanged")


@pytest.mark.parametrize(
    ("target", "what"),
    [("plan.yaml", "plan bytes"), ("corpus.jsonl", "corpus"), ("plan.yaml.log.jsonl", "log")],
)
def test_verify_names_one_changed_byte(tmp_path: Path, target: str, what: str) -> None:
    """Changing one byte of the plan, corpus or log makes verify exit non-zero naming it, in one line."""
    plan = write_plan(tmp_path)
    assert _run("freeze", plan).returncode == 0
    path = tmp_path / target
    data = bytearray(path.read_bytes())
    data[40] = ord("#") if data[40] != ord("#") else ord("%")
    path.write_bytes(bytes(data))
    result = _run("verify", plan)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"changed since freezing: {what} (" in result.stderr


def test_malformed_yaml_is_one_line_without_traceback(tmp_path: Path) -> None:
    """A YAML syntax error prints one line with line and column, exit status 2."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("study: [\n")
    result = _run("check", plan)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.startswith(f"routetrial: error: {plan}: line 2, column 1: ")
        and result.stderr.count("\n") == 1
    )


def test_schema_prints_the_json_schema() -> None:
    """schema prints a JSON Schema of the plan with its sections."""
    result = _run("schema")
    schema = json.loads(result.stdout)
    assert result.returncode == 0 and {"arms", "gates", "corpus"} <= set(schema["properties"])


def test_help_lists_the_plan_commands() -> None:
    """--help lists every plan command."""
    result = _run("--help")
    assert result.returncode == 0
    assert all(name in result.stdout for name in ("init", "check", "freeze", "verify", "amend", "schema"))


# --- in process --------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _dup_arm(p: dict[str, Any]) -> None:
    p["arms"].append(dict(p["arms"][1]))


def _unknown_key(p: dict[str, Any]) -> None:
    p["traffic"]["replay_per_case"] = p["traffic"].pop("replays_per_case")


BAD_PLANS: list[tuple[str, Mutation, str]] = [
    (
        "unknown key",
        _unknown_key,
        "traffic.replay_per_case: unknown key 'replay_per_case': did you mean 'replays_per_case'?",
    ),
    (
        "wrong type",
        lambda p: p["randomization"].update(seed="abc"),
        "randomization.seed: expected a valid integer, found 'abc'",
    ),
    ("duplicate arm ids", _dup_arm, "arms[2].id: expected a unique arm id, found 'qwen' again"),
    (
        "label outside taxonomy",
        lambda p: p["routing"]["routes"].update(poetry="large"),
        "routing.routes.poetry: expected a taxonomy label",
    ),
    (
        "gate threshold out of range",
        lambda p: p["gates"][0].update(threshold=1.2),
        "gates[0].threshold: expected an accuracy strictly between 0 and 1, found 1.2",
    ),
    (
        "no router arm",
        lambda p: p.update(arms=[p["arms"][0]]),
        "arms: expected at least one arm of kind 'router' or 'service', found only control",
    ),
    (
        "route to undefined model",
        lambda p: p["routing"]["routes"].update(code="coder"),
        "routing.routes.code: expected a model defined in models (large, small), found 'coder'",
    ),
    (
        "corpus hash mismatch",
        lambda p: p["corpus"].update(sha256="a" * 64),
        f"corpus.sha256: expected the pinned hash {'a' * 64}, found",
    ),
    (
        "missing corpus file",
        lambda p: p["corpus"].update(path="missing.jsonl"),
        "corpus.path: expected a corpus file at",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), [b[1:] for b in BAD_PLANS], ids=[b[0] for b in BAD_PLANS])
def test_bad_plan_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Mutation, message: str
) -> None:
    """Each bad input of the issue is one line on stderr, exit status 2, no traceback."""
    plan = small_plan()
    mutate(plan)
    code, out, err = _main(capsys, "check", write_plan(tmp_path, plan))
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert message in err


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        ([*SMALL_CORPUS, SMALL_CORPUS[0]], "line 7: id: expected a unique case id, found 'c1' again"),
        ([], "expected at least one case, found an empty corpus"),
        (
            [dict(SMALL_CORPUS[0], gold_labels=["code", "poetry"]), *SMALL_CORPUS[1:]],
            "line 1: gold_labels: expected taxonomy labels",
        ),
    ],
    ids=["duplicate case ids", "empty corpus", "gold label outside taxonomy"],
)
def test_bad_corpus_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cases: list[dict[str, Any]], message: str
) -> None:
    """Corpus problems are one line on stderr with exit status 2."""
    plan = write_plan(tmp_path, small_plan(bytes_hash(corpus_bytes(cases))), cases=cases)
    code, _, err = _main(capsys, "check", plan)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_amend_then_freeze_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """amend --reason writes the amendment; freezing it and verifying it succeed."""
    plan = write_plan(tmp_path)
    assert _main(capsys, "freeze", plan)[0] == 0
    code, out, _ = _main(capsys, "amend", plan, "--reason", "add a replay")
    amendment = tmp_path / "plan.amend-1.yaml"
    assert code == 0 and str(amendment) in out
    assert _main(capsys, "freeze", amendment)[0] == 0
    code, out, _ = _main(capsys, "verify", amendment)
    assert code == 0 and out.startswith("unchanged")


def test_freeze_twice_and_refreeze_after_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Freezing again is a no-op; after an edit it is a one-line error naming the change."""
    plan = write_plan(tmp_path)
    _main(capsys, "freeze", plan)
    code, out, _ = _main(capsys, "freeze", plan)
    assert code == 0 and "already frozen" in out
    plan.write_text(plan.read_text().replace("seed: 7", "seed: 8"))
    code, _, err = _main(capsys, "freeze", plan)
    assert code == 2 and "changed since freezing: plan bytes" in err and err.count("\n") == 1


def test_verify_unfrozen_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify on an unfrozen plan says to freeze it."""
    code, _, err = _main(capsys, "verify", write_plan(tmp_path))
    assert code == 2 and "not frozen" in err


def test_check_reports_an_uncertifiable_p95(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With 6 unique cases the P95 gate cannot be certified and check says so."""
    code, out, _ = _main(capsys, "check", write_plan(tmp_path))
    assert code == 0
    assert "can NOT pass at this n" in out
    assert "needs at least 10 cases for an interval (analysis.min_cases)" in out
    assert "needs at least 53 cases for a one-sided 0.95 upper bound of the 0.95 quantile" in out


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """init into a folder that has a plan is a one-line error."""
    assert _main(capsys, "init", tmp_path)[0] == 0
    code, _, err = _main(capsys, "init", tmp_path)
    assert code == 2 and "not overwriting" in err
