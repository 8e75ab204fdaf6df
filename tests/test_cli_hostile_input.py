"""Hostile input through the real CLI on real files: one line and exit 2, never a traceback.

Issue 12, items 5, 10 and 11 (in part): nesting of any depth in a plan or a corpus line, NUL bytes,
plan and corpus files above their size limits, JSON Lines split the way JSON Lines defines them,
an API key pasted where its variable's name belongs, a key ending in CR/LF, and a plan mixing
simulated and live backends.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_cases, plan_dict

from experiment.cli import USER_ERROR_EXIT
from prereg.corpus import MAX_CORPUS_BYTES
from prereg.loader import MAX_DEPTH, MAX_PLAN_BYTES


def _one_line_error(code: int, err: str) -> str:
    assert code == USER_ERROR_EXIT, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("routetrial: error: "), err
    return lines[0]


def _corpus_lines(texts: dict[int, str] | None = None) -> list[str]:
    texts = texts or {}
    return [
        json.dumps(
            {
                "id": c.id,
                "text": texts.get(i, c.text),
                "family": c.family,
                "gold_labels": list(c.gold_labels),
            },
            ensure_ascii=False,
        )
        for i, c in enumerate(make_cases(12))
    ]


def _write(folder: Path, corpus: bytes, doc: dict[str, Any] | None = None) -> Path:
    """A plan (``doc`` or the four-arm test plan) pinning ``corpus``; returns the plan's path."""
    (folder / "corpus.jsonl").write_bytes(corpus)
    doc = doc or plan_dict(n_cases=12)
    doc["corpus"] = {"path": "corpus.jsonl", "sha256": hashlib.sha256(corpus).hexdigest()}
    plan = folder / "plan.yaml"
    plan.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return plan


def _good_corpus() -> bytes:
    return ("\n".join(_corpus_lines()) + "\n").encode()


# --- item 5: nesting, NUL bytes, sizes ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000 + "\n",  # flow sequences far beyond the stack
        "a: " + "{b: " * 2_000 + "1" + "}" * 2_000 + "\n",  # flow mappings
        "- " * 3_000 + "x\n",  # block sequences on one line
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",  # block mappings
        "&a [*a]\n",  # an alias inside itself
        "a: " + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "\n",  # just above the limit
    ],
    ids=["flow-seq", "flow-map", "block-seq", "block-map", "self-alias", "limit"],
)
def test_deeply_nested_yaml_is_one_line(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nesting of any depth: a message stating the limit, not a RecursionError."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert f"at most {MAX_DEPTH} levels" in line


def test_deep_nesting_inside_a_real_plan_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A deep value where the schema takes any mapping (``extra_body``) is refused by depth too."""
    doc = plan_dict(n_cases=12)
    deep: Any = 1
    for _ in range(400):
        deep = {"x": deep}
    doc["models"]["large"]["backend"] = {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "extra_body": deep,
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML: no dumper recursion
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "levels deep" in line


def test_a_nul_byte_in_a_plan_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A NUL byte anywhere in the plan file: the line it is on."""
    plan = _write(tmp_path, _good_corpus())
    data = plan.read_bytes().replace(b"tests", b"te\x00sts", 1)
    plan.write_bytes(data)
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "NUL byte" in line and "line " in line


@pytest.mark.parametrize("field", ["corpus", "trace"])
def test_a_nul_character_in_a_path_of_the_plan_is_one_line(
    tmp_path: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``"a\\0b"`` (a YAML escape, no NUL byte in the file) as the corpus or trace path."""
    plan = _write(tmp_path, _good_corpus())
    doc = yaml.safe_load(plan.read_text(encoding="utf-8"))
    if field == "corpus":
        doc["corpus"]["path"] = "corpus\x00.jsonl"
    else:
        doc["traffic"]["arrival"] = {"kind": "trace", "path": "trace\x00.csv"}
    plan.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert b"\x00" not in plan.read_bytes()
    _one_line_error(*run_cli(capsys, "check", plan)[::2])


def test_a_plan_above_the_size_limit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan file above 10 MB: refused by its size, naming the limit, without parsing it."""
    plan = tmp_path / "plan.yaml"
    with plan.open("wb") as handle:
        handle.write(b"a: 1\n")
        handle.truncate(MAX_PLAN_BYTES + 1)  # sparse: no 10 MB written
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "at most 10 MB" in line


def test_a_corpus_above_the_size_limit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A corpus file above 200 MB: refused by its size, naming the limit and the plan's field."""
    plan = _write(tmp_path, _good_corpus())
    with (tmp_path / "corpus.jsonl").open("r+b") as handle:
        handle.truncate(MAX_CORPUS_BYTES + 1)
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "at most 200 MB" in line and "corpus.path" in line


def test_deeply_nested_json_in_a_corpus_line_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corpus line of 100,000 nested arrays: the line at fault, not a RecursionError."""
    lines = _corpus_lines()
    lines[3] = '{"id": "x", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    plan = _write(tmp_path, ("\n".join(lines) + "\n").encode())
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "line 4" in line and "nested too deeply" in line


# --- item 10: JSON Lines split on \n only ------------------------------------------------------


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\r"])
def test_corpus_strings_may_hold_raw_line_separators(
    tmp_path: Path, char: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """U+2028, U+0085 and friends inside a JSON string are valid JSON Lines: ``check`` passes."""
    lines = _corpus_lines({2: f"first{char}second"})
    if char != "\r":  # a raw CR is not allowed in a JSON string: only the others are put in raw
        assert char in lines[2]
    else:
        lines[2] = lines[2] + "\r"  # CRLF line endings are JSON whitespace
    plan = _write(tmp_path, ("\n".join(lines) + "\n").encode())
    code, out, err = run_cli(capsys, "check", plan)
    assert code == 0, err
    assert "12 cases" in out


def test_corpus_errors_keep_their_line_numbers_past_a_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Line numbers count ``\\n`` only: an error after a raw U+2028 names the right line."""
    lines = _corpus_lines({0: "a\u2028b"})
    lines[5] = '{"id": "case-005"}'
    plan = _write(tmp_path, ("\n".join(lines) + "\n").encode())
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "line 6" in line


# --- item 11 (in part): API keys and mixed backends --------------------------------------------

KEY = "sk-proj-Abc123SECRETvalue"


def _live_doc(api_key_env: Any = "RT_TEST_KEY") -> dict[str, Any]:
    """The four-arm plan with every backend ``kind: openai`` at a port nothing listens on."""
    doc = plan_dict(n_cases=12)
    backend = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": api_key_env}
    for model in doc["models"].values():
        model["backend"] = dict(backend)
    for arm in doc["arms"]:
        if arm["kind"] == "router":
            arm["classifier"]["backend"] = dict(backend)
    return doc


@pytest.mark.parametrize("command", ["check", "freeze"])
@pytest.mark.parametrize("value", [KEY, "Bearer abc", "MY-KEY", "1KEY", "key with space"])
def test_a_key_where_its_variable_name_belongs_is_refused_unechoed(
    tmp_path: Path, command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``api_key_env: sk-...`` is refused by check and freeze, and the value is never printed."""
    plan = _write(tmp_path, _good_corpus(), _live_doc(api_key_env=value))
    code, out, err = run_cli(capsys, command, plan)
    line = _one_line_error(code, err)
    assert "api_key_env" in line and "NAME of an environment variable" in line
    assert value not in out + err
    assert not (tmp_path / "plan.yaml.lock.json").exists()


def test_a_live_plan_with_a_proper_variable_name_passes_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusals above are not refusing live plans: a plain name passes."""
    plan = _write(tmp_path, _good_corpus(), _live_doc())
    code, _, err = run_cli(capsys, "check", plan)
    assert code == 0, err


@pytest.mark.parametrize("key", [KEY + "\n", KEY + "\r\n", KEY + "\r", "sk proj", "sk-\u00e9"])
def test_a_key_value_that_cannot_be_a_header_is_one_line(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key ending in CR/LF (``echo key > file``): ``run`` says so in one line, without the key."""
    plan = _write(tmp_path, _good_corpus(), _live_doc())
    assert run_cli(capsys, "freeze", plan)[0] == 0
    monkeypatch.setenv("RT_TEST_KEY", key)
    code, out, err = run_cli(capsys, "run", plan)
    line = _one_line_error(code, err)
    assert "RT_TEST_KEY" in line and "HTTP header" in line
    assert key.strip() not in out + err
    assert not (tmp_path / "plan.duckdb").exists()


@pytest.mark.parametrize("where", ["model", "classifier"])
def test_check_refuses_a_plan_mixing_simulated_and_live_backends(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One openai backend among simulated ones: ``check`` refuses, the backends share no time model."""
    doc = plan_dict(n_cases=12)
    backend = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}
    if where == "model":
        doc["models"]["small"]["backend"] = backend
    else:
        doc["arms"][1]["classifier"]["backend"] = backend
    plan = _write(tmp_path, _good_corpus(), doc)
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    # The first backends (models first, then classifiers) are simulated: the openai one is named.
    assert "simulated mode expected a backend that runs in virtual time" in line
    assert "found kind: openai" in line and "no time model serves every backend" in line


@pytest.mark.parametrize("url", ["postgresql://u@h:abc/db", "duckdb://:x/"])
def test_a_garbage_store_url_is_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A URL whose port is not a number: one line, and the URL (maybe with a password) not echoed."""
    code, _out, err = run_cli(capsys, "status", url)
    _one_line_error(code, err)
    assert url not in err


@pytest.mark.parametrize("value", [12345, ["sk-a"], {"k": "sk-b"}])
def test_a_key_of_the_wrong_type_is_not_echoed_either(
    tmp_path: Path, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A schema error on ``api_key_env`` (not a string) never shows the value."""
    plan = _write(tmp_path, _good_corpus(), _live_doc(api_key_env=value))
    code, _out, err = run_cli(capsys, "check", plan)
    line = _one_line_error(code, err)
    assert "api_key_env" in line and "not shown" in line
    assert "12345" not in line and "sk-" not in line


@pytest.mark.parametrize("which", ["plan", "corpus"])
def test_a_fifo_as_plan_or_corpus_is_refused_without_blocking(
    tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe (or a device) would block or never end: refused as not a regular file."""
    plan = _write(tmp_path, _good_corpus())
    target = plan if which == "plan" else tmp_path / "corpus.jsonl"
    target.unlink()
    os.mkfifo(target)
    line = _one_line_error(*run_cli(capsys, "check", plan)[::2])
    assert "not a regular file" in line


def test_a_line_separator_in_an_amendment_reason_keeps_the_log_verifiable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reason holding U+2028 is one log entry: the log is split on "\\n" only, as written."""
    from prereg.starter import init_plan

    plan, _ = init_plan(tmp_path / "s")
    assert run_cli(capsys, "freeze", plan)[0] == 0
    assert run_cli(capsys, "amend", plan, "--reason", "why\u2028not")[0] == 0
    code, out, err = run_cli(capsys, "verify", plan)
    assert code == 0 and out.startswith("unchanged"), err
