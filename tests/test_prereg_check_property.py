"""Property: whatever bytes a plan file holds, ``routetrial check`` answers with exit 0 or one line.

Random bytes, random text, random YAML documents, random JSON documents, and a real plan with one
field replaced by a random value or a few bytes flipped are fed to ``check`` through the real CLI.
Each answer is exit 0, or exit 2 with exactly one ``routetrial: error:`` line on stderr; an
uncaught exception (a traceback) fails the test.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli import run_cli
from _experiment_plans import make_cases, plan_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment.cli import USER_ERROR_EXIT

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """A folder holding a valid corpus, and the valid plan's document pinning it."""
    with tempfile.TemporaryDirectory() as name:
        path = Path(name)
        lines = [
            json.dumps({"id": c.id, "text": c.text, "family": c.family, "gold_labels": list(c.gold_labels)})
            for c in make_cases(12)
        ]
        corpus = ("\n".join(lines) + "\n").encode()
        (path / "corpus.jsonl").write_bytes(corpus)
        doc = plan_dict(n_cases=12, corpus_sha256=hashlib.sha256(corpus).hexdigest())
        (path / "valid.json").write_text(json.dumps(doc), encoding="utf-8")
        yield path


def _check(capsys: pytest.CaptureFixture[str], folder: Path, data: bytes) -> int:
    plan = folder / "plan.yaml"
    plan.write_bytes(data)
    code, _, err = run_cli(capsys, "check", plan)
    assert code in (0, USER_ERROR_EXIT), err
    if code:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("routetrial: error: "), err
    return code


def test_the_valid_plan_passes(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The starting point of the mutations is itself valid."""
    assert _check(capsys, folder, (folder / "valid.json").read_bytes()) == 0


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(folder: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    """Arbitrary bytes: not UTF-8, NUL bytes, control characters."""
    _check(capsys, folder, data)


@SETTINGS
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text(folder: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Arbitrary UTF-8 text, which YAML reads in surprising ways."""
    _check(capsys, folder, text.encode("utf-8"))


@SETTINGS
@given(doc=values)
def test_random_yaml(folder: Path, capsys: pytest.CaptureFixture[str], doc: Any) -> None:
    """Any YAML document."""
    _check(capsys, folder, yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@SETTINGS
@given(doc=values)
def test_random_json(folder: Path, capsys: pytest.CaptureFixture[str], doc: Any) -> None:
    """Any JSON document (JSON is YAML)."""
    _check(capsys, folder, json.dumps(doc).encode("utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


@SETTINGS
@given(pick=st.integers(min_value=0), value=values)
def test_a_valid_plan_with_one_field_replaced(
    folder: Path, capsys: pytest.CaptureFixture[str], pick: int, value: Any
) -> None:
    """The valid plan with one value anywhere replaced by a random one: past the parser, into the
    schema and the meaning checks."""
    doc = json.loads((folder / "valid.json").read_text(encoding="utf-8"))
    paths = [p for p in _paths(doc) if p]
    path = paths[pick % len(paths)]
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)
    _check(capsys, folder, yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4))
def test_a_valid_plan_with_bytes_flipped(
    folder: Path, capsys: pytest.CaptureFixture[str], flips: list[tuple[int, int]]
) -> None:
    """The valid plan as YAML with a few bytes replaced."""
    doc = json.loads((folder / "valid.json").read_text(encoding="utf-8"))
    data = bytearray(yaml.safe_dump(doc, sort_keys=False).encode("utf-8"))
    for where, byte in flips:
        data[where % len(data)] = byte
    _check(capsys, folder, bytes(data))
