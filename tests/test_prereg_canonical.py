"""The canonical hash: independent of layout, sensitive to every value."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import leaf_paths, renderings, small_plan

from prereg.canonical import analysis_code_hash, bytes_hash, canonical_hash, canonical_json
from prereg.schema import Plan

DATA = small_plan()
REFERENCE = canonical_hash(Plan.model_validate(DATA))
LEAVES = leaf_paths(DATA)


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _get(data: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    return node


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(renderings(DATA))
def test_layout_key_order_and_comments_do_not_change_the_hash(text: str) -> None:
    """Any key order, indentation, flow or block style and comments give the same canonical hash."""
    assert canonical_hash(Plan.model_validate(yaml.safe_load(text))) == REFERENCE


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(LEAVES), st.data())
def test_any_value_change_changes_the_hash(path: tuple[str | int, ...], data: st.DataObject) -> None:
    """Changing one value of a valid plan to another valid value changes the canonical hash."""
    mutated = json.loads(json.dumps(DATA))
    old = _get(mutated, path)
    if isinstance(old, bool):
        new: Any = not old
    elif isinstance(old, (int, float)):
        new = old + data.draw(st.sampled_from([1, -1, 0.5, 0.01, -0.01]))
    else:
        new = old + data.draw(st.sampled_from(["x", "-1", "a"]))
    _set(mutated, path, new)
    try:
        plan = Plan.model_validate(mutated)
    except pydantic.ValidationError:
        assume(False)
        return
    assert canonical_hash(plan) != REFERENCE


def test_spelling_out_a_default_keeps_the_hash() -> None:
    """Writing a default value explicitly does not change the plan's meaning or hash."""
    data = small_plan()
    data["analysis"] = {"ci_method": "wilson", "unit": "case"}
    data["traffic"]["max_lateness_p99_ms"] = 10
    assert canonical_hash(Plan.model_validate(data)) == REFERENCE


def test_canonical_json_is_compact_sorted_and_round_trips() -> None:
    """The canonical text has sorted keys, no whitespace between tokens, and parses back to the same plan."""
    plan = Plan.model_validate(DATA)
    text = canonical_json(plan)
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(Plan.model_validate(json.loads(text))) == text


def test_bytes_hash_is_sha256_hex() -> None:
    """bytes_hash is the SHA-256 hex digest (FIPS 180-2 test vector for "abc")."""
    assert bytes_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_analysis_code_hash_follows_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing, adding or renaming a module of the analysis package changes its hash; caches do not."""
    package = tmp_path / "analysis"
    package.mkdir()
    (package / "__init__.py").write_text("X = 1\n")
    monkeypatch.delitem(sys.modules, "analysis", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = analysis_code_hash()
    expected = hashlib.sha256(b"__init__.py\x00" + hashlib.sha256(b"X = 1\n").digest()).hexdigest()
    assert first == expected
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    assert analysis_code_hash() == first
    (package / "_more.py").write_text("")
    second = analysis_code_hash()
    (package / "_more.py").rename(package / "_other.py")
    assert len({first, second, analysis_code_hash()}) == 3
    assert "analysis" not in sys.modules
